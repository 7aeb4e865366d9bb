//! The replay side of the debugger: one replay's trace, indexed by workflow task.
//!
//! Built from the same [`ReplayReport`] `deja replay` prints (so the debugger never
//! re-derives the diff), plus the raw steps for what the report leaves out: the jobs each
//! activation delivered and the workflow state after it. Rebuilt on every `r`.

use std::collections::HashMap;

use deja_proto::coresdk::workflow_activation::workflow_activation_job::Variant as J;
use deja_proto::coresdk::workflow_activation::{WorkflowActivationJob, resolve_child_workflow_execution_start};
use deja_proto::coresdk::workflow_commands::workflow_command::Variant as C;
use deja_proto::coresdk::workflow_completion::workflow_activation_completion::Status;
use deja_proto::temporal::api::common::v1::Payload;

use super::model::HistoryModel;
use deja_core::history::describe::{duration_text, failure_text, payload_text};
use crate::report::vocab::payload_list_text;
use deja_core::trace::{ReplayOutcome, Step, StepState, Verdict};
use deja_core::model::replay::ReplayReport;

/// Why there is no trace: the code did not import, Python did not start…
#[derive(Clone, Debug, Default)]
pub struct ReplayFailure {
    /// One line, shown in the header.
    pub message: String,
    /// The Python traceback, shown in the step pane.
    pub detail: String,
}

/// What the lang side's sequence numbers point at, so a job like `ResolveActivity seq=3`
/// can say which activity it resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum SeqKind {
    Activity,
    LocalActivity,
    Timer,
    Child,
    Signal,
    CancelExternal,
    Nexus,
}

/// A replay, indexed for the views.
pub struct TraceModel {
    pub report: ReplayReport,
    pub steps: Vec<Step>,
    /// `steps_of_task[t]`: the non-eviction activations whose `history_length` is task
    /// `t`'s `WorkflowTaskStarted` id, in order.
    pub steps_of_task: Vec<Vec<usize>>,
    /// `rows_of_task[t]`: indices into `report.alignment.rows`.
    pub rows_of_task: Vec<Vec<usize>>,
    /// Recorded command event id → its alignment row.
    pub row_of_event: HashMap<i64, usize>,
    /// The event to jump to with `d`: the recorded side of the first divergence.
    pub divergence_event: Option<i64>,
    /// The task of the divergence, or of the activation that failed.
    pub problem_task: Option<usize>,
    seq_labels: HashMap<(SeqKind, u32), String>,
}

impl TraceModel {
    pub fn new(hist: &HistoryModel, outcome: ReplayOutcome) -> TraceModel {
        let tl = &hist.timeline;
        let report = ReplayReport::build(&hist.history, tl, &outcome);
        let by_started: HashMap<i64, usize> = tl.tasks.iter().filter_map(|t| t.started_event_id.map(|s| (s, t.index))).collect();
        let mut steps_of_task = vec![Vec::new(); tl.tasks.len()];
        let mut last_task = None;
        for (i, step) in outcome.steps.iter().enumerate() {
            if step.is_eviction() {
                continue;
            }
            let hl = i64::from(step.activation.history_length);
            let task = by_started.get(&hl).copied().or_else(|| tl.task_of_event(hl).map(|t| t.index));
            if let Some(t) = task {
                steps_of_task[t].push(i);
                last_task = Some(t);
            }
        }
        let mut rows_of_task = vec![Vec::new(); tl.tasks.len()];
        let mut row_of_event = HashMap::new();
        for (i, row) in report.alignment.rows.iter().enumerate() {
            if let Some(v) = rows_of_task.get_mut(row.task) {
                v.push(i);
            }
            if let Some(r) = &row.recorded {
                row_of_event.insert(r.event_id, i);
            }
        }
        let divergence_event = report.divergence.as_ref().map(|d| match &d.row.recorded {
            Some(r) => r.event_id,
            // The code emitted a command history has no event for: point at the task's
            // completion, where that command would have been recorded.
            None => d.task.completed_event_id.or(d.task.started_event_id).unwrap_or(d.task.last_event_id),
        });
        let problem_task = match (&report.divergence, outcome.verdict) {
            (Some(d), _) => Some(d.task.index),
            (None, Verdict::Pass) => None,
            (None, _) => last_task,
        };
        let seq_labels = seq_labels(&outcome.steps);
        TraceModel {
            report,
            steps: outcome.steps,
            steps_of_task,
            rows_of_task,
            row_of_event,
            divergence_event,
            problem_task,
            seq_labels,
        }
    }

