//! The debugger's state and everything that changes it: [`App::update`] takes an
//! [`Action`] and says, through an [`Effect`], whether the loop has to do something it
//! cannot do itself (quit, replay). No terminal here, so navigation is unit-tested on
//! plain values.
//!
//! Positions are workflow-task headers or events ([`Pos`]); the timeline is a list of
//! visible rows rebuilt only when folding or filtering changes, never per frame.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;
use std::time::Instant;

use super::action::{Action, Mode, Pane};
use super::model::{EventKind, HistoryModel};
use super::theme::Theme;
use super::trace::{ReplayFailure, TraceModel};
use super::views;
use deja_core::history::LoadedHistory;
use deja_core::trace::{ReplayOutcome, SandboxUse, Step, Verdict};

/// Where the debugger stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pos {
    /// A workflow task's header line: the task as a whole (its `WorkflowTaskStarted`).
    Task(usize),
    /// One event.
    Event(i64),
}

/// One visible timeline line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    Task(usize),
    /// `nested`: a follower shown under its expanded head.
    Event { id: i64, nested: bool },
}

/// What the event loop must do after an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    Quit,
    /// Re-import the code and replay, then call [`App::set_replay`].
    Reload,
}

/// The replay the views show: a trace, why there is none, or none yet (the first replay
/// is still running; the timeline needs only the history), or the part of the first
/// replay done so far.
pub enum Replay {
    Ready(Box<TraceModel>),
    Failed(ReplayFailure),
    Pending,
    /// The first replay, still running: a trace of the steps recorded so far (built as if
    /// they passed; the verdict comes with the end) and those steps.
    Running(Box<TraceModel>, Vec<Step>),
}

impl Replay {
    pub fn trace(&self) -> Option<&TraceModel> {
        match self {
            Replay::Ready(t) | Replay::Running(t, _) => Some(t),
            Replay::Failed(_) | Replay::Pending => None,
        }
    }

    /// Whether the first replay has not finished yet.
    pub fn is_running(&self) -> bool {
        matches!(self, Replay::Pending | Replay::Running(..))
    }
}

/// A committed search.
#[derive(Clone, Debug, Default)]
pub struct Search {
    pub query: String,
    /// Matching event ids, ascending.
    pub matches: Vec<i64>,
}

/// Pane contents for the current position, rebuilt when the position or the replay
/// changes, so drawing a frame only slices them.
#[derive(Default)]
pub struct Inspect {
    pub task: usize,
    pub step: views::step::StepContent,
    pub source: views::source::SourceContent,
    pub state: views::PaneText,
    pub detail: views::PaneText,
}

const NONE: u32 = u32::MAX;

/// The whole debugger state.
pub struct App {
    pub hist: HistoryModel,
    pub replay: Replay,
    pub theme: Theme,
    /// What was replayed, for the header: the `--workflows` specs.
    pub code_label: String,
    pub rows: Vec<Row>,
    /// `event_row[id - 1]`: its row, or `NONE` when hidden.
    event_row: Vec<u32>,
    task_row: Vec<u32>,
    pub pos: Pos,
    pub expanded: HashSet<i64>,
    pub show_bookkeeping: bool,
    pub breakpoints: BTreeSet<i64>,
    pub search: Option<Search>,
    pub mode: Mode,
    pub focus: Pane,
    /// The pane shown beside the timeline on small screens (never `Timeline`).
    pub inspector: Pane,
    /// The pane under Step on large screens (Source, State or Detail).
    pub lower: Pane,
    /// Per pane: a scroll offset the user chose, or `None` to follow the position.
    pub scroll: [Option<usize>; 5],
    /// First visible timeline row. A `Cell` because only drawing knows the height: the
    /// renderer keeps the cursor in view and remembers where it scrolled to.
    pub timeline_offset: Cell<usize>,
    /// Inner heights of the panes at the last draw (for paging).
    pub heights: Cell<[u16; 5]>,
    /// A one-line note for the status bar (cleared by the next key).
    pub message: Option<String>,
    pub inspect: Inspect,
    /// Source files read so far (cleared on reload: the user is editing them).
    sources: HashMap<String, Option<Rc<Vec<String>>>>,
    /// Set while a replay runs in the background (the first one, or after `r`).
    pub replaying: Option<Instant>,
    /// `--strict` / `[tool.deja] fail-on, allow`: drops allowed drift kinds, marks what fails.
    pub drift_policy: deja_core::diff::drift::DriftPolicy,
    /// `w` was pressed: the Source pane shows the cause line until the next move.
    pub show_cause: bool,
}

