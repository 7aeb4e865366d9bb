//! The connection: a tonic channel to the frontend, metadata on every call, retries.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deja_proto::temporal::api::workflowservice::v1::{
    DescribeNamespaceRequest, GetSystemInfoRequest, workflow_service_client::WorkflowServiceClient,
};
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use crate::config::ConnectionConfig;
use crate::error::{CallCtx, FetchError, from_connect_error, from_status};
use crate::retry::with_retry;

/// The generated gRPC client with deja's metadata interceptor, for calls this crate
/// doesn't wrap (see [`Client::raw`]).
pub type RawClient = WorkflowServiceClient<InterceptedService<Channel, Headers>>;

/// Histories are sent in pages that can exceed tonic's 4 MiB default (large payloads);
/// the Go SDK allows 128 MiB, and so do we.
const MAX_MESSAGE_BYTES: usize = 128 * 1024 * 1024;

/// A connected client for one namespace. Cheap to clone (clones share the connection).
#[derive(Clone)]
pub struct Client {
    raw: RawClient,
    shared: Arc<Shared>,
}

struct Shared {
    config: ConnectionConfig,
    server_version: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.shared.config.address)
            .field("namespace", &self.shared.config.namespace)
            .field("server_version", &self.shared.server_version)
            .finish()
    }
}

/// Connects (TCP, TLS, HTTP/2) and asks the server for its version, so that a wrong
/// address, TLS setting or credential fails here with a clear error rather than at the
/// first real call.
pub async fn connect(config: &ConnectionConfig) -> Result<Client, FetchError> {
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let bad_address = |e: tonic::transport::Error| FetchError::InvalidSetting {
        setting: "--address".into(),
        reason: format!("`{}`: {e}", config.address),
    };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{}", config.address))
        .map_err(bad_address)?
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(15))
        .user_agent(concat!("deja/", env!("CARGO_PKG_VERSION")))
        .map_err(bad_address)?;
    if let Some(tls) = &config.tls {
        endpoint = crate::tls::apply(endpoint, tls)?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| from_connect_error(&e, config))?;
    let raw = WorkflowServiceClient::with_interceptor(channel, Headers::new(config)?)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);

    let mut client = Client {
        raw,
        shared: Arc::new(Shared {
            config: config.clone(),
            server_version: String::new(),
        }),
    };
    let info = client
        .call(CallCtx::new("GetSystemInfo", config), |mut c| async move {
            c.get_system_info(GetSystemInfoRequest {}).await
        })
        .await?;
    client.shared = Arc::new(Shared {
        config: config.clone(),
        server_version: info.server_version,
    });
    Ok(client)
}

impl Client {
    pub fn address(&self) -> &str {
        &self.shared.config.address
    }

    pub fn namespace(&self) -> &str {
        &self.shared.config.namespace
    }

    /// The server's version as it reported it (e.g. `1.29.1`).
    pub fn server_version(&self) -> &str {
        &self.shared.server_version
    }

    pub fn config(&self) -> &ConnectionConfig {
        &self.shared.config
    }

    /// The underlying generated client, with metadata and deadlines already applied.
    pub fn raw(&self) -> RawClient {
        self.raw.clone()
    }

    /// Checks that the namespace exists (and that we may see it), for an early, clear
    /// error before starting a long listing.
    pub async fn check_namespace(&self) -> Result<(), FetchError> {
        let ns = self.namespace().to_string();
        let result = self
            .call(CallCtx::new("DescribeNamespace", self.config()), |mut c| {
                let ns = ns.clone();
                async move {
                    c.describe_namespace(DescribeNamespaceRequest {
                        namespace: ns,
                        ..Default::default()
                    })
                    .await
                }
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            // DescribeNamespace answers a plain NOT_FOUND.
            Err(FetchError::Rpc {
                code: tonic::Code::NotFound,
                ..
            }) => Err(FetchError::NamespaceNotFound {
                namespace: ns,
                address: self.address().to_string(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Runs one RPC with retries, mapping the final failure to a `FetchError`.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        ctx: CallCtx<'_>,
        mut rpc: F,
    ) -> Result<T, FetchError>
    where
        F: FnMut(RawClient) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let (result, attempts) =
            with_retry(&self.shared.config.retry, || rpc(self.raw.clone())).await;
        result
            .map(tonic::Response::into_inner)
            .map_err(|s| from_status(&s, &CallCtx { attempts, ..ctx }))
    }
}

/// Adds `--grpc-meta` headers, `temporal-namespace`, `authorization` (API key) and the
/// per-call deadline to every request.
#[derive(Clone)]
pub struct Headers {
    entries: Arc<Vec<(AsciiMetadataKey, AsciiMetadataValue)>>,
    timeout: Duration,
}

impl Headers {
    fn new(config: &ConnectionConfig) -> Result<Headers, FetchError> {
        let invalid = |what: &str| FetchError::InvalidSetting {
            setting: what.into(),
            reason: "contains characters not allowed in a gRPC header".into(),
        };
        let mut entries = Vec::new();
        for (k, v) in &config.grpc_meta {
            let key = AsciiMetadataKey::from_bytes(k.as_bytes())
                .map_err(|_| invalid("--grpc-meta key"))?;
            let mut value = AsciiMetadataValue::try_from(v.as_str())
                .map_err(|_| invalid("--grpc-meta value"))?;
            value.set_sensitive(true);
            entries.push((key, value));
        }
        // Temporal Cloud routes API-key requests by this header; harmless elsewhere.
        let ns = AsciiMetadataValue::try_from(config.namespace.as_str())
            .map_err(|_| invalid("--namespace"))?;
        entries.push((AsciiMetadataKey::from_static("temporal-namespace"), ns));
        if let Some(key) = &config.api_key {
            // The error must not quote the key.
            let mut v = AsciiMetadataValue::try_from(format!("Bearer {}", key.expose()))
                .map_err(|_| invalid("--api-key"))?;
            v.set_sensitive(true);
            entries.push((AsciiMetadataKey::from_static("authorization"), v));
        }
        Ok(Headers {
            entries: Arc::new(entries),
            timeout: config.rpc_timeout,
        })
    }
}

impl Interceptor for Headers {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let md = req.metadata_mut();
        for (k, v) in self.entries.iter() {
            md.insert(k.clone(), v.clone());
        }
        req.set_timeout(self.timeout);
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ApiKey;

    #[test]
    fn headers_carry_key_namespace_and_meta() {
        let mut c = ConnectionConfig::new("h:1", "ns1");
        c.api_key = Some(ApiKey::new("k1"));
        c.grpc_meta.insert("x-team".into(), "blue".into());
        c.grpc_meta
            .insert("authorization".into(), "overridden".into());
        let mut h = Headers::new(&c).unwrap();
        let req = h.call(Request::new(())).unwrap();
        let md = req.metadata();
        assert_eq!(md.get("authorization").unwrap(), "Bearer k1");
        assert_eq!(md.get("temporal-namespace").unwrap(), "ns1");
        assert_eq!(md.get("x-team").unwrap(), "blue");
        assert!(md.get("grpc-timeout").is_some());
        assert!(!format!("{md:?}").contains("k1"), "{md:?}");
    }

    #[test]
    fn no_authorization_without_key() {
        let c = ConnectionConfig::new("h:1", "ns1");
        let mut h = Headers::new(&c).unwrap();
        let req = h.call(Request::new(())).unwrap();
        assert!(req.metadata().get("authorization").is_none());
    }
}
