//! Workflow tasks: the unit in which the SDK core feeds history to workflow code and in
//! which the code answers with commands.
//!
//! The split mirrors core's `find_end_index_of_next_wft_seq` (sdk-core
//! `worker/workflow/history_update.rs`): a sequence ends at a `WorkflowTaskStarted` followed
//! by `WorkflowTaskCompleted`; a started task that then failed or timed out is absorbed into
//! the next attempt; a completion directly followed by `WorkflowTaskScheduled` with no
//! command seen yet is a heartbeat (local activities and speculative update tasks do that)
//! and does not end the sequence; an accepted update ends the sequence at the task it was
//! sequenced in; a final workflow event ends it too. The `WorkflowTaskStarted` id that ends
//! a sequence is what core reports as the activation's `history_length`, which is how the
//! replay trace is matched to these tasks.

use super::{EventType, HistoryEvent, event_type};
use deja_proto::temporal::api::history::v1::history_event::Attributes as A;

/// One workflow task as history recorded it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkflowTask {
    /// 0-based position among the tasks.
    pub index: usize,
    pub first_event_id: i64,
    pub last_event_id: i64,
    /// The `WorkflowTaskStarted` of the attempt that completed (the activation's
    /// `history_length`); `None` for a trailing task no worker has run yet.
    pub started_event_id: Option<i64>,
    pub completed_event_id: Option<i64>,
    /// Events the workflow code is told about in this task: activity results, timer
    /// fires, signals, updates, cancel requests… (not workflow-task bookkeeping).
    pub delivered: Vec<i64>,
    /// Command events the task's completion produced, in history order.
    pub commands: Vec<i64>,
    /// `WorkflowTaskFailed` / `TimedOut` attempts absorbed into this task.
    pub failed_attempts: u32,
    /// Completed-then-rescheduled heartbeats absorbed into this task.
    pub heartbeats: u32,
}

impl WorkflowTask {
    pub fn contains(&self, event_id: i64) -> bool {
        (self.first_event_id..=self.last_event_id).contains(&event_id)
    }
}

/// Whether an event type is bookkeeping of workflow tasks themselves.
pub fn is_task_bookkeeping(t: EventType) -> bool {
    matches!(
        t,
        EventType::WorkflowTaskScheduled
            | EventType::WorkflowTaskStarted
            | EventType::WorkflowTaskCompleted
            | EventType::WorkflowTaskFailed
            | EventType::WorkflowTaskTimedOut
    )
}

/// Whether an event is written by the server as the result of a workflow command.
pub fn is_command_event(t: EventType) -> bool {
    use EventType::*;
    matches!(
        t,
        ActivityTaskScheduled
            | ActivityTaskCancelRequested
            | TimerStarted
            | TimerCanceled
            | MarkerRecorded
            | StartChildWorkflowExecutionInitiated
            | SignalExternalWorkflowExecutionInitiated
            | RequestCancelExternalWorkflowExecutionInitiated
            | UpsertWorkflowSearchAttributes
            | WorkflowPropertiesModified
            | NexusOperationScheduled
            | NexusOperationCancelRequested
            | WorkflowExecutionUpdateAccepted
            | WorkflowExecutionUpdateRejected
            | WorkflowExecutionUpdateCompleted
            | WorkflowExecutionCompleted
            | WorkflowExecutionFailed
            | WorkflowExecutionCanceled
            | WorkflowExecutionContinuedAsNew
    )
}

/// Whether an event ends the workflow execution (core's `is_final_wf_execution_event`).
fn is_final(t: EventType) -> bool {
    use EventType::*;
    matches!(
        t,
        WorkflowExecutionCompleted
            | WorkflowExecutionCanceled
            | WorkflowExecutionFailed
            | WorkflowExecutionTimedOut
            | WorkflowExecutionContinuedAsNew
            | WorkflowExecutionTerminated
    )
}