impl App {
    /// Build the debugger for a history and the result of its first replay.
    pub fn new(history: LoadedHistory, replay: Result<ReplayOutcome, ReplayFailure>, theme: Theme, code_label: String) -> App {
        let hist = HistoryModel::new(history);
        let replay = match replay {
            Ok(outcome) => Replay::Ready(Box::new(TraceModel::new(&hist, outcome))),
            Err(f) => Replay::Failed(f),
        };
        App::with_replay(hist, replay, theme, code_label)
    }

    /// Build the debugger while the first replay is still running: the timeline works at
    /// once; [`App::set_replay`] fills in the trace when it arrives.
    pub fn replaying(history: LoadedHistory, theme: Theme, code_label: String) -> App {
        let mut app = App::with_replay(HistoryModel::new(history), Replay::Pending, theme, code_label);
        app.replaying = Some(Instant::now());
        app
    }

    fn with_replay(hist: HistoryModel, replay: Replay, theme: Theme, code_label: String) -> App {
        let n = hist.len();
        let tasks = hist.timeline.tasks.len();
        let mut app = App {
            hist,
            replay,
            theme,
            code_label,
            rows: Vec::new(),
            event_row: vec![NONE; n],
            task_row: vec![NONE; tasks],
            pos: Pos::Task(0),
            expanded: HashSet::new(),
            show_bookkeeping: false,
            breakpoints: BTreeSet::new(),
            search: None,
            mode: Mode::Normal,
            focus: Pane::Timeline,
            inspector: Pane::Step,
            lower: Pane::Source,
            scroll: [None; 5],
            timeline_offset: Cell::new(0),
            heights: Cell::new([0; 5]),
            message: None,
            inspect: Inspect::default(),
            sources: HashMap::new(),
            replaying: None,
            drift_policy: Default::default(),
            show_cause: false,
        };
        app.rebuild_rows();
        // Open where the trouble is: a debugger that starts on event 1 of a 10k-event
        // history would make everyone press `d` first.
        let start = app.problem_pos().unwrap_or(Pos::Task(0));
        app.pos = start;
        app.refresh();
        app
    }

    pub fn trace(&self) -> Option<&TraceModel> {
        self.replay.trace()
    }

    // ---------------------------------------------------------------- rows

    /// Recompute the visible rows (after folding or filtering changed).
    fn rebuild_rows(&mut self) {
        self.rows.clear();
        self.event_row.fill(NONE);
        self.task_row.fill(NONE);
        for task in &self.hist.timeline.tasks {
            self.task_row[task.index] = self.rows.len() as u32;
            self.rows.push(Row::Task(task.index));
            for id in task.first_event_id..=task.last_event_id {
                let Some(info) = self.hist.info(id) else { continue };
                let shown = match info.kind {
                    EventKind::Group | EventKind::FailedAttempt => true,
                    EventKind::Bookkeeping => self.show_bookkeeping,
                    EventKind::Follower { .. } => false,
                };
                if !shown {
                    continue;
                }
                self.event_row[(id - 1) as usize] = self.rows.len() as u32;
                self.rows.push(Row::Event { id, nested: false });
                if info.kind == EventKind::Group && self.expanded.contains(&id) {
                    for &f in self.hist.followers(id) {
                        if matches!(self.hist.info(f).map(|i| i.kind), Some(EventKind::Follower { .. })) {
                            self.event_row[(f - 1) as usize] = self.rows.len() as u32;
                            self.rows.push(Row::Event { id: f, nested: true });
                        }
                    }
                }
            }
        }
        // The position may have been folded away: fall back to what stands for it.
        if self.row_of(self.pos).is_none() {
            self.pos = self.visible_pos_for(self.pos);
        }
    }

