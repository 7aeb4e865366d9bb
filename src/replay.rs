//! Replay: run the user's workflow code, through their own `temporalio` SDK, against a
//! history, inside an embedded CPython — and bring back a plain-Rust trace
//! ([`deja_core::trace`]).
//!
//! * [`pyenv`] — finds the user's Python environment and checks it can host the SDK.
//! * [`embed`] — the only place that calls Python: starts the interpreter, loads the
//!   harness (`python/deja_harness.py`, compiled into the binary) and converts results.

pub mod embed;
pub mod pyenv;
