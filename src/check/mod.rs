//! `deja check`: replay many histories in parallel, contained, and say what failed once.
//!
//! The run is split the nextest way — a **runner** (this module) that emits events and
//! **reporters** (`crate::report`) that consume them — so the terminal, JUnit, JSON and
//! GitHub outputs all see the same stream, none of them knows about processes, and the
//! runner renders nothing. Both sides speak [`deja_core::model`]:
//!
//! ```text
//! source::discover ──paths──▶ pool ──CheckEvent(HistoryResult)──▶ Summary + reporters
//!   (walk, glob,               (N `deja __worker`                 (report::check_text,
//!    partition)                 processes, queue)                  junit, json, github)
//! ```
//!
//! * [`protocol`] — the framed messages between `deja check` and its workers.
//! * [`worker`] — the worker process: one embedded interpreter, one harness `Session`,
//!   many histories. A failure's report is rendered there (in parallel) by the renderer
//!   the command layer hands it (`report::replay_text::render`).
//! * [`pool`] — the parent side: starts workers, hands each the next history when it is
//!   free (a shared queue, never a static split), kills and replaces a worker whose history
//!   crashed it or ran over `--timeout`, and records what it saw as a result.
//! * The events, results and summary (counts and failure groups by
//!   [`deja_core::model::replay::ReplayReport::signature`]) are in [`deja_core::model`];
//!   finding the files is `crate::source`.
//!
//! ## Inputs: what counts as a history
//! Files named on the command line and files matched by a glob are always checked: a file
//! that cannot be loaded is an `error` row with its path and the loader's message. A
//! directory walk picks `.json`, `.binpb` and `.pb` files; there, a JSON document that has
//! no `events` list at all (`manifest.json`, `package.json`…) is *skipped* — it is not a
//! history, and a directory of exports often holds such a file — and listed with `-v`.
//! A file that looks like a history but is broken (truncated, bad enum, events out of
//! order, first event not a start) is an `error` everywhere.
//!
//! ## Exit codes
//! 0 when every history passed; 1 when any history did not (non-determinism, task failure,
//! or an `error` row: unloadable file, crash, timeout); 2 for usage and environment errors
//! (bad flags, no histories found, no workflows, Python environment missing, workflow
//! code that does not import) — and when histories were found but not one of them could
//! be loaded, because that is a problem with the input, not a verdict about the code.

#[cfg(target_os = "linux")]
pub mod fork;
pub mod many;
pub mod launch;
pub mod pool;
pub mod protocol;
pub mod route;
pub mod worker;