    /// The row index of a position, if visible.
    pub fn row_of(&self, pos: Pos) -> Option<usize> {
        let r = match pos {
            Pos::Task(t) => *self.task_row.get(t)?,
            Pos::Event(id) => *self.event_row.get(usize::try_from(id - 1).ok()?)?,
        };
        (r != NONE).then_some(r as usize)
    }

    pub fn cursor_row(&self) -> usize {
        self.row_of(self.pos).unwrap_or(0)
    }

    fn pos_of_row(&self, row: usize) -> Option<Pos> {
        Some(match *self.rows.get(row)? {
            Row::Task(t) => Pos::Task(t),
            Row::Event { id, .. } => Pos::Event(id),
        })
    }

    /// What is visible in place of a hidden position (without changing folding).
    fn visible_pos_for(&self, pos: Pos) -> Pos {
        match pos {
            Pos::Task(_) => pos,
            Pos::Event(id) => match self.hist.info(id).map(|i| (i.kind, i.task)) {
                Some((EventKind::Follower { head }, _)) => Pos::Event(head),
                Some((_, task)) => Pos::Task(task),
                None => Pos::Task(0),
            },
        }
    }

    /// Make an event visible (expanding its head if folded) and return its position. A
    /// hidden bookkeeping event is stood for by its task's header.
    fn reveal(&mut self, id: i64) -> Pos {
        match self.hist.info(id).map(|i| (i.kind, i.task)) {
            Some((EventKind::Follower { head }, _)) => {
                if self.expanded.insert(head) {
                    self.rebuild_rows();
                }
                Pos::Event(id)
            }
            Some((EventKind::Bookkeeping, task)) if !self.show_bookkeeping => Pos::Task(task),
            Some(_) => Pos::Event(id),
            None => self.pos,
        }
    }

    /// The task a position belongs to (an event's own task, even when shown folded under
    /// a head from an earlier task: that is when the code sees it).
    pub fn task_of(&self, pos: Pos) -> usize {
        match pos {
            Pos::Task(t) => t,
            Pos::Event(id) => self.hist.info(id).map(|i| i.task).unwrap_or(0),
        }
    }

    /// The event that stands for a task header: its `WorkflowTaskStarted` (the activation
    /// point), or its last event when it never started.
    pub fn header_event(&self, task: usize) -> i64 {
        self.hist.timeline.tasks.get(task).map(|t| t.started_event_id.unwrap_or(t.last_event_id)).unwrap_or(1)
    }

    /// The event a position is "at", in history order.
    pub fn event_at(&self, pos: Pos) -> i64 {
        match pos {
            Pos::Task(t) => self.header_event(t),
            Pos::Event(id) => id,
        }
    }

    fn problem_pos(&mut self) -> Option<Pos> {
        let (event, task) = {
            let t = self.trace()?;
            (t.divergence_event, t.problem_task)
        };
        match (event, task) {
            (Some(id), _) => Some(self.reveal(id)),
            (None, Some(t)) => Some(Pos::Task(t)),
            _ => None,
        }
    }

    // ---------------------------------------------------------------- update

