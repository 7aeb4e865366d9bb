//! Presenting results: human text, JSON and JUnit. Reporters take finished, plain-Rust
//! results ([`model::ReplayReport`]); they never run Python or touch the network.

pub mod check_text;
pub mod github;
pub mod json;
pub mod junit;
pub mod replay_text;
pub mod show;

pub use deja_core::display_path;
