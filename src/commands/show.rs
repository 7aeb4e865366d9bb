//! `deja show HISTORY`.

use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::{OutputFormat, ShowArgs};
use crate::report::show::{ShowOptions, print_text, show_json};
use crate::style::Styles;
use deja_core::exit;
use deja_core::history;

pub fn run(args: ShowArgs, st: &Styles) -> Result<u8> {
    let h = history::load_path(&args.history, args.workflow_id.as_deref())?;
    let opts = ShowOptions { range: args.events.unwrap_or((1, i64::MAX)), max_payload: args.payloads.unwrap_or(0) };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.output {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &show_json(&h, &opts)).context("writing JSON")?;
            writeln!(out)?;
        }
        OutputFormat::Text => print_text(&mut out, &h, &opts, st)?,
    }
    out.flush()?;
    Ok(exit::OK)
}
