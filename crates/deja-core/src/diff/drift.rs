//! Drift: what the SDK's replay passes but production would feel.
//!
//! Core matches a command to its event only by kind and a few ids (activity type/id,
//! child type/id, timer seq, patch id…). Everything else a deploy can change — an
//! activity's input, a timer's length, a retry policy, a signal's target, the workflow's
//! result — replays silently. This module compares, for every command/event pair the
//! alignment matched, every attribute the command sets with what the event recorded, and
//! reports each difference as a [`DriftFinding`].
//!
//! Values the server fills in when the command leaves them unset (default retry policy,
//! derived timeouts, the workflow's own task queue, task-queue kind, payload metadata and
//! encoding) are normalised, never reported: a history replayed with the code that wrote
//! it has no drift.
//!
//! Tail checks ([`DriftKind::Tail`]) cover the two failures the SDK's Replayer cannot see
//! because they sit in the last workflow task: new code failing the final task, and
//! commands emitted in the last *completed* task that history does not have (or the
//! reverse).
//!
//! Pure functions over (history, timeline, trace, alignment): no Python, no I/O.

use std::collections::BTreeMap;

use deja_proto::coresdk::workflow_commands::{
    WorkflowCommand, signal_external_workflow_execution::Target, workflow_command::Variant as C,
};
use deja_proto::coresdk::workflow_completion::workflow_activation_completion::Status;
use deja_proto::pbjson_types::Duration;
use deja_proto::temporal::api::common::v1::{Payload, RetryPolicy};
use deja_proto::temporal::api::failure::v1::{Failure, failure::FailureInfo};
use deja_proto::temporal::api::history::v1::history_event::Attributes as A;
use serde::{Deserialize, Serialize};

use super::align::{Alignment, RowStatus};
use super::items::Kind;
use crate::history::describe::{duration_text, payload_json, truncate};
use crate::history::tasks::Timeline;
use crate::history::{EventType, LoadedHistory, event_type};
use crate::trace::{Frame, ReplayOutcome, Verdict};

/// How much of a value a finding keeps (`recorded` / `emitted`).
const VALUE_MAX: usize = 400;

/// What drifted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftKind {
    ActivityInput,
    ActivityOptions,
    TimerDuration,
    ChildInput,
    ChildOptions,
    SignalExternal,
    CancelExternal,
    ContinueAsNew,
    SearchAttributes,
    Memo,
    Result,
    NexusInput,
    UpdateValidation,
    SdkWarning,
    Tail,
}

impl DriftKind {
    pub const ALL: [DriftKind; 15] = [
        DriftKind::ActivityInput,
        DriftKind::ActivityOptions,
        DriftKind::TimerDuration,
        DriftKind::ChildInput,
        DriftKind::ChildOptions,
        DriftKind::SignalExternal,
        DriftKind::CancelExternal,
        DriftKind::ContinueAsNew,
        DriftKind::SearchAttributes,
        DriftKind::Memo,
        DriftKind::Result,
        DriftKind::NexusInput,
        DriftKind::UpdateValidation,
        DriftKind::SdkWarning,
        DriftKind::Tail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::ActivityInput => "activity-input",
            DriftKind::ActivityOptions => "activity-options",
            DriftKind::TimerDuration => "timer-duration",
            DriftKind::ChildInput => "child-input",
            DriftKind::ChildOptions => "child-options",
            DriftKind::SignalExternal => "signal-external",
            DriftKind::CancelExternal => "cancel-external",
            DriftKind::ContinueAsNew => "continue-as-new",
            DriftKind::SearchAttributes => "search-attributes",
            DriftKind::Memo => "memo",
            DriftKind::Result => "result",
            DriftKind::NexusInput => "nexus-input",
            DriftKind::UpdateValidation => "update-validation",
            DriftKind::SdkWarning => "sdk-warning",
            DriftKind::Tail => "tail",
        }
    }

    pub fn parse(s: &str) -> Option<DriftKind> {
        DriftKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The words, for error messages.
    pub fn names() -> String {
        DriftKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// One sentence: what this drift means for workflows already running.
    fn meaning(self) -> &'static str {
        match self {
            DriftKind::ActivityInput => {
                "in-flight workflows keep the recorded result of the call with the old input; if same-type calls were reordered, each call now receives another call's result"
            }
            DriftKind::ActivityOptions => "in-flight workflows keep the recorded options until the activity is scheduled again; new runs use the new ones",
            DriftKind::TimerDuration => "in-flight workflows keep the recorded timer; new runs wait the new duration",
            DriftKind::ChildInput => "in-flight workflows already started the child with the recorded input; new runs send the new one",
            DriftKind::ChildOptions => "in-flight children keep the recorded options; new runs start children with the new ones",
            DriftKind::SignalExternal => "in-flight workflows already sent the recorded signal; new runs send a different one (name, target or input)",
            DriftKind::CancelExternal => "in-flight workflows already asked to cancel the recorded target; new runs cancel another",
            DriftKind::ContinueAsNew => "in-flight workflows continued as recorded; new runs continue with a different type, input or options",
            DriftKind::SearchAttributes => "in-flight workflows keep the recorded search attributes; visibility queries will see different values for new runs",
            DriftKind::Memo => "in-flight workflows keep the recorded memo; new runs write a different one",
            DriftKind::Result => "finished workflows keep the recorded result; the same inputs now end differently",
            DriftKind::NexusInput => "in-flight workflows already called the operation with the recorded input; new runs send the new one",
            DriftKind::UpdateValidation => "the new validator would reject an update history accepted: callers retrying it will now fail",
            DriftKind::SdkWarning => "the SDK warned during replay: the code relies on something it does not guarantee to be deterministic",
            DriftKind::Tail => "the SDK's replay cannot see this (it is in the last workflow task); in production the next workflow task fails",
        }
    }
}

