//! `deja debug`: a terminal UI to step through one replay.
//!
//! * [`model`] — the history, precomputed per event so opening and scrolling stay cheap.
//! * [`trace`] — one replay's trace indexed by workflow task (rebuilt on `r`).
//! * [`app`] — the state and [`app::App::update`]: navigation, breakpoints, search.
//! * [`action`] — keys → actions, and the key table `?` shows.
//! * [`views`] — drawing (`impl Widget for &App`), one module per pane.
//! * [`event_loop`] — the loop, generic over the backend; [`run_in_terminal`] wraps it in
//!   a real terminal that is restored on quit, error and panic.

// A panic here leaves a user's terminal in raw mode on the alternate screen (the hook
// restores it, but the session is lost): no unwraps outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod action;
pub mod app;
pub mod event_loop;
pub mod model;
pub mod theme;
pub mod trace;
pub mod views;

#[cfg(test)]
mod tests;

use std::io::IsTerminal;

use anyhow::Context;

pub use app::App;
pub use event_loop::{Background, Replayer};

/// Restores the terminal when dropped, so an early `?` return cannot leave it raw.
/// (Panics are covered by the hook `ratatui::try_init` installs, which chains any hook
/// installed before it.)
struct RestoreGuard;

impl Drop for RestoreGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Fail early (before a long replay) when there is no terminal to draw on.
pub fn require_terminal() -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!("deja debug needs a terminal (stdin and stdout); use `deja replay` for output to a file or pipe");
    }
    Ok(())
}

/// Take over the terminal, run the debugger, give the terminal back.
pub fn run_in_terminal(app: &mut App, replays: &mut Background, on_first_frame: impl FnMut()) -> anyhow::Result<()> {
    require_terminal()?;
    let mut terminal = ratatui::try_init().context("setting up the terminal")?;
    let _guard = RestoreGuard;
    use ratatui::crossterm::event;
    let next_input = |wait: Option<std::time::Duration>| -> std::io::Result<event_loop::Input> {
        if let Some(t) = wait
            && !event::poll(t)?
        {
            return Ok(event_loop::Input::Idle);
        }
        event::read().map(event_loop::Input::Event)
    };
    event_loop::run(&mut terminal, app, next_input, replays, on_first_frame)
}
