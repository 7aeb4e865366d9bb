//! Keys → [`Action`]s. The mapping and the help text come from one table ([`KEYS`]), so
//! `?`, the README and the code cannot disagree.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The panes, in Tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pane {
    Timeline,
    Step,
    Source,
    State,
    Detail,
}

impl Pane {
    pub const ALL: [Pane; 5] = [Pane::Timeline, Pane::Step, Pane::Source, Pane::State, Pane::Detail];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Timeline => "Timeline",
            Pane::Step => "Step",
            Pane::Source => "Source",
            Pane::State => "State",
            Pane::Detail => "Detail",
        }
    }

    pub fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    pub fn next(self) -> Pane {
        Pane::ALL[(self.index() + 1) % Pane::ALL.len()]
    }

    pub fn prev(self) -> Pane {
        Pane::ALL[(self.index() + Pane::ALL.len() - 1) % Pane::ALL.len()]
    }
}

/// Everything the user can ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    NextEvent,
    PrevEvent,
    NextTask,
    PrevTask,
    PageDown,
    PageUp,
    First,
    Last,
    Divergence,
    NextDrift,
    Cause,
    ToggleBreakpoint,
    ContinueForward,
    ContinueBackward,
    StartSearch,
    SearchInput(char),
    SearchBackspace,
    SearchSubmit,
    SearchCancel,
    NextMatch,
    PrevMatch,
    ToggleBookkeeping,
    ToggleExpand,
    NextPane,
    PrevPane,
    Focus(Pane),
    Reload,
    ToggleHelp,
    Quit,
}

/// Input modes: keys mean different things while typing a search or reading help.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Normal,
    /// Typing a search after `/`.
    Search(String),
    Help,
}

/// The key table: keys as shown to people, and what they do.
pub const KEYS: &[(&str, &str)] = &[
    ("j ↓ / k ↑", "next / previous event (task headers are stops too)"),
    ("J ] / K [", "next / previous workflow task"),
    ("PgDn PgUp", "page down / up in the focused pane"),
    ("g Home / G End", "first / last event"),
    ("d / D", "divergence or failing task / next drift finding"),
    ("w", "why: the cause line (Source: • ran here, ~ changed)"),
    ("b", "toggle a breakpoint on the current event"),
    ("c / C", "run to the next / previous breakpoint (or divergence)"),
    ("/  n / N", "search type, name, id, payload text; next / prev match"),
    ("f", "show / hide workflow-task bookkeeping events"),
    ("Enter", "expand / fold an event's followers (started, completed)"),
    ("Tab / S-Tab  1-5", "next / previous pane; focus a pane directly"),
    ("r", "re-import the code from disk, replay, keep the position"),
    ("?  q Ctrl-C", "this help (any key closes it) / quit"),
];

/// The action for a key press in a mode.
pub fn action_for(mode: &Mode, key: KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c')) {
        return Some(Action::Quit);
    }
    match mode {
        Mode::Help => Some(Action::ToggleHelp),
        Mode::Search(_) => match key.code {
            KeyCode::Enter => Some(Action::SearchSubmit),
            KeyCode::Esc => Some(Action::SearchCancel),
            KeyCode::Backspace => Some(Action::SearchBackspace),
            KeyCode::Char(c) if !ctrl => Some(Action::SearchInput(c)),
            _ => None,
        },
        Mode::Normal => Some(match key.code {
            KeyCode::Char('j') | KeyCode::Down => Action::NextEvent,
            KeyCode::Char('k') | KeyCode::Up => Action::PrevEvent,
            KeyCode::Char('J') | KeyCode::Char(']') => Action::NextTask,
            KeyCode::Char('K') | KeyCode::Char('[') => Action::PrevTask,
            KeyCode::PageDown => Action::PageDown,
            KeyCode::PageUp => Action::PageUp,
            KeyCode::Char('f') if ctrl => Action::PageDown,
            KeyCode::Char('b') if ctrl => Action::PageUp,
            KeyCode::Char('g') | KeyCode::Home => Action::First,
            KeyCode::Char('G') | KeyCode::End => Action::Last,
            KeyCode::Char('d') => Action::Divergence,
            KeyCode::Char('D') => Action::NextDrift,
            KeyCode::Char('w') => Action::Cause,
            KeyCode::Char('b') => Action::ToggleBreakpoint,
            KeyCode::Char('c') => Action::ContinueForward,
            KeyCode::Char('C') => Action::ContinueBackward,
            KeyCode::Char('/') => Action::StartSearch,
            KeyCode::Char('n') => Action::NextMatch,
            KeyCode::Char('N') => Action::PrevMatch,
            KeyCode::Char('f') => Action::ToggleBookkeeping,
            KeyCode::Enter | KeyCode::Char(' ') => Action::ToggleExpand,
            KeyCode::Tab => Action::NextPane,
            KeyCode::BackTab => Action::PrevPane,
            KeyCode::Char(c @ '1'..='5') => Action::Focus(Pane::ALL[(c as u8 - b'1') as usize]),
            KeyCode::Char('r') => Action::Reload,
            KeyCode::Char('?') => Action::ToggleHelp,
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Esc => return None,
            _ => return None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::KeyEventKind;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent { code, modifiers: KeyModifiers::NONE, kind: KeyEventKind::Press, state: ratatui::crossterm::event::KeyEventState::NONE }
    }

    #[test]
    fn vim_and_arrow_keys_agree() {
        let m = Mode::Normal;
        assert_eq!(action_for(&m, key(KeyCode::Char('j'))), action_for(&m, key(KeyCode::Down)));
        assert_eq!(action_for(&m, key(KeyCode::Char('k'))), action_for(&m, key(KeyCode::Up)));
        assert_eq!(action_for(&m, key(KeyCode::Char('J'))), action_for(&m, key(KeyCode::Char(']'))));
        assert_eq!(action_for(&m, key(KeyCode::Char('g'))), action_for(&m, key(KeyCode::Home)));
    }

    #[test]
    fn search_mode_takes_text() {
        let m = Mode::Search(String::new());
        assert_eq!(action_for(&m, key(KeyCode::Char('q'))), Some(Action::SearchInput('q')));
        assert_eq!(action_for(&m, key(KeyCode::Enter)), Some(Action::SearchSubmit));
        assert_eq!(action_for(&m, key(KeyCode::Esc)), Some(Action::SearchCancel));
    }

    #[test]
    fn panes_cycle() {
        let mut p = Pane::Timeline;
        for _ in 0..Pane::ALL.len() {
            p = p.next();
        }
        assert_eq!(p, Pane::Timeline);
        assert_eq!(Pane::Timeline.prev(), Pane::Detail);
    }
}
