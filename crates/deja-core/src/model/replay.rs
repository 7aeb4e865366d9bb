//! The finished result of replaying one history — what every reporter (text, JSON, JUnit,
//! TUI) reads. Built once from (history, trace); plain data.

use serde::Serialize;

use crate::diff::{Alignment, Row, align};
use crate::history::tasks::{Timeline, WorkflowTask};
use crate::history::{Format, LoadedHistory, WorkflowIdSource};
use crate::trace::{Frame, ReplayOutcome, SandboxUse, Verdict};

/// The history, in a sentence.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryInfo {
    pub source: String,
    pub format: Format,
    pub workflow_type: String,
    pub workflow_id: String,
    pub workflow_id_source: WorkflowIdSource,
    pub run_id: Option<String>,
    pub events: usize,
    pub tasks: usize,
    /// Set with `--until`: the history was cut after this event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_event_id: Option<i64>,
}

impl HistoryInfo {
    pub fn of(h: &LoadedHistory, tl: &Timeline) -> HistoryInfo {
        HistoryInfo {
            source: h.source.to_string(),
            format: h.format,
            workflow_type: h.workflow_type().to_string(),
            workflow_id: h.workflow_id.clone(),
            workflow_id_source: h.workflow_id_source,
            run_id: h.run_id.clone(),
            events: h.events().len(),
            tasks: tl.tasks.len(),
            until_event_id: None,
        }
    }
}

/// A source excerpt around a line.
#[derive(Clone, Debug, Serialize)]
pub struct SourceExcerpt {
    pub file: String,
    pub line: u32,
    /// `(line number, text)` pairs.
    pub lines: Vec<(u32, String)>,
}

impl SourceExcerpt {
    /// Read `context` lines either side of `frame`'s line; `None` if the file is unreadable.
    pub fn read(frame: &Frame, context: u32) -> Option<SourceExcerpt> {
        let text = std::fs::read_to_string(&frame.file).ok()?;
        let from = frame.line.saturating_sub(context).max(1);
        let to = frame.line + context;
        let lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i as u32 + 1, l.to_string()))
            .filter(|(n, _)| (from..=to).contains(n))
            .collect();
        Some(SourceExcerpt { file: frame.file.clone(), line: frame.line, lines })
    }
}

/// Where and why replay diverged.
#[derive(Clone, Debug, Serialize)]
pub struct Divergence {
    pub task: WorkflowTask,
    pub row: Row,
    /// The user line whose call issued the divergent command (or, when the code emitted
    /// nothing there, the last command it emitted in that task).
    pub site: Option<Frame>,
    pub source: Option<SourceExcerpt>,
}

/// One replayed history, finished.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayReport {
    pub schema: &'static str,
    pub history: HistoryInfo,
    pub verdict: Verdict,
    pub error_kind: Option<String>,
    pub message: String,
    /// User frames of a task failure or deadlock, innermost last.
    pub frames: Vec<Frame>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceExcerpt>,
    pub divergence: Option<Divergence>,
    /// Why it failed, named (see `crate::cause`); `None` on a pass.
    pub cause: Option<crate::cause::Cause>,
    /// What to change, as text and (where deja could write one) a unified diff.
    pub fix: Option<crate::cause::Fix>,
    pub alignment: Alignment,
    pub activations: usize,
    /// Every activation in order: what core delivered, what the code answered.
    pub trace: Vec<TraceStep>,
    pub seconds: f64,
    /// How the workflow was sandboxed: "fresh", "reused" or "none" (see ReplayOutcome).
    pub sandbox: SandboxUse,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox_note: Option<String>,
    /// Python warnings the replay raised (`file:line: Category: message`), e.g. the SDK's
    /// "asyncio.wait() is non-deterministic"; they never change the verdict.
    pub warnings: Vec<String>,
    /// What the workflow code printed during the replay ("" if nothing).
    pub output: String,
    /// What replay passes but production would feel (see `diff::drift`), minus the kinds
    /// the policy allows.
    pub drift: Vec<crate::diff::drift::DriftFinding>,
    /// Whether drift fails this history under the policy (`--strict`, `fail-on`).
    pub drift_failed: bool,
    #[serde(skip)]
    pub raw: String,
}

impl ReplayReport {
    pub fn build(h: &LoadedHistory, tl: &Timeline, outcome: &ReplayOutcome) -> ReplayReport {
        Self::build_with(h, tl, outcome, outcome.baseline.as_deref())
    }

