//! The `temporal.toml` client configuration file shared by the `temporal` CLI and the
//! SDKs ("environment configuration").
//!
//! ```toml
//! [profile.default]
//! address = "my-ns.a1b2c.tmprl.cloud:7233"
//! namespace = "my-ns.a1b2c"
//! api_key = "…"
//!
//! [profile.default.tls]            # any key here turns TLS on unless `disabled = true`
//! disabled = false
//! client_cert_path = "client.pem"  # or client_cert_data = "-----BEGIN CERTIFICATE-----…"
//! client_key_path = "client.key"   # or client_key_data
//! server_ca_cert_path = "ca.pem"   # or server_ca_cert_data
//! server_name = "my-ns.a1b2c.tmprl.cloud"
//! disable_host_verification = false
//!
//! [profile.default.grpc_meta]      # keys are lower-cased, `_` becomes `-`
//! my-header = "value"
//! ```
//!
//! Unknown keys are ignored (the SDKs' non-strict mode), so files written for newer
//! tools (e.g. with a `codec` table) still load. The default location is
//! `$XDG_CONFIG_HOME/temporalio/temporal.toml` (falling back to
//! `~/.config/temporalio/temporal.toml`) on Linux,
//! `~/Library/Application Support/temporalio/temporal.toml` on macOS and
//! `%APPDATA%\temporalio\temporal.toml` on Windows — what Rust's `dirs::config_dir` and
//! Go's `os.UserConfigDir` return, which is what the SDKs and the CLI use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::EnvMap;
use crate::error::FetchError;

/// A parsed `temporal.toml`.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ConfigFile {
    /// Profiles by name; `default` is used when no profile is asked for.
    #[serde(default)]
    pub profile: BTreeMap<String, ProfileToml>,
}

/// One `[profile.NAME]` table.
#[derive(Default, Clone, Deserialize)]
pub struct ProfileToml {
    pub address: Option<String>,
    pub namespace: Option<String>,
    pub api_key: Option<String>,
    pub tls: Option<TlsToml>,
    pub grpc_meta: Option<BTreeMap<String, String>>,
}

// Hand-written so a profile's API key never ends up in a log line.
impl std::fmt::Debug for ProfileToml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileToml")
            .field("address", &self.address)
            .field("namespace", &self.namespace)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .field(
                "grpc_meta",
                &self
                    .grpc_meta
                    .as_ref()
                    .map(|m| m.keys().collect::<Vec<_>>()),
            )
            .finish()
    }
}

/// One `[profile.NAME.tls]` table.
#[derive(Default, Clone, Deserialize)]
pub struct TlsToml {
    pub disabled: Option<bool>,
    pub client_cert_path: Option<String>,
    pub client_cert_data: Option<String>,
    pub client_key_path: Option<String>,
    pub client_key_data: Option<String>,
    pub server_ca_cert_path: Option<String>,
    pub server_ca_cert_data: Option<String>,
    pub server_name: Option<String>,
    pub disable_host_verification: Option<bool>,
}

impl std::fmt::Debug for TlsToml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsToml")
            .field("disabled", &self.disabled)
            .field("client_cert_path", &self.client_cert_path)
            .field("client_key_path", &self.client_key_path)
            .field(
                "client_key_data",
                &self.client_key_data.as_ref().map(|_| "<redacted>"),
            )
            .field("server_ca_cert_path", &self.server_ca_cert_path)
            .field("server_name", &self.server_name)
            .field("disable_host_verification", &self.disable_host_verification)
            .finish_non_exhaustive()
    }
}

impl ConfigFile {
    /// Parses the text of a config file; `path` is only used in the error message.
    pub fn parse(text: &str, path: &Path) -> Result<ConfigFile, FetchError> {
        toml::from_str(text).map_err(|e| FetchError::ConfigFileParse {
            path: path.to_path_buf(),
            // toml's message spans several lines (a source excerpt); keep the gist.
            reason: one_line(&e.to_string()),
        })
    }
}