impl std::fmt::Display for DriftKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One difference between what history recorded and what the code now does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftFinding {
    pub kind: DriftKind,
    /// The recorded event it concerns (`None` for warnings and code-only commands).
    pub event_id: Option<i64>,
    /// Which attribute: `input`, `start_to_close_timeout`, `retry_policy`, `signal_name`…
    pub field: String,
    /// The recorded value (payloads decoded, trimmed).
    pub recorded: String,
    /// What the code emitted now (payloads decoded, trimmed).
    pub emitted: String,
    /// The user source line that issued the command.
    pub file: Option<String>,
    pub line: Option<u32>,
    /// One sentence on what it means for in-flight workflows.
    pub message: String,
    /// The workflow task (0-based) it is in, for the debugger.
    #[serde(default)]
    pub task: Option<usize>,
    /// A tail finding deja could not verify without running something (a local activity
    /// the final task would execute): reported, never failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unverifiable: bool,
    /// This finding fails its history under the gate policy (`--strict`, `fail-on`).
    #[serde(default)]
    pub fails: bool,
    /// The Python traceback of a failing final task (tail findings only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
}

impl DriftFinding {
    /// `drift activity-input · event 5 · input: recorded ["o-1", 100] → now ["o-1", 110]` (raw:
    /// the caller escapes it for a terminal).
    pub fn one_line(&self) -> String {
        let mut s = format!("drift {}", self.kind);
        if let Some(id) = self.event_id {
            s.push_str(&format!(" · event {id}"));
        }
        s.push_str(&format!(" · {}: ", self.field));
        if self.recorded.is_empty() {
            s.push_str(&self.emitted);
        } else {
            s.push_str(&format!("recorded {} → now {}", self.recorded, self.emitted));
        }
        s
    }

    /// Groups findings with the same cause in `check` (`activity-input charge_amount at wf.py:40`).
    pub fn signature(&self, workflow_type: &str) -> String {
        let mut s = format!("{workflow_type} drift {} {}", self.kind, self.field);
        if let (Some(f), Some(l)) = (&self.file, self.line) {
            s.push_str(&format!(" at {}:{l}", crate::display_path(f)));
        }
        s
    }
}

/// Which drift kinds fail a history (`--strict`, `[tool.deja] strict / fail-on / allow`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftPolicy {
    /// Fail on any finding (tail findings included).
    pub strict: bool,
    /// Kinds that fail a history even without `strict`.
    pub fail_on: Vec<DriftKind>,
    /// Kinds never reported (and so never failing).
    pub allow: Vec<DriftKind>,
}

impl DriftPolicy {
    pub fn allows(&self, k: DriftKind) -> bool {
        self.allow.contains(&k)
    }

    /// Whether this finding fails its history under the policy.
    pub fn fails(&self, f: &DriftFinding) -> bool {
        !f.unverifiable && !self.allows(f.kind) && (self.strict || self.fail_on.contains(&f.kind))
    }

    /// Parse kind words (`fail-on` / `allow` lists), naming the bad one.
    pub fn parse_kinds(words: &[String]) -> Result<Vec<DriftKind>, String> {
        words
            .iter()
            .map(|w| DriftKind::parse(w).ok_or_else(|| format!("unknown drift kind {w:?} (known: {})", DriftKind::names())))
            .collect()
    }
}

/// Context every comparison needs: the workflow's own type and task queue.
struct Ctx<'a> {
    workflow_type: &'a str,
    task_queue: &'a str,
}

/// Differences of one pair, before they become findings.
#[derive(Default)]
struct Diffs {
    out: Vec<(DriftKind, String, String, String)>,
}

impl Diffs {
    fn push(&mut self, kind: DriftKind, field: &str, recorded: String, emitted: String) {
        self.out.push((kind, field.to_string(), truncate(&recorded, VALUE_MAX), truncate(&emitted, VALUE_MAX)));
    }

    fn text(&mut self, kind: DriftKind, field: &str, recorded: &str, emitted: &str) {
        if recorded != emitted {
            self.push(kind, field, recorded.to_string(), emitted.to_string());
        }
    }

    fn payloads(&mut self, kind: DriftKind, field: &str, recorded: &[Payload], emitted: &[Payload]) {
        if !payloads_equal(recorded, emitted) {
            self.push(kind, field, payloads_value(recorded), payloads_value(emitted));
        }
    }

