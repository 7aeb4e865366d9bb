//! Finding the user's Python environment.
//!
//! deja embeds the libpython it was built against (rpath, see `build.rs`) and adds the
//! user's environment on top: `--python-env`, else `$VIRTUAL_ENV`, else `./.venv`. The
//! environment must be the same minor version — the SDK ships a compiled extension — so a
//! mismatch is one clear error, not a crash deep in an import.
//!
//! Inside the wheel ([`super::host`]) there is nothing to find: the environment is the
//! running interpreter's, whatever its minor version.

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
    #[error(
        "{path} (from {found_by}) is not the environment this deja runs in: deja installed with pip runs in \
         its own interpreter ({prefix}); install it into that environment instead \
         (`{path}/bin/pip install deja-replay`, then run its `deja`), or drop --python-env / `python-env`"
    )]
    NotTheHost { path: String, found_by: &'static str, prefix: String },
}

/// Inside the wheel: the running interpreter's environment. `--python-env` (or
/// `[tool.deja] python-env`) may name it (a repo's config often says `.venv`), but cannot
/// move deja to another one.
fn hosted(host: &super::host::HostPython, flag: Option<&Path>) -> Result<PythonEnv, EnvError> {
    const FOUND_BY: &str = "the Python running deja";
    let prefix = std::fs::canonicalize(&host.prefix).unwrap_or_else(|_| host.prefix.clone());
    if let Some(p) = flag {
        let named = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        if named != prefix {
            return Err(EnvError::NotTheHost {
                path: named.display().to_string(),
                found_by: "--python-env",
                prefix: prefix.display().to_string(),
            });
        }
    }
    Ok(PythonEnv { root: prefix.clone(), site_packages: prefix, found_by: FOUND_BY })
}

/// Resolve the environment from the flag and the process environment.
pub fn resolve(flag: Option<&Path>) -> Result<PythonEnv, EnvError> {
    if let Some(host) = super::host::get() {
        return hosted(host, flag);
    }
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
