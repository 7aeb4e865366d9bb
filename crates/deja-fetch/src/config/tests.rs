//! Precedence and naming rules of `resolve`, checked against what the `temporal` CLI
//! (1.9) and the SDKs' envconfig do.

use super::*;
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    conn: ConnectionArgs,
}

fn args(flags: &[&str]) -> ConnectionArgs {
    let mut argv = vec!["deja"];
    argv.extend_from_slice(flags);
    Cli::try_parse_from(argv).unwrap().conn
}

fn env(pairs: &[(&str, &str)]) -> EnvMap {
    // A HOME that has no config file, so the default location is looked up but absent.
    let mut m: EnvMap = [("HOME".to_string(), "/nonexistent-home".to_string())].into();
    m.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    m
}

/// A fake filesystem with one config file.
fn files(path: &'static str, text: &'static str) -> impl Fn(&Path) -> io::Result<String> {
    move |p: &Path| {
        if p == Path::new(path) {
            Ok(text.to_string())
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, "no such file"))
        }
    }
}

fn no_files(_: &Path) -> io::Result<String> {
    Err(io::Error::new(io::ErrorKind::NotFound, "no such file"))
}

fn resolve_ok(
    flags: &[&str],
    e: &[(&str, &str)],
    read: &dyn Fn(&Path) -> io::Result<String>,
) -> ConnectionConfig {
    resolve(&args(flags), &env(e), read).unwrap()
}

fn resolve_err(
    flags: &[&str],
    e: &[(&str, &str)],
    read: &dyn Fn(&Path) -> io::Result<String>,
) -> String {
    resolve(&args(flags), &env(e), read)
        .unwrap_err()
        .to_string()
}

const PROFILES: &str = r#"
[profile.default]
address = "file-default:7233"
namespace = "file-ns"

[profile.cloud]
address = "my-ns.a1b2c.tmprl.cloud:7233"
namespace = "my-ns.a1b2c"
api_key = "profile-key"

[profile.mtls]
address = "mtls:7233"
[profile.mtls.tls]
client_cert_path = "/certs/client.pem"
client_key_path = "/certs/client.key"
server_ca_cert_path = "/certs/ca.pem"
server_name = "frontend.internal"
[profile.mtls.grpc_meta]
X_Team = "blue"

[profile.plain-key]
address = "proxy:7233"
api_key = "k"
[profile.plain-key.tls]
disabled = true

[profile.empty-tls]
[profile.empty-tls.tls]
"#;
const CFG: &str = "/cfg/temporal.toml";

#[test]
fn defaults_without_anything() {
    let c = resolve_ok(&[], &[], &no_files);
    assert_eq!(c.address, "localhost:7233");
    assert_eq!(c.namespace, "default");
    assert!(c.api_key.is_none());
    assert!(c.tls.is_none());
    assert!(c.grpc_meta.is_empty());
    assert_eq!(c.profile, None);
    assert_eq!(c.config_file, None);
}

#[test]
fn env_overrides_defaults() {
    let c = resolve_ok(
        &[],
        &[
            ("TEMPORAL_ADDRESS", "env:1"),
            ("TEMPORAL_NAMESPACE", "env-ns"),
        ],
        &no_files,
    );
    assert_eq!(
        (c.address.as_str(), c.namespace.as_str()),
        ("env:1", "env-ns")
    );
}

#[test]
fn flags_override_env() {
    let c = resolve_ok(
        &["--address", "flag:1", "--namespace", "flag-ns"],
        &[
            ("TEMPORAL_ADDRESS", "env:1"),
            ("TEMPORAL_NAMESPACE", "env-ns"),
        ],
        &no_files,
    );
    assert_eq!(
        (c.address.as_str(), c.namespace.as_str()),
        ("flag:1", "flag-ns")
    );
}

#[test]
fn default_profile_from_config_file_env() {
    let c = resolve_ok(&[], &[("TEMPORAL_CONFIG_FILE", CFG)], &files(CFG, PROFILES));
    assert_eq!(c.address, "file-default:7233");
    assert_eq!(c.namespace, "file-ns");
    assert_eq!(c.profile.as_deref(), Some("default"));
    assert_eq!(c.config_file.as_deref(), Some(Path::new(CFG)));
}

#[test]
fn default_config_location_is_used() {
    let read = files("/h/.config/temporalio/temporal.toml", PROFILES);
    let c = resolve_ok(&[], &[("HOME", "/h")], &read);
    assert_eq!(c.address, "file-default:7233");
    let read = files("/x/temporalio/temporal.toml", PROFILES);
    let c = resolve_ok(&[], &[("HOME", "/h"), ("XDG_CONFIG_HOME", "/x")], &read);
    assert_eq!(c.address, "file-default:7233");
}