    /// A timeout the command set (unset ones are the server's to derive).
    fn set_duration(&mut self, kind: DriftKind, field: &str, recorded: Option<&Duration>, emitted: Option<&Duration>) {
        let Some(e) = emitted.filter(|d| !is_zero(Some(d))) else { return };
        if !dur_eq(recorded, Some(e)) {
            self.push(kind, field, duration_text(recorded.filter(|d| !is_zero(Some(d)))), duration_text(Some(e)));
        }
    }

    fn map(&mut self, kind: DriftKind, field: &str, recorded: Option<&BTreeMap<String, Payload>>, emitted: Option<&BTreeMap<String, Payload>>) {
        let empty = BTreeMap::new();
        let (r, e) = (recorded.unwrap_or(&empty), emitted.unwrap_or(&empty));
        for key in r.keys().chain(e.keys().filter(|k| !r.contains_key(*k))) {
            let (rv, ev) = (r.get(key), e.get(key));
            let same = match (rv, ev) {
                (Some(a), Some(b)) => payload_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if !same {
                let show = |p: Option<&Payload>| p.map(payload_value).unwrap_or_else(|| "(unset)".to_string());
                self.push(kind, &format!("{field}.{key}"), show(rv), show(ev));
            }
        }
    }
}

fn is_zero(d: Option<&Duration>) -> bool {
    d.is_none_or(|d| d.seconds == 0 && d.nanos == 0)
}

fn dur_eq(a: Option<&Duration>, b: Option<&Duration>) -> bool {
    let n = |d: Option<&Duration>| d.map_or((0, 0), |d| (d.seconds, d.nanos));
    n(a) == n(b)
}

/// Two payloads carry the same value: same bytes, or the same decoded JSON (metadata and
/// encoding details the server or converter adds are not compared).
fn payload_eq(a: &Payload, b: &Payload) -> bool {
    if a.data == b.data {
        return true;
    }
    match (payload_json(a), payload_json(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

fn payloads_equal(a: &[Payload], b: &[Payload]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| payload_eq(x, y))
}

fn payload_value(p: &Payload) -> String {
    if let Some(v) = payload_json(p) {
        return v.to_string();
    }
    let enc = p.metadata.get("encoding").map(|e| String::from_utf8_lossy(e).into_owned()).unwrap_or_default();
    if enc == "binary/null" {
        return "null".to_string();
    }
    format!("<{} bytes {enc}>", p.data.len())
}

fn payloads_value(p: &[Payload]) -> String {
    match p {
        [] => "(none)".to_string(),
        [one] => payload_value(one),
        many => format!("[{}]", many.iter().map(payload_value).collect::<Vec<_>>().join(", ")),
    }
}

/// A retry policy with the server's defaults filled in (what the event records when the
/// command leaves a field, or the whole policy, unset).
fn retry_norm(p: Option<&RetryPolicy>) -> (i64, i32, u64, i64, i32, Vec<String>) {
    let ms = |d: Option<&Duration>| d.map_or(0, |d| d.seconds * 1000 + i64::from(d.nanos) / 1_000_000);
    let initial = p.map(|p| ms(p.initial_interval.as_ref())).filter(|v| *v > 0).unwrap_or(1000);
    let backoff = p.map(|p| p.backoff_coefficient).filter(|b| *b > 0.0).unwrap_or(2.0);
    let max = p.map(|p| ms(p.maximum_interval.as_ref())).filter(|v| *v > 0).unwrap_or(initial * 100);
    let attempts = p.map_or(0, |p| p.maximum_attempts);
    let mut non = p.map(|p| p.non_retryable_error_types.clone()).unwrap_or_default();
    non.sort();
    (initial, 0, backoff.to_bits(), max, attempts, non)
}

fn retry_text(p: Option<&RetryPolicy>) -> String {
    let (initial, _, backoff, max, attempts, non) = retry_norm(p);
    let mut s = format!("initial {}ms, backoff {}, max interval {}ms, max attempts {}", initial, f64::from_bits(backoff), max, attempts);
    if !non.is_empty() {
        s.push_str(&format!(", non-retryable {}", non.join("/")));
    }
    s
}

fn retry(d: &mut Diffs, kind: DriftKind, recorded: Option<&RetryPolicy>, emitted: Option<&RetryPolicy>) {
    if retry_norm(recorded) != retry_norm(emitted) {
        d.push(kind, "retry_policy", retry_text(recorded), retry_text(emitted));
    }
}

fn failure_type(f: &Failure) -> &str {
    match f.failure_info.as_ref() {
        Some(FailureInfo::ApplicationFailureInfo(a)) => a.r#type.as_str(),
        _ => "",
    }
}

/// `name` or the default (the workflow's own) when the command left it empty.
fn or_default<'a>(emitted: &'a str, default: &'a str) -> &'a str {
    if emitted.is_empty() { default } else { emitted }
}

/// The task queue a command sends to: unset means the workflow's own queue. During replay
/// the SDK fills in the Replayer's worker queue (`replay-<build id>`), which stands for the
/// same thing.
fn queue<'a>(emitted: &'a str, workflow_queue: &'a str) -> &'a str {
    if emitted.is_empty() || emitted.starts_with("replay-") { workflow_queue } else { emitted }
}

/// Compare one command with the event history recorded for it.
fn compare_pair(ctx: &Ctx, cmd: &WorkflowCommand, ev: &A, d: &mut Diffs) {
    use DriftKind as K;
    let Some(v) = cmd.variant.as_ref() else { return };
    match (v, ev) {
        (C::ScheduleActivity(c), A::ActivityTaskScheduledEventAttributes(e)) => {
            d.payloads(K::ActivityInput, "input", e.input.as_ref().map_or(&[], |p| &p.payloads[..]), &c.arguments);
            let tq = e.task_queue.as_ref().map_or("", |t| t.name.as_str());
            d.text(K::ActivityOptions, "task_queue", tq, queue(&c.task_queue, ctx.task_queue));
            d.set_duration(K::ActivityOptions, "schedule_to_close_timeout", e.schedule_to_close_timeout.as_ref(), c.schedule_to_close_timeout.as_ref());
            d.set_duration(K::ActivityOptions, "schedule_to_start_timeout", e.schedule_to_start_timeout.as_ref(), c.schedule_to_start_timeout.as_ref());
            d.set_duration(K::ActivityOptions, "start_to_close_timeout", e.start_to_close_timeout.as_ref(), c.start_to_close_timeout.as_ref());
            d.set_duration(K::ActivityOptions, "heartbeat_timeout", e.heartbeat_timeout.as_ref(), c.heartbeat_timeout.as_ref());
            retry(d, K::ActivityOptions, e.retry_policy.as_ref(), c.retry_policy.as_ref());
        }
        (C::StartTimer(c), A::TimerStartedEventAttributes(e)) if !dur_eq(e.start_to_fire_timeout.as_ref(), c.start_to_fire_timeout.as_ref()) => {
            d.push(K::TimerDuration, "start_to_fire_timeout", duration_text(e.start_to_fire_timeout.as_ref()), duration_text(c.start_to_fire_timeout.as_ref()));
        }
        (C::StartChildWorkflowExecution(c), A::StartChildWorkflowExecutionInitiatedEventAttributes(e)) => {
            d.payloads(K::ChildInput, "input", e.input.as_ref().map_or(&[], |p| &p.payloads[..]), &c.input);
            let tq = e.task_queue.as_ref().map_or("", |t| t.name.as_str());
            d.text(K::ChildOptions, "task_queue", tq, queue(&c.task_queue, ctx.task_queue));
            d.set_duration(K::ChildOptions, "workflow_execution_timeout", e.workflow_execution_timeout.as_ref(), c.workflow_execution_timeout.as_ref());
            d.set_duration(K::ChildOptions, "workflow_run_timeout", e.workflow_run_timeout.as_ref(), c.workflow_run_timeout.as_ref());
            d.set_duration(K::ChildOptions, "workflow_task_timeout", e.workflow_task_timeout.as_ref(), c.workflow_task_timeout.as_ref());
            // coresdk's ParentClosePolicy numbers its values like the API's.
            if c.parent_close_policy != 0 && e.parent_close_policy != 0 && c.parent_close_policy != e.parent_close_policy {
                d.push(K::ChildOptions, "parent_close_policy", policy_name(e.parent_close_policy), policy_name(c.parent_close_policy));
            }
            if c.workflow_id_reuse_policy != 0 && e.workflow_id_reuse_policy != 0 && c.workflow_id_reuse_policy != e.workflow_id_reuse_policy {
                d.push(K::ChildOptions, "workflow_id_reuse_policy", e.workflow_id_reuse_policy.to_string(), c.workflow_id_reuse_policy.to_string());
            }
            if c.retry_policy.is_some() || e.retry_policy.is_some() {
                if c.retry_policy.is_none() || e.retry_policy.is_none() {
                    let show = |p: Option<&RetryPolicy>| p.map_or_else(|| "(none)".to_string(), |p| retry_text(Some(p)));
                    d.push(K::ChildOptions, "retry_policy", show(e.retry_policy.as_ref()), show(c.retry_policy.as_ref()));
                } else {
                    retry(d, K::ChildOptions, e.retry_policy.as_ref(), c.retry_policy.as_ref());
                }
            }
            d.text(K::ChildOptions, "cron_schedule", &e.cron_schedule, &c.cron_schedule);
            d.map(K::ChildOptions, "memo", e.memo.as_ref().map(|m| &m.fields), Some(&c.memo));
            if let Some(sa) = c.search_attributes.as_ref().filter(|s| !s.indexed_fields.is_empty()) {
                d.map(K::ChildOptions, "search_attributes", e.search_attributes.as_ref().map(|s| &s.indexed_fields), Some(&sa.indexed_fields));
            }
        }
        (C::SignalExternalWorkflowExecution(c), A::SignalExternalWorkflowExecutionInitiatedEventAttributes(e)) => {
            d.text(K::SignalExternal, "signal_name", &e.signal_name, &c.signal_name);
            let target = match c.target.as_ref() {
                Some(Target::WorkflowExecution(w)) => w.workflow_id.as_str(),
                Some(Target::ChildWorkflowId(id)) => id.as_str(),
                None => "",
            };
            let recorded_target = e.workflow_execution.as_ref().map_or("", |w| w.workflow_id.as_str());
            d.text(K::SignalExternal, "workflow_id", recorded_target, target);
            if let Some(Target::WorkflowExecution(w)) = c.target.as_ref()
                && !w.run_id.is_empty()
            {
                d.text(K::SignalExternal, "run_id", e.workflow_execution.as_ref().map_or("", |w| w.run_id.as_str()), &w.run_id);
            }
            d.payloads(K::SignalExternal, "input", e.input.as_ref().map_or(&[], |p| &p.payloads[..]), &c.args);
        }
        (C::RequestCancelExternalWorkflowExecution(c), A::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(e)) => {
            let rec = e.workflow_execution.as_ref();
            let emi = c.workflow_execution.as_ref();
            d.text(K::CancelExternal, "workflow_id", rec.map_or("", |w| w.workflow_id.as_str()), emi.map_or("", |w| w.workflow_id.as_str()));
            if let Some(w) = emi.filter(|w| !w.run_id.is_empty()) {
                d.text(K::CancelExternal, "run_id", rec.map_or("", |w| w.run_id.as_str()), &w.run_id);
            }
            // An empty reason is filled in by the server ("Cancel requested by workflow…").
            if !c.reason.is_empty() {
                d.text(K::CancelExternal, "reason", &e.reason, &c.reason);
            }
        }
        (C::CancelChildWorkflowExecution(c), A::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(e)) if !c.reason.is_empty() => {
            d.text(K::CancelExternal, "reason", &e.reason, &c.reason);
        }
        (C::ContinueAsNewWorkflowExecution(c), A::WorkflowExecutionContinuedAsNewEventAttributes(e)) => {
            let ty = e.workflow_type.as_ref().map_or("", |t| t.name.as_str());
            d.text(K::ContinueAsNew, "workflow_type", ty, or_default(&c.workflow_type, ctx.workflow_type));
            let tq = e.task_queue.as_ref().map_or("", |t| t.name.as_str());
            d.text(K::ContinueAsNew, "task_queue", tq, queue(&c.task_queue, ctx.task_queue));
            d.payloads(K::ContinueAsNew, "input", e.input.as_ref().map_or(&[], |p| &p.payloads[..]), &c.arguments);
            d.set_duration(K::ContinueAsNew, "workflow_run_timeout", e.workflow_run_timeout.as_ref(), c.workflow_run_timeout.as_ref());
            d.set_duration(K::ContinueAsNew, "workflow_task_timeout", e.workflow_task_timeout.as_ref(), c.workflow_task_timeout.as_ref());
            d.set_duration(K::ContinueAsNew, "backoff_start_interval", e.backoff_start_interval.as_ref(), c.backoff_start_interval.as_ref());
            if !c.memo.is_empty() {
                d.map(K::ContinueAsNew, "memo", e.memo.as_ref().map(|m| &m.fields), Some(&c.memo));
            }
            if let Some(sa) = c.search_attributes.as_ref().filter(|s| !s.indexed_fields.is_empty()) {
                d.map(K::ContinueAsNew, "search_attributes", e.search_attributes.as_ref().map(|s| &s.indexed_fields), Some(&sa.indexed_fields));
            }
        }
        (C::UpsertWorkflowSearchAttributes(c), A::UpsertWorkflowSearchAttributesEventAttributes(e)) => {
            d.map(
                K::SearchAttributes,
                "search_attributes",
                e.search_attributes.as_ref().map(|s| &s.indexed_fields),
                c.search_attributes.as_ref().map(|s| &s.indexed_fields),
            );
        }
        (C::ModifyWorkflowProperties(c), A::WorkflowPropertiesModifiedEventAttributes(e)) => {
            d.map(K::Memo, "memo", e.upserted_memo.as_ref().map(|m| &m.fields), c.upserted_memo.as_ref().map(|m| &m.fields));
        }
        (C::CompleteWorkflowExecution(c), A::WorkflowExecutionCompletedEventAttributes(e)) => {
            let emitted: Vec<Payload> = c.result.iter().cloned().collect();
            d.payloads(K::Result, "result", e.result.as_ref().map_or(&[], |p| &p.payloads[..]), &emitted);
        }
        (C::FailWorkflowExecution(c), A::WorkflowExecutionFailedEventAttributes(e)) => {
            let (rf, ef) = (e.failure.as_ref(), c.failure.as_ref());
            d.text(K::Result, "failure.message", rf.map_or("", |f| f.message.as_str()), ef.map_or("", |f| f.message.as_str()));
            d.text(K::Result, "failure.type", rf.map_or("", failure_type), ef.map_or("", failure_type));
        }
        (C::CancelWorkflowExecution(c), A::WorkflowExecutionCanceledEventAttributes(e)) => {
            d.payloads(
                K::Result,
                "details",
                e.details.as_ref().map_or(&[], |p| &p.payloads[..]),
                c.details.as_ref().map_or(&[], |p| &p.payloads[..]),
            );
        }
        (C::ScheduleNexusOperation(c), A::NexusOperationScheduledEventAttributes(e)) => {
            let (r, em): (Vec<Payload>, Vec<Payload>) = (e.input.iter().cloned().collect(), c.input.iter().cloned().collect());
            d.payloads(K::NexusInput, "input", &r, &em);
            d.text(K::NexusInput, "endpoint", &e.endpoint, &c.endpoint);
            d.set_duration(K::NexusInput, "schedule_to_close_timeout", e.schedule_to_close_timeout.as_ref(), c.schedule_to_close_timeout.as_ref());
        }
        _ => {}
    }
}

fn policy_name(p: i32) -> String {
    match p {
        1 => "TERMINATE".into(),
        2 => "ABANDON".into(),
        3 => "REQUEST_CANCEL".into(),
        other => other.to_string(),
    }
}

/// Every drift finding of one replay (before any policy: `allow` filters later).
pub fn find(h: &LoadedHistory, tl: &Timeline, outcome: &ReplayOutcome, alignment: &Alignment) -> Vec<DriftFinding> {
    let mut out = Vec::new();
    let (workflow_type, task_queue) = match h.events().first().and_then(|e| e.attributes.as_ref()) {
        Some(A::WorkflowExecutionStartedEventAttributes(a)) => {
            (a.workflow_type.as_ref().map_or("", |t| t.name.as_str()), a.task_queue.as_ref().map_or("", |t| t.name.as_str()))
        }
        _ => ("", ""),
    };
    let ctx = Ctx { workflow_type, task_queue };
    let command_of = |step: usize, index: usize| -> Option<&WorkflowCommand> {
        match outcome.steps.get(step)?.completion.status.as_ref()? {
            Status::Successful(s) => s.commands.get(index),
            Status::Failed(_) => None,
        }
    };
    // Pairs: rows core accepted (matched, or paired with the same kind though deja's key
    // differs — core did not compare that key, e.g. a cancel's target).
    let passed = outcome.verdict == Verdict::Pass;
    for row in &alignment.rows {
        let (Some(r), Some(e)) = (&row.recorded, &row.emitted) else { continue };
        let comparable = row.status == RowStatus::Match || (passed && row.status == RowStatus::Differs && r.item.kind == e.item.kind);
        if !comparable {
            continue;
        }
        let (Some(cmd), Some(ev)) = (command_of(e.step, e.index), h.event(r.event_id).and_then(|ev| ev.attributes.as_ref())) else { continue };
        let mut d = Diffs::default();
        compare_pair(&ctx, cmd, ev, &mut d);
        for (kind, field, recorded, emitted) in d.out {
            out.push(DriftFinding {
                kind,
                event_id: Some(r.event_id),
                field,
                recorded,
                emitted,
                file: e.site.as_ref().map(|s| s.file.clone()),
                line: e.site.as_ref().map(|s| s.line),
                message: kind.meaning().to_string(),
                task: Some(r.task),
                unverifiable: false,
                fails: false,
                traceback: None,
            });
        }
    }
    if passed {
        tail(h, tl, outcome, alignment, &mut out);
    }
    for u in &outcome.update_rejections {
        // The event that accepted it.
        let accepted = h.events().iter().find(|e| match e.attributes.as_ref() {
            Some(A::WorkflowExecutionUpdateAcceptedEventAttributes(a)) => {
                a.accepted_request.as_ref().and_then(|r| r.meta.as_ref()).is_some_and(|m| m.update_id == u.update_id)
                    || a.protocol_instance_id == u.update_id
            }
            _ => false,
        });
        out.push(DriftFinding {
            kind: DriftKind::UpdateValidation,
            event_id: accepted.map(|e| e.event_id),
            field: format!("validator {}", u.name),
            recorded: format!("accepted update {}", u.update_id),
            emitted: truncate(&format!("rejected: {}", u.message), VALUE_MAX),
            file: u.file.clone(),
            line: u.line,
            message: DriftKind::UpdateValidation.meaning().to_string(),
            task: accepted.and_then(|e| tl.task_of_event(e.event_id)).map(|t| t.index),
            unverifiable: false,
            fails: false,
            traceback: None,
        });
    }
    for w in &outcome.warnings {
        let (file, line, text) = split_warning(w);
        out.push(DriftFinding {
            kind: DriftKind::SdkWarning,
            event_id: None,
            field: "warning".into(),
            recorded: String::new(),
            emitted: truncate(text, VALUE_MAX),
            file,
            line,
            message: DriftKind::SdkWarning.meaning().to_string(),
            task: None,
            unverifiable: false,
            fails: false,
            traceback: None,
        });
    }
    out
}

/// `file:line: Category: message` → (file, line, `Category: message`).
fn split_warning(w: &str) -> (Option<String>, Option<u32>, &str) {
    // The file may contain ':' itself: find the first ":<digits>: " from the left.
    let bytes = w.as_bytes();
    let mut i = 0;
    while let Some(off) = w[i..].find(':') {
        let c = i + off;
        let digits = bytes[c + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && w[c + 1 + digits..].starts_with(": ") {
            let line = w[c + 1..c + 1 + digits].parse().ok();
            return (Some(w[..c].to_string()), line, &w[c + 3 + digits..]);
        }
        i = c + 1;
    }
    (None, None, w)
}

/// The last user frame of a Python traceback (`File "…", line N`), skipping the SDK's.
fn traceback_site(tb: &str) -> Option<(String, u32)> {
    tb.lines()
        .rev()
        .filter_map(|l| {
            let l = l.trim_start();
            let rest = l.strip_prefix("File \"")?;
            let end = rest.find('"')?;
            let file = &rest[..end];
            let after = rest[end + 1..].strip_prefix(", line ")?;
            let n: u32 = after.chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().ok()?;
            Some((file.to_string(), n))
        })
        .find(|(f, _)| !f.contains("/temporalio/") && !f.contains("/deja_harness/") && !f.starts_with('<'))
}

/// What a failing final task means, by what history says happened to it.
fn f_message_for(recorded: &str) -> String {
    if recorded.starts_with("failed") {
        "history's last workflow task failed (the workflow is stuck) and the new code fails it too, for another reason; the SDK's replay passes a history whose last task fails, so this deploy will not unstick it".to_string()
    } else {
        "the new code fails the last workflow task, which history shows completed; the SDK's replay does not check the last task's outcome — in production the workflow's next task fails the same way".to_string()
    }
}

/// Tail checks: what sits in the last workflow task, where the Replayer stops comparing.
fn tail(h: &LoadedHistory, tl: &Timeline, outcome: &ReplayOutcome, alignment: &Alignment, out: &mut Vec<DriftFinding>) {
    let finding = |field: &str, event_id: Option<i64>, recorded: String, emitted: String, site: Option<(String, u32)>, task: Option<usize>| DriftFinding {
        kind: DriftKind::Tail,
        event_id,
        field: field.to_string(),
        recorded: truncate(&recorded, VALUE_MAX),
        emitted: truncate(&emitted, VALUE_MAX),
        file: site.as_ref().map(|s| s.0.clone()),
        line: site.as_ref().map(|s| s.1),
        message: DriftKind::Tail.meaning().to_string(),
        task,
        unverifiable: false,
        fails: false,
        traceback: None,
    };
    // (a) The final activation failed although the SDK says pass.
    if let Some((_, step)) = outcome.steps.iter().enumerate().rev().find(|(_, s)| !s.is_eviction())
        && let Some(Status::Failed(f)) = step.completion.status.as_ref()
    {
        let failure = f.failure.as_ref();
        let msg = failure.map_or("", |f| f.message.as_str());
        let hl = i64::from(step.activation.history_length);
        let task = tl.task_by_started(hl).or_else(|| tl.task_of_event(hl));
        // What history says happened to that task: its completion, or a recorded failure.
        let recorded = task.and_then(|t| {
            if let Some(c) = t.completed_event_id {
                return Some((c, "completed".to_string(), false));
            }
            h.events()[(t.first_event_id - 1) as usize..t.last_event_id as usize]
                .iter()
                .rev()
                .find(|e| event_type(e) == EventType::WorkflowTaskFailed)
                .map(|e| {
                    let m = match e.attributes.as_ref() {
                        Some(A::WorkflowTaskFailedEventAttributes(a)) => a.failure.as_ref().map_or("", |f| f.message.as_str()),
                        _ => "",
                    };
                    (e.event_id, format!("failed: {m}"), m == msg)
                })
        });
        // The code that wrote the history failed the same way: nothing new.
        let same_failure = recorded.as_ref().is_some_and(|r| r.2);
        if !same_failure {
            let (event_id, rec) = recorded.map_or((None, "not run yet".to_string()), |(id, text, _)| (Some(id), text));
            let tb = failure.map(|f| f.stack_trace.clone()).filter(|s| !s.is_empty());
            let site = tb.as_deref().and_then(traceback_site).or_else(|| outcome.frames.last().map(|fr: &Frame| (fr.file.clone(), fr.line)));
            let message = f_message_for(&rec);
            let mut f = finding("workflow-task", event_id, rec, format!("fails: {msg}"), site, task.map(|t| t.index));
            f.message = message;
            f.traceback = tb;
            out.push(f);
        }
    }
    // (b) Commands in a completed task that history does not have (or the reverse): core
    // stops matching at the history's end.
    for row in &alignment.rows {
        if !matches!(row.status, RowStatus::OnlyCode | RowStatus::OnlyHistory) {
            continue;
        }
        let Some(task) = tl.tasks.get(row.task) else { continue };
        if task.completed_event_id.is_none() {
            continue; // a task history has not completed: new commands there are simply new
        }
        match (&row.recorded, &row.emitted) {
            (None, Some(e)) => {
                let site = e.site.as_ref().map(|s| (s.file.clone(), s.line));
                let mut f = finding("command", None, "(none)".to_string(), e.item.label_or_command(), site, Some(row.task));
                if e.item.kind == Kind::LocalActivity {
                    f.unverifiable = true;
                    f.message = "a local activity history has no marker for: replay would have to execute it to go on, so what follows cannot be verified".to_string();
                } else {
                    f.message = format!(
                        "the code now emits this in workflow task {} but history completed that task without it; the SDK's replay stops comparing at the end of history — in production the next workflow task fails with non-determinism",
                        row.task + 1
                    );
                }
                out.push(f);
            }
            (Some(r), None) => {
                let mut f = finding("command", Some(r.event_id), r.item.label_or_command(), "(none)".to_string(), None, Some(row.task));
                f.message = format!(
                    "history recorded this in workflow task {} but the code no longer emits it; the SDK's replay stops comparing at the end of history — in production the next workflow task fails with non-determinism",
                    row.task + 1
                );
                out.push(f);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(v: &str) -> Payload {
        Payload { metadata: [("encoding".to_string(), b"json/plain".to_vec())].into_iter().collect(), data: v.as_bytes().to_vec(), external_payloads: vec![] }
    }

    #[test]
    fn payloads_compare_by_value_not_bytes() {
        assert!(payload_eq(&json(r#"{"a":1,"b":2}"#), &json(r#"{"b": 2, "a": 1}"#)));
        assert!(!payload_eq(&json(r#"{"a":1}"#), &json(r#"{"a":2}"#)));
        let mut with_type = json("5");
        with_type.metadata.insert("type".into(), b"Int".to_vec());
        assert!(payload_eq(&with_type, &json("5")), "metadata the server adds is not compared");
    }

    #[test]
    fn retry_policy_defaults_are_the_servers() {
        let unset = None;
        let server = RetryPolicy {
            initial_interval: Some(Duration { seconds: 1, nanos: 0 }),
            backoff_coefficient: 2.0,
            maximum_interval: Some(Duration { seconds: 100, nanos: 0 }),
            maximum_attempts: 0,
            non_retryable_error_types: vec![],
        };
        assert_eq!(retry_norm(unset), retry_norm(Some(&server)));
        let three = RetryPolicy { maximum_attempts: 3, ..RetryPolicy::default() };
        let three_filled = RetryPolicy { maximum_attempts: 3, ..server.clone() };
        assert_eq!(retry_norm(Some(&three)), retry_norm(Some(&three_filled)));
        assert_ne!(retry_norm(Some(&three)), retry_norm(Some(&server)));
    }

    #[test]
    fn warnings_split_at_the_line_number() {
        let (f, l, t) = split_warning("/a:b/wf.py:42: UserWarning: asyncio.wait() is non-deterministic");
        assert_eq!((f.as_deref(), l, t), (Some("/a:b/wf.py"), Some(42), "UserWarning: asyncio.wait() is non-deterministic"));
        assert_eq!(split_warning("no location"), (None, None, "no location"));
    }

    #[test]
    fn traceback_site_is_the_last_user_frame() {
        let tb = "Traceback (most recent call last):\n  File \"/x/site-packages/temporalio/worker/_workflow_instance.py\", line 10, in run\n  File \"/code/wf.py\", line 33, in run\n    raise ValueError()\n  File \"/x/site-packages/temporalio/workflow.py\", line 99, in f\n";
        assert_eq!(traceback_site(tb), Some(("/code/wf.py".to_string(), 33)));
    }

    #[test]
    fn policy() {
        let f = |kind| DriftFinding {
            kind,
            event_id: None,
            field: String::new(),
            recorded: String::new(),
            emitted: String::new(),
            file: None,
            line: None,
            message: String::new(),
            task: None,
            unverifiable: false,
            fails: false,
            traceback: None,
        };
        let default = DriftPolicy::default();
        assert!(!default.fails(&f(DriftKind::ActivityInput)));
        let strict = DriftPolicy { strict: true, ..Default::default() };
        assert!(strict.fails(&f(DriftKind::Tail)));
        let mut unverifiable = f(DriftKind::Tail);
        unverifiable.unverifiable = true;
        assert!(!strict.fails(&unverifiable));
        let some = DriftPolicy { fail_on: vec![DriftKind::SignalExternal], allow: vec![DriftKind::SdkWarning], strict: false };
        assert!(some.fails(&f(DriftKind::SignalExternal)) && !some.fails(&f(DriftKind::ActivityInput)));
        let allowed = DriftPolicy { strict: true, allow: vec![DriftKind::SdkWarning], ..Default::default() };
        assert!(!allowed.fails(&f(DriftKind::SdkWarning)));
        assert_eq!(DriftPolicy::parse_kinds(&["memo".into()]), Ok(vec![DriftKind::Memo]));
        assert!(DriftPolicy::parse_kinds(&["bogus".into()]).unwrap_err().contains("bogus"));
        for k in DriftKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), serde_json::Value::String(k.as_str().into()));
        }
    }
}
