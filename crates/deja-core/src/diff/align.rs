//! Aligning the emitted command stream with the recorded command-event stream.

use deja_proto::coresdk::workflow_completion::workflow_activation_completion::Status;
use serde::Serialize;
use similar::{Algorithm, DiffOp, capture_diff_slices};

use super::items::{CommandReader, Item, Kind, is_core_patch_upsert, is_deprecated_patch, recorded_item};
use crate::history::LoadedHistory;
use crate::history::tasks::Timeline;
use crate::trace::{Frame, ReplayOutcome, Verdict};

/// A command event history recorded.
#[derive(Clone, Debug, Serialize)]
pub struct Recorded {
    pub event_id: i64,
    pub task: usize,
    pub item: Item,
}

/// A command the code emitted during replay.
#[derive(Clone, Debug, Serialize)]
pub struct Emitted {
    /// Index of the activation (step) in the trace.
    pub step: usize,
    /// Index of the command in that activation's completion.
    pub index: usize,
    /// The task it was emitted in (by the activation's `history_length`).
    pub task: usize,
    pub item: Item,
    /// The user source line that issued it.
    pub site: Option<Frame>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowStatus {
    /// Same kind and identity on both sides.
    Match,
    /// Both sides have a command here, but they differ.
    Differs,
    /// History recorded it; the code did not emit it.
    OnlyHistory,
    /// The code emitted it; history has no such event.
    OnlyCode,
    /// Recorded by core itself or safely droppable (the upsert after a patch marker, a
    /// deprecated patch): no command is expected.
    Skipped,
    /// Beyond the point where replay stopped.
    NotReached,
}

/// One line of the side-by-side diff.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub task: usize,
    pub status: RowStatus,
    pub recorded: Option<Recorded>,
    pub emitted: Option<Emitted>,
    /// Fields that differ but that core does not compare (inputs…), worth a note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The whole diff of one replay.
#[derive(Clone, Debug, Serialize)]
pub struct Alignment {
    pub rows: Vec<Row>,
    /// Index into `rows` of the row to mark as the divergence (nondeterminism only).
    pub first_divergence: Option<usize>,
    /// The pair core compared when it failed: the k-th emitted command against the k-th
    /// recorded command event (core matches them as a queue).
    pub divergence: Option<Row>,
    /// The last workflow task the replay reached.
    pub reached_task: Option<usize>,
}

impl Alignment {
    pub fn divergence(&self) -> Option<&Row> {
        self.divergence.as_ref()
    }

    pub fn rows_of_task(&self, task: usize) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(move |r| r.task == task)
    }
}