    /// Apply one action.
    pub fn update(&mut self, action: Action) -> Effect {
        if !matches!(action, Action::SearchInput(_) | Action::SearchBackspace) {
            self.message = None;
        }
        if self.show_cause && !matches!(action, Action::Cause | Action::NextPane | Action::PrevPane | Action::Focus(_) | Action::PageDown | Action::PageUp) {
            self.show_cause = false;
            self.refresh();
        }
        match action {
            Action::Cause => self.jump_to_cause(),
            Action::Quit => return Effect::Quit,
            Action::Reload => {
                if self.replaying.is_some() {
                    self.message = Some("a replay is already running".into());
                    return Effect::None;
                }
                self.message = Some("re-importing the workflow code and replaying…".into());
                self.replaying = Some(Instant::now());
                return Effect::Reload;
            }
            Action::NextEvent => self.move_rows(1),
            Action::PrevEvent => self.move_rows(-1),
            Action::NextTask => self.move_task(1),
            Action::PrevTask => self.move_task(-1),
            Action::PageDown => self.page(1),
            Action::PageUp => self.page(-1),
            Action::First => self.go(Pos::Task(0)),
            Action::Last => {
                if let Some(p) = self.rows.len().checked_sub(1).and_then(|r| self.pos_of_row(r)) {
                    self.go(p);
                }
            }
            Action::Divergence => self.jump_to_problem(),
            Action::NextDrift => self.next_drift(),
            Action::ToggleBreakpoint => self.toggle_breakpoint(),
            Action::ContinueForward => self.continue_to_stop(true),
            Action::ContinueBackward => self.continue_to_stop(false),
            Action::StartSearch => self.mode = Mode::Search(String::new()),
            Action::SearchInput(c) => {
                if let Mode::Search(s) = &mut self.mode {
                    s.push(c);
                }
            }
            Action::SearchBackspace => {
                if let Mode::Search(s) = &mut self.mode {
                    s.pop();
                }
            }
            Action::SearchCancel => self.mode = Mode::Normal,
            Action::SearchSubmit => {
                let query = match std::mem::take(&mut self.mode) {
                    Mode::Search(q) => q,
                    _ => String::new(),
                };
                self.submit_search(query);
            }
            Action::NextMatch => self.next_match(true),
            Action::PrevMatch => self.next_match(false),
            Action::ToggleBookkeeping => {
                self.show_bookkeeping = !self.show_bookkeeping;
                self.rebuild_rows();
                self.message = Some(if self.show_bookkeeping {
                    "showing workflow-task events (Scheduled/Started/Completed)".into()
                } else {
                    "hiding workflow-task events".into()
                });
                self.refresh();
            }
            Action::ToggleExpand => self.toggle_expand(),
            Action::NextPane => self.set_focus(self.focus.next()),
            Action::PrevPane => self.set_focus(self.focus.prev()),
            Action::Focus(p) => self.set_focus(p),
            Action::ToggleHelp => {
                self.mode = if self.mode == Mode::Help { Mode::Normal } else { Mode::Help };
            }
        }
        Effect::None
    }

    /// Move to a position and rebuild the pane contents for it.
    pub fn go(&mut self, pos: Pos) {
        let pos = if self.row_of(pos).is_some() { pos } else { self.visible_pos_for(pos) };
        if pos != self.pos {
            self.pos = pos;
            self.scroll = [None; 5];
            self.refresh();
        }
    }

    fn move_rows(&mut self, delta: isize) {
        let cur = self.cursor_row() as isize;
        let target = (cur + delta).clamp(0, self.rows.len().saturating_sub(1) as isize) as usize;
        if let Some(p) = self.pos_of_row(target) {
            self.go(p);
        }
    }

    /// Next/previous task header, by what is on screen: the nearest header above the
    /// cursor is the task you are looking at.
    fn move_task(&mut self, delta: isize) {
        let cur = self.cursor_row();
        let visual = self
            .rows
            .get(..=cur)
            .unwrap_or_default()
            .iter()
            .rev()
            .find_map(|r| match r {
                Row::Task(t) => Some(*t),
                Row::Event { .. } => None,
            })
            .unwrap_or(0);
        let on_header = matches!(self.pos, Pos::Task(_));
        let target = match delta {
            d if d > 0 => visual + 1,
            // From inside a task, K goes to its own header first.
            _ if !on_header => visual,
            _ => visual.saturating_sub(1),
        };
        if target < self.hist.timeline.tasks.len() {
            self.go(Pos::Task(target));
        }
    }

