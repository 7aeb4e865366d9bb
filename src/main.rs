//! The standalone `deja` binary: CPython embedded (linked at build time, see `build.rs`),
//! the user's environment found by `--python-env`, `VIRTUAL_ENV` or `./.venv`. All of the
//! CLI is the library's [`deja::run`]; the pip-installed `deja` calls the same function
//! from inside Python (`crates/deja-py`).

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(deja::run(std::env::args_os()))
}
