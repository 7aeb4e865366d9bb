//! Presenting results: human text, JSON and JUnit. Reporters take finished, plain-Rust
//! results ([`model::ReplayReport`]); they never run Python or touch the network.

pub mod check_text;
pub mod files;
pub mod junit;
pub mod model;
pub mod replay_text;
pub mod show;

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
