//! Many histories at once: concurrently, either streamed to the caller or written to a
//! directory incrementally.
//!
//! Each fetch runs as its own tokio task, so decoding and JSON encoding use all cores
//! while other fetches wait on the network; `concurrency` bounds how many are in flight.
//! Dropping the stream (or an error ending `fetch_to_dir`) aborts the fetches in flight.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::error::FetchError;
use crate::history::{FetchedHistory, fetch_history};
use crate::list::ExecutionSummary;
use crate::store;

/// Default number of histories fetched at once (`--concurrency`).
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Progress callbacks for `fetch_to_dir` (the caller draws the bar). All have empty
/// defaults. They are called from the task driving the download, one at a time.
pub trait Progress: Send + Sync {
    /// A run came out of the listing (the total so far grows by one).
    fn listed(&self, _exec: &ExecutionSummary) {}
    /// The run's final history was already on disk.
    fn skipped(&self, _exec: &ExecutionSummary) {}
    /// A history was fetched and written.
    fn fetched(&self, _run: &FetchedRun) {}
    /// The run disappeared between listing and fetching (deleted by retention).
    fn missing(&self, _exec: &ExecutionSummary) {}
}

/// A `Progress` that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What was written for one run.
#[derive(Clone, Debug)]
pub struct FetchedRun {
    pub workflow_id: String,
    pub run_id: String,
    pub workflow_type: String,
    pub path: PathBuf,
    pub events: usize,
    pub bytes: u64,
    pub running: bool,
}

/// Options for [`fetch_to_dir`] and [`fetch_stream`].
#[derive(Clone, Debug)]
pub struct DownloadOptions {
    /// Histories in flight at once; at least 1.
    pub concurrency: usize,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// Totals of a [`fetch_to_dir`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DownloadSummary {
    /// Runs the listing produced.
    pub listed: usize,
    /// Histories fetched and written.
    pub fetched: usize,
    /// Runs whose final history was already on disk.
    pub skipped: usize,
    /// Of `fetched`, runs that were still open (written as they stood; fetched again
    /// next time).
    pub running: usize,
    /// Runs listed but gone by the time we fetched them.
    pub missing: usize,
    /// Events in the fetched histories.
    pub events: u64,
    /// Bytes written.
    pub bytes: u64,
    pub elapsed: Duration,
}

impl DownloadSummary {
    pub fn histories_per_sec(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.fetched as f64 / s
        } else {
            0.0
        }
    }
}

/// Fetches the listed runs concurrently and yields each history as it arrives (in
/// completion order), for pipelining into replay without touching the disk.
///
/// A per-run failure is yielded as an `Err` and the stream goes on (a run deleted since
/// the listing gives [`FetchError::WorkflowNotFound`]); a listing failure is yielded
/// once and ends the stream.
pub fn fetch_stream<S>(
    client: &Client,
    executions: S,
    options: &DownloadOptions,
) -> impl Stream<Item = Result<FetchedHistory, FetchError>> + Send + 'static
where
    S: Stream<Item = Result<ExecutionSummary, FetchError>> + Send + 'static,
{
    let client = client.clone();
    executions
        .map(move |item| {
            let client = client.clone();
            async move {
                let exec = item?;
                spawn(async move { fetch_history(&client, &exec.workflow_id, Some(&exec.run_id)).await }).await
            }
        })
        .buffer_unordered(options.concurrency.max(1))
}

/// Downloads the listed runs into `out_dir` (layout and format: [`crate::store`]).
///
/// Incremental: a closed run whose file is already there is skipped without being
/// fetched; open runs are always fetched again. Stops at the first error other than a
/// run that has disappeared, leaving every file written so far complete and valid.
pub async fn fetch_to_dir<S>(
    client: &Client,
    executions: S,
    out_dir: &Path,
    options: &DownloadOptions,
    progress: &dyn Progress,
) -> Result<DownloadSummary, FetchError>
where
    S: Stream<Item = Result<ExecutionSummary, FetchError>> + Send,
{
    let start = Instant::now();
    let mut summary = DownloadSummary::default();
    let outcomes = executions
        .map(|item| {
            if let Ok(exec) = &item {
                progress.listed(exec);
            }
            let client = client.clone();
            let out_dir = out_dir.to_path_buf();
            async move {
                let exec = item?;
                spawn(fetch_one(client, exec, out_dir)).await
            }
        })
        .buffer_unordered(options.concurrency.max(1));
    let mut outcomes = std::pin::pin!(outcomes);

    while let Some(outcome) = outcomes.next().await {
        summary.listed += 1;
        match outcome? {
            Outcome::Skipped(exec) => {
                summary.skipped += 1;
                progress.skipped(&exec);
            }
            Outcome::Missing(exec) => {
                summary.missing += 1;
                progress.missing(&exec);
            }
            Outcome::Fetched(run) => {
                summary.fetched += 1;
                summary.running += run.running as usize;
                summary.events += run.events as u64;
                summary.bytes += run.bytes;
                progress.fetched(&run);
            }
        }
    }
    summary.elapsed = start.elapsed();
    Ok(summary)
}

enum Outcome {
    Skipped(ExecutionSummary),
    Missing(ExecutionSummary),
    Fetched(FetchedRun),
}

async fn fetch_one(
    client: Client,
    exec: ExecutionSummary,
    out_dir: PathBuf,
) -> Result<Outcome, FetchError> {
    let path = store::history_path(
        &out_dir,
        &exec.workflow_type,
        &exec.workflow_id,
        &exec.run_id,
    );
    if !exec.is_running() && store::is_complete(&path).await {
        return Ok(Outcome::Skipped(exec));
    }
    let h = match fetch_history(&client, &exec.workflow_id, Some(&exec.run_id)).await {
        Ok(h) => h,
        Err(FetchError::WorkflowNotFound { .. }) => return Ok(Outcome::Missing(exec)),
        Err(e) => return Err(e),
    };
    let (path, bytes) = store::write_history(&out_dir, &h).await?;
    Ok(Outcome::Fetched(FetchedRun {
        running: h.is_running(),
        events: h.event_count(),
        workflow_id: h.workflow_id,
        run_id: h.run_id,
        workflow_type: h.workflow_type,
        path,
        bytes,
    }))
}

/// Spawns a task that is aborted if its handle is dropped (tokio's default is to let
/// it run on detached), so abandoning a download really stops it.
fn spawn<T: Send + 'static>(
    fut: impl Future<Output = Result<T, FetchError>> + Send + 'static,
) -> impl Future<Output = Result<T, FetchError>> + Send {
    AbortOnDrop(tokio::spawn(fut))
}

struct AbortOnDrop<T>(JoinHandle<Result<T, FetchError>>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, FetchError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(result) => result,
            Err(e) => Err(FetchError::Internal(format!(
                "history fetch task failed: {e}"
            ))),
        })
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_zero_without_time() {
        assert_eq!(DownloadSummary::default().histories_per_sec(), 0.0);
        let s = DownloadSummary {
            fetched: 10,
            elapsed: Duration::from_secs(2),
            ..Default::default()
        };
        assert_eq!(s.histories_per_sec(), 5.0);
    }
}
