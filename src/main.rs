//! deja: replay Temporal workflow histories against Python workflow code.
//!
//! `main` parses arguments, dispatches to a command and maps the outcome to the exit-code
//! contract in [`exit`]. Commands live in `commands/`; the pieces they use are the
//! one-job modules below.

mod cli;
mod commands;
mod config;
mod diff;
mod exit;
mod history;
mod replay;
mod report;
mod style;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = cli.verbose;
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // A closed pipe (`deja show … | head`) is not a failure.
            if err.chain().any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) {
                return ExitCode::from(exit::OK);
            }
            eprintln!("deja: error: {err:#}");
            if verbose > 0 {
                for cause in err.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
            }
            ExitCode::from(exit::ERROR)
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    let styles = style::Styles::for_choice(cli.color, true);
    match cli.command {
        Command::Show(args) => commands::show::run(args, &styles),
        Command::Replay(args) => commands::replay::run(args, cli.verbose, &styles),
        Command::Check(args) => commands::check::run(args, cli.verbose, &styles),
        Command::Debug(args) => commands::debug::run(args, cli.verbose, cli.color),
        Command::Worker(_) => commands::check::worker(),
        Command::Fetch(_) => anyhow::bail!("deja fetch is not built yet"),
    }
}