    /// [`ReplayReport::build`], explaining the cause against the old code when a
    /// `--baseline` replay is given.
    pub fn build_with(h: &LoadedHistory, tl: &Timeline, outcome: &ReplayOutcome, baseline: Option<&crate::cause::Baseline>) -> ReplayReport {
        let alignment = align(h, tl, outcome);
        let drift = crate::diff::drift::find(h, tl, outcome, &alignment);
        let divergence = alignment.divergence().map(|row| {
            let task = tl.tasks[row.task].clone();
            let site = row
                .emitted
                .as_ref()
                .and_then(|e| e.site.clone())
                .or_else(|| alignment.rows_of_task(row.task).filter_map(|r| r.emitted.as_ref()).filter_map(|e| e.site.clone()).last());
            let source = site.as_ref().and_then(|s| SourceExcerpt::read(s, 3));
            Divergence { task, row: row.clone(), site, source }
        });
        let source = if divergence.is_none() { outcome.frames.last().and_then(|f| SourceExcerpt::read(f, 2)) } else { None };
        let inputs = crate::cause::Inputs {
            history: h,
            timeline: tl,
            outcome,
            alignment: &alignment,
            divergence: divergence.as_ref().map(|d: &Divergence| (&d.row, d.site.as_ref())),
        };
        let (cause, fix) = match crate::cause::explain(&inputs, baseline) {
            Some((c, f)) => (Some(c), f),
            None => (None, None),
        };
        ReplayReport {
            schema: "deja.replay/v1",
            history: HistoryInfo::of(h, tl),
            verdict: outcome.verdict,
            error_kind: outcome.error_kind.clone(),
            message: clean_message(&outcome.message),
            frames: outcome.frames.clone(),
            source,
            divergence,
            cause,
            fix,
            alignment,
            activations: outcome.steps.iter().filter(|s| !s.is_eviction()).count(),
            trace: outcome.steps.iter().map(TraceStep::of).collect(),
            seconds: outcome.seconds,
            sandbox: outcome.sandbox,
            sandbox_note: outcome.sandbox_note.clone(),
            warnings: outcome.warnings.clone(),
            output: outcome.output.clone(),
            drift,
            drift_failed: false,
            raw: outcome.raw.clone(),
        }
    }

    /// Apply a gate policy: drop allowed kinds, decide whether drift fails the history.
    pub fn apply_drift_policy(&mut self, policy: &crate::diff::drift::DriftPolicy) {
        self.drift.retain(|f| !policy.allows(f.kind));
        for f in &mut self.drift {
            f.fails = policy.fails(f);
        }
        self.drift_failed = self.drift.iter().any(|f| f.fails);
    }

    /// The history passes the gate: the SDK's verdict is pass and no drift fails it.
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass && !self.drift_failed
    }

    /// A short signature that groups failures with the same cause (for `check`).
    pub fn signature(&self) -> String {
        let mut sig = format!("{} {}", self.history.workflow_type, self.verdict.as_str());
        if let Some(d) = &self.divergence {
            let rec = d.row.recorded.as_ref().map(|r| r.item.event_type).unwrap_or("-");
            let emi = d.row.emitted.as_ref().map(|e| e.item.command).unwrap_or("-");
            sig.push_str(&format!(" history:{rec} code:{emi}"));
            if let Some(s) = &d.site {
                sig.push_str(&format!(" at {}:{}", crate::display_path(&s.file), s.line));
            }
        } else if let Some(f) = self.frames.last() {
            sig.push_str(&format!(" at {}:{}", crate::display_path(&f.file), f.line));
        } else if let Some(k) = &self.error_kind {
            sig.push_str(&format!(" {k}"));
        }
        if let Some(c) = &self.cause {
            sig.push_str(&format!(" · cause: {}", c.kind.as_str()));
            if let (Some(f), Some(l)) = (&c.file, c.line) {
                sig.push_str(&format!(" at {}:{l}", crate::display_path(f)));
            }
        }
        sig
    }
}

/// The sandbox's generic advice on a restricted call.
const PASS_THROUGH_ADVICE: &str = " If this is code from a module not used in a workflow or known to only be used deterministically from a workflow, mark the import as pass through.";

/// Core's message without the "Nondeterminism error:" preamble (the verdict says that),
/// and without core's Rust debug dump (`Failure { failure: Some(Failure { message: "…", … }) }`):
/// the `message: "…"` string inside it is the part a person reads (the dump stays in
/// `raw`, shown with `-v`).
pub fn clean_message(m: &str) -> String {
    // The sandbox's advice for a restricted call ("… mark the import as pass through") is
    // the wrong fix for datetime.now, random, uuid4 and the like: the cause block names
    // the workflow-safe replacement instead.
    let m = &m.replace(PASS_THROUGH_ADVICE, " (not a pass-through problem: see the cause below)");
    let undumped = super::core_message::rust_debug_message(m);
    let short = super::core_message::shorten_event_dumps(undumped.as_deref().unwrap_or(m));
    let m = short.trim();
    for p in ["Nondeterminism error: ", "Workflow activation completion failed: "] {
        if let Some(i) = m.find(p) {
            let code = m[..i].trim();
            let rest = &m[i + p.len()..];
            return if code.is_empty() { rest.to_string() } else { format!("{code} {rest}") };
        }
    }
    m.to_string()
}

/// One activation, summarised for reports (the full protos stay in the trace).
#[derive(Clone, Debug, Serialize)]
pub struct TraceStep {
    pub history_length: u32,
    pub is_replaying: bool,
    /// Job names, e.g. `InitializeWorkflow`, `ResolveActivity`, `SignalWorkflow`.
    pub jobs: Vec<String>,
    /// Command names the code emitted, e.g. `ScheduleActivity`; empty on failure.
    pub commands: Vec<String>,
    /// The failure message when the activation failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The workflow's state after the activation, when recorded (`--query`): the
    /// instance's fields, each query's `{"result": …}` or `{"error": …}`, pending stacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<crate::trace::StepState>,
}