#[test]
fn config_file_flag_beats_env() {
    let c = resolve_ok(
        &["--config-file", CFG],
        &[("TEMPORAL_CONFIG_FILE", "/other.toml")],
        &files(CFG, PROFILES),
    );
    assert_eq!(c.address, "file-default:7233");
}

#[test]
fn env_beats_profile_and_flag_beats_both() {
    let read = files(CFG, PROFILES);
    let e = [("TEMPORAL_CONFIG_FILE", CFG), ("TEMPORAL_ADDRESS", "env:1")];
    assert_eq!(resolve_ok(&[], &e, &read).address, "env:1");
    assert_eq!(
        resolve_ok(&["--address", "flag:2"], &e, &read).address,
        "flag:2"
    );
    // The namespace still comes from the profile.
    assert_eq!(resolve_ok(&[], &e, &read).namespace, "file-ns");
}

#[test]
fn profile_selected_by_flag_and_env() {
    let read = files(CFG, PROFILES);
    let c = resolve_ok(
        &["--profile", "cloud"],
        &[("TEMPORAL_CONFIG_FILE", CFG)],
        &read,
    );
    assert_eq!(c.namespace, "my-ns.a1b2c");
    assert_eq!(c.profile.as_deref(), Some("cloud"));
    let c = resolve_ok(
        &[],
        &[("TEMPORAL_CONFIG_FILE", CFG), ("TEMPORAL_PROFILE", "cloud")],
        &read,
    );
    assert_eq!(c.namespace, "my-ns.a1b2c");
    let c = resolve_ok(
        &["--profile", "mtls"],
        &[("TEMPORAL_CONFIG_FILE", CFG), ("TEMPORAL_PROFILE", "cloud")],
        &read,
    );
    assert_eq!(c.address, "mtls:7233");
}

#[test]
fn unknown_profile_is_an_error_listing_profiles() {
    let msg = resolve_err(
        &["--profile", "nope"],
        &[("TEMPORAL_CONFIG_FILE", CFG)],
        &files(CFG, PROFILES),
    );
    assert!(
        msg.contains("profile `nope` not found in /cfg/temporal.toml"),
        "{msg}"
    );
    assert!(
        msg.contains("cloud, default, empty-tls, mtls, plain-key"),
        "{msg}"
    );
    let msg = resolve_err(&[], &[("TEMPORAL_PROFILE", "nope")], &no_files);
    assert!(
        msg.contains("no config file at /nonexistent-home/.config/temporalio/temporal.toml"),
        "{msg}"
    );
}

#[test]
fn missing_default_profile_is_fine() {
    let read = files(CFG, "[profile.other]\naddress = \"o:1\"\n");
    let c = resolve_ok(&[], &[("TEMPORAL_CONFIG_FILE", CFG)], &read);
    assert_eq!(c.address, "localhost:7233");
    assert_eq!(c.profile, None);
}

#[test]
fn missing_config_file_from_env_is_ignored_but_flag_is_not() {
    let c = resolve_ok(&[], &[("TEMPORAL_CONFIG_FILE", "/missing.toml")], &no_files);
    assert_eq!(c.address, "localhost:7233");
    let msg = resolve_err(&["--config-file", "/missing.toml"], &[], &no_files);
    assert!(
        msg.contains("cannot read config file /missing.toml"),
        "{msg}"
    );
}

#[test]
fn unreadable_or_invalid_file_is_an_error() {
    let denied = |_: &Path| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "permission denied",
        ))
    };
    let msg = resolve_err(&[], &[("TEMPORAL_CONFIG_FILE", CFG)], &denied);
    assert!(
        msg.contains(CFG) && msg.contains("permission denied"),
        "{msg}"
    );
    let msg = resolve_err(
        &[],
        &[("TEMPORAL_CONFIG_FILE", CFG)],
        &files(CFG, "[profile.default\n"),
    );
    assert!(
        msg.starts_with("invalid config file /cfg/temporal.toml"),
        "{msg}"
    );
}

#[test]
fn unknown_keys_in_file_are_ignored() {
    let read = files(
        CFG,
        "[profile.default]\naddress = \"a:1\"\nfuture_key = 3\n[profile.default.codec]\nendpoint = \"x\"\n",
    );
    assert_eq!(
        resolve_ok(&[], &[("TEMPORAL_CONFIG_FILE", CFG)], &read).address,
        "a:1"
    );
}

