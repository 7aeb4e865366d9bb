//! `deja debug HISTORY --workflows …`: open the history in a terminal UI at once and
//! replay it with the full trace (state after every activation) on a worker thread; the
//! trace fills in when the replay finishes; `r` re-imports the code and replays again.
//! Python runs only on that worker thread, so `q`/Ctrl-C quit at any time.
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
use crate::replay::embed::Interpreter;
use crate::replay::{self, ReplayError};
use deja_core::exit;
use deja_core::trace::{ReplayOutcome, Step};
use crate::style::ColorChoice;
use crate::tui::theme::Theme;
use crate::tui::trace::ReplayFailure;
use crate::tui::{App, Background, Replayer};

pub fn run(args: DebugArgs, verbose: u8, color: ColorChoice) -> Result<u8> {
    let started = Instant::now();
    let history = crate::source::load_one(&args.source)?;
    // Always record state: the State pane is half of what the debugger is for.
    let setup = super::resolve_code(&args.code, &args.query, true)?;
    // A bad --baseline is a usage error, before the UI opens.
    let old = args.code.baseline.as_deref().map(|spec| crate::baseline::resolve(spec, &setup.code)).transpose()?;
    crate::tui::require_terminal()?;
    let code_label = setup.code.workflows.iter().map(|w| deja_core::display_path(w)).collect::<Vec<_>>().join(", ");
    let workflow_type = history.workflow_type().to_string();
    let drift_policy = setup.drift.clone();
    let mut replayer = PyReplayer::new(setup, history.encode(), history.workflow_id.clone(), workflow_type);
    replayer.baseline = old;
    let mut replays = Background::spawn(Box::new(replayer))?;
    replays.start();
    let mut app = App::replaying(history, Theme::new(color.should_colorize(true)), code_label);
    app.drift_policy = drift_policy;
    let mut first_frame = None;
    let outcome = crate::tui::run_in_terminal(&mut app, &mut replays, || first_frame = Some(started.elapsed()));
    // The terminal is restored. The replay thread may still be inside Python (quit
    // mid-replay): a normal process exit would run destructors and atexit handlers under
    // it (the SDK core's runtime among them) and can crash the process on its way out.
    // Nothing is left to clean up, so leave at once, as the check workers do.
    let code = match outcome {
        Ok(()) => {
            if verbose > 0 {
                eprintln!("deja debug: first frame at {:.0} ms", first_frame.unwrap_or_default().as_secs_f64() * 1e3);
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("deja: error: {}", crate::style::Untrusted(&format!("{e:#}")));
            exit::ERROR
        }
    };
    leave_now(code)
}

/// Flush and end the process without running exit handlers (see `run`).
fn leave_now(code: u8) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit only ends the process; no Rust state is observed afterwards.
    unsafe { libc::_exit(i32::from(code)) }
}

/// Replays through the embedded Python. Python is started on first use; every replay
/// loads the code again (a new `Session`), which is what makes `r` see edited files.
struct PyReplayer {
    setup: CodeSetup,
    history: Vec<u8>,
    workflow_id: String,
    workflow_type: String,
    interp: Option<Interpreter>,
    /// `--baseline`: replayed after a failing replay, to name the changed lines.
    baseline: Option<crate::baseline::OldCode>,
}

impl PyReplayer {
    fn new(setup: CodeSetup, history: Vec<u8>, workflow_id: String, workflow_type: String) -> PyReplayer {
        PyReplayer { setup, history, workflow_id, workflow_type, interp: None, baseline: None }
    }

    fn interpreter(&mut self) -> Result<&Interpreter, ReplayFailure> {
        if self.interp.is_none() {
            self.interp = Some(replay::start_interpreter(self.setup.python_env.as_deref()).map_err(failure)?);
        }
        self.interp.as_ref().ok_or_else(|| ReplayFailure { message: "Python did not start".into(), detail: String::new() })
    }
}

impl Replayer for PyReplayer {
    fn replay(&mut self) -> Result<ReplayOutcome, ReplayFailure> {
        self.run(None)
    }

    fn replay_with_progress(&mut self, progress: &std::sync::mpsc::Sender<Vec<Step>>) -> Result<ReplayOutcome, ReplayFailure> {
        self.run(Some(progress))
    }
}

impl PyReplayer {
    fn run(&mut self, progress: Option<&std::sync::mpsc::Sender<Vec<Step>>>) -> Result<ReplayOutcome, ReplayFailure> {
        let code = self.setup.code.clone();
        let interp = self.interpreter()?;
        let session = interp.load(&code).map_err(failure)?;
        if let Err(e) = super::check_queries(&session.queries, &self.workflow_type, &code.queries) {
            session.close();
            return Err(ReplayFailure { message: e.to_string(), detail: String::new() });
        }
        let outcome = match progress {
            Some(p) => session.replay_with_progress(&self.history, &self.workflow_id, p.clone()),
            None => session.replay(&self.history, &self.workflow_id),
        }
        .map_err(failure);
        session.close();
        let mut outcome = outcome?;
        if let Some(old) = &self.baseline
            && outcome.verdict != deja_core::trace::Verdict::Pass
        {
            // The interpreter was started above.
            let Some(interp) = self.interp.as_ref() else { return Ok(outcome) };
            match crate::baseline::replay(interp, old, (&self.history, &self.workflow_id), 0) {
                Ok(b) => outcome.baseline = Some(Box::new(b)),
                Err(e) => return Err(ReplayFailure { message: format!("{e:#}"), detail: String::new() }),
            }
        }
        Ok(outcome)
    }
}

fn failure(e: impl Into<ReplayError>) -> ReplayFailure {
    let e = e.into();
    ReplayFailure { message: e.to_string(), detail: e.detail().to_string() }
}