    fn page(&mut self, dir: isize) {
        let h = self.heights.get()[self.focus.index()].max(2) as isize - 1;
        if self.focus == Pane::Timeline {
            self.move_rows(dir * h);
        } else {
            // The renderer clamps; start from where the pane currently is.
            let i = self.focus.index();
            let cur = self.scroll[i].unwrap_or_else(|| self.auto_scroll(self.focus)) as isize;
            self.scroll[i] = Some((cur + dir * h).max(0) as usize);
        }
    }

    /// Where a pane scrolls to by itself: the marked line in the middle.
    pub fn auto_scroll(&self, pane: Pane) -> usize {
        let h = self.heights.get()[pane.index()] as usize;
        let mark = match pane {
            Pane::Source => self.inspect.source.mark,
            Pane::Step => self.inspect.step.focus,
            _ => None,
        };
        mark.map(|m| m.saturating_sub(h / 2)).unwrap_or(0)
    }

    fn jump_to_problem(&mut self) {
        match self.problem_pos() {
            Some(p) => {
                self.go(p);
                let what = match self.trace().and_then(|t| t.divergence_event) {
                    Some(id) => format!("first divergence: event {id}"),
                    None => "the workflow task where replay failed".into(),
                };
                self.message = Some(what);
            }
            None if self.trace().is_some_and(|t| !t.report.drift.is_empty()) => self.next_drift(),
            None => {
                self.message = Some(match &self.replay {
                    Replay::Ready(t) if t.report.verdict == Verdict::Pass => "no divergence: the replay passed".into(),
                    Replay::Ready(_) => "nothing to jump to: no workflow code ran".into(),
                    Replay::Failed(_) => "no trace: the replay could not run (see the header; fix and press r)".into(),
                    Replay::Pending | Replay::Running(..) => "the replay is still running; press d again when it has finished".into(),
                });
            }
        }
    }

    /// The next drift finding after the cursor (wrapping), in history order.
    fn next_drift(&mut self) {
        let here = self.event_at(self.pos);
        let mut stops: Vec<(i64, Option<usize>, String)> = match self.trace() {
            Some(t) => t
                .report
                .drift
                .iter()
                .map(|f| {
                    let at = f.event_id.unwrap_or_else(|| f.task.map_or(1, |task| self.header_event(task)));
                    (at, f.event_id.is_none().then_some(f.task).flatten(), f.one_line())
                })
                .collect(),
            None => Vec::new(),
        };
        if stops.is_empty() {
            self.message = Some("no drift: every value the code sets matches history".into());
            return;
        }
        stops.sort_by_key(|s| s.0);
        let n = stops.len();
        let i = stops.iter().position(|s| s.0 > here).unwrap_or(0);
        let (at, task, text) = stops.swap_remove(i);
        let pos = match task {
            Some(t) => Pos::Task(t),
            None => self.reveal(at),
        };
        self.go(pos);
        self.message = Some(format!("drift {}/{n}: {text}", i + 1));
    }

    /// `w`: go to the divergence and show the cause line (and say what the cause is).
    fn jump_to_cause(&mut self) {
        let summary = self.trace().and_then(|t| t.report.cause.as_ref()).map(|c| {
            let at = match (&c.file, c.line) {
                (Some(f), Some(l)) => format!(" at {}:{l}", crate::report::vocab::short_file(f)),
                _ => String::new(),
            };
            format!("cause: {}{at} (Source pane; `deja replay` prints the fix)", c.kind.words())
        });
        match summary {
            Some(s) => {
                if let Some(p) = self.problem_pos() {
                    self.go(p);
                }
                self.show_cause = true;
                self.refresh();
                self.message = Some(s);
            }
            None => self.jump_to_problem(),
        }
    }

    fn toggle_breakpoint(&mut self) {
        let id = self.event_at(self.pos);
        if !self.breakpoints.remove(&id) {
            self.breakpoints.insert(id);
            self.message = Some(format!("breakpoint at event {id}"));
        } else {
            self.message = Some(format!("breakpoint at event {id} removed"));
        }
    }

