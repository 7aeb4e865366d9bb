//! `deja check` — being built.
use anyhow::Result;

use crate::cli::CheckArgs;
use crate::style::Styles;

pub fn run(_args: CheckArgs, _verbose: u8, _st: &Styles) -> Result<u8> {
    anyhow::bail!("deja check is not built yet")
}

/// `deja __worker`: a replay worker process of `deja check`.
pub fn worker() -> Result<u8> {
    anyhow::bail!("deja __worker is not built yet")
}
