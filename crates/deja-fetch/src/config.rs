//! Resolving connection settings: command-line flags > environment variables > the
//! selected profile of `temporal.toml` > built-in defaults — the same order and the same
//! names as the `temporal` CLI and the SDKs' environment configuration.
//!
//! [`resolve`] is a pure function of the flags, an environment map and a file reader,
//! so every precedence rule is unit-tested here without touching the process
//! environment or the disk.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::args::ConnectionArgs;
use crate::error::FetchError;
use crate::profile::{ConfigFile, ProfileToml, default_config_path};
use crate::retry::RetryPolicy;

/// Environment variables, by name. Use [`process_env`] for the real ones.
pub type EnvMap = BTreeMap<String, String>;

/// Default `--address`, as in the `temporal` CLI.
pub const DEFAULT_ADDRESS: &str = "localhost:7233";
/// Default `--namespace`, as in the `temporal` CLI.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Environment variable names, as read by the `temporal` CLI and the SDKs.
pub mod env_names {
    pub const ADDRESS: &str = "TEMPORAL_ADDRESS";
    pub const NAMESPACE: &str = "TEMPORAL_NAMESPACE";
    pub const API_KEY: &str = "TEMPORAL_API_KEY";
    pub const TLS: &str = "TEMPORAL_TLS";
    pub const TLS_CLIENT_CERT_PATH: &str = "TEMPORAL_TLS_CLIENT_CERT_PATH";
    pub const TLS_CLIENT_CERT_DATA: &str = "TEMPORAL_TLS_CLIENT_CERT_DATA";
    pub const TLS_CLIENT_KEY_PATH: &str = "TEMPORAL_TLS_CLIENT_KEY_PATH";
    pub const TLS_CLIENT_KEY_DATA: &str = "TEMPORAL_TLS_CLIENT_KEY_DATA";
    pub const TLS_SERVER_CA_CERT_PATH: &str = "TEMPORAL_TLS_SERVER_CA_CERT_PATH";
    pub const TLS_SERVER_CA_CERT_DATA: &str = "TEMPORAL_TLS_SERVER_CA_CERT_DATA";
    pub const TLS_SERVER_NAME: &str = "TEMPORAL_TLS_SERVER_NAME";
    pub const TLS_DISABLE_HOST_VERIFICATION: &str = "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION";
    /// Prefix: `TEMPORAL_GRPC_META_FOO_BAR=v` sends header `foo-bar: v`; an empty value
    /// removes a header the profile set.
    pub const GRPC_META_PREFIX: &str = "TEMPORAL_GRPC_META_";
    pub const PROFILE: &str = "TEMPORAL_PROFILE";
    pub const CONFIG_FILE: &str = "TEMPORAL_CONFIG_FILE";
}
use env_names as E;

/// The process environment as an [`EnvMap`] (variables that aren't UTF-8 are skipped).
pub fn process_env() -> EnvMap {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// An API key. Its `Debug` never shows the key; use [`ApiKey::expose`] to send it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }
    /// The key itself — only for building the `authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl std::str::FromStr for ApiKey {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(ApiKey::new(s))
    }
}

/// A PEM certificate or key: a file to read at connect time, or inline text. `origin`
/// names the flag, variable or profile key it came from, for error messages.
#[derive(Clone, PartialEq, Eq)]
pub enum PemSource {
    File { path: PathBuf, origin: String },
    Inline { data: String, origin: String },
}

impl PemSource {
    /// The PEM bytes: the inline text, or the file read now (an error names the flag).
    pub fn read(&self) -> Result<Vec<u8>, FetchError> {
        match self {
            PemSource::Inline { data, .. } => Ok(data.as_bytes().to_vec()),
            PemSource::File { path, .. } => std::fs::read(path).map_err(|e| FetchError::TlsFile {
                source_desc: self.describe(),
                reason: e.to_string(),
            }),
        }
    }