/// The event id core's message names (`HistoryEvent(id: 9, …)`), if any.
pub fn event_id_in_message(msg: &str) -> Option<i64> {
    let i = msg.find("HistoryEvent(id: ")? + "HistoryEvent(id: ".len();
    let digits: String = msg[i..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// Align a replay's trace with its history.
pub fn align(h: &LoadedHistory, tl: &Timeline, outcome: &ReplayOutcome) -> Alignment {
    // Emitted side, in activation order.
    let mut reader = CommandReader::default();
    let mut emitted = Vec::new();
    let mut reached_task: Option<usize> = None;
    for (step_index, step) in outcome.steps.iter().enumerate() {
        if step.is_eviction() {
            continue;
        }
        let hl = i64::from(step.activation.history_length);
        let task = tl.task_by_started(hl).map(|t| t.index).or_else(|| tl.task_of_event(hl).map(|t| t.index));
        let Some(task) = task else { continue };
        reached_task = Some(reached_task.map_or(task, |r: usize| r.max(task)));
        if let Some(Status::Successful(s)) = step.completion.status.as_ref() {
            // Core sends a workflow-ending command (complete, fail, cancel, continue-as-new)
            // after every other command of the same completion, whatever order the code
            // issued them in (a timer cancelled in a `finally` after `return`): history
            // records it last, so it is aligned last.
            let mut terminal = Vec::new();
            for (index, cmd) in s.commands.iter().enumerate() {
                if let Some(item) = reader.read(cmd) {
                    let site = step.command_sites.get(index).cloned().flatten();
                    let e = Emitted { step: step_index, index, task, item, site };
                    if matches!(e.item.kind, Kind::CompleteWorkflow | Kind::FailWorkflow | Kind::CancelWorkflow | Kind::ContinueAsNew) {
                        terminal.push(e);
                    } else {
                        emitted.push(e);
                    }
                }
            }
            emitted.extend(terminal);
        }
    }
    if outcome.verdict == Verdict::Pass && outcome.steps.is_empty() {
        reached_task = tl.tasks.last().map(|t| t.index);
    }

    // Recorded side, split into what is compared and what is not.
    let mut rows_fixed: Vec<(usize, Row)> = Vec::new(); // (position in recorded order, row)
    let mut compared: Vec<(usize, Recorded)> = Vec::new();
    let mut position = 0usize;
    let mut prev_was_patch = false;
    for task in &tl.tasks {
        for &id in &task.commands {
            let Some(e) = h.event(id) else { continue };
            let Some(item) = recorded_item(h, e) else { continue };
            let rec = Recorded { event_id: id, task: task.index, item };
            position += 1;
            let beyond = reached_task.is_none_or(|r| task.index > r);
            let core_originated = prev_was_patch && is_core_patch_upsert(e);
            prev_was_patch = rec.item.kind == Kind::Patch;
            if beyond {
                rows_fixed.push((position, Row { task: task.index, status: RowStatus::NotReached, recorded: Some(rec), emitted: None, note: None }));
            } else if core_originated {
                rows_fixed.push((position, Row { task: task.index, status: RowStatus::Skipped, recorded: Some(rec), emitted: None, note: Some("written by core after the patch marker".into()) }));
            } else {
                compared.push((position, rec));
            }
        }
    }

    // Core matches commands to command events as a queue, so the pair it complains about is
    // the one its queue reached: walk both streams the way core does (skipping what core
    // skips) up to the first pair core would reject. That pair is the divergence — one row,
    // which the header, the table's ▶ and the JSON all read.
    let walk = (outcome.verdict == Verdict::Nondeterminism).then(|| core_walk(h, outcome, &compared, &emitted)).flatten();
    let (from_old, from_new) = walk.as_ref().map_or((0, 0), |w| w.rest);
    let old: Vec<(&Kind, &str)> = compared[from_old..].iter().map(|(_, r)| (&r.item.kind, r.item.key.as_str())).collect();
    let new: Vec<(&Kind, &str)> = emitted[from_new..].iter().map(|e| (&e.item.kind, e.item.key.as_str())).collect();
    let ops = capture_diff_slices(Algorithm::Myers, &old, &new);

    // Rows in stream order; positions keep recorded-only rows (skipped, not reached) in place.
    // The bool marks the divergence row.
    let mut rows: Vec<(f64, bool, Row)> = rows_fixed.into_iter().map(|(p, r)| (p as f64, false, r)).collect();
    let mut last_pos = 0f64;
    let mut push_pair = |rows: &mut Vec<(f64, bool, Row)>, r: Option<&(usize, Recorded)>, e: Option<&Emitted>, status: RowStatus, note: Option<String>, divergent: bool| {
        let pos = match r {
            Some((p, _)) => *p as f64,
            None => last_pos + 0.001,
        };
        last_pos = pos;
        let task = r.map(|(_, r)| r.task).or(e.map(|e| e.task)).unwrap_or(0);
        let mut status = status;
        if status == RowStatus::OnlyHistory
            && !divergent
            && let Some((_, rec)) = r
            && rec.item.kind == Kind::Patch
            && h.event(rec.event_id).is_some_and(is_deprecated_patch)
        {
            status = RowStatus::Skipped;
        }
        let note = note.or_else(|| match (r, e) {
            (Some((_, r)), Some(e)) if status == RowStatus::Match => note_for(&r.item, &e.item, r.task, e.task),
            _ => None,
        });
        rows.push((pos, divergent, Row { task, status, recorded: r.map(|(_, r)| r.clone()), emitted: e.cloned(), note }));
    };
    if let Some(w) = &walk {
        for (r, e, status, note) in &w.before {
            push_pair(&mut rows, r.map(|i| &compared[i]), e.map(|j| &emitted[j]), *status, note.clone(), false);
        }
        let (r, e) = w.pair;
        let status = match (r, e) {
            (Some(_), Some(_)) => RowStatus::Differs,
            (Some(_), None) => RowStatus::OnlyHistory,
            _ => RowStatus::OnlyCode,
        };
        push_pair(&mut rows, r.map(|i| &compared[i]), e.map(|j| &emitted[j]), status, None, true);
    }
    let compared = &compared[from_old..];
    let emitted = &emitted[from_new..];
    for op in ops {
        match op {
            DiffOp::Equal { old_index, new_index, len } => {
                for k in 0..len {
                    push_pair(&mut rows, Some(&compared[old_index + k]), Some(&emitted[new_index + k]), RowStatus::Match, None, false);
                }
            }
            DiffOp::Delete { old_index, old_len, .. } => {
                for k in 0..old_len {
                    push_pair(&mut rows, Some(&compared[old_index + k]), None, RowStatus::OnlyHistory, None, false);
                }
            }
            DiffOp::Insert { new_index, new_len, .. } => {
                for k in 0..new_len {
                    push_pair(&mut rows, None, Some(&emitted[new_index + k]), RowStatus::OnlyCode, None, false);
                }
            }
            DiffOp::Replace { old_index, old_len, new_index, new_len } => {
                for k in 0..old_len.max(new_len) {
                    let r = (k < old_len).then(|| &compared[old_index + k]);
                    let e = (k < new_len).then(|| &emitted[new_index + k]);
                    let status = match (r, e) {
                        (Some(_), Some(_)) => RowStatus::Differs,
                        (Some(_), None) => RowStatus::OnlyHistory,
                        _ => RowStatus::OnlyCode,
                    };
                    push_pair(&mut rows, r, e, status, None, false);
                }
            }
        }
    }
    rows.sort_by(|a, b| a.2.task.cmp(&b.2.task).then(a.0.total_cmp(&b.0)));
    let first_divergence = rows.iter().position(|(_, divergent, _)| *divergent);
    let rows: Vec<Row> = rows.into_iter().map(|(_, _, r)| r).collect();
    let divergence = first_divergence.map(|i| rows[i].clone());
    Alignment { rows, first_divergence, divergence, reached_task }
}

/// A pair core accepted or skipped: (recorded index, emitted index, status, note).
type Walked = (Option<usize>, Option<usize>, RowStatus, Option<String>);

/// Core's walk over the two queues up to the pair it rejected.
struct Walk {
    /// Pairs core accepted or skipped before it.
    before: Vec<Walked>,
    /// The rejected pair (indices into the compared / emitted streams).
    pair: (Option<usize>, Option<usize>),
    /// Where the rest of both streams starts (after the pair).
    rest: (usize, usize),
}

/// Walk the recorded command events and the emitted commands as core's queue does:
/// a deprecated patch marker the code has no patch command for is skipped (so is a
/// deprecated patch command history has no marker for); a non-deprecated marker with no
/// patch command is rejected on its own. When core's message names the event it failed on,
/// the walk goes on to that event (pairs before it that deja would call different were
/// accepted by core). `None` when both streams agree to their end.
fn core_walk(h: &LoadedHistory, outcome: &ReplayOutcome, compared: &[(usize, Recorded)], emitted: &[Emitted]) -> Option<Walk> {
    let named = event_id_in_message(&outcome.message).filter(|id| compared.iter().any(|(_, r)| r.event_id == *id));
    let emitted_deprecated = |e: &Emitted| {
        use deja_proto::coresdk::workflow_commands::workflow_command::Variant as C;
        match outcome.steps.get(e.step).and_then(|s| s.completion.status.as_ref()) {
            Some(Status::Successful(s)) => matches!(s.commands.get(e.index).and_then(|c| c.variant.as_ref()), Some(C::SetPatchMarker(p)) if p.deprecated),
            _ => false,
        }
    };
    let mut before = Vec::new();
    let (mut i, mut j) = (0usize, 0usize);
    loop {
        let r = compared.get(i).map(|(_, r)| r);
        let e = emitted.get(j);
        if r.is_none() && e.is_none() {
            return None;
        }
        let same_patch = |r: &Recorded| e.is_some_and(|e| e.item.kind == Kind::Patch && e.item.key == r.item.key);
        if let Some(r) = r.filter(|r| r.item.kind == Kind::Patch && !same_patch(r)) {
            if h.event(r.event_id).is_some_and(is_deprecated_patch) {
                before.push((Some(i), None, RowStatus::Skipped, Some("deprecated patch: core skips it when the code has no patch call".to_string())));
                i += 1;
                continue;
            }
            if named.is_none_or(|n| n == r.event_id) {
                return Some(Walk { before, pair: (Some(i), None), rest: (i + 1, j) });
            }
            before.push((Some(i), None, RowStatus::Skipped, Some("core went past it to the event it names".to_string())));
            i += 1;
            continue;
        }
        if e.is_some_and(|e| e.item.kind == Kind::Patch && emitted_deprecated(e) && !r.is_some_and(|r| r.item.kind == Kind::Patch && r.item.key == e.item.key)) {
            before.push((None, Some(j), RowStatus::Skipped, Some("deprecated patch not in history: core drops it".to_string())));
            j += 1;
            continue;
        }
        let agree = matches!((r, e), (Some(r), Some(e)) if r.item.matches(&e.item));
        let is_named = r.is_some_and(|r| named == Some(r.event_id));
        if agree && !is_named {
            before.push((Some(i), Some(j), RowStatus::Match, None));
        } else if named.is_none() || is_named || r.is_none() || e.is_none() {
            let pair = (r.map(|_| i), e.map(|_| j));
            let rest = (i + usize::from(r.is_some()), j + usize::from(e.is_some()));
            return Some(Walk { before, pair, rest });
        } else {
            // deja would call these different, but core went past them to the event it names.
            before.push((Some(i), Some(j), RowStatus::Match, Some("core accepted this pair".to_string())));
        }
        i += 1;
        j += 1;
    }
}

fn note_for(recorded: &Item, emitted: &Item, rtask: usize, etask: usize) -> Option<String> {
    let mut notes = Vec::new();
    if rtask != etask {
        notes.push(format!("code emitted it in task {} (history: task {}); core accepts commands issued earlier", etask + 1, rtask + 1));
    }
    if !recorded.detail.is_empty() && !emitted.detail.is_empty() && recorded.detail != emitted.detail {
        notes.push("inputs differ (core does not compare them)".to_string());
    }
    if recorded.label != emitted.label && recorded.kind == Kind::Timer {
        notes.push("duration differs (core does not compare it)".to_string());
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}
