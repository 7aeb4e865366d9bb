//! Colour, decided once. Styles start plain; [`Styles::colorize`] switches them on, so
//! rendering code never asks about the terminal (the nextest habit).

use anstyle::{AnsiColor, Effects, Style};
use std::io::IsTerminal;

/// `--color` values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when the output is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour a stream: `stdout` picks which one `Auto` looks at.
    pub fn should_colorize(self, stdout: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
                let tty = if stdout { std::io::stdout().is_terminal() } else { std::io::stderr().is_terminal() };
                tty && !no_color
            }
        }
    }
}

/// The styles every reporter uses.
#[derive(Clone, Copy, Debug, Default)]
pub struct Styles {
    pub bold: Style,
    pub dim: Style,
    pub pass: Style,
    pub fail: Style,
    pub warn: Style,
    pub accent: Style,
    pub removed: Style,
    pub added: Style,
}

impl Styles {
    pub fn colorize(&mut self) {
        self.bold = Style::new().effects(Effects::BOLD);
        self.dim = Style::new().effects(Effects::DIMMED);
        self.pass = AnsiColor::Green.on_default().effects(Effects::BOLD);
        self.fail = AnsiColor::Red.on_default().effects(Effects::BOLD);
        self.warn = AnsiColor::Yellow.on_default();
        self.accent = AnsiColor::Cyan.on_default();
        self.removed = AnsiColor::Red.on_default();
        self.added = AnsiColor::Green.on_default();
    }

    pub fn for_choice(choice: ColorChoice, stdout: bool) -> Styles {
        let mut s = Styles::default();
        if choice.should_colorize(stdout) {
            s.colorize();
        }
        s
    }
}

/// `paint(style, text)` → text wrapped in the style's escape codes (nothing when plain).
pub fn paint(style: Style, text: impl std::fmt::Display) -> String {
    if style == Style::new() { text.to_string() } else { format!("{style}{text}{style:#}") }
}