    /// Run to the next (or previous) breakpoint in history order; the divergence is a
    /// stop too, as an exception is in a debugger.
    fn continue_to_stop(&mut self, forward: bool) {
        let here = self.event_at(self.pos);
        let mut stops: Vec<i64> = self.breakpoints.iter().copied().collect();
        if let Some(d) = self.trace().and_then(|t| t.divergence_event) {
            stops.push(d);
        }
        stops.sort_unstable();
        stops.dedup();
        let candidates: Vec<i64> =
            if forward { stops.into_iter().filter(|&s| s > here).collect() } else { stops.into_iter().rev().filter(|&s| s < here).collect() };
        for id in candidates {
            let p = self.reveal(id);
            if p != self.pos {
                self.go(p);
                let is_div = self.trace().and_then(|t| t.divergence_event) == Some(id);
                self.message = Some(if is_div && !self.breakpoints.contains(&id) {
                    format!("stopped at the divergence (event {id})")
                } else {
                    format!("breakpoint at event {id}")
                });
                return;
            }
        }
        self.message = Some(format!(
            "no breakpoint {} (set one with b)",
            if forward { "ahead" } else { "behind" }
        ));
    }

    fn submit_search(&mut self, query: String) {
        if query.is_empty() {
            self.search = None;
            return;
        }
        let matches = self.hist.search(&query);
        if matches.is_empty() {
            self.message = Some(format!("/{query}: no match"));
            self.search = Some(Search { query, matches });
            return;
        }
        self.search = Some(Search { query, matches });
        self.next_match(true);
    }

    fn next_match(&mut self, forward: bool) {
        let Some(search) = &self.search else {
            self.message = Some("no search yet: press / to search".into());
            return;
        };
        let here = self.event_at(self.pos);
        let ms = &search.matches;
        if ms.is_empty() {
            self.message = Some(format!("/{}: no match", search.query));
            return;
        }
        // Wrap around, like vim.
        let order: Vec<i64> = if forward {
            ms.iter().copied().filter(|&m| m > here).chain(ms.iter().copied().filter(|&m| m <= here)).collect()
        } else {
            ms.iter().rev().copied().filter(|&m| m < here).chain(ms.iter().rev().copied().filter(|&m| m >= here)).collect()
        };
        let total = ms.len();
        let query = search.query.clone();
        for id in order {
            let p = self.reveal(id);
            if p != self.pos || total == 1 {
                self.go(p);
                let n = self.search.as_ref().and_then(|s| s.matches.iter().position(|&m| m == id)).map(|i| i + 1).unwrap_or(0);
                self.message = Some(format!("/{query}: match {n} of {total} (event {id})"));
                return;
            }
        }
    }

    fn toggle_expand(&mut self) {
        match self.pos {
            Pos::Event(id) if self.hist.has_followers(id) => {
                if !self.expanded.remove(&id) {
                    self.expanded.insert(id);
                }
                self.rebuild_rows();
            }
            Pos::Event(id) => {
                if let Some(EventKind::Follower { head }) = self.hist.info(id).map(|i| i.kind) {
                    self.expanded.remove(&head);
                    self.rebuild_rows();
                    self.go(Pos::Event(head));
                } else {
                    self.message = Some("nothing to expand: this event has no followers".into());
                }
            }
            Pos::Task(_) => self.message = Some("Enter expands an event's followers; move to an event with j".into()),
        }
    }

    fn set_focus(&mut self, pane: Pane) {
        self.focus = pane;
        if pane != Pane::Timeline {
            self.inspector = pane;
        }
        if matches!(pane, Pane::Source | Pane::State | Pane::Detail) {
            self.lower = pane;
        }
    }

    // ---------------------------------------------------------------- replay

    /// The trace model of an outcome, with the drift policy applied.
    fn trace_model(&self, outcome: ReplayOutcome) -> TraceModel {
        let mut t = TraceModel::new(&self.hist, outcome);
        t.report.apply_drift_policy(&self.drift_policy);
        t
    }

