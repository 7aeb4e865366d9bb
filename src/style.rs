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

/// Text that came from a history or from the user's code (ids, types, signal names,
/// payloads, exception messages, source lines, file names), printed escaped:
/// `format!("{}", Untrusted(s))` is [`escape_terminal`]`(s)`.
#[derive(Clone, Copy, Debug)]
pub struct Untrusted<'a>(pub &'a str);

impl std::fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&escape_terminal(self.0))
    }
}

/// One line of untrusted text made safe for a terminal or a CI log: every control
/// character (C0 including CR, LF, TAB, NUL and ESC; DEL; C1) and every bidirectional
/// override is replaced by a visible escape (`\n`, `\r`, `\t`, `\0`, `\x1b`, `\u{202e}`).
/// So a history cannot retitle the terminal, move the cursor, hide text, or start a line
/// of its own (a GitHub `::error`/`::add-mask::` workflow command needs a line start).
/// JSON and JUnit output never go through this: they keep the original string.
pub fn escape_terminal(s: &str) -> std::borrow::Cow<'_, str> {
    escape_with(s, false)
}

/// [`escape_terminal`] for multi-line untrusted text (a traceback, an exception message):
/// line feeds stay line feeds, everything else is escaped, and a line that would start
/// with `::` once leading blanks are trimmed (a GitHub Actions workflow command) gets its
/// first colon escaped (`\x3a:error::…`), so only deja's own annotations can be commands.
pub fn escape_block(s: &str) -> std::borrow::Cow<'_, str> {
    let escaped = escape_with(s, true);
    if !escaped.split('\n').any(|l| l.trim_start().starts_with("::")) {
        return escaped;
    }
    let lines: Vec<String> = escaped
        .split('\n')
        .map(|l| {
            let body = l.trim_start();
            match body.strip_prefix(':').filter(|rest| rest.starts_with(':')) {
                Some(rest) => format!("{}\\x3a{rest}", &l[..l.len() - body.len()]),
                None => l.to_string(),
            }
        })
        .collect();
    std::borrow::Cow::Owned(lines.join("\n"))
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape_with(s: &str, keep_newlines: bool) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| needs_escape(c) && !(keep_newlines && c == '\n')) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 0x100 && needs_escape(c) => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_line_starts_are_escaped() {
        let evil = "\x1b]0;pwned\x07\r\n::error::x\0\u{9b}31m\u{202e}";
        let one = escape_terminal(evil);
        assert_eq!(one, "\\x1b]0;pwned\\x07\\r\\n::error::x\\0\\x9b31m\\u{202e}");
        assert!(!one.chars().any(char::is_control));
        assert_eq!(Untrusted(evil).to_string(), one);
        let block = escape_block("ok\n  ::add-mask::s\n::error::x\r\nfine :: here");
        assert_eq!(block, "ok\n  \\x3a:add-mask::s\n\\x3a:error::x\\r\nfine :: here");
        assert!(matches!(escape_terminal("order-1 ✓ 日本"), std::borrow::Cow::Borrowed(_)));
    }
}
