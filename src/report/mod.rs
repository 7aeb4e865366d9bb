//! Every reporter, together: they take finished, plain-Rust results from
//! [`deja_core::model`] — a [`ReplayReport`](deja_core::model::replay::ReplayReport), or the
//! [`CheckEvent`](deja_core::model::events::CheckEvent)s of a `deja check` run — and never
//! run Python or touch the network.
//!
//! * [`replay_text`] — `deja replay`'s human report (also each failure's example in `check`);
//!   [`cause_text`] — its "cause" and "fix" blocks.
//! * [`show`] — `deja show`: a history without replaying it.
//! * [`check_text`], [`junit`], [`json`], [`github`] — the `deja check` reporters: terminal,
//!   JUnit XML, the `deja.check/v1` file, GitHub Actions annotations.
//! * [`files`] — report files a CI can trust: a unique temporary file renamed into place
//!   when the run finishes, an error report when it stops with exit 2, removed on a signal.
//! * [`workers`] — the per-worker lines and JUnit suites of a run with named workers.
//! * [`vocab`] — the words and marks all of them and the debugger share.

pub mod cause_text;
pub mod check_text;
pub mod drift_text;
pub mod files;
pub mod github;
pub mod json;
pub mod junit;
pub mod replay_text;
pub mod shadow;
pub mod show;
pub mod vocab;
pub mod workers;