    /// The flag / variable / profile key this came from, e.g. `--tls-ca-path`.
    pub fn origin(&self) -> &str {
        match self {
            PemSource::File { origin, .. } | PemSource::Inline { origin, .. } => origin,
        }
    }
    /// `--tls-ca-path /etc/ca.pem`, or just the origin for inline data.
    pub fn describe(&self) -> String {
        match self {
            PemSource::File { path, origin } => format!("{origin} {}", path.display()),
            PemSource::Inline { origin, .. } => origin.clone(),
        }
    }
}

// Inline data may be a private key: never print it.
impl fmt::Debug for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemSource::File { path, origin } => write!(f, "File({origin} {})", path.display()),
            PemSource::Inline { data, origin } => {
                write!(f, "Inline({origin}, {} bytes)", data.len())
            }
        }
    }
}

/// TLS settings. TLS is on when [`ConnectionConfig::tls`] is `Some`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// CA to trust instead of the system roots.
    pub server_ca_cert: Option<PemSource>,
    /// Client certificate for mTLS (always paired with `client_key`).
    pub client_cert: Option<PemSource>,
    pub client_key: Option<PemSource>,
    /// Name to send as SNI and to verify the server certificate against, instead of
    /// the host part of the address.
    pub server_name: Option<String>,
    /// Accept any server certificate (like the CLI's Go `InsecureSkipVerify`).
    pub disable_host_verification: bool,
}

/// Everything needed to connect, after precedence has been applied.
#[derive(Clone)]
pub struct ConnectionConfig {
    /// `host:port`.
    pub address: String,
    pub namespace: String,
    /// Sent as `authorization: Bearer <key>`.
    pub api_key: Option<ApiKey>,
    /// `None` for plaintext.
    pub tls: Option<TlsConfig>,
    /// Extra gRPC metadata (lower-case keys), sent with every call.
    pub grpc_meta: BTreeMap<String, String>,
    /// The `temporal.toml` that was read, if any.
    pub config_file: Option<PathBuf>,
    /// The profile whose values were used, if one was found.
    pub profile: Option<String>,
    /// Limit for establishing the connection (TCP + TLS).
    pub connect_timeout: Duration,
    /// Deadline for each call (sent as `grpc-timeout`).
    pub rpc_timeout: Duration,
    /// Retries for UNAVAILABLE / RESOURCE_EXHAUSTED / DEADLINE_EXCEEDED.
    pub retry: RetryPolicy,
}