/// Where the SDKs and the CLI look for `temporal.toml` when neither `--config-file` nor
/// `TEMPORAL_CONFIG_FILE` names one. `None` when the home directory is unknown.
pub fn default_config_path(env: &EnvMap) -> Option<PathBuf> {
    config_dir(env).map(|d| d.join("temporalio").join("temporal.toml"))
}

fn non_empty<'a>(env: &'a EnvMap, key: &str) -> Option<&'a str> {
    env.get(key).map(String::as_str).filter(|v| !v.is_empty())
}

#[cfg(target_os = "macos")]
fn config_dir(env: &EnvMap) -> Option<PathBuf> {
    non_empty(env, "HOME").map(|h| Path::new(h).join("Library").join("Application Support"))
}

#[cfg(windows)]
fn config_dir(env: &EnvMap) -> Option<PathBuf> {
    non_empty(env, "APPDATA").map(PathBuf::from)
}

#[cfg(not(any(target_os = "macos", windows)))]
fn config_dir(env: &EnvMap) -> Option<PathBuf> {
    // XDG: a relative XDG_CONFIG_HOME is invalid and must be ignored.
    if let Some(xdg) = non_empty(env, "XDG_CONFIG_HOME").filter(|p| Path::new(p).is_absolute()) {
        return Some(PathBuf::from(xdg));
    }
    non_empty(env, "HOME").map(|h| Path::new(h).join(".config"))
}

/// Squashes a multi-line message into its first meaningful line plus the last one
/// (toml puts the actual complaint last, after a source excerpt).
pub(crate) fn one_line(msg: &str) -> String {
    let lines: Vec<&str> = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines.as_slice() {
        [] => String::new(),
        [only] => (*only).to_string(),
        [first, .., last] if last.starts_with('|') || last.starts_with('^') => (*first).to_string(),
        [first, .., last] => format!("{first}: {last}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_full_profile() {
        let f = ConfigFile::parse(
            r#"
[profile.default]
address = "a:1"
namespace = "ns"
api_key = "k"
[profile.default.tls]
client_cert_path = "/c"
server_ca_cert_data = "PEM"
disable_host_verification = true
[profile.default.grpc_meta]
x-a = "b"
[profile.default.codec]
endpoint = "ignored"
"#,
            Path::new("t.toml"),
        )
        .unwrap();
        let p = &f.profile["default"];
        assert_eq!(p.address.as_deref(), Some("a:1"));
        let tls = p.tls.as_ref().unwrap();
        assert_eq!(tls.client_cert_path.as_deref(), Some("/c"));
        assert_eq!(tls.server_ca_cert_data.as_deref(), Some("PEM"));
        assert_eq!(tls.disable_host_verification, Some(true));
        assert_eq!(p.grpc_meta.as_ref().unwrap()["x-a"], "b");
    }

    #[test]
    fn parse_error_names_file_on_one_line() {
        let err = ConfigFile::parse("[profile.default]\ntls = true\n", Path::new("/x/t.toml"))
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/x/t.toml"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn debug_redacts_api_key() {
        let f =
            ConfigFile::parse("[profile.default]\napi_key = \"sekrit\"\n", Path::new("t")).unwrap();
        assert!(!format!("{f:?}").contains("sekrit"));
    }

    #[cfg(not(any(target_os = "macos", windows)))]
    #[test]
    fn default_path_follows_xdg_then_home() {
        assert_eq!(
            default_config_path(&env(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "/x")])),
            Some(PathBuf::from("/x/temporalio/temporal.toml"))
        );
        assert_eq!(
            default_config_path(&env(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "rel")])),
            Some(PathBuf::from("/h/.config/temporalio/temporal.toml"))
        );
        assert_eq!(
            default_config_path(&env(&[("HOME", "/h")])),
            Some(PathBuf::from("/h/.config/temporalio/temporal.toml"))
        );
        assert_eq!(default_config_path(&env(&[])), None);
    }
}
