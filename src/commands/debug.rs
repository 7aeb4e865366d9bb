//! `deja debug` — being built.
use anyhow::Result;

use crate::cli::DebugArgs;

pub fn run(_args: DebugArgs, _verbose: u8, _color: crate::style::ColorChoice) -> Result<u8> {
    anyhow::bail!("deja debug is not built yet")
}
