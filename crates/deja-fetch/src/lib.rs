//! Getting workflow histories out of a Temporal server, configured the way the `temporal`
//! CLI is.
//!
//! The pieces, in the order deja uses them:
//!
//! * [`ConnectionArgs`] — the CLI's connection flags (`--address`, `--namespace`,
//!   `--api-key`, `--tls*`, `--grpc-meta`, `--profile`, `--config-file`), to be
//!   `#[command(flatten)]`ed into a clap command.
//! * [`ConnectionArgs::resolve`] / [`config::resolve`] — apply precedence and produce a
//!   plain [`ConnectionConfig`]:
//!
//!   **flag > environment variable > profile in `temporal.toml` > default**
//!
//!   with the CLI's and SDKs' names (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`,
//!   `TEMPORAL_API_KEY`, `TEMPORAL_TLS`, `TEMPORAL_TLS_CLIENT_CERT_PATH`,
//!   `TEMPORAL_TLS_CLIENT_KEY_PATH`, `TEMPORAL_TLS_SERVER_CA_CERT_PATH` (and `_DATA`
//!   variants), `TEMPORAL_TLS_SERVER_NAME`, `TEMPORAL_TLS_DISABLE_HOST_VERIFICATION`,
//!   `TEMPORAL_GRPC_META_<KEY>`, `TEMPORAL_PROFILE`, `TEMPORAL_CONFIG_FILE`) and the
//!   same file ([`profile`]). An API key or any TLS setting turns TLS on unless TLS is
//!   explicitly disabled. The API key is never printed: `Debug` redacts it and errors
//!   never contain it.
//! * [`connect`] — a tonic channel (rustls; CA, client certificate and key, server
//!   name, or no verification at all) plus an interceptor that sends
//!   `authorization: Bearer <key>`, `temporal-namespace` and `--grpc-meta` headers.
//!   It asks the server for its version, so bad addresses, TLS or credentials fail
//!   right away.
//! * [`fetch_history`] — one run's full history, paginated, with whether the run was
//!   still open ([`FetchedHistory`]).
//! * [`list_executions`] — a stream of runs matching a visibility query, with an overall
//!   `limit` and an optional `sample_per_type` cap.
//! * [`fetch_stream`] — histories of listed runs, fetched concurrently and yielded as
//!   they arrive (for pipelining into replay).
//! * [`fetch_to_dir`] — the same, written incrementally to
//!   `OUT/<WorkflowType>/<workflowId>__<runId>.json` ([`store`] has the format, which
//!   the Python SDK's `WorkflowHistory.from_json` also loads), reporting through
//!   [`Progress`].
//!
//! Every failure is a [`FetchError`] whose `Display` is one line naming the address,
//! file or flag involved and the fix. Calls are retried with exponential backoff on
//! UNAVAILABLE, RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED ([`RetryPolicy`]).

pub mod args;
pub mod client;
pub mod control;
pub mod config;
pub mod download;
pub mod error;
pub mod history;
pub mod list;
pub mod profile;
pub mod retry;
pub mod store;
mod tls;

pub use args::ConnectionArgs;
pub use client::{Client, RawClient, connect};
pub use config::{ApiKey, ConnectionConfig, PemSource, TlsConfig};
pub use download::{
    DEFAULT_CONCURRENCY, DownloadOptions, DownloadSummary, FetchedRun, NoProgress, Progress,
    fetch_stream, fetch_to_dir,
};
pub use error::FetchError;
pub use history::{FetchedHistory, fetch_history};
pub use list::{ExecutionSummary, list_executions};
pub use retry::RetryPolicy;
