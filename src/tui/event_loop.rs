//! The event loop: draw, wait for one input, turn it into an action, apply it, and do
//! what the action asked of the outside world (replay, quit). Generic over the ratatui
//! `Backend` and over where events come from, so tests drive it with a `TestBackend`
//! and a scripted key list.
//!
//! Replays never run on this thread: a [`Background`] worker thread owns the
//! [`Replayer`] (and so every call into Python — the embedded interpreter is used from
//! that one thread only) and sends results back over a channel. The UI stays live while
//! a replay runs: the timeline works, `q`/Ctrl-C quit at once (the worker is abandoned;
//! the process exits without waiting for it).

use std::io;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{Event, KeyEventKind};

use super::action::action_for;
use super::app::{App, Effect};
use super::trace::ReplayFailure;
use deja_core::trace::{ReplayOutcome, Step};

/// Runs the user's code (the first replay, and again for `r`). The real one re-imports the
/// code in the embedded Python; tests can script outcomes. Runs on the worker thread.
pub trait Replayer {
    fn replay(&mut self) -> Result<ReplayOutcome, ReplayFailure>;

    /// [`Replayer::replay`], sending the steps recorded so far to `progress` while it runs
    /// (the UI fills in as the replay goes). By default nothing comes before the end.
    fn replay_with_progress(&mut self, progress: &Sender<Vec<Step>>) -> Result<ReplayOutcome, ReplayFailure> {
        let _ = progress;
        self.replay()
    }
}

type Outcome = Result<ReplayOutcome, ReplayFailure>;

/// A worker thread that owns a [`Replayer`] and replays on request.
pub struct Background {
    requests: Sender<()>,
    results: Receiver<Outcome>,
    progress: Receiver<Vec<Step>>,
    busy: bool,
}

impl Background {
    /// Start the worker (idle until [`Background::start`]).
    pub fn spawn(mut replayer: Box<dyn Replayer + Send>) -> io::Result<Background> {
        let (requests, todo) = mpsc::channel::<()>();
        let (done, results) = mpsc::channel::<Outcome>();
        let (steps, progress) = mpsc::channel::<Vec<Step>>();
        std::thread::Builder::new().name("deja-replay".into()).spawn(move || {
            for () in todo {
                if done.send(replayer.replay_with_progress(&steps)).is_err() {
                    return; // the UI has gone
                }
            }
        })?;
        Ok(Background { requests, results, progress, busy: false })
    }

    /// Steps the running replay has recorded since the last call (never blocks).
    pub fn new_steps(&mut self) -> Vec<Step> {
        self.progress.try_iter().flatten().collect()
    }

    /// Ask for a replay; its result comes from [`Background::try_result`].
    pub fn start(&mut self) {
        if self.requests.send(()).is_ok() {
            self.busy = true;
        }
    }

    /// Whether a replay is running.
    pub fn busy(&self) -> bool {
        self.busy
    }

    /// The finished replay, if there is one (never blocks).
    pub fn try_result(&mut self) -> Option<Outcome> {
        match self.results.try_recv() {
            Ok(r) => {
                self.busy = false;
                Some(r)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => self.busy.then(|| {
                self.busy = false;
                Err(ReplayFailure { message: "the replay thread stopped unexpectedly (a bug in deja)".into(), detail: String::new() })
            }),
        }
    }
}

/// What the input source answered.
pub enum Input {
    Event(Event),
    /// Nothing within the timeout asked for (the loop polls the replay and redraws).
    Idle,
    /// Input ended (scripted tests; a terminal's input does not end).
    #[cfg_attr(not(test), allow(dead_code))]
    End,
}

/// How often the UI wakes while a replay runs (progress line, result).
pub const TICK: Duration = Duration::from_millis(200);

/// Run until the user quits or input ends. `next_input(None)` blocks for the next event;
/// `next_input(Some(t))` waits at most `t` (while a replay runs). `on_first_frame` is
/// called once, after the first frame is on screen (to measure how long opening took).
pub fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut next_input: impl FnMut(Option<Duration>) -> io::Result<Input>,
    replays: &mut Background,
    mut on_first_frame: impl FnMut(),
) -> anyhow::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    let mut first = true;
    loop {
        let steps = replays.new_steps();
        if !steps.is_empty() {
            app.add_steps(steps);
        }
        if let Some(result) = replays.try_result() {
            app.set_replay(result);
        }
        terminal.draw(|f| f.render_widget(&*app, f.area()))?;
        if first {
            on_first_frame();
            first = false;
        }
        let event = match next_input(replays.busy().then_some(TICK))? {
            Input::Event(e) => e,
            Input::Idle => continue,
            Input::End => return Ok(()),
        };
        let key = match event {
            Event::Key(k) if k.kind != KeyEventKind::Release => k,
            // A resize needs nothing but the redraw at the top of the loop (ratatui
            // resizes its buffers on draw).
            _ => continue,
        };
        let Some(action) = action_for(&app.mode, key) else { continue };
        match app.update(action) {
            Effect::None => {}
            Effect::Quit => return Ok(()),
            Effect::Reload => replays.start(),
        }
    }
}
