//! What the reporters and the debugger read, built from a history, a trace and their
//! alignment — and what a `deja check` run tells its reporters.
//!
//! * [`replay`] — [`replay::ReplayReport`]: one replay, explained (the `deja.replay/v1` JSON).
//! * [`result`] — [`result::HistoryResult`]: one history's compact result in a check run.
//! * [`events`] — [`events::CheckEvent`], the stream a check run emits, and the
//!   [`events::Reporter`] trait every check reporter implements.
//! * [`summary`] — counts and failure groups of a run, and its exit code.
//! * [`core_message`] — core's failure messages without their Rust debug dumps.

pub mod core_message;
pub mod events;
pub mod replay;
pub mod result;
pub mod summary;