#[test]
fn empty_env_var_clears_profile_value() {
    let read = files(CFG, PROFILES);
    let c = resolve_ok(
        &[],
        &[("TEMPORAL_CONFIG_FILE", CFG), ("TEMPORAL_ADDRESS", "")],
        &read,
    );
    assert_eq!(c.address, "localhost:7233");
    // `TEMPORAL_API_KEY=` drops the profile's key, and with it the implied TLS (as the CLI does).
    let c = resolve_ok(
        &["--profile", "cloud"],
        &[("TEMPORAL_CONFIG_FILE", CFG), ("TEMPORAL_API_KEY", "")],
        &read,
    );
    assert!(c.api_key.is_none());
    assert!(c.tls.is_none());
}

#[test]
fn api_key_implies_tls() {
    let c = resolve_ok(&["--api-key", "k"], &[], &no_files);
    assert_eq!(c.api_key.as_ref().unwrap().expose(), "k");
    assert_eq!(c.tls, Some(TlsConfig::default()));
    let c = resolve_ok(&[], &[("TEMPORAL_API_KEY", "k")], &no_files);
    assert!(c.tls.is_some());
    let c = resolve_ok(
        &["--profile", "cloud"],
        &[("TEMPORAL_CONFIG_FILE", CFG)],
        &files(CFG, PROFILES),
    );
    assert_eq!(c.api_key.as_ref().unwrap().expose(), "profile-key");
    assert!(c.tls.is_some());
}

#[test]
fn tls_can_be_disabled_despite_api_key() {
    let c = resolve_ok(&["--api-key", "k", "--tls=false"], &[], &no_files);
    assert!(c.api_key.is_some() && c.tls.is_none());
    let c = resolve_ok(
        &[],
        &[("TEMPORAL_API_KEY", "k"), ("TEMPORAL_TLS", "false")],
        &no_files,
    );
    assert!(c.tls.is_none());
    let c = resolve_ok(
        &["--profile", "plain-key"],
        &[("TEMPORAL_CONFIG_FILE", CFG)],
        &files(CFG, PROFILES),
    );
    assert!(c.api_key.is_some() && c.tls.is_none());
    // ... and a flag re-enables what the profile disabled.
    let c = resolve_ok(
        &["--profile", "plain-key", "--tls"],
        &[("TEMPORAL_CONFIG_FILE", CFG)],
        &files(CFG, PROFILES),
    );
    assert!(c.tls.is_some());
}

#[test]
fn tls_flag_forms() {
    assert!(resolve_ok(&["--tls"], &[], &no_files).tls.is_some());
    assert!(resolve_ok(&["--tls=true"], &[], &no_files).tls.is_some());
    assert!(resolve_ok(&["--tls=false"], &[], &no_files).tls.is_none());
    // The flag beats the variable both ways.
    assert!(
        resolve_ok(&["--tls=false"], &[("TEMPORAL_TLS", "true")], &no_files)
            .tls
            .is_none()
    );
    assert!(
        resolve_ok(&["--tls"], &[("TEMPORAL_TLS", "false")], &no_files)
            .tls
            .is_some()
    );
}

#[test]
fn tls_env_bool_values() {
    for v in ["true", "TRUE", "True", "1"] {
        assert!(
            resolve_ok(&[], &[("TEMPORAL_TLS", v)], &no_files)
                .tls
                .is_some(),
            "{v}"
        );
    }
    for v in ["false", "FALSE", "0", ""] {
        assert!(
            resolve_ok(&[], &[("TEMPORAL_TLS", v)], &no_files)
                .tls
                .is_none(),
            "{v}"
        );
    }
    let msg = resolve_err(&[], &[("TEMPORAL_TLS", "yes")], &no_files);
    assert!(
        msg.contains("TEMPORAL_TLS") && msg.contains("`yes`"),
        "{msg}"
    );
}

#[test]
fn any_tls_option_implies_tls() {
    for flags in [
        &["--tls-ca-path", "/ca.pem"][..],
        &["--tls-cert-path", "/c", "--tls-key-path", "/k"],
        &["--tls-server-name", "x"],
        &["--tls-disable-host-verification"],
    ] {
        assert!(resolve_ok(flags, &[], &no_files).tls.is_some(), "{flags:?}");
    }
    for var in [
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
        "TEMPORAL_TLS_SERVER_NAME",
        "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
    ] {
        assert!(
            resolve_ok(&[], &[(var, "x")], &no_files).tls.is_some(),
            "{var}"
        );
    }
    // An empty `[profile.x.tls]` table turns TLS on, as in the SDKs.
    let c = resolve_ok(
        &["--profile", "empty-tls"],
        &[("TEMPORAL_CONFIG_FILE", CFG)],
        &files(CFG, PROFILES),
    );
    assert!(c.tls.is_some());
    // ... but an option that is explicitly off doesn't.
    assert!(
        resolve_ok(&["--tls-disable-host-verification=false"], &[], &no_files)
            .tls
            .is_none()
    );
}

