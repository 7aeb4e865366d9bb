//! deja: replay Temporal workflow histories against Python workflow code.
//!
//! The crate is a library with one entry point, [`run`], so that two front ends share every
//! line of the CLI: the standalone binary (`src/main.rs`, which embeds CPython) and the
//! Python extension module of the `deja-replay` wheel (`crates/deja-py`, which runs inside
//! the interpreter that imported it; see [`replay::host`]). `run` parses arguments,
//! dispatches to a command and maps the outcome to the exit-code contract in
//! [`deja_core::exit`]. Commands live in `commands/`; the pieces they use are the one-job
//! modules below.

mod baseline;
mod check;
mod cli;
mod commands;
mod config;
pub mod replay;
mod report;
mod shadow;
mod source;
mod style;
mod tui;

use std::ffi::OsString;

use anyhow::Result;
use clap::Parser;

use cli::{Cli, Command};

/// The whole CLI: `args` as `std::env::args_os()` gives them (program name first).
/// Returns the exit code; `--help`, `--version`-less usage errors and a few commands
/// (`debug`, `__worker`) end the process themselves, as they always have.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    let verbose = cli.verbose;
    match dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`deja show … | head`) is not a failure.
            if err.chain().any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) {
                return deja_core::exit::OK;
            }
            // Messages quote histories and user code: escaped like every other output.
            eprintln!("deja: error: {}", style::escape_block(&format!("{err:#}")));
            if verbose > 0 {
                for cause in err.chain().skip(1) {
                    eprintln!("  caused by: {}", style::escape_block(&cause.to_string()));
                }
            }
            deja_core::exit::ERROR
        }
    }
}

fn dispatch(cli: Cli) -> Result<u8> {
    let styles = style::Styles::for_choice(cli.color, true);
    let command = match cli.command {
        Some(command) if !cli.version => command,
        _ => {
            print!("{}", commands::version::report());
            return Ok(deja_core::exit::OK);
        }
    };
    match command {
        Command::Show(args) => commands::show::run(args, &styles),
        Command::Replay(args) => commands::replay::run(args, cli.verbose, &styles),
        Command::Check(args) => commands::check::run(args, cli.verbose, &styles),
        Command::Debug(args) => commands::debug::run(args, cli.verbose, cli.color),
        Command::LoadBench { history, repeat } => load_bench(&history, repeat),
        Command::Worker(_) => commands::check::worker(),
        Command::Fetch(args) => commands::fetch::run(args),
        Command::Shadow(args) => commands::shadow::run(args, cli.verbose, cli.color),
    }
}

/// `deja __load-bench FILE`: the best of N loads, as JSON, for `make bench`.
fn load_bench(path: &std::path::Path, repeat: u32) -> Result<u8> {
    let mut best = f64::MAX;
    let mut events = 0;
    for _ in 0..repeat.max(1) {
        let started = std::time::Instant::now();
        let h = deja_core::history::load_path(path, None)?;
        best = best.min(started.elapsed().as_secs_f64());
        events = h.events().len();
    }
    println!("{}", serde_json::json!({"events": events, "seconds": best, "us_per_event": best * 1e6 / events as f64}));
    Ok(deja_core::exit::OK)
}
