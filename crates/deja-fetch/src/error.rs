//! `FetchError`: one line per failure that says what went wrong, where (address, file,
//! flag) and what to do about it.
//!
//! tonic reports failures as a `Status` with a chain of sources (hyper → io → rustls …)
//! whose `Debug` is unreadable. This module walks that chain once and turns it into a
//! specific variant, so callers can match on the case and users read a sentence. Secrets
//! never reach a message: the API key is scrubbed from anything the server echoes.

use std::error::Error as StdError;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tonic::{Code, Status};

use crate::config::{ConnectionConfig, PemSource};
use crate::profile::one_line;
use crate::retry::is_retryable_code;

/// Everything that can go wrong between flags and files on disk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    // ---- configuration --------------------------------------------------------------
    #[error("cannot read config file {}: {reason}", path.display())]
    ConfigFileRead { path: PathBuf, reason: String },

    #[error("invalid config file {}: {reason}", path.display())]
    ConfigFileParse { path: PathBuf, reason: String },

    #[error(
        "profile `{profile}` not found {location} (profiles: {available}); check --profile / TEMPORAL_PROFILE"
    )]
    ProfileNotFound {
        profile: String,
        location: String,
        available: String,
    },

    #[error("invalid {setting}: {reason}")]
    InvalidSetting { setting: String, reason: String },

    #[error("cannot use {source_desc}: {reason}")]
    TlsFile { source_desc: String, reason: String },

    // ---- connecting -----------------------------------------------------------------
    #[error(
        "cannot connect to Temporal at {address}: connection refused; is the server running there? (set --address or TEMPORAL_ADDRESS)"
    )]
    ConnectionRefused { address: String },

    #[error("cannot resolve host `{host}` of {address}; check --address / TEMPORAL_ADDRESS")]
    Dns { address: String, host: String },

    #[error("timed out after {}s connecting to Temporal at {address}; check the address and that nothing blocks the port", timeout.as_secs())]
    ConnectTimeout { address: String, timeout: Duration },

    #[error("TLS handshake with {address} failed: {reason}; {hint}")]
    Tls {
        address: String,
        reason: String,
        hint: String,
    },

    #[error("cannot connect to Temporal at {address}: {reason}{hint}")]
    Connect {
        address: String,
        reason: String,
        hint: String,
    },

    // ---- answers from the server ----------------------------------------------------
    #[error(
        "namespace `{namespace}` not found on {address}; check --namespace / TEMPORAL_NAMESPACE"
    )]
    NamespaceNotFound { namespace: String, address: String },

    #[error("{address} did not accept our credentials ({message}); {hint}")]
    Unauthenticated {
        address: String,
        message: String,
        hint: String,
    },

    #[error("{address} denied access to namespace `{namespace}` ({message}); {hint}")]
    PermissionDenied {
        address: String,
        namespace: String,
        message: String,
        hint: String,
    },

    #[error("workflow `{workflow_id}`{} not found in namespace `{namespace}`", run_id.as_ref().map(|r| format!(" run `{r}`")).unwrap_or_default())]
    WorkflowNotFound {
        workflow_id: String,
        run_id: Option<String>,
        namespace: String,
    },

    #[error("invalid list query `{query}`: {message}")]
    InvalidQuery { query: String, message: String },

    #[error(
        "the server at {address} does not support {rpc} ({message}); it is probably too old for deja (needs Temporal Server 1.20+, with advanced visibility for queries)"
    )]
    Unimplemented {
        address: String,
        rpc: String,
        message: String,
    },

    #[error("{address} answered with HTTP status {http_status} instead of gRPC; {hint}")]
    NotGrpc {
        address: String,
        http_status: u16,
        hint: String,
    },

    #[error(
        "Temporal at {address} is unavailable ({message}); gave up after {attempts} attempt(s)"
    )]
    Unavailable {
        address: String,
        message: String,
        attempts: u32,
    },

    #[error("{rpc} failed at {address}: {} ({message}){}", code_name(*code), retried(*attempts))]
    Rpc {
        address: String,
        rpc: String,
        code: Code,
        message: String,
        attempts: u32,
    },

    // ---- local files ----------------------------------------------------------------
    #[error("cannot write {}: {error}", path.display())]
    Write { path: PathBuf, error: io::Error },

    #[error("{0}")]
    Internal(String),
}

