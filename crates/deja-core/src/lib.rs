//! deja's plain-Rust layers, in the order data flows through them:
//!
//! * [`history`] — load and validate a history, split it into workflow tasks, describe events.
//! * [`trace`] — what one replay brought back from Python: verdict, steps, frames.
//! * [`diff`] — the alignment of the commands the code emitted with the events history recorded.
//! * [`model`] — the report model built from those three, and the events of a `deja check`
//!   run: what every reporter and the debugger read.
//! * [`exit`] — the exit-code contract.
//!
//! Nothing here starts Python, parses a command line or renders output: the binary's
//! `replay` module (the one pyo3 place) produces a [`trace::ReplayOutcome`], and its
//! reporters and debugger consume these types.

pub mod cause;
pub mod diff;
pub mod exit;
pub mod history;
pub mod model;
pub mod trace;

/// A path as short as it can be said: relative to the current directory when inside it.
pub fn display_path(path: &str) -> String {
    let p = std::path::Path::new(path);
    if let Ok(cwd) = std::env::current_dir() {
        if let Ok(rel) = p.strip_prefix(&cwd) {
            return rel.display().to_string();
        }
    }
    path.to_string()
}
