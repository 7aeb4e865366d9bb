//! Replay: run the user's workflow code, through their own `temporalio` SDK, against a
//! history, inside an embedded CPython — and bring back a plain-Rust trace
//! ([`deja_core::trace`]).
//!
//! * [`pyenv`] — finds the user's Python environment and checks it can host the SDK.
//! * [`host`] — set by the wheel's extension module: Python is already running, use it.
//! * [`embed`] — the only place that calls Python: starts the interpreter, loads the
//!   harness (the `python/deja_harness/` package, compiled into the binary) and converts results.
//! * [`sdk_protos`] — reads the installed SDK's activation/completion bytes, whatever
//!   release's protos wrote them.

pub mod embed;
pub mod host;
pub mod pyenv;
pub mod sdk_protos;

use std::path::Path;

use deja_core::trace::CodeConfig;
use embed::{EmbedError, Interpreter, Session};

/// Why Python could not run the user's code: the environment, or Python itself.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Env(#[from] pyenv::EnvError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

impl ReplayError {
    /// The Python traceback behind it, for `-v` (empty for environment problems).
    pub fn detail(&self) -> &str {
        match self {
            ReplayError::Env(_) => "",
            ReplayError::Embed(e) => e.detail(),
        }
    }

    /// The error itself, for an `anyhow` chain (no wrapper layer in `caused by:` lines).
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            ReplayError::Env(e) => anyhow::Error::new(e),
            ReplayError::Embed(e) => anyhow::Error::new(e),
        }
    }
}

/// The one way Python starts: find the user's environment (`--python-env`, `[tool.deja]`,
/// `VIRTUAL_ENV`, `./.venv`), start the embedded interpreter in it (once per process) and
/// load deja's harness.
pub fn start_interpreter(python_env: Option<&Path>) -> Result<Interpreter, ReplayError> {
    let env = pyenv::resolve(python_env)?;
    Ok(Interpreter::start(&env)?)
}

/// [`start_interpreter`], then import the user's workflow code into a harness session.
pub fn start(python_env: Option<&Path>, code: &CodeConfig) -> Result<(Interpreter, Session), ReplayError> {
    let interp = start_interpreter(python_env)?;
    let session = interp.load(code)?;
    Ok((interp, session))
}