impl ConnectionConfig {
    /// Defaults only: `localhost:7233`, namespace `default`, plaintext.
    pub fn new(address: impl Into<String>, namespace: impl Into<String>) -> Self {
        ConnectionConfig {
            address: address.into(),
            namespace: namespace.into(),
            api_key: None,
            tls: None,
            grpc_meta: BTreeMap::new(),
            config_file: None,
            profile: None,
            connect_timeout: Duration::from_secs(10),
            rpc_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig::new(DEFAULT_ADDRESS, DEFAULT_NAMESPACE)
    }
}

// Hand-written: the API key is redacted by `ApiKey`, and metadata values (which may be
// credentials too, e.g. a custom auth header) are not shown at all.
impl fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("address", &self.address)
            .field("namespace", &self.namespace)
            .field("api_key", &self.api_key)
            .field("tls", &self.tls)
            .field("grpc_meta_keys", &self.grpc_meta.keys().collect::<Vec<_>>())
            .field("config_file", &self.config_file)
            .field("profile", &self.profile)
            .field("connect_timeout", &self.connect_timeout)
            .field("rpc_timeout", &self.rpc_timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

/// Reads a file for [`resolve`]; `Err(NotFound)` means "no such file".
pub type ReadFile<'a> = &'a dyn Fn(&Path) -> io::Result<String>;

/// Applies flags > environment > profile > defaults.
///
/// * The config file is `--config-file`, else `TEMPORAL_CONFIG_FILE`, else the default
///   location ([`default_config_path`]). A missing file is an error only when named by
///   `--config-file` (the SDKs ignore a missing `TEMPORAL_CONFIG_FILE`, and so do we).
/// * The profile is `--profile`, else `TEMPORAL_PROFILE`, else `default`. A profile
///   that was asked for by name must exist; a missing `default` just means no profile.
/// * An empty environment variable clears what the profile set (so
///   `TEMPORAL_API_KEY=` drops a profile's key); `TEMPORAL_GRPC_META_X=` removes
///   header `x`.
/// * TLS is on when `--tls` / `TEMPORAL_TLS` / the profile's `tls.disabled` say so;
///   otherwise it is turned on by an API key or by any TLS setting (CA, client
///   certificate, server name, disable-host-verification), as the CLI does.
/// * PEM files are not read here but in [`crate::connect`], so resolving never fails
///   on a certificate that is only needed later.
pub fn resolve(
    args: &ConnectionArgs,
    env: &EnvMap,
    read_file: ReadFile<'_>,
) -> Result<ConnectionConfig, FetchError> {
    let (file, file_path) = load_config_file(args, env, read_file)?;
    let (profile_name, profile) = select_profile(args, env, file.as_ref(), file_path.as_deref())?;

    let mut layers = Vec::with_capacity(3);
    if let Some(p) = profile {
        let name = profile_name.as_deref().unwrap_or("default");
        let path = file_path.as_deref().unwrap_or(Path::new("?"));
        layers.push(Layer::from_profile(p, name, path)?);
    }
    layers.push(Layer::from_env(env)?);
    layers.push(Layer::from_args(args)?);
    let merged = Layer::merge(layers);

    let address = merged
        .address
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| DEFAULT_ADDRESS.into());
    validate_address(&address)?;
    let namespace = merged
        .namespace
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.into());
    let api_key = merged.api_key.filter(|k| !k.is_empty()).map(ApiKey::new);
    if let Some(key) = &api_key
        && tonic::metadata::AsciiMetadataValue::try_from(format!("Bearer {}", key.expose()))
            .is_err()
    {
        return Err(FetchError::InvalidSetting {
            setting: "API key (--api-key / TEMPORAL_API_KEY)".into(),
            // Not quoted: it is a secret.
            reason: "contains characters not allowed in a gRPC header (a stray newline?)".into(),
        });
    }

    let tls_settings = TlsConfig {
        server_ca_cert: merged.server_ca,
        client_cert: merged.client_cert,
        client_key: merged.client_key,
        server_name: merged.server_name.filter(|s| !s.is_empty()),
        disable_host_verification: merged.disable_host_verification.unwrap_or(false),
    };
    let any_tls_setting = merged.tls_hint || tls_settings != TlsConfig::default();
    let tls_on = merged
        .tls_enabled
        .unwrap_or(api_key.is_some() || any_tls_setting);
    let tls = if tls_on {
        check_cert_key_pair(&tls_settings)?;
        Some(tls_settings)
    } else {
        None
    };

    let mut grpc_meta = BTreeMap::new();
    for (key, value, origin) in merged.grpc_meta {
        match value {
            Some(v) => {
                validate_meta(&key, &v, &origin)?;
                grpc_meta.insert(key, v);
            }
            None => {
                grpc_meta.remove(&key);
            }
        }
    }

    Ok(ConnectionConfig {
        address,
        namespace,
        api_key,
        tls,
        grpc_meta,
        config_file: file.as_ref().and(file_path),
        profile: profile.map(|_| profile_name.unwrap_or_else(|| "default".into())),
        ..ConnectionConfig::default()
    })
}

fn load_config_file(
    args: &ConnectionArgs,
    env: &EnvMap,
    read_file: ReadFile<'_>,
) -> Result<(Option<ConfigFile>, Option<PathBuf>), FetchError> {
    let (path, must_exist) = if let Some(p) = &args.config_file {
        (Some(p.clone()), true)
    } else if let Some(p) = env.get(E::CONFIG_FILE).filter(|p| !p.is_empty()) {
        (Some(PathBuf::from(p)), false)
    } else {
        (default_config_path(env), false)
    };
    let Some(path) = path else {
        return Ok((None, None));
    };
    match read_file(&path) {
        Ok(text) => Ok((Some(ConfigFile::parse(&text, &path)?), Some(path))),
        Err(e) if e.kind() == io::ErrorKind::NotFound && !must_exist => Ok((None, Some(path))),
        Err(e) => Err(FetchError::ConfigFileRead {
            path,
            reason: e.to_string(),
        }),
    }
}

