//! `ConnectionArgs`: the `temporal` CLI's connection flags, for `#[command(flatten)]`.
//!
//! The flags deliberately do not use clap's `env = …`: the environment is applied by
//! [`crate::config::resolve`] beneath the flags and above the profile, which clap cannot
//! express (it would fold env values into the flags before the profile is even read),
//! and which keeps resolution testable with a plain map. The variable names are listed in
//! each flag's help instead.

use std::path::PathBuf;

use clap::builder::BoolishValueParser;

use crate::config::{self, ApiKey, ConnectionConfig, EnvMap};
use crate::error::FetchError;

/// Connection flags, named as in the `temporal` CLI.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Connection options")]
pub struct ConnectionArgs {
    /// Temporal server gRPC endpoint [env: TEMPORAL_ADDRESS] [default: localhost:7233]
    #[arg(long, value_name = "HOST:PORT")]
    pub address: Option<String>,

    /// Temporal namespace [env: TEMPORAL_NAMESPACE] [default: default]
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    /// API key, sent as a bearer token; turns TLS on [env: TEMPORAL_API_KEY]
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<ApiKey>,

    /// Use TLS (--tls=false to force plaintext). Turned on by an API key or any TLS option
    /// [env: TEMPORAL_TLS]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub tls: Option<bool>,

    /// Client certificate for mTLS (PEM file) [env: TEMPORAL_TLS_CLIENT_CERT_PATH]
    #[arg(long, value_name = "PATH")]
    pub tls_cert_path: Option<PathBuf>,

    /// Client certificate for mTLS (PEM text) [env: TEMPORAL_TLS_CLIENT_CERT_DATA]
    #[arg(long, value_name = "PEM")]
    pub tls_cert_data: Option<String>,

    /// Client private key for mTLS (PEM file) [env: TEMPORAL_TLS_CLIENT_KEY_PATH]
    #[arg(long, value_name = "PATH")]
    pub tls_key_path: Option<PathBuf>,

    /// Client private key for mTLS (PEM text) [env: TEMPORAL_TLS_CLIENT_KEY_DATA]
    #[arg(long, value_name = "PEM")]
    pub tls_key_data: Option<ApiKey>,

    /// CA certificate to trust instead of the system roots (PEM file)
    /// [env: TEMPORAL_TLS_SERVER_CA_CERT_PATH]
    #[arg(long, value_name = "PATH")]
    pub tls_ca_path: Option<PathBuf>,

    /// CA certificate to trust instead of the system roots (PEM text)
    /// [env: TEMPORAL_TLS_SERVER_CA_CERT_DATA]
    #[arg(long, value_name = "PEM")]
    pub tls_ca_data: Option<String>,

    /// Server name for SNI and certificate verification [env: TEMPORAL_TLS_SERVER_NAME]
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,

    /// Accept any server certificate (insecure) [env: TEMPORAL_TLS_DISABLE_HOST_VERIFICATION]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub tls_disable_host_verification: Option<bool>,

    // (Help given as an attribute: rustdoc would read `<KEY>` as an HTML tag.)
    #[arg(
        long = "grpc-meta",
        value_name = "KEY=VALUE",
        help = "Extra gRPC metadata sent with every call; repeatable [env: TEMPORAL_GRPC_META_<KEY>]"
    )]
    pub grpc_meta: Vec<String>,

    /// Profile of the config file to use [env: TEMPORAL_PROFILE] [default: default]
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Config file (TOML) [env: TEMPORAL_CONFIG_FILE]
    /// [default: ~/.config/temporalio/temporal.toml]
    #[arg(long, value_name = "PATH")]
    pub config_file: Option<PathBuf>,
}

impl ConnectionArgs {
    /// Resolves against the real environment and config file.
    pub fn resolve(&self) -> Result<ConnectionConfig, FetchError> {
        self.resolve_with(&config::process_env(), &|p| std::fs::read_to_string(p))
    }

    /// Resolves against the given environment and file reader (for tests).
    pub fn resolve_with(
        &self,
        env: &EnvMap,
        read_file: config::ReadFile<'_>,
    ) -> Result<ConnectionConfig, FetchError> {
        config::resolve(self, env, read_file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    #[command(name = "deja")]
    struct Cli {
        #[command(flatten)]
        conn: ConnectionArgs,
    }

    #[test]
    fn help_names_every_variable() {
        let help = Cli::command().render_long_help().to_string();
        for var in [
            "TEMPORAL_ADDRESS",
            "TEMPORAL_NAMESPACE",
            "TEMPORAL_API_KEY",
            "TEMPORAL_TLS]",
            "TEMPORAL_TLS_CLIENT_CERT_PATH",
            "TEMPORAL_TLS_CLIENT_KEY_PATH",
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
            "TEMPORAL_TLS_SERVER_NAME",
            "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
            "TEMPORAL_GRPC_META_",
            "TEMPORAL_PROFILE",
            "TEMPORAL_CONFIG_FILE",
        ] {
            assert!(help.contains(var), "{var} missing from:\n{help}");
        }
        Cli::command().debug_assert();
    }

    #[test]
    fn grpc_meta_repeats() {
        let cli =
            Cli::try_parse_from(["deja", "--grpc-meta", "a=1", "--grpc-meta", "b=2"]).unwrap();
        assert_eq!(cli.conn.grpc_meta, vec!["a=1", "b=2"]);
    }
}
