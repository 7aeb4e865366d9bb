//! `deja._deja`: the whole deja CLI as a Python extension module.
//!
//! The `deja` console script (`python/deja/cli.py`) and `python -m deja` call [`main`] with
//! the command line. Python is already running — it is the interpreter of the venv deja
//! was installed into — so deja records it ([`deja::replay::host`]) and then runs exactly
//! the code the standalone binary runs ([`deja::run`]), with the GIL released so deja's own
//! threads (the debugger's replay thread) can take it when they call into Python.

use std::ffi::OsString;
use std::path::PathBuf;

use pyo3::prelude::*;

/// Run the deja CLI with `argv` (program name first) and return its exit code.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<OsString>) -> PyResult<u8> {
    let sys = py.import("sys")?;
    let (major, minor): (u8, u8) = (sys.getattr("version_info")?.get_item(0)?.extract()?, sys.getattr("version_info")?.get_item(1)?.extract()?);
    deja::replay::host::set(deja::replay::host::HostPython {
        executable: sys.getattr("executable")?.extract::<PathBuf>()?,
        prefix: sys.getattr("prefix")?.extract::<PathBuf>()?,
        version: format!("{major}.{minor}"),
    });
    Ok(py.detach(move || deja::run(argv)))
}

#[pymodule]
fn _deja(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