/// Core's `find_end_index_of_next_wft_seq` for a complete history: the index of the event
/// that ends the next sequence after event id `from`, or `None` when the rest of the
/// history forms no complete sequence.
fn next_sequence_end(events: &[HistoryEvent], from: i64) -> Option<usize> {
    let mut saw_command = false;
    let mut saw_command_or_started = false;
    let mut started: Vec<(i64, usize)> = Vec::new();
    for (ix, e) in events.iter().enumerate() {
        if e.event_id <= from {
            continue;
        }
        let t = event_type(e);
        if is_command_event(t) {
            saw_command = true;
            saw_command_or_started = true;
        }
        if t == EventType::WorkflowExecutionStarted {
            saw_command_or_started = true;
        }
        if is_final(t) {
            return Some(ix);
        }
        if t != EventType::WorkflowTaskStarted {
            continue;
        }
        started.push((e.event_id, ix));
        if let Some(next) = events.get(ix + 1) {
            let nt = event_type(next);
            if matches!(
                nt,
                EventType::WorkflowTaskFailed
                    | EventType::WorkflowTaskTimedOut
                    | EventType::WorkflowExecutionTimedOut
                    | EventType::WorkflowExecutionTerminated
                    | EventType::WorkflowExecutionCanceled
            ) {
                started.pop();
                continue;
            }
            if nt == EventType::WorkflowTaskCompleted {
                if let Some(nn) = events.get(ix + 2) {
                    if !saw_command && event_type(nn) == EventType::WorkflowTaskScheduled {
                        continue; // a heartbeat: the sequence goes on
                    }
                    // An update accepted here was sequenced at an earlier task: the sequence
                    // ends at the last started task before its sequencing event.
                    if let Some(A::WorkflowExecutionUpdateAcceptedEventAttributes(a)) = nn.attributes.as_ref() {
                        if let Some((_, i)) = started.iter().rev().find(|(id, _)| *id < a.accepted_request_sequencing_event_id) {
                            return Some(*i);
                        }
                    }
                    return Some(ix);
                }
            }
        }
        if saw_command_or_started {
            return Some(ix);
        }
    }
    None
}

/// Split a (validated) history into workflow tasks, with core's sequence boundaries.
pub fn split(events: &[HistoryEvent]) -> Vec<WorkflowTask> {
    let mut tasks: Vec<WorkflowTask> = Vec::new();
    let mut from = 0i64;
    let mut next_first = 1i64;
    let n = events.len();
    while let Some(end) = next_sequence_end(events, from) {
        let end_event = &events[end];
        from = end_event.event_id;
        let mut task = WorkflowTask { first_event_id: next_first, ..Default::default() };
        let mut last = end;
        if event_type(end_event) == EventType::WorkflowTaskStarted {
            task.started_event_id = Some(end_event.event_id);
            if end + 1 < n && event_type(&events[end + 1]) == EventType::WorkflowTaskCompleted {
                task.completed_event_id = Some(events[end + 1].event_id);
                last = end + 1;
                while last + 1 < n && is_command_event(event_type(&events[last + 1])) {
                    last += 1;
                    task.commands.push(events[last].event_id);
                }
            }
        }
        if events[last].event_id < next_first {
            continue; // a final event already filed as the previous task's command
        }
        fill_sequence(&mut task, events, next_first, end_event.event_id);
        task.last_event_id = events[last].event_id;
        task.index = tasks.len();
        next_first = task.last_event_id + 1;
        tasks.push(task);
    }
    if next_first <= n as i64 {
        // The rest forms no complete sequence: a workflow still running, or a task that
        // was scheduled but never started. Core still replays a last started task.
        let mut task = WorkflowTask { first_event_id: next_first, last_event_id: n as i64, ..Default::default() };
        task.started_event_id = events[(next_first - 1) as usize..]
            .iter()
            .rev()
            .find(|e| event_type(e) == EventType::WorkflowTaskStarted)
            .map(|e| e.event_id);
        fill_sequence(&mut task, events, next_first, n as i64);
        task.index = tasks.len();
        tasks.push(task);
    }
    tasks
}

/// Delivered events, failed attempts and heartbeats of the sequence `first..=end`.
fn fill_sequence(task: &mut WorkflowTask, events: &[HistoryEvent], first: i64, end: i64) {
    for e in &events[(first - 1) as usize..end as usize] {
        let t = event_type(e);
        match t {
            EventType::WorkflowTaskFailed | EventType::WorkflowTaskTimedOut => task.failed_attempts += 1,
            EventType::WorkflowTaskCompleted => task.heartbeats += 1,
            _ if is_task_bookkeeping(t) || is_command_event(t) => {}
            _ => task.delivered.push(e.event_id),
        }
    }
}