fn code_name(code: Code) -> String {
    // `Code`'s Display is a sentence; the name is what people search for.
    let name = format!("{code:?}");
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

fn retried(attempts: u32) -> String {
    if attempts > 1 {
        format!("; gave up after {attempts} attempts")
    } else {
        String::new()
    }
}

impl FetchError {
    /// Whether trying the same thing again later might succeed: the server was
    /// unavailable, rate-limited or slow. (Retries with backoff have already been done.)
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Unavailable { .. } | FetchError::ConnectTimeout { .. } => true,
            FetchError::NotGrpc { http_status, .. } => matches!(http_status, 429 | 502 | 503 | 504),
            FetchError::Rpc { code, .. } => is_retryable_code(*code),
            _ => false,
        }
    }
}

/// What a call was about, to name it in errors.
#[derive(Clone, Copy)]
pub(crate) struct CallCtx<'a> {
    pub rpc: &'static str,
    pub config: &'a ConnectionConfig,
    pub workflow: Option<(&'a str, Option<&'a str>)>,
    pub query: Option<&'a str>,
    pub attempts: u32,
}

impl<'a> CallCtx<'a> {
    pub fn new(rpc: &'static str, config: &'a ConnectionConfig) -> Self {
        CallCtx {
            rpc,
            config,
            workflow: None,
            query: None,
            attempts: 1,
        }
    }

    /// A server message, on one line, with the API key (if the server echoed it) removed.
    fn clean(&self, msg: &str) -> String {
        let mut m = one_line(msg);
        if let Some(key) = &self.config.api_key
            && !key.expose().is_empty()
        {
            m = m.replace(key.expose(), "<redacted>");
        }
        if m.is_empty() { "no message".into() } else { m }
    }

    fn address(&self) -> String {
        self.config.address.clone()
    }
}

/// Turns a failed call into a `FetchError`.
pub(crate) fn from_status(status: &Status, ctx: &CallCtx<'_>) -> FetchError {
    let config = ctx.config;
    let message = ctx.clean(status.message());
    if let Some(http) = http_status_of(status.message()) {
        return FetchError::NotGrpc {
            address: ctx.address(),
            http_status: http,
            hint: not_grpc_hint(http, config),
        };
    }
    match status.code() {
        Code::NotFound if is_namespace_not_found(status) => FetchError::NamespaceNotFound {
            namespace: config.namespace.clone(),
            address: ctx.address(),
        },
        Code::NotFound if ctx.workflow.is_some() => {
            let (wf, run) = ctx.workflow.unwrap_or_default();
            FetchError::WorkflowNotFound {
                workflow_id: wf.into(),
                run_id: run.map(String::from),
                namespace: config.namespace.clone(),
            }
        }
        Code::InvalidArgument if ctx.query.is_some() => FetchError::InvalidQuery {
            query: ctx.query.unwrap_or_default().into(),
            message,
        },
        Code::Unauthenticated => FetchError::Unauthenticated {
            address: ctx.address(),
            message,
            hint: credentials_hint(config),
        },
        Code::PermissionDenied => FetchError::PermissionDenied {
            address: ctx.address(),
            namespace: config.namespace.clone(),
            message,
            hint: credentials_hint(config),
        },
        Code::Unimplemented => FetchError::Unimplemented {
            address: ctx.address(),
            rpc: ctx.rpc.into(),
            message,
        },
        Code::Unavailable | Code::Unknown | Code::Internal => {
            // Transport failures arrive as UNAVAILABLE (or UNKNOWN) with the real cause in
            // the source chain.
            if let Some(e) = classify_transport(status, config) {
                return e;
            }
            match status.code() {
                Code::Unavailable => FetchError::Unavailable {
                    address: ctx.address(),
                    message,
                    attempts: ctx.attempts,
                },
                // A transport failure that isn't "unavailable": garbage on the
                // connection, typically a protocol mismatch (plaintext vs TLS).
                Code::Unknown if StdError::source(status).is_some() => FetchError::Connect {
                    address: ctx.address(),
                    reason: describe_chain(status),
                    hint: plaintext_or_tls_hint(config),
                },
                code => rpc_error(code, message, ctx),
            }
        }
        Code::Cancelled if status.message() == "Timeout expired" => rpc_error(
            Code::DeadlineExceeded,
            format!("no answer within {}s", config.rpc_timeout.as_secs()),
            ctx,
        ),
        code => rpc_error(code, message, ctx),
    }
}

fn rpc_error(code: Code, message: String, ctx: &CallCtx<'_>) -> FetchError {
    FetchError::Rpc {
        address: ctx.address(),
        rpc: ctx.rpc.into(),
        code,
        message,
        attempts: ctx.attempts,
    }
}