    /// The state after the task's last activation (what the code looks like when it has
    /// answered this workflow task).
    pub fn state_after(&self, task: usize) -> Option<&StepState> {
        self.steps_of_task.get(task)?.iter().rev().find_map(|&i| self.steps[i].state.as_ref())
    }

    /// One line for an activation job: what was delivered to the code.
    pub fn job_line(&self, job: &WorkflowActivationJob) -> String {
        let label = |k: SeqKind, seq: u32| self.seq_labels.get(&(k, seq)).cloned().unwrap_or_else(|| format!("seq {seq}"));
        let Some(v) = job.variant.as_ref() else { return "(empty job)".into() };
        match v {
            J::InitializeWorkflow(w) => format!("InitializeWorkflow {}({})", w.workflow_type, payloads(&w.arguments)),
            J::FireTimer(t) => format!("FireTimer {}", label(SeqKind::Timer, t.seq)),
            J::UpdateRandomSeed(_) => "UpdateRandomSeed".into(),
            J::QueryWorkflow(q) => format!("QueryWorkflow {}", q.query_type),
            J::CancelWorkflow(c) => format!("CancelWorkflow {}", c.reason),
            J::SignalWorkflow(s) => format!("SignalWorkflow {}({})", s.signal_name, payloads(&s.input)),
            J::ResolveActivity(a) => {
                use deja_proto::coresdk::activity_result::activity_resolution::Status as R;
                let what = label(if a.is_local { SeqKind::LocalActivity } else { SeqKind::Activity }, a.seq);
                let outcome = match a.result.as_ref().and_then(|r| r.status.as_ref()) {
                    Some(R::Completed(s)) => format!("completed {}", opt_payload(s.result.as_ref())),
                    Some(R::Failed(f)) => format!("failed: {}", failure_text(f.failure.as_ref())),
                    Some(R::Cancelled(c)) => format!("cancelled: {}", failure_text(c.failure.as_ref())),
                    Some(R::Backoff(b)) => format!("backoff, attempt {} in {}", b.attempt, duration_text(b.backoff_duration.as_ref())),
                    None => String::new(),
                };
                format!("ResolveActivity {what}: {outcome}")
            }
            J::NotifyHasPatch(p) => format!("NotifyHasPatch {}", p.patch_id),
            J::ResolveChildWorkflowExecutionStart(c) => {
                use resolve_child_workflow_execution_start::Status as S;
                let outcome = match c.status.as_ref() {
                    Some(S::Succeeded(s)) => format!("started run {}", s.run_id),
                    Some(S::Failed(f)) => format!("failed to start ({})", f.cause),
                    Some(S::Cancelled(c)) => format!("cancelled: {}", failure_text(c.failure.as_ref())),
                    None => String::new(),
                };
                format!("ResolveChildWorkflowExecutionStart {}: {outcome}", label(SeqKind::Child, c.seq))
            }
            J::ResolveChildWorkflowExecution(c) => {
                use deja_proto::coresdk::child_workflow::child_workflow_result::Status as S;
                let outcome = match c.result.as_ref().and_then(|r| r.status.as_ref()) {
                    Some(S::Completed(s)) => format!("completed {}", opt_payload(s.result.as_ref())),
                    Some(S::Failed(f)) => format!("failed: {}", failure_text(f.failure.as_ref())),
                    Some(S::Cancelled(c)) => format!("cancelled: {}", failure_text(c.failure.as_ref())),
                    None => String::new(),
                };
                format!("ResolveChildWorkflowExecution {}: {outcome}", label(SeqKind::Child, c.seq))
            }
            J::ResolveSignalExternalWorkflow(s) => {
                let outcome = if s.failure.is_some() { format!("failed: {}", failure_text(s.failure.as_ref())) } else { "delivered".into() };
                format!("ResolveSignalExternalWorkflow {}: {outcome}", label(SeqKind::Signal, s.seq))
            }
            J::ResolveRequestCancelExternalWorkflow(c) => {
                let outcome = if c.failure.is_some() { format!("failed: {}", failure_text(c.failure.as_ref())) } else { "delivered".into() };
                format!("ResolveRequestCancelExternalWorkflow {}: {outcome}", label(SeqKind::CancelExternal, c.seq))
            }
            J::DoUpdate(u) => format!(
                "DoUpdate {}({}) id={}{}",
                u.name,
                payloads(&u.input),
                u.id,
                if u.run_validator { ", validate" } else { "" }
            ),
            J::ResolveNexusOperationStart(n) => format!("ResolveNexusOperationStart {}", label(SeqKind::Nexus, n.seq)),
            J::ResolveNexusOperation(n) => format!("ResolveNexusOperation {}", label(SeqKind::Nexus, n.seq)),
            J::RemoveFromCache(r) => format!("RemoveFromCache {}", r.message),
        }
    }