fn select_profile<'f>(
    args: &ConnectionArgs,
    env: &EnvMap,
    file: Option<&'f ConfigFile>,
    path: Option<&Path>,
) -> Result<(Option<String>, Option<&'f ProfileToml>), FetchError> {
    let asked = args
        .profile
        .clone()
        .filter(|p| !p.is_empty())
        .or_else(|| env.get(E::PROFILE).filter(|p| !p.is_empty()).cloned());
    let name = asked.clone().unwrap_or_else(|| "default".into());
    match file.and_then(|f| f.profile.get(&name)) {
        Some(p) => Ok((Some(name), Some(p))),
        None if asked.is_none() => Ok((None, None)),
        None => Err(FetchError::ProfileNotFound {
            profile: name,
            location: match (file, path) {
                (Some(_), Some(p)) => format!("in {}", p.display()),
                (None, Some(p)) => format!("(no config file at {})", p.display()),
                _ => "(no config file: set --config-file or TEMPORAL_CONFIG_FILE)".into(),
            },
            available: file
                .map(|f| f.profile.keys().cloned().collect::<Vec<_>>().join(", "))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "none".into()),
        }),
    }
}

/// One source of settings; `None` = "not set here", so lower layers show through.
#[derive(Default)]
struct Layer {
    address: Option<String>,
    namespace: Option<String>,
    api_key: Option<String>,
    tls_enabled: Option<bool>,
    /// A TLS table/setting exists even if all its values are defaults (e.g. an empty
    /// `[profile.x.tls]` table), which turns TLS on like in the SDKs.
    tls_hint: bool,
    server_ca: Option<PemSource>,
    client_cert: Option<PemSource>,
    client_key: Option<PemSource>,
    server_name: Option<String>,
    disable_host_verification: Option<bool>,
    /// (key, Some(value) | None = remove, origin)
    grpc_meta: Vec<(String, Option<String>, String)>,
}

impl Layer {
    fn merge(layers: Vec<Layer>) -> Layer {
        let mut out = Layer::default();
        for l in layers {
            macro_rules! over {
                ($($f:ident),*) => { $( if l.$f.is_some() { out.$f = l.$f; } )* };
            }
            over!(
                address,
                namespace,
                api_key,
                tls_enabled,
                server_ca,
                client_cert,
                client_key,
                server_name,
                disable_host_verification
            );
            out.tls_hint |= l.tls_hint;
            out.grpc_meta.extend(l.grpc_meta);
        }
        out
    }

    fn from_profile(p: &ProfileToml, name: &str, path: &Path) -> Result<Layer, FetchError> {
        let origin = |key: &str| format!("{key} of profile `{name}` in {}", path.display());
        let mut l = Layer {
            address: p.address.clone(),
            namespace: p.namespace.clone(),
            api_key: p.api_key.clone(),
            ..Layer::default()
        };
        if let Some(t) = &p.tls {
            l.tls_hint = true;
            l.tls_enabled = t.disabled.map(|d| !d);
            l.server_ca = pem(
                (
                    t.server_ca_cert_path.as_deref(),
                    &origin("tls.server_ca_cert_path"),
                ),
                (
                    t.server_ca_cert_data.as_deref(),
                    &origin("tls.server_ca_cert_data"),
                ),
            )?;
            l.client_cert = pem(
                (
                    t.client_cert_path.as_deref(),
                    &origin("tls.client_cert_path"),
                ),
                (
                    t.client_cert_data.as_deref(),
                    &origin("tls.client_cert_data"),
                ),
            )?;
            l.client_key = pem(
                (t.client_key_path.as_deref(), &origin("tls.client_key_path")),
                (t.client_key_data.as_deref(), &origin("tls.client_key_data")),
            )?;
            l.server_name = t.server_name.clone();
            l.disable_host_verification = t.disable_host_verification;
        }
        for (k, v) in p.grpc_meta.iter().flatten() {
            l.grpc_meta
                .push((normalize_meta_key(k), Some(v.clone()), origin("grpc_meta")));
        }
        Ok(l)
    }