    /// Install a new replay (after `r`), keeping position, breakpoints and folding.
    pub fn set_replay(&mut self, replay: Result<ReplayOutcome, ReplayFailure>) {
        let before = self.verdict_text();
        let first = self.replay.is_running();
        self.replaying = None;
        self.replay = match replay {
            Ok(outcome) => Replay::Ready(Box::new(self.trace_model(outcome))),
            Err(f) => Replay::Failed(f),
        };
        self.sources.clear();
        self.scroll = [None; 5];
        if first && self.pos == Pos::Task(0) {
            // The user has not moved yet: open where the trouble is, as with a finished replay.
            if let Some(p) = self.problem_pos() {
                self.pos = p;
            }
        }
        self.refresh();
        self.message = Some(if first {
            format!("replayed: {}", self.verdict_text())
        } else {
            format!("reloaded and replayed: {} (was {before})", self.verdict_text())
        });
    }

    /// Steps the first replay recorded since the last call: the panes show them at once.
    /// (Ignored once the replay has finished, and during `r`, which keeps the old trace.)
    pub fn add_steps(&mut self, new: Vec<Step>) {
        let mut steps = match std::mem::replace(&mut self.replay, Replay::Pending) {
            Replay::Pending => Vec::new(),
            Replay::Running(_, steps) => steps,
            other => {
                self.replay = other;
                return;
            }
        };
        steps.extend(new);
        let partial = ReplayOutcome {
            verdict: Verdict::Pass,
            error_kind: None,
            message: String::new(),
            raw: String::new(),
            frames: Vec::new(),
            steps: steps.clone(),
            seconds: 0.0,
            sandbox: SandboxUse::None,
            sandbox_note: None,
            warnings: Vec::new(),
            output: String::new(),
            update_rejections: Vec::new(),
            handlers: Default::default(),
            explained: false,
            baseline: None,
        };
        self.replay = Replay::Running(Box::new(self.trace_model(partial)), steps);
        self.refresh();
    }

    /// `✓ pass`, `✗ nondeterminism at event 23`, `✗ could not replay`.
    pub fn verdict_text(&self) -> String {
        match &self.replay {
            Replay::Ready(t) => {
                let r = &t.report;
                let mut s = if r.drift_failed { "✗ drift (SDK: pass)".to_string() } else { views::verdict_word(r.verdict).to_string() };
                if let Some(id) = t.divergence_event {
                    s.push_str(&format!(" at event {id}"));
                }
                s
            }
            Replay::Failed(_) => "✗ could not replay".into(),
            Replay::Pending | Replay::Running(..) => "… replaying".into(),
        }
    }

    /// Rebuild the pane contents for the current position.
    pub fn refresh(&mut self) {
        let task = self.task_of(self.pos);
        let event = match self.pos {
            Pos::Event(id) => Some(id),
            Pos::Task(_) => None,
        };
        let theme = self.theme;
        self.inspect.task = task;
        self.inspect.step = views::step::build(&self.hist, &self.replay, task, &theme);
        self.inspect.state = views::state::build(&self.hist, self.replay.trace(), task, &theme);
        self.inspect.detail = views::detail::build(&self.hist, self.pos, &theme);
        self.inspect.source = views::source::build(&self.hist, self.replay.trace(), event, task, &mut self.sources, &theme);
        if self.show_cause {
            self.inspect.source = views::source::cause(self.replay.trace(), task, &mut self.sources).unwrap_or_else(|| self.inspect.source.clone());
        }
        // The first replay has not reached this task yet.
        let not_yet = match &self.replay {
            Replay::Pending => true,
            Replay::Running(t, _) => t.steps_of_task.get(task).is_none_or(Vec::is_empty),
            _ => false,
        };
        if not_yet {
            self.inspect.step = views::step::build(&self.hist, &Replay::Pending, task, &theme);
            self.inspect.state = views::state::pending(&theme);
            self.inspect.source = views::source::pending();
        }
    }
}
