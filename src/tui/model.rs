//! The history side of the debugger, precomputed once per history.
//!
//! Opening a 10k-event history has to be fast and scrolling has to cost only what is on
//! screen, so everything a timeline row needs — its group line, its kind, its task — is
//! built here once, as compact per-event data. The views then format only visible rows.
//! The search text is the one exception: it is built on the first search, since most
//! sessions never search and it is the most expensive part (payloads).

use deja_core::history::describe::{event_summary, group_line};
use deja_core::history::tasks::{Timeline, is_task_bookkeeping};
use deja_core::history::{EventType, HistoryEvent, LoadedHistory, event_type, event_type_name};

/// How an event shows up in the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A head (activity scheduled, timer started…) or a standalone event: one line.
    Group,
    /// Folded under its head (the scheduled event of an activity, …); shown when expanded.
    Follower { head: i64 },
    /// `WorkflowTaskScheduled/Started/Completed`: hidden unless asked for (`f`).
    Bookkeeping,
    /// A failed or timed-out workflow task attempt: always shown, it matters.
    FailedAttempt,
}

/// One event, ready to draw.
#[derive(Clone, Debug)]
pub struct EventInfo {
    pub ty: EventType,
    /// Index of the workflow task holding the event.
    pub task: usize,
    pub kind: EventKind,
    /// The timeline text: the group line for groups, type + summary otherwise.
    pub text: String,
}

/// Longest payload shown inside a timeline line (the detail pane shows all of it).
const LINE_PAYLOAD: usize = 32;

/// The loaded history with its workflow tasks and per-event rows.
pub struct HistoryModel {
    pub history: LoadedHistory,
    pub timeline: Timeline,
    /// `events[id - 1]`.
    pub events: Vec<EventInfo>,
    /// Lower-cased search text per event, built on first use.
    haystack: Option<Vec<String>>,
}

impl HistoryModel {
    pub fn new(history: LoadedHistory) -> HistoryModel {
        let timeline = Timeline::new(history.events());
        let events = history.events().iter().map(|e| event_info(&history, &timeline, e)).collect();
        HistoryModel { history, timeline, events, haystack: None }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// The info of event `id` (ids are 1..=n, checked when the history was loaded).
    pub fn info(&self, id: i64) -> Option<&EventInfo> {
        usize::try_from(id - 1).ok().and_then(|i| self.events.get(i))
    }

    pub fn event(&self, id: i64) -> Option<&HistoryEvent> {
        self.history.event(id)
    }

    pub fn followers(&self, id: i64) -> &[i64] {
        usize::try_from(id - 1).ok().and_then(|i| self.timeline.followers.get(i)).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether a group line folds followers (so Enter has something to expand).
    pub fn has_followers(&self, id: i64) -> bool {
        self.info(id).is_some_and(|i| i.kind == EventKind::Group) && !self.followers(id).is_empty()
    }

    /// Event ids whose type, names, ids or payload text contain `query` (case-insensitive).
    pub fn search(&mut self, query: &str) -> Vec<i64> {
        let needle = query.to_lowercase();
        if needle.is_empty() {
            return Vec::new();
        }
        if self.haystack.is_none() {
            let built = self
                .history
                .events()
                .iter()
                .map(|e| format!("{} {} {}", e.event_id, event_type_name(event_type(e)), event_summary(e, 2000)).to_lowercase())
                .collect();
            self.haystack = Some(built);
        }
        let Some(haystack) = self.haystack.as_ref() else { return Vec::new() };
        haystack.iter().enumerate().filter(|(_, h)| h.contains(&needle)).map(|(i, _)| i as i64 + 1).collect()
    }
}

fn event_info(h: &LoadedHistory, tl: &Timeline, e: &HistoryEvent) -> EventInfo {
    let ty = event_type(e);
    let idx = (e.event_id - 1) as usize;
    let task = tl.task_of.get(idx).copied().unwrap_or(0);
    // The same rule as `deja show` (report::show::task_groups), plus bookkeeping kept as
    // its own kind so it can be toggled instead of dropped.
    let kind = if matches!(ty, EventType::WorkflowTaskFailed | EventType::WorkflowTaskTimedOut) {
        EventKind::FailedAttempt
    } else if is_task_bookkeeping(ty) {
        EventKind::Bookkeeping
    } else if let Some(head) = tl.head.get(idx).copied().flatten() {
        EventKind::Follower { head }
    } else {
        EventKind::Group
    };
    let text = match kind {
        EventKind::Group => {
            let followers: Vec<&HistoryEvent> = tl.followers[idx].iter().filter_map(|f| h.event(*f)).collect();
            group_line(e, &followers, LINE_PAYLOAD)
        }
        _ => {
            let s = event_summary(e, LINE_PAYLOAD);
            if s.is_empty() { event_type_name(ty) } else { format!("{} {s}", event_type_name(ty)) }
        }
    };
    EventInfo { ty, task, kind, text }
}