    fn from_env(env: &EnvMap) -> Result<Layer, FetchError> {
        let get = |k: &str| env.get(k).cloned();
        let mut l = Layer {
            address: get(E::ADDRESS),
            namespace: get(E::NAMESPACE),
            api_key: get(E::API_KEY),
            tls_enabled: env_bool(env, E::TLS)?,
            server_ca: pem(
                (
                    env.get(E::TLS_SERVER_CA_CERT_PATH).map(String::as_str),
                    E::TLS_SERVER_CA_CERT_PATH,
                ),
                (
                    env.get(E::TLS_SERVER_CA_CERT_DATA).map(String::as_str),
                    E::TLS_SERVER_CA_CERT_DATA,
                ),
            )?,
            client_cert: pem(
                (
                    env.get(E::TLS_CLIENT_CERT_PATH).map(String::as_str),
                    E::TLS_CLIENT_CERT_PATH,
                ),
                (
                    env.get(E::TLS_CLIENT_CERT_DATA).map(String::as_str),
                    E::TLS_CLIENT_CERT_DATA,
                ),
            )?,
            client_key: pem(
                (
                    env.get(E::TLS_CLIENT_KEY_PATH).map(String::as_str),
                    E::TLS_CLIENT_KEY_PATH,
                ),
                (
                    env.get(E::TLS_CLIENT_KEY_DATA).map(String::as_str),
                    E::TLS_CLIENT_KEY_DATA,
                ),
            )?,
            server_name: get(E::TLS_SERVER_NAME).filter(|s| !s.is_empty()),
            disable_host_verification: env_bool(env, E::TLS_DISABLE_HOST_VERIFICATION)?,
            ..Layer::default()
        };
        for (k, v) in env {
            if let Some(rest) = k
                .strip_prefix(E::GRPC_META_PREFIX)
                .filter(|r| !r.is_empty())
            {
                let value = (!v.is_empty()).then(|| v.clone());
                l.grpc_meta
                    .push((normalize_meta_key(rest), value, k.clone()));
            }
        }
        Ok(l)
    }

    fn from_args(a: &ConnectionArgs) -> Result<Layer, FetchError> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
        let (ca_path, cert_path, key_path) = (
            path(&a.tls_ca_path),
            path(&a.tls_cert_path),
            path(&a.tls_key_path),
        );
        let mut l = Layer {
            address: a.address.clone(),
            namespace: a.namespace.clone(),
            api_key: a.api_key.as_ref().map(|k| k.expose().to_string()),
            tls_enabled: a.tls,
            server_ca: pem(
                (ca_path.as_deref(), "--tls-ca-path"),
                (a.tls_ca_data.as_deref(), "--tls-ca-data"),
            )?,
            client_cert: pem(
                (cert_path.as_deref(), "--tls-cert-path"),
                (a.tls_cert_data.as_deref(), "--tls-cert-data"),
            )?,
            client_key: pem(
                (key_path.as_deref(), "--tls-key-path"),
                (
                    a.tls_key_data.as_ref().map(|k| k.expose()),
                    "--tls-key-data",
                ),
            )?,
            server_name: a.tls_server_name.clone(),
            disable_host_verification: a.tls_disable_host_verification,
            ..Layer::default()
        };
        for kv in &a.grpc_meta {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(FetchError::InvalidSetting {
                    setting: "--grpc-meta".into(),
                    reason: format!("`{kv}` is not KEY=VALUE"),
                });
            };
            l.grpc_meta.push((
                k.trim().to_ascii_lowercase(),
                Some(v.to_string()),
                "--grpc-meta".into(),
            ));
        }
        Ok(l)
    }
}