/// Turns a failed `Endpoint::connect` into a `FetchError`.
pub(crate) fn from_connect_error(
    err: &tonic::transport::Error,
    config: &ConnectionConfig,
) -> FetchError {
    classify_transport(err, config).unwrap_or_else(|| FetchError::Connect {
        address: config.address.clone(),
        reason: describe_chain(err),
        hint: plaintext_or_tls_hint(config),
    })
}

fn credentials_hint(config: &ConnectionConfig) -> String {
    let ns = &config.namespace;
    match (&config.api_key, config.tls.as_ref().and_then(|t| t.client_cert.as_ref())) {
        (Some(_), _) => format!(
            "check that the API key (--api-key / TEMPORAL_API_KEY) is valid, not expired, and has access to namespace `{ns}`"
        ),
        (None, Some(cert)) => format!(
            "check that the client certificate ({}) is accepted for namespace `{ns}`",
            cert.describe()
        ),
        (None, None) => "the server wants credentials: pass --api-key (or TEMPORAL_API_KEY), or a client certificate with --tls-cert-path and --tls-key-path".into(),
    }
}

/// Does the status carry a `NamespaceNotFoundFailure` detail (or, from servers that send
/// no details, the standard message)?
fn is_namespace_not_found(status: &Status) -> bool {
    if let Ok(rpc) = <RpcStatus as prost::Message>::decode(status.details())
        && rpc
            .details
            .iter()
            .any(|d| d.type_url.ends_with(".NamespaceNotFoundFailure"))
    {
        return true;
    }
    let m = status.message();
    m.starts_with("Namespace ") && m.contains(" is not found")
}

/// `google.rpc.Status`, the payload of `grpc-status-details-bin`; only to read the
/// failure type of the details.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

/// All errors in a source chain, including the ones `io::Error` wraps (its `source()`
/// skips the wrapped error itself, which is where rustls puts its error).
fn chain<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        out.push(e);
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            let inner: &(dyn StdError + 'static) = inner;
            out.extend(chain(inner));
            break;
        }
        cur = e.source();
    }
    out
}

fn describe_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in chain(err) {
        // `Status`'s Display is a debug dump of itself and its sources; its message is
        // the part worth showing (the sources follow in the chain anyway).
        let s = match e.downcast_ref::<Status>() {
            Some(st) => one_line(st.message()),
            None => one_line(&e.to_string()),
        };
        // Wrappers often repeat their source's text; keep each piece once.
        if !s.is_empty() && !parts.iter().any(|p| p.contains(&s)) {
            parts.retain(|p| !s.contains(p.as_str()));
            parts.push(s);
        }
    }
    if parts.is_empty() {
        "unknown error".into()
    } else {
        parts.join(": ")
    }
}

/// Recognises refused connections, DNS failures, timeouts and TLS errors anywhere in
/// an error's source chain.
fn classify_transport(
    err: &(dyn StdError + 'static),
    config: &ConnectionConfig,
) -> Option<FetchError> {
    let address = config.address.clone();
    let links = chain(err);
    if let Some(tls) = links.iter().find_map(|e| e.downcast_ref::<rustls::Error>()) {
        let (reason, hint) = describe_tls_error(tls, config);
        return Some(FetchError::Tls {
            address,
            reason,
            hint,
        });
    }
    for e in &links {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => {
                    return Some(FetchError::ConnectionRefused { address });
                }
                io::ErrorKind::TimedOut => {
                    return Some(FetchError::ConnectTimeout {
                        address,
                        timeout: config.connect_timeout,
                    });
                }
                _ => {}
            }
        }
        let text = e.to_string();
        if text.starts_with("dns error") || text.contains("failed to lookup address") {
            let host = host_of(&config.address);
            return Some(FetchError::Dns { address, host });
        }
        if text.contains("Connection refused") {
            return Some(FetchError::ConnectionRefused { address });
        }
        if text == "timed out" || text.contains("connection timed out") {
            return Some(FetchError::ConnectTimeout {
                address,
                timeout: config.connect_timeout,
            });
        }
    }
    // A TLS client talking to a plaintext server typically sees the connection closed
    // mid-handshake; a plaintext client talking to a TLS server sees a garbled HTTP/2
    // preface. Neither carries a rustls error, so recognise them by their text.
    let all = describe_chain(err);
    if config.tls.is_some() && (all.contains("tls handshake eof") || all.contains("unexpected EOF"))
    {
        return Some(FetchError::Tls {
            address,
            reason: "the server closed the connection during the handshake".into(),
            hint: "is this a plaintext endpoint? try --tls=false (or TEMPORAL_TLS=false)".into(),
        });
    }
    None
}

