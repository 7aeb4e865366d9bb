//! Finding the user's Python environment.
//!
//! deja embeds the libpython it was built against (rpath, see `build.rs`) and adds the
//! user's environment on top: `--python-env`, else `$VIRTUAL_ENV`, else `./.venv`. The
//! environment must be the same minor version — the SDK ships a compiled extension — so a
//! mismatch is one clear error, not a crash deep in an import.

use std::path::{Path, PathBuf};

/// The build's Python `major.minor` (from `PYO3_PYTHON` at build time).
pub const BUILD_PYTHON_VERSION: &str = env!("DEJA_BUILD_PYTHON_VERSION");

/// A usable environment.
#[derive(Clone, Debug)]
pub struct PythonEnv {
    pub root: PathBuf,
    pub site_packages: PathBuf,
    /// Which rule found it: `--python-env`, `VIRTUAL_ENV` or `./.venv`.
    pub found_by: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error(
        "no Python environment found: pass --python-env DIR, activate a virtualenv (VIRTUAL_ENV), \
         or create ./.venv with `python{BUILD_PYTHON_VERSION} -m venv .venv && .venv/bin/pip install temporalio`"
    )]
    NotFound,
    #[error("{path} (from {found_by}) is not a Python environment: no lib/python3.*/site-packages inside")]
    NotAnEnv { path: String, found_by: &'static str },
    #[error(
        "{path} (from {found_by}) is Python {found}, but this deja embeds Python {BUILD_PYTHON_VERSION}; \
         use a Python {BUILD_PYTHON_VERSION} environment, or rebuild deja for yours: \
         `PYO3_PYTHON={path}/bin/python cargo install --path .`"
    )]
    VersionMismatch { path: String, found_by: &'static str, found: String },
}

/// Resolve the environment from the flag and the process environment.
pub fn resolve(flag: Option<&Path>) -> Result<PythonEnv, EnvError> {
    let (root, found_by) = if let Some(p) = flag {
        (p.to_path_buf(), "--python-env")
    } else if let Some(v) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        (PathBuf::from(v), "VIRTUAL_ENV")
    } else if Path::new(".venv").is_dir() {
        (PathBuf::from(".venv"), "./.venv")
    } else {
        return Err(EnvError::NotFound);
    };
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let path = root.display().to_string();
    let lib = root.join("lib");
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.strip_prefix("python")?.to_string();
            let sp = e.path().join("site-packages");
            sp.is_dir().then_some((version, sp))
        })
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(EnvError::NotAnEnv { path, found_by });
    }
    match found.iter().find(|(v, _)| v == BUILD_PYTHON_VERSION) {
        Some((_, sp)) => Ok(PythonEnv { root, site_packages: sp.clone(), found_by }),
        None => Err(EnvError::VersionMismatch { path, found_by, found: found[0].0.clone() }),
    }
}