/// A path or inline data for one PEM item from one layer; both at once is an error.
/// Empty strings count as unset.
fn pem(
    path: (Option<&str>, &str),
    data: (Option<&str>, &str),
) -> Result<Option<PemSource>, FetchError> {
    let p = path.0.filter(|s| !s.is_empty());
    let d = data.0.filter(|s| !s.is_empty());
    match (p, d) {
        (Some(_), Some(_)) => Err(FetchError::InvalidSetting {
            setting: path.1.into(),
            reason: format!("cannot be combined with {}; set only one of them", data.1),
        }),
        (Some(p), None) => Ok(Some(PemSource::File {
            path: PathBuf::from(p),
            origin: path.1.into(),
        })),
        (None, Some(d)) => Ok(Some(PemSource::Inline {
            data: d.into(),
            origin: data.1.into(),
        })),
        (None, None) => Ok(None),
    }
}

/// `true`/`1` or `false`/`0` (any case); empty means unset. The SDKs silently ignore
/// anything else; we refuse it, since `TEMPORAL_TLS=yes` silently meaning "no TLS" is
/// a trap.
fn env_bool(env: &EnvMap, key: &str) -> Result<Option<bool>, FetchError> {
    match env.get(key).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v == "true" || v == "1" => Ok(Some(true)),
        Some(v) if v == "false" || v == "0" => Ok(Some(false)),
        Some(v) => Err(FetchError::InvalidSetting {
            setting: key.into(),
            reason: format!("`{v}` is not a boolean; use true or false"),
        }),
    }
}

/// Environment and profile keys: `FOO_BAR` → `foo-bar` (as the SDKs do).
fn normalize_meta_key(k: &str) -> String {
    k.to_ascii_lowercase().replace('_', "-")
}

fn validate_meta(key: &str, value: &str, origin: &str) -> Result<(), FetchError> {
    use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
    let bad = |reason: String| FetchError::InvalidSetting {
        setting: origin.into(),
        reason,
    };
    if key.ends_with("-bin") {
        return Err(bad(format!("binary metadata key `{key}` is not supported")));
    }
    AsciiMetadataKey::from_bytes(key.as_bytes())
        .map_err(|_| bad(format!("`{key}` is not a valid gRPC metadata key")))?;
    AsciiMetadataValue::try_from(value)
        // The value may be a credential: name the key only.
        .map_err(|_| bad(format!("the value for `{key}` is not valid header text")))?;
    Ok(())
}

fn validate_address(address: &str) -> Result<(), FetchError> {
    let bad = |reason: &str| FetchError::InvalidSetting {
        setting: "--address".into(),
        reason: format!("`{address}` {reason}"),
    };
    if address.contains("://") {
        return Err(bad(
            "must be HOST:PORT without a scheme (use --tls for TLS)",
        ));
    }
    let port = address.rsplit_once(':').map(|(_, p)| p);
    match port {
        Some(p) if p.parse::<u16>().is_ok() => {}
        _ => return Err(bad("must be HOST:PORT, e.g. localhost:7233")),
    }
    // Build the URI now so a bad host fails here, with the flag named.
    format!("http://{address}")
        .parse::<tonic::transport::Uri>()
        .map_err(|_| bad("is not a valid HOST:PORT"))?;
    Ok(())
}

fn check_cert_key_pair(tls: &TlsConfig) -> Result<(), FetchError> {
    match (&tls.client_cert, &tls.client_key) {
        (Some(c), None) => Err(FetchError::InvalidSetting {
            setting: c.origin().into(),
            reason: "a client certificate needs its private key too (--tls-key-path / TEMPORAL_TLS_CLIENT_KEY_PATH)".into(),
        }),
        (None, Some(k)) => Err(FetchError::InvalidSetting {
            setting: k.origin().into(),
            reason: "a client key needs its certificate too (--tls-cert-path / TEMPORAL_TLS_CLIENT_CERT_PATH)".into(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
