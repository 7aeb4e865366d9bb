//! `deja debug HISTORY --workflows …`: replay once with the full trace (state after every
//! activation), then step through it in a terminal UI; `r` re-imports the code and replays
//! again.
//!
//! Problems with the history or the flags stop the command before the UI opens, as in
//! `replay`. Problems with the *code* (it does not import, a workflow type is not
//! registered, Python cannot start) are shown inside the UI instead: fixing the code and
//! pressing `r` is the loop the debugger is for.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use anyhow::Result;

use super::CodeSetup;
use crate::cli::DebugArgs;
use crate::exit;
use crate::replay::embed::{EmbedError, Interpreter};
use crate::replay::{ReplayOutcome, pyenv};
use crate::style::ColorChoice;
use crate::tui::theme::Theme;
use crate::tui::trace::ReplayFailure;
use crate::tui::{App, Replayer};

pub fn run(args: DebugArgs, verbose: u8, color: ColorChoice) -> Result<u8> {
    let history = super::replay::load_history(&args.source)?;
    // Always record state: the State pane is half of what the debugger is for.
    let setup = super::resolve_code(&args.code, &args.query, true)?;
    let code_label = setup.code.workflows.iter().map(|w| crate::report::display_path(w)).collect::<Vec<_>>().join(", ");
    let mut replayer = PyReplayer::new(setup, history.encode(), history.workflow_id.clone());

    eprintln!("deja debug: replaying {} ({} events)…", crate::style::Untrusted(&history.source.to_string()), history.events().len());
    let started = Instant::now();
    let first = replayer.replay();
    let replayed = Instant::now();
    let mut app = App::new(history, first, Theme::new(color.should_colorize(true)), code_label);
    let built = replayed.elapsed();
    let mut first_frame = None;
    crate::tui::run_in_terminal(&mut app, &mut replayer, || first_frame = Some(replayed.elapsed()))?;
    if verbose > 0 {
        eprintln!(
            "deja debug: replay {:.0} ms; after it, state built in {:.0} ms, first frame at {:.0} ms",
            (replayed - started).as_secs_f64() * 1e3,
            built.as_secs_f64() * 1e3,
            first_frame.unwrap_or_default().as_secs_f64() * 1e3,
        );
    }
    Ok(exit::OK)
}

/// Replays through the embedded Python. Python is started on first use; every replay
/// loads the code again (a new `Session`), which is what makes `r` see edited files.
struct PyReplayer {
    setup: CodeSetup,
    history: Vec<u8>,
    workflow_id: String,
    interp: Option<Interpreter>,
}

impl PyReplayer {
    fn new(setup: CodeSetup, history: Vec<u8>, workflow_id: String) -> PyReplayer {
        PyReplayer { setup, history, workflow_id, interp: None }
    }

    fn interpreter(&mut self) -> Result<&Interpreter, ReplayFailure> {
        if self.interp.is_none() {
            let env = pyenv::resolve(self.setup.python_env.as_deref())
                .map_err(|e| ReplayFailure { message: e.to_string(), detail: String::new() })?;
            self.interp = Some(Interpreter::start(&env).map_err(failure)?);
        }
        self.interp.as_ref().ok_or_else(|| ReplayFailure { message: "Python did not start".into(), detail: String::new() })
    }
}

impl Replayer for PyReplayer {
    fn replay(&mut self) -> Result<ReplayOutcome, ReplayFailure> {
        let code = self.setup.code.clone();
        let interp = self.interpreter()?;
        let session = interp.load(&code).map_err(failure)?;
        let outcome = session.replay(&self.history, &self.workflow_id).map_err(failure);
        session.close();
        outcome
    }
}

fn failure(e: EmbedError) -> ReplayFailure {
    ReplayFailure { message: e.to_string(), detail: e.detail().to_string() }
}