impl TraceStep {
    pub fn of(step: &crate::trace::Step) -> TraceStep {
        use deja_proto::coresdk::workflow_completion::workflow_activation_completion::Status;
        let jobs = step.activation.jobs.iter().map(|j| job_name(j.variant.as_ref()).to_string()).collect();
        let (commands, failure) = match step.completion.status.as_ref() {
            Some(Status::Successful(s)) => (s.commands.iter().map(|c| command_name(c.variant.as_ref()).to_string()).collect(), None),
            Some(Status::Failed(f)) => (Vec::new(), Some(f.failure.as_ref().map(|f| f.message.clone()).unwrap_or_default())),
            None => (Vec::new(), None),
        };
        TraceStep {
            history_length: step.activation.history_length,
            is_replaying: step.activation.is_replaying,
            jobs,
            commands,
            failure,
            state: step.state.clone(),
        }
    }
}

/// `ResolveActivity` for a job variant.
pub fn job_name(v: Option<&deja_proto::coresdk::workflow_activation::workflow_activation_job::Variant>) -> &'static str {
    use deja_proto::coresdk::workflow_activation::workflow_activation_job::Variant as J;
    match v {
        None => "Unknown",
        Some(J::InitializeWorkflow(_)) => "InitializeWorkflow",
        Some(J::FireTimer(_)) => "FireTimer",
        Some(J::UpdateRandomSeed(_)) => "UpdateRandomSeed",
        Some(J::QueryWorkflow(_)) => "QueryWorkflow",
        Some(J::CancelWorkflow(_)) => "CancelWorkflow",
        Some(J::SignalWorkflow(_)) => "SignalWorkflow",
        Some(J::ResolveActivity(_)) => "ResolveActivity",
        Some(J::NotifyHasPatch(_)) => "NotifyHasPatch",
        Some(J::ResolveChildWorkflowExecutionStart(_)) => "ResolveChildWorkflowExecutionStart",
        Some(J::ResolveChildWorkflowExecution(_)) => "ResolveChildWorkflowExecution",
        Some(J::ResolveSignalExternalWorkflow(_)) => "ResolveSignalExternalWorkflow",
        Some(J::ResolveRequestCancelExternalWorkflow(_)) => "ResolveRequestCancelExternalWorkflow",
        Some(J::DoUpdate(_)) => "DoUpdate",
        Some(J::ResolveNexusOperationStart(_)) => "ResolveNexusOperationStart",
        Some(J::ResolveNexusOperation(_)) => "ResolveNexusOperation",
        Some(J::RemoveFromCache(_)) => "RemoveFromCache",
    }
}

/// `ScheduleActivity` for a command variant.
pub fn command_name(v: Option<&deja_proto::coresdk::workflow_commands::workflow_command::Variant>) -> &'static str {
    use deja_proto::coresdk::workflow_commands::workflow_command::Variant as C;
    match v {
        None => "Unknown",
        Some(C::StartTimer(_)) => "StartTimer",
        Some(C::ScheduleActivity(_)) => "ScheduleActivity",
        Some(C::RespondToQuery(_)) => "RespondToQuery",
        Some(C::RequestCancelActivity(_)) => "RequestCancelActivity",
        Some(C::CancelTimer(_)) => "CancelTimer",
        Some(C::CompleteWorkflowExecution(_)) => "CompleteWorkflowExecution",
        Some(C::FailWorkflowExecution(_)) => "FailWorkflowExecution",
        Some(C::ContinueAsNewWorkflowExecution(_)) => "ContinueAsNewWorkflowExecution",
        Some(C::CancelWorkflowExecution(_)) => "CancelWorkflowExecution",
        Some(C::SetPatchMarker(_)) => "SetPatchMarker",
        Some(C::StartChildWorkflowExecution(_)) => "StartChildWorkflowExecution",
        Some(C::CancelChildWorkflowExecution(_)) => "CancelChildWorkflowExecution",
        Some(C::RequestCancelExternalWorkflowExecution(_)) => "RequestCancelExternalWorkflowExecution",
        Some(C::SignalExternalWorkflowExecution(_)) => "SignalExternalWorkflowExecution",
        Some(C::CancelSignalWorkflow(_)) => "CancelSignalWorkflow",
        Some(C::ScheduleLocalActivity(_)) => "ScheduleLocalActivity",
        Some(C::RequestCancelLocalActivity(_)) => "RequestCancelLocalActivity",
        Some(C::UpsertWorkflowSearchAttributes(_)) => "UpsertWorkflowSearchAttributes",
        Some(C::ModifyWorkflowProperties(_)) => "ModifyWorkflowProperties",
        Some(C::UpdateResponse(_)) => "UpdateResponse",
        Some(C::ScheduleNexusOperation(_)) => "ScheduleNexusOperation",
        Some(C::RequestCancelNexusOperation(_)) => "RequestCancelNexusOperation",
    }
}