/// tonic's wording when a non-gRPC HTTP response arrives: "... HTTP status code 404"
/// or "... while receiving response with status: 400 Bad Request".
fn http_status_of(message: &str) -> Option<u16> {
    for marker in ["HTTP status code ", "response with status: "] {
        if let Some(at) = message.find(marker) {
            let digits: String = message[at + marker.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(code) = digits.parse::<u16>() {
                return Some(code);
            }
        }
    }
    None
}

fn not_grpc_hint(http: u16, config: &ConnectionConfig) -> String {
    let cert = config.tls.as_ref().and_then(|t| t.client_cert.as_ref());
    match (http, config.tls.is_some(), cert) {
        (400 | 495 | 496, true, Some(cert)) => format!(
            "a TLS proxy answers like this when it rejects the client certificate: check that {} is signed by a CA the server trusts",
            cert.describe()
        ),
        (400 | 495 | 496, true, None) => "a TLS proxy answers like this when it requires a client certificate (mTLS): pass --tls-cert-path and --tls-key-path".into(),
        (401 | 403, _, _) => credentials_hint(config),
        _ => "check that --address points at the Temporal frontend's gRPC port".into(),
    }
}

fn plaintext_or_tls_hint(config: &ConnectionConfig) -> String {
    if config.tls.is_none() {
        "; if the server expects TLS, pass --tls (or an --api-key / client certificate)".into()
    } else {
        String::new()
    }
}

fn host_of(address: &str) -> String {
    let host = address.rsplit_once(':').map(|(h, _)| h).unwrap_or(address);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

fn describe_tls_error(err: &rustls::Error, config: &ConnectionConfig) -> (String, String) {
    use rustls::{AlertDescription as A, CertificateError as C, Error as R};
    let tls = config.tls.clone().unwrap_or_default();
    let ca = tls.server_ca_cert.as_ref().map(PemSource::describe);
    let name = tls
        .server_name
        .clone()
        .unwrap_or_else(|| host_of(&config.address));
    let cert = tls.client_cert.as_ref().map(PemSource::describe);
    match err {
        R::InvalidCertificate(C::UnknownIssuer) | R::InvalidCertificate(C::BadSignature) => match ca {
            Some(ca) => (
                format!("the server's certificate is not signed by the CA in {ca}"),
                "check that this is the CA that issued the server's certificate".into(),
            ),
            None => (
                "the server's certificate is not signed by a CA this system trusts".into(),
                "pass the server's CA with --tls-ca-path (or TEMPORAL_TLS_SERVER_CA_CERT_PATH)".into(),
            ),
        },
        R::InvalidCertificate(C::NotValidForName) | R::InvalidCertificate(C::NotValidForNameContext { .. }) => (
            format!("the server's certificate is not valid for the name `{name}`"),
            "set --tls-server-name to a name the certificate has (or, insecurely, --tls-disable-host-verification)".into(),
        ),
        R::InvalidCertificate(C::Expired) | R::InvalidCertificate(C::ExpiredContext { .. }) => (
            "the server's certificate has expired".into(),
            "renew the server certificate (or check this machine's clock)".into(),
        ),
        R::InvalidCertificate(other) => (
            format!("the server's certificate was rejected: {}", certificate_problem(other)),
            "check the server certificate and --tls-ca-path".into(),
        ),
        R::AlertReceived(alert @ (A::CertificateRequired | A::BadCertificate | A::UnknownCA
        | A::CertificateUnknown | A::AccessDenied | A::DecryptError | A::HandshakeFailure
        | A::UnsupportedCertificate | A::CertificateRevoked | A::CertificateExpired)) => match cert {
            Some(cert) => (
                format!("the server rejected our client certificate ({alert:?})"),
                format!("check {cert} and its key, and that the server trusts the CA that signed it"),
            ),
            None => (
                format!("the server ended the handshake ({alert:?}); it probably requires a client certificate (mTLS)"),
                "pass --tls-cert-path and --tls-key-path (or TEMPORAL_TLS_CLIENT_CERT_PATH / _KEY_PATH)".into(),
            ),
        },
        R::InvalidMessage(_) | R::InappropriateMessage { .. } | R::InappropriateHandshakeMessage { .. } => (
            "the server did not answer with TLS".into(),
            "is this a plaintext endpoint? try --tls=false (or TEMPORAL_TLS=false)".into(),
        ),
        R::NoApplicationProtocol => (
            "the server does not offer HTTP/2 (ALPN h2)".into(),
            "check that the address is a gRPC endpoint (a TLS proxy must pass HTTP/2 through)".into(),
        ),
        R::Other(o) => (o.to_string(), "check the TLS options (--tls-*)".into()),
        other => (other.to_string(), "check the TLS options (--tls-*)".into()),
    }
}

/// A certificate problem in words: rustls's Display falls back to a debug dump for some
/// variants (`Other(OtherError(..))`), so the wrapped error is asked directly.
fn certificate_problem(e: &rustls::CertificateError) -> String {
    match e {
        rustls::CertificateError::Other(o) => o.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ApiKey, TlsConfig};

    fn cfg() -> ConnectionConfig {
        ConnectionConfig::new("temporal.example:7233", "prod")
    }

    #[test]
    fn tls_errors_are_words_not_debug_dumps() {
        let inner = std::sync::Arc::new(std::io::Error::other("unsupported critical extension"));
        for err in [
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
                inner.clone(),
            ))),
            rustls::Error::Other(rustls::OtherError(inner)),
        ] {
            let (reason, hint) = describe_tls_error(&err, &cfg());
            assert!(
                reason.contains("unsupported critical extension"),
                "{reason}"
            );
            assert!(
                !reason.contains("OtherError") && !reason.contains("Other("),
                "{reason}"
            );
            assert!(hint.contains("--tls"), "{hint}");
        }
    }

    #[test]
    fn code_names_are_screaming_case() {
        assert_eq!(code_name(Code::ResourceExhausted), "RESOURCE_EXHAUSTED");
        assert_eq!(code_name(Code::Unavailable), "UNAVAILABLE");
    }

    #[test]
    fn namespace_not_found_from_details_and_message() {
        let c = cfg();
        let ctx = CallCtx {
            workflow: Some(("wf", None)),
            ..CallCtx::new("GetWorkflowExecutionHistory", &c)
        };
        let details = prost::Message::encode_to_vec(&RpcStatus {
            code: 5,
            message: "x".into(),
            details: vec![prost_types::Any {
                type_url:
                    "type.googleapis.com/temporal.api.errordetails.v1.NamespaceNotFoundFailure"
                        .into(),
                value: vec![],
            }],
        });
        let s = Status::with_details(Code::NotFound, "whatever", details.into());
        assert!(matches!(
            from_status(&s, &ctx),
            FetchError::NamespaceNotFound { .. }
        ));
        let s = Status::not_found("Namespace prod is not found.");
        let e = from_status(&s, &ctx);
        assert!(matches!(e, FetchError::NamespaceNotFound { .. }));
        assert!(e.to_string().contains("--namespace"), "{e}");
        let s = Status::not_found("workflow execution not found");
        let e = from_status(&s, &ctx);
        assert!(matches!(e, FetchError::WorkflowNotFound { .. }), "{e}");
        assert_eq!(e.to_string(), "workflow `wf` not found in namespace `prod`");
    }

    #[test]
    fn query_errors_carry_the_server_message() {
        let c = cfg();
        let ctx = CallCtx {
            query: Some("WorkflowType = "),
            ..CallCtx::new("ListWorkflowExecutions", &c)
        };
        let e = from_status(
            &Status::invalid_argument("invalid query: syntax error at end"),
            &ctx,
        );
        assert_eq!(
            e.to_string(),
            "invalid list query `WorkflowType = `: invalid query: syntax error at end"
        );
    }

    #[test]
    fn api_key_is_scrubbed_and_hinted() {
        let mut c = cfg();
        c.api_key = Some(ApiKey::new("sk-12345"));
        let ctx = CallCtx::new("GetSystemInfo", &c);
        let e = from_status(&Status::unauthenticated("bad token sk-12345"), &ctx);
        let msg = e.to_string();
        assert!(!msg.contains("sk-12345"), "{msg}");
        assert!(msg.contains("--api-key"), "{msg}");
        assert!(!format!("{e:?}").contains("sk-12345"));
        let e = from_status(&Status::permission_denied("Request unauthorized."), &ctx);
        assert!(e.to_string().contains("namespace `prod`"), "{e}");
    }

    #[test]
    fn no_credentials_hint_suggests_both_kinds() {
        let c = cfg();
        let e = from_status(
            &Status::unauthenticated("x"),
            &CallCtx::new("GetSystemInfo", &c),
        );
        assert!(e.to_string().contains("--tls-cert-path"), "{e}");
    }

    #[test]
    fn unavailable_is_retryable_and_one_line() {
        let c = cfg();
        let ctx = CallCtx {
            attempts: 8,
            ..CallCtx::new("ListWorkflowExecutions", &c)
        };
        let e = from_status(&Status::unavailable("server\nrestarting"), &ctx);
        assert!(e.is_retryable());
        let msg = e.to_string();
        assert!(!msg.contains('\n'), "{msg}");
        assert!(msg.contains("after 8 attempt"), "{msg}");
        let e = from_status(&Status::resource_exhausted("rate limit"), &ctx);
        assert!(e.is_retryable());
        assert!(e.to_string().contains("RESOURCE_EXHAUSTED"), "{e}");
        assert!(!from_status(&Status::invalid_argument("x"), &ctx).is_retryable());
    }

    #[test]
    fn client_timeout_reads_as_deadline() {
        let c = cfg();
        let e = from_status(
            &Status::cancelled("Timeout expired"),
            &CallCtx::new("GetWorkflowExecutionHistory", &c),
        );
        assert!(
            matches!(
                e,
                FetchError::Rpc {
                    code: Code::DeadlineExceeded,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.is_retryable());
    }

    #[test]
    fn unimplemented_mentions_server_age() {
        let c = cfg();
        let e = from_status(
            &Status::unimplemented("unknown method"),
            &CallCtx::new("ListWorkflowExecutions", &c),
        );
        assert!(e.to_string().contains("too old"), "{e}");
    }

    #[test]
    fn io_errors_in_chain_are_classified() {
        let c = cfg();
        let refused = io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let st = Status::from_error(Box::new(tonic::ConnectError(Box::new(refused))));
        assert!(matches!(
            from_status(&st, &CallCtx::new("X", &c)),
            FetchError::ConnectionRefused { .. }
        ));
    }

    #[test]
    fn tls_errors_name_the_fix() {
        let mut c = cfg();
        c.tls = Some(TlsConfig::default());
        let wrap = |e: rustls::Error| {
            let io = io::Error::new(io::ErrorKind::InvalidData, e);
            Status::from_error(Box::new(tonic::ConnectError(Box::new(io))))
        };
        let e = from_status(
            &wrap(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
            &CallCtx::new("X", &c),
        );
        assert!(e.to_string().contains("--tls-ca-path"), "{e}");
        let e = from_status(
            &wrap(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName,
            )),
            &CallCtx::new("X", &c),
        );
        assert!(e.to_string().contains("`temporal.example`"), "{e}");
        assert!(e.to_string().contains("--tls-server-name"), "{e}");
        let e = from_status(
            &wrap(rustls::Error::AlertReceived(
                rustls::AlertDescription::CertificateRequired,
            )),
            &CallCtx::new("X", &c),
        );
        assert!(e.to_string().contains("--tls-cert-path"), "{e}");
    }

    #[test]
    fn http_answers_are_not_mistaken_for_grpc_codes() {
        let c = cfg();
        let ctx = CallCtx::new("GetSystemInfo", &c);
        let s =
            Status::unimplemented("grpc-status header missing, mapped from HTTP status code 404");
        let e = from_status(&s, &ctx);
        assert!(
            matches!(
                e,
                FetchError::NotGrpc {
                    http_status: 404,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(!e.to_string().contains("too old"), "{e}");
        let mut c = cfg();
        c.tls = Some(TlsConfig::default());
        let s = Status::internal(
            "protocol error: received message with invalid compression flag: 60 (valid flags are 0 and 1) while receiving response with status: 400 Bad Request",
        );
        let e = from_status(&s, &CallCtx::new("GetSystemInfo", &c));
        assert!(
            e.to_string().contains("requires a client certificate"),
            "{e}"
        );
    }

    #[test]
    fn status_display_is_not_dumped() {
        let st = Status::from_error(Box::new(tonic::ConnectError(Box::new(io::Error::other(
            "boom",
        )))));
        let d = describe_chain(&st);
        assert!(!d.contains("code:") && !d.contains("source:"), "{d}");
    }

    #[test]
    fn describe_chain_dedups_repeated_text() {
        let inner = io::Error::other("boom");
        let outer = tonic::ConnectError(Box::new(inner));
        assert_eq!(describe_chain(&outer), "boom");
    }
}
