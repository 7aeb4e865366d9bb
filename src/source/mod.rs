//! Where histories come from, for every command: a **file** (one named, or many found by
//! walking directories and globs, optionally sharded) or a **server** (one run by workflow
//! id, or every run a query matches). `replay` and `debug` call [`load_one`]; `check` uses
//! [`discover`] and [`server::download_streaming`]; `fetch` uses [`server`].
//!
//! * [`discover`], [`partition`] — `PATH...` → history files; stable shards by relative path.
//! * [`server`] — the gRPC side (via `deja-fetch`), off the Python thread.

pub mod discover;
pub mod partition;
pub mod server;

use anyhow::Result;

use crate::cli::HistorySource;
use deja_core::history::{self, LoadedHistory};

/// Load the history a replay-like command names: a file, or with `--workflow-id` and no
/// file, the run fetched from the server.
pub fn load_one(source: &HistorySource) -> Result<LoadedHistory> {
    match (source.history.as_deref(), source.workflow_id.as_deref()) {
        (Some(p), id) => Ok(history::load_path(p, id)?),
        (None, Some(id)) => server::fetch_one(&source.server, id, source.run_id.as_deref()),
        (None, None) => anyhow::bail!("no history given: pass a history file (JSON or .binpb), or --workflow-id ID to fetch it from the server"),
    }
}
