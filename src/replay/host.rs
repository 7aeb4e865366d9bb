//! Which Python deja runs in: the one it embeds (the standalone binary) or the one that
//! imported it (the `deja-replay` wheel's extension module, `crates/deja-py`).
//!
//! The binary links one libpython at build time and adds the user's environment on top
//! ([`super::pyenv`]). The wheel is an extension module: the interpreter is already running
//! (`deja` is a `[project.scripts]` entry point of the venv it was installed into), so there
//! is nothing to find and nothing to start — deja uses that interpreter as it is. The
//! extension records it here once, before the CLI runs; its absence means "binary".

use std::path::PathBuf;
use std::sync::OnceLock;

/// The running interpreter, as the extension module saw it.
#[derive(Clone, Debug)]
pub struct HostPython {
    /// `sys.executable`: check's workers are `sys.executable -m deja __worker`.
    pub executable: PathBuf,
    /// `sys.prefix`: the environment deja was installed into.
    pub prefix: PathBuf,
    /// `major.minor` of the running interpreter.
    pub version: String,
}

static HOST: OnceLock<HostPython> = OnceLock::new();

/// Called once by the extension module before [`crate::run`]; later calls keep the first.
pub fn set(host: HostPython) {
    let _ = HOST.set(host);
}

/// `Some` inside the wheel (Python is already running), `None` in the standalone binary.
pub fn get() -> Option<&'static HostPython> {
    HOST.get()
}
