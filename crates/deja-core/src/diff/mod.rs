//! The diff: what the code emitted against what history recorded.
//!
//! * [`items`] — turns a lang command and a recorded command event into the same
//!   [`items::Item`] (kind + the identity core compares + a human label), and knows which
//!   commands produce no event and which events no command produced.
//! * [`align`] — aligns the *whole* emitted command stream with the whole recorded
//!   command-event stream (core matches commands as a queue across tasks, so a per-task
//!   alignment would call sequential→parallel changes divergences), then files each row
//!   under its workflow task for display and picks the first real divergence.
//!
//! * [`drift`] — for every pair core accepted, every attribute core does not compare
//!   (inputs, options, durations, targets, results) plus the tail checks: drift findings.
//!
//! Pure functions over (history, trace): no Python, no I/O.

pub mod align;
pub mod drift;
pub mod items;
#[cfg(test)]
mod tests;

pub use align::{Alignment, Row, RowStatus, align};