#[test]
fn tls_settings_from_flags() {
    let c = resolve_ok(
        &[
            "--tls-ca-path",
            "/ca.pem",
            "--tls-cert-path",
            "/c.pem",
            "--tls-key-path",
            "/k.pem",
            "--tls-server-name",
            "srv",
            "--tls-disable-host-verification",
        ],
        &[],
        &no_files,
    );
    let t = c.tls.unwrap();
    assert_eq!(
        t.server_ca_cert,
        Some(PemSource::File {
            path: "/ca.pem".into(),
            origin: "--tls-ca-path".into()
        })
    );
    assert_eq!(
        t.client_cert,
        Some(PemSource::File {
            path: "/c.pem".into(),
            origin: "--tls-cert-path".into()
        })
    );
    assert_eq!(
        t.client_key,
        Some(PemSource::File {
            path: "/k.pem".into(),
            origin: "--tls-key-path".into()
        })
    );
    assert_eq!(t.server_name.as_deref(), Some("srv"));
    assert!(t.disable_host_verification);
}

#[test]
fn tls_settings_from_env_use_the_sdk_names() {
    let c = resolve_ok(
        &[],
        &[
            ("TEMPORAL_TLS_CLIENT_CERT_PATH", "/c.pem"),
            ("TEMPORAL_TLS_CLIENT_KEY_DATA", "KEYPEM"),
            ("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "/ca.pem"),
            ("TEMPORAL_TLS_SERVER_NAME", "srv"),
            ("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "true"),
        ],
        &no_files,
    );
    let t = c.tls.unwrap();
    assert_eq!(
        t.client_cert.unwrap().origin(),
        "TEMPORAL_TLS_CLIENT_CERT_PATH"
    );
    assert_eq!(
        t.client_key,
        Some(PemSource::Inline {
            data: "KEYPEM".into(),
            origin: "TEMPORAL_TLS_CLIENT_KEY_DATA".into()
        })
    );
    assert_eq!(
        t.server_ca_cert.unwrap().origin(),
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH"
    );
    assert_eq!(t.server_name.as_deref(), Some("srv"));
    assert!(t.disable_host_verification);
}

#[test]
fn tls_settings_from_profile_layered_under_env_and_flags() {
    let read = files(CFG, PROFILES);
    let e = [
        ("TEMPORAL_CONFIG_FILE", CFG),
        ("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "/env-ca.pem"),
    ];
    let c = resolve_ok(
        &["--profile", "mtls", "--tls-server-name", "flag-name"],
        &e,
        &read,
    );
    let t = c.tls.unwrap();
    assert_eq!(
        t.client_cert,
        Some(PemSource::File {
            path: "/certs/client.pem".into(),
            origin: "tls.client_cert_path of profile `mtls` in /cfg/temporal.toml".into()
        })
    );
    assert_eq!(
        t.server_ca_cert.unwrap().origin(),
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH"
    );
    assert_eq!(t.server_name.as_deref(), Some("flag-name"));
    assert_eq!(c.grpc_meta.get("x-team").map(String::as_str), Some("blue"));
}

#[test]
fn data_in_a_higher_layer_replaces_a_path_below() {
    let read = files(CFG, PROFILES);
    let c = resolve_ok(
        &["--profile", "mtls", "--tls-cert-data", "CERTPEM"],
        &[("TEMPORAL_CONFIG_FILE", CFG)],
        &read,
    );
    assert_eq!(
        c.tls.unwrap().client_cert,
        Some(PemSource::Inline {
            data: "CERTPEM".into(),
            origin: "--tls-cert-data".into()
        })
    );
}

#[test]
fn path_and_data_in_one_layer_conflict() {
    let msg = resolve_err(
        &["--tls-ca-path", "/a", "--tls-ca-data", "PEM"],
        &[],
        &no_files,
    );
    assert!(
        msg.contains("--tls-ca-path") && msg.contains("--tls-ca-data"),
        "{msg}"
    );
    let msg = resolve_err(
        &[],
        &[
            ("TEMPORAL_TLS_CLIENT_CERT_PATH", "/a"),
            ("TEMPORAL_TLS_CLIENT_CERT_DATA", "PEM"),
            ("TEMPORAL_TLS_CLIENT_KEY_PATH", "/k"),
        ],
        &no_files,
    );
    assert!(msg.contains("TEMPORAL_TLS_CLIENT_CERT_PATH"), "{msg}");
}

#[test]
fn cert_without_key_is_an_error() {
    let msg = resolve_err(&["--tls-cert-path", "/c"], &[], &no_files);
    assert!(
        msg.contains("--tls-cert-path") && msg.contains("private key"),
        "{msg}"
    );
    let msg = resolve_err(&["--tls-key-path", "/k"], &[], &no_files);
    assert!(msg.contains("--tls-key-path"), "{msg}");
}

#[test]
fn grpc_meta_from_all_layers() {
    let read = files(
        CFG,
        "[profile.default.grpc_meta]\nfrom_file = \"f\"\nshared = \"file\"\ngone = \"x\"\n",
    );
    let c = resolve_ok(
        &["--grpc-meta", "Flag-Key=v=1", "--grpc-meta", "shared=flag"],
        &[
            ("TEMPORAL_CONFIG_FILE", CFG),
            ("TEMPORAL_GRPC_META_FROM_ENV", "e"),
            ("TEMPORAL_GRPC_META_SHARED", "env"),
            ("TEMPORAL_GRPC_META_GONE", ""),
        ],
        &read,
    );
    let meta: Vec<(&str, &str)> = c
        .grpc_meta
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        meta,
        vec![
            ("flag-key", "v=1"),
            ("from-env", "e"),
            ("from-file", "f"),
            ("shared", "flag")
        ]
    );
}

#[test]
fn bad_grpc_meta_is_an_error() {
    let msg = resolve_err(&["--grpc-meta", "novalue"], &[], &no_files);
    assert!(
        msg.contains("--grpc-meta") && msg.contains("KEY=VALUE"),
        "{msg}"
    );
    let msg = resolve_err(&["--grpc-meta", "bad key=v"], &[], &no_files);
    assert!(msg.contains("not a valid gRPC metadata key"), "{msg}");
    let msg = resolve_err(&["--grpc-meta", "x-bin=v"], &[], &no_files);
    assert!(msg.contains("binary"), "{msg}");
    // A bad value is reported without quoting it (it may be a secret).
    let msg = resolve_err(&["--grpc-meta", "auth=sekrit\u{1}"], &[], &no_files);
    assert!(!msg.contains("sekrit"), "{msg}");
}

#[test]
fn address_must_be_host_port() {
    for bad in [
        "http://localhost:7233",
        "localhost",
        "localhost:notaport",
        "host:99999",
    ] {
        let msg = resolve_err(&["--address", bad], &[], &no_files);
        assert!(msg.starts_with("invalid --address"), "{bad}: {msg}");
    }
    for good in [
        "localhost:7233",
        "127.0.0.1:1",
        "[::1]:7233",
        "my-ns.a1b2c.tmprl.cloud:7233",
    ] {
        assert_eq!(
            resolve_ok(&["--address", good], &[], &no_files).address,
            good
        );
    }
}

#[test]
fn api_key_never_printed() {
    let c = resolve_ok(
        &[
            "--api-key",
            "sk-very-secret",
            "--grpc-meta",
            "x-token=meta-secret",
        ],
        &[],
        &no_files,
    );
    let dbg = format!("{c:?}");
    assert!(
        !dbg.contains("sk-very-secret") && !dbg.contains("meta-secret"),
        "{dbg}"
    );
    assert!(dbg.contains("<redacted>"), "{dbg}");
    let a = args(&["--api-key", "sk-very-secret", "--tls-key-data", "PRIVATE"]);
    let dbg = format!("{a:?}");
    assert!(
        !dbg.contains("sk-very-secret") && !dbg.contains("PRIVATE"),
        "{dbg}"
    );
    let c = resolve_ok(
        &[],
        &[
            ("TEMPORAL_TLS_CLIENT_KEY_DATA", "PRIVATE"),
            ("TEMPORAL_TLS_CLIENT_CERT_PATH", "/c"),
        ],
        &no_files,
    );
    assert!(!format!("{c:?}").contains("PRIVATE"));
}

#[test]
fn errors_never_contain_the_api_key() {
    let msg = resolve_err(
        &["--api-key", "sk-very-secret", "--address", "bad"],
        &[],
        &no_files,
    );
    assert!(!msg.contains("sk-very-secret"), "{msg}");
    let msg = resolve_err(&["--api-key", "sk-secret\n"], &[], &no_files);
    assert!(
        msg.contains("API key") && !msg.contains("sk-secret"),
        "{msg}"
    );
}
