//! The server source: one run fetched straight into memory (`replay`/`debug
//! --workflow-id`), or every run a query matches streamed to files (`check --query`).
//!
//! All gRPC work runs on a tokio runtime that is dropped (or lives on its own thread)
//! before any Python runs, so Python is never called from an async worker thread.

use anyhow::{Context, Result};
use futures::StreamExt;

use deja_core::history::{self, LoadedHistory, Source};

use crate::style::Untrusted;

/// The runtime for gRPC work (also `deja fetch`'s).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("starting the async runtime")
}

/// Fetch one run's history (latest run without `run_id`) and load it like a file.
pub fn fetch_one(server: &deja_fetch::ConnectionArgs, workflow_id: &str, run_id: Option<&str>) -> Result<LoadedHistory> {
    let config = server.resolve()?;
    let rt = runtime()?;
    let fetched = rt.block_on(async {
        let client = deja_fetch::connect(&config).await?;
        deja_fetch::fetch_history(&client, workflow_id, run_id).await
    })?;
    drop(rt);
    if fetched.is_running() {
        eprintln!("deja: note: {} is still running; replaying its history as it stands ({} events)", Untrusted(workflow_id), fetched.event_count());
    }
    let bytes = prost::Message::encode_to_vec(&fetched.history);
    let source = Source::Server(format!("{}/{}/{}", config.namespace, fetched.workflow_id, fetched.run_id));
    let mut h = history::load::load_bytes(&bytes, source, Some(workflow_id))?;
    h.run_id = Some(fetched.run_id);
    Ok(h)
}

/// Download every run a query matches into `dir`, calling `each` with each file as soon as
/// it is written — `check --query` feeds these straight to its replay workers, so replay
/// starts with the first history, not after the last. Runs on its own thread and runtime
/// (Python never runs there); returns how many histories were written.
pub fn download_streaming(
    server: &deja_fetch::ConnectionArgs,
    query: &str,
    limit: Option<usize>,
    sample_per_type: Option<usize>,
    dir: std::path::PathBuf,
    mut each: impl FnMut(std::path::PathBuf) + Send + 'static,
) -> Result<std::thread::JoinHandle<Result<usize>>> {
    let config = server.resolve()?;
    let rt = runtime()?;
    let query = query.to_string();
    Ok(std::thread::spawn(move || {
        rt.block_on(async move {
            let client = deja_fetch::connect(&config).await?;
            client.check_namespace().await?;
            let runs = deja_fetch::list_executions(&client, &query, limit, sample_per_type);
            let mut stream = std::pin::pin!(deja_fetch::fetch_stream(&client, runs, &deja_fetch::DownloadOptions::default()));
            let mut written = 0usize;
            while let Some(item) = stream.next().await {
                match item {
                    Ok(f) => {
                        let (path, _) = deja_fetch::store::write_history(&dir, &f).await?;
                        written += 1;
                        each(path);
                    }
                    // Deleted (retention) between listing and fetching: nothing to check.
                    Err(deja_fetch::FetchError::WorkflowNotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(written)
        })
    }))
}
