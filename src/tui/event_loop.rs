//! The event loop: draw, wait for one input, turn it into an action, apply it, and do
//! what the action asked of the outside world (replay, quit). Generic over the ratatui
//! `Backend` and over where events come from, so tests drive it with a `TestBackend`
//! and a scripted key list.

use std::io;

use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{Event, KeyEventKind};

use super::action::action_for;
use super::app::{App, Effect};
use super::trace::ReplayFailure;
use deja_core::trace::ReplayOutcome;

/// Runs the user's code again (for `r`). The real one re-imports the code in the embedded
/// Python; tests can script outcomes.
pub trait Replayer {
    fn replay(&mut self) -> Result<ReplayOutcome, ReplayFailure>;
}

/// Run until the user quits or input ends. `on_first_frame` is called once, after the
/// first frame is on screen (to measure how long opening took).
pub fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut next_event: impl FnMut() -> io::Result<Option<Event>>,
    replayer: &mut dyn Replayer,
    mut on_first_frame: impl FnMut(),
) -> anyhow::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    let mut first = true;
    loop {
        terminal.draw(|f| f.render_widget(&*app, f.area()))?;
        if first {
            on_first_frame();
            first = false;
        }
        let Some(event) = next_event()? else { return Ok(()) };
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
            Effect::Reload => {
                // Show "replaying…" while Python works: it can take seconds.
                terminal.draw(|f| f.render_widget(&*app, f.area()))?;
                let result = replayer.replay();
                app.set_replay(result);
            }
        }
    }
}
