//! Workflow tasks: the unit in which the SDK core feeds history to workflow code and in
//! which the code answers with commands.
//!
//! The split follows core's `find_end_index_of_next_wft_seq`: a sequence ends at a
//! `WorkflowTaskStarted` followed by `WorkflowTaskCompleted`; a started task that then
//! failed or timed out is absorbed into the next attempt; a completed task directly
//! followed by `WorkflowTaskScheduled` is a heartbeat (local activities keep the task
//! alive that way) and does not end the sequence. The `WorkflowTaskStarted` id that ends a
//! sequence is what core reports as the activation's `history_length`, which is how the
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

/// Split a (validated) history into workflow tasks.
pub fn split(events: &[HistoryEvent]) -> Vec<WorkflowTask> {
    let mut tasks = Vec::new();
    let mut cur = WorkflowTask { first_event_id: 1, ..Default::default() };
    let mut i = 0;
    while i < events.len() {
        let e = &events[i];
        let t = event_type(e);
        match t {
            EventType::WorkflowTaskScheduled => {}
            EventType::WorkflowTaskStarted => cur.started_event_id = Some(e.event_id),
            EventType::WorkflowTaskFailed | EventType::WorkflowTaskTimedOut => cur.failed_attempts += 1,
            EventType::WorkflowTaskCompleted => {
                cur.completed_event_id = Some(e.event_id);
                let next = events.get(i + 1).map(event_type);
                if next == Some(EventType::WorkflowTaskScheduled) {
                    cur.heartbeats += 1;
                } else {
                    let mut j = i + 1;
                    while j < events.len() && is_command_event(event_type(&events[j])) {
                        cur.commands.push(events[j].event_id);
                        j += 1;
                    }
                    cur.last_event_id = events[j - 1].event_id;
                    cur.index = tasks.len();
                    let next_first = cur.last_event_id + 1;
                    tasks.push(std::mem::replace(&mut cur, WorkflowTask { first_event_id: next_first, ..Default::default() }));
                    i = j;
                    continue;
                }
            }
            _ => cur.delivered.push(e.event_id),
        }
        i += 1;
    }
    if let Some(last) = events.last() {
        if cur.first_event_id <= last.event_id {
            cur.last_event_id = last.event_id;
            cur.index = tasks.len();
            // A trailing task whose attempt started but did not complete (a running workflow,
            // or a task failing at the end) is still replayed by core as the last activation.
            tasks.push(cur);
        }
    }
    tasks
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