/// The event an event belongs to, as the Temporal UI groups them: an activity's started and
/// completed events point at its scheduled event, a timer's fire at its start, a child's
/// events at its initiation, and so on. `None` for events that stand alone.
pub fn head_of(e: &HistoryEvent) -> Option<i64> {
    let id = match e.attributes.as_ref()? {
        A::WorkflowTaskStartedEventAttributes(a) => a.scheduled_event_id,
        A::WorkflowTaskCompletedEventAttributes(a) => a.scheduled_event_id,
        A::WorkflowTaskFailedEventAttributes(a) => a.scheduled_event_id,
        A::WorkflowTaskTimedOutEventAttributes(a) => a.scheduled_event_id,
        A::ActivityTaskStartedEventAttributes(a) => a.scheduled_event_id,
        A::ActivityTaskCompletedEventAttributes(a) => a.scheduled_event_id,
        A::ActivityTaskFailedEventAttributes(a) => a.scheduled_event_id,
        A::ActivityTaskTimedOutEventAttributes(a) => a.scheduled_event_id,
        A::ActivityTaskCancelRequestedEventAttributes(a) => a.scheduled_event_id,
        A::ActivityTaskCanceledEventAttributes(a) => a.scheduled_event_id,
        A::TimerFiredEventAttributes(a) => a.started_event_id,
        A::TimerCanceledEventAttributes(a) => a.started_event_id,
        A::StartChildWorkflowExecutionFailedEventAttributes(a) => a.initiated_event_id,
        A::ChildWorkflowExecutionStartedEventAttributes(a) => a.initiated_event_id,
        A::ChildWorkflowExecutionCompletedEventAttributes(a) => a.initiated_event_id,
        A::ChildWorkflowExecutionFailedEventAttributes(a) => a.initiated_event_id,
        A::ChildWorkflowExecutionCanceledEventAttributes(a) => a.initiated_event_id,
        A::ChildWorkflowExecutionTimedOutEventAttributes(a) => a.initiated_event_id,
        A::ChildWorkflowExecutionTerminatedEventAttributes(a) => a.initiated_event_id,
        A::SignalExternalWorkflowExecutionFailedEventAttributes(a) => a.initiated_event_id,
        A::ExternalWorkflowExecutionSignaledEventAttributes(a) => a.initiated_event_id,
        A::RequestCancelExternalWorkflowExecutionFailedEventAttributes(a) => a.initiated_event_id,
        A::ExternalWorkflowExecutionCancelRequestedEventAttributes(a) => a.initiated_event_id,
        A::NexusOperationStartedEventAttributes(a) => a.scheduled_event_id,
        A::NexusOperationCompletedEventAttributes(a) => a.scheduled_event_id,
        A::NexusOperationFailedEventAttributes(a) => a.scheduled_event_id,
        A::NexusOperationCanceledEventAttributes(a) => a.scheduled_event_id,
        A::NexusOperationTimedOutEventAttributes(a) => a.scheduled_event_id,
        A::NexusOperationCancelRequestedEventAttributes(a) => a.scheduled_event_id,
        A::WorkflowExecutionUpdateCompletedEventAttributes(a) => a.accepted_event_id,
        _ => return None,
    };
    (id > 0).then_some(id)
}

/// A history's tasks plus, for every event, its task and its group head/followers.
#[derive(Clone, Debug)]
pub struct Timeline {
    pub tasks: Vec<WorkflowTask>,
    /// `task_of[event_id - 1]` is the index of the task holding that event.
    pub task_of: Vec<usize>,
    /// `head[event_id - 1]`: the event this one follows, if any.
    pub head: Vec<Option<i64>>,
    /// `followers[event_id - 1]`: events that follow this one, in order.
    pub followers: Vec<Vec<i64>>,
}

impl Timeline {
    pub fn new(events: &[HistoryEvent]) -> Timeline {
        let tasks = split(events);
        let n = events.len();
        let mut task_of = vec![0; n];
        for t in &tasks {
            for id in t.first_event_id..=t.last_event_id {
                if let Some(slot) = task_of.get_mut((id - 1) as usize) {
                    *slot = t.index;
                }
            }
        }
        let mut head = vec![None; n];
        let mut followers = vec![Vec::new(); n];
        for e in events {
            if let Some(h) = head_of(e).filter(|h| *h >= 1 && *h < e.event_id) {
                head[(e.event_id - 1) as usize] = Some(h);
                followers[(h - 1) as usize].push(e.event_id);
            }
        }
        Timeline { tasks, task_of, head, followers }
    }

    /// The task whose activation reported this `history_length`.
    pub fn task_by_started(&self, started_event_id: i64) -> Option<&WorkflowTask> {
        self.tasks.iter().find(|t| t.started_event_id == Some(started_event_id))
    }

    pub fn task_of_event(&self, event_id: i64) -> Option<&WorkflowTask> {
        self.task_of.get((event_id - 1) as usize).and_then(|i| self.tasks.get(*i))
    }
}