    /// The failure message when the code failed this activation instead of answering.
    pub fn step_failure(&self, step: usize) -> Option<String> {
        match self.steps.get(step)?.completion.status.as_ref()? {
            Status::Failed(f) => Some(failure_text(f.failure.as_ref())),
            Status::Successful(_) => None,
        }
    }

    /// How many commands an activation emitted.
    pub fn command_count(&self, step: usize) -> usize {
        match self.steps.get(step).and_then(|s| s.completion.status.as_ref()) {
            Some(Status::Successful(s)) => s.commands.len(),
            _ => 0,
        }
    }
}

fn payloads(p: &[Payload]) -> String {
    payload_list_text(p, 120)
}

fn opt_payload(p: Option<&Payload>) -> String {
    p.map(|p| payload_text(p, 120)).unwrap_or_default()
}

/// Labels for everything a command started, by the sequence number later jobs name.
fn seq_labels(steps: &[Step]) -> HashMap<(SeqKind, u32), String> {
    let mut out = HashMap::new();
    for step in steps {
        let Some(Status::Successful(s)) = step.completion.status.as_ref() else { continue };
        for cmd in &s.commands {
            let entry = match cmd.variant.as_ref() {
                Some(C::ScheduleActivity(a)) => ((SeqKind::Activity, a.seq), format!("activity {} #{}", a.activity_type, a.activity_id)),
                Some(C::ScheduleLocalActivity(a)) => {
                    ((SeqKind::LocalActivity, a.seq), format!("local activity {} #{}", a.activity_type, a.activity_id))
                }
                Some(C::StartTimer(t)) => ((SeqKind::Timer, t.seq), format!("timer {} ({})", t.seq, duration_text(t.start_to_fire_timeout.as_ref()))),
                Some(C::StartChildWorkflowExecution(c)) => ((SeqKind::Child, c.seq), format!("child {} id={}", c.workflow_type, c.workflow_id)),
                Some(C::SignalExternalWorkflowExecution(x)) => ((SeqKind::Signal, x.seq), format!("signal {}", x.signal_name)),
                Some(C::RequestCancelExternalWorkflowExecution(x)) => {
                    let id = x.workflow_execution.as_ref().map(|w| w.workflow_id.as_str()).unwrap_or("?");
                    ((SeqKind::CancelExternal, x.seq), format!("cancel of {id}"))
                }
                Some(C::ScheduleNexusOperation(n)) => ((SeqKind::Nexus, n.seq), format!("nexus {}/{}", n.service, n.operation)),
                _ => continue,
            };
            out.insert(entry.0, entry.1);
        }
    }
    out
}
