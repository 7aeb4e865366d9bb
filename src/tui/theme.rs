//! Styles for the debugger, decided once (like [`crate::style::Styles`] for text output).
//!
//! Every meaning is carried by a symbol or a text modifier first (`▶`, `●`, `✗`, `≠`,
//! reverse video, bold, dim); colour only adds to it. So [`Theme::plain`] — used for
//! `--color never` and `NO_COLOR` — loses nothing but hue.

use ratatui::style::{Color, Modifier, Style};

/// The styles every view draws with.
#[derive(Clone, Copy, Debug)]
pub struct Theme {
    pub text: Style,
    pub bold: Style,
    pub dim: Style,
    /// The row at the current position (reverse video, so it shows without colour).
    pub current: Style,
    /// Task header rows in the timeline.
    pub task: Style,
    pub fail: Style,
    pub pass: Style,
    /// Recorded-only rows of the diff.
    pub removed: Style,
    /// Emitted-only rows of the diff.
    pub added: Style,
    /// Breakpoint marks.
    pub breakpoint: Style,
    /// Search matches.
    pub matched: Style,
    /// Border of the focused pane (its border type changes too).
    pub focus: Style,
    /// The marked source line.
    pub marked: Style,
    /// JSON keys in the detail view.
    pub key: Style,
}

impl Theme {
    /// Modifiers only: reverse video, bold, dim, underline.
    pub fn plain() -> Theme {
        let s = Style::new();
        Theme {
            text: s,
            bold: s.add_modifier(Modifier::BOLD),
            dim: s.add_modifier(Modifier::DIM),
            current: s.add_modifier(Modifier::REVERSED),
            task: s.add_modifier(Modifier::BOLD),
            fail: s.add_modifier(Modifier::BOLD),
            pass: s.add_modifier(Modifier::BOLD),
            removed: s,
            added: s,
            breakpoint: s.add_modifier(Modifier::BOLD),
            matched: s.add_modifier(Modifier::UNDERLINED),
            focus: s.add_modifier(Modifier::BOLD),
            marked: s.add_modifier(Modifier::BOLD | Modifier::REVERSED),
            key: s,
        }
    }

    /// The plain theme plus colour.
    pub fn colored() -> Theme {
        let p = Theme::plain();
        Theme {
            task: p.task.fg(Color::Cyan),
            fail: p.fail.fg(Color::Red),
            pass: p.pass.fg(Color::Green),
            removed: p.removed.fg(Color::Red),
            added: p.added.fg(Color::Green),
            breakpoint: p.breakpoint.fg(Color::Red),
            matched: p.matched.fg(Color::Yellow),
            focus: p.focus.fg(Color::Cyan),
            key: p.key.fg(Color::Blue),
            ..p
        }
    }

    pub fn new(color: bool) -> Theme {
        if color { Theme::colored() } else { Theme::plain() }
    }
}
