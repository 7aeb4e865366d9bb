//! Human descriptions of events, event groups and payloads — the words `show`, `replay`
//! and the debugger use, so a person recognises "activity charge_payment #3", not
//! "event 9 of type 10".

use base64::Engine;
use deja_proto::temporal::api::common::v1::{Payload, Payloads};
use deja_proto::temporal::api::failure::v1::Failure;
use deja_proto::temporal::api::history::v1::history_event::Attributes as A;

use super::{EventType, HistoryEvent, event_type, event_type_name};

/// A payload for display: JSON compact when it is JSON, otherwise size + encoding +
/// a base64 prefix. `max` bounds the length (0 = unbounded).
pub fn payload_text(p: &Payload, max: usize) -> String {
    let encoding = p.metadata.get("encoding").map(|e| String::from_utf8_lossy(e).into_owned()).unwrap_or_default();
    let text = match encoding.as_str() {
        "json/plain" => match serde_json::from_slice::<serde_json::Value>(&p.data) {
            Ok(v) => v.to_string(),
            Err(_) => String::from_utf8_lossy(&p.data).into_owned(),
        },
        "binary/null" => "null".to_string(),
        _ => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&p.data[..p.data.len().min(24)]);
            format!("<{} bytes {}: {}…>", p.data.len(), if encoding.is_empty() { "raw" } else { &encoding }, b64)
        }
    };
    truncate(&text, max)
}

/// Several payloads as `a, b, c`.
pub fn payloads_text(p: Option<&Payloads>, max: usize) -> String {
    p.map(|p| payload_list_text(&p.payloads, max)).unwrap_or_default()
}

/// A list of payloads (arguments, signal input) as `a, b, c`, cut at `max` characters.
pub fn payload_list_text(p: &[Payload], max: usize) -> String {
    let parts: Vec<String> = p.iter().map(|x| payload_text(x, 0)).collect();
    truncate(&parts.join(", "), max)
}

/// The decoded JSON of a payload, when it is JSON.
pub fn payload_json(p: &Payload) -> Option<serde_json::Value> {
    let enc = p.metadata.get("encoding")?;
    if enc.as_slice() != b"json/plain" {
        return None;
    }
    serde_json::from_slice(&p.data).ok()
}

pub fn truncate(s: &str, max: usize) -> String {
    if max == 0 || s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// The innermost useful message of a failure chain.
pub fn failure_text(f: Option<&Failure>) -> String {
    let Some(f) = f else { return String::new() };
    let mut msg = f.message.clone();
    let mut cause = f.cause.as_deref();
    while let Some(c) = cause {
        if !c.message.is_empty() {
            msg = format!("{msg}: {}", c.message);
        }
        cause = c.cause.as_deref();
    }
    msg
}

/// `30s`, `1m30s`, `250ms` from a protobuf duration.
pub fn duration_text(d: Option<&pbjson_types::Duration>) -> String {
    let Some(d) = d else { return "-".into() };
    let ms = d.seconds * 1000 + i64::from(d.nanos) / 1_000_000;
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let s = d.seconds;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

/// What a marker is: `patch <id>`, `local activity <type>`, or its name.
pub fn marker_text(name: &str, details: &std::collections::BTreeMap<String, Payloads>) -> String {
    let first = |key: &str| details.get(key).and_then(|p| p.payloads.first()).and_then(payload_json);
    match name {
        "core_patch" => {
            let data = first("patch-data");
            let id = data.as_ref().and_then(|d| d.get("id")).and_then(|v| v.as_str()).unwrap_or("?");
            let deprecated = data.as_ref().and_then(|d| d.get("deprecated")).and_then(|v| v.as_bool()) == Some(true);
            format!("patch {id}{}", if deprecated { " (deprecated)" } else { "" })
        }
        "core_local_activity" => {
            let data = first("data");
            let ty = data.as_ref().and_then(|d| d.get("activity_type")).and_then(|v| v.as_str()).unwrap_or("?");
            let id = data.as_ref().and_then(|d| d.get("activity_id")).and_then(|v| v.as_str()).unwrap_or("?");
            format!("local activity {ty} #{id}")
        }
        other => format!("marker {other}"),
    }
}

/// One line about a single event, without its type name (callers print that separately).
/// Payloads are shown up to `max_payload` characters; 0 hides them.
pub fn event_summary(e: &HistoryEvent, max_payload: usize) -> String {
    let pl = |p: Option<&Payloads>| {
        if max_payload == 0 {
            return String::new();
        }
        let t = payloads_text(p, max_payload);
        if t.is_empty() { String::new() } else { format!(" ({t})") }
    };
    let Some(attrs) = e.attributes.as_ref() else { return String::new() };
    match attrs {
        A::WorkflowExecutionStartedEventAttributes(a) => format!(
            "{} on {}{}",
            a.workflow_type.as_ref().map(|t| t.name.as_str()).unwrap_or("?"),
            a.task_queue.as_ref().map(|q| q.name.as_str()).unwrap_or("?"),
            pl(a.input.as_ref())
        ),
        A::WorkflowExecutionCompletedEventAttributes(a) => format!("result{}", pl(a.result.as_ref())),
        A::WorkflowExecutionFailedEventAttributes(a) => failure_text(a.failure.as_ref()),
        A::WorkflowExecutionContinuedAsNewEventAttributes(a) => format!(
            "as {}{}",
            a.workflow_type.as_ref().map(|t| t.name.as_str()).unwrap_or("?"),
            pl(a.input.as_ref())
        ),
        A::WorkflowExecutionTerminatedEventAttributes(a) => a.reason.clone(),
        A::WorkflowExecutionCanceledEventAttributes(_) => String::new(),
        A::WorkflowExecutionCancelRequestedEventAttributes(a) => a.cause.clone(),
        A::WorkflowTaskFailedEventAttributes(a) => format!(
            "{}: {}",
            deja_proto::temporal::api::enums::v1::WorkflowTaskFailedCause::try_from(a.cause)
                .map(|c| c.as_str_name().trim_start_matches("WORKFLOW_TASK_FAILED_CAUSE_").to_lowercase())
                .unwrap_or_default(),
            truncate(&failure_text(a.failure.as_ref()), 160)
        ),
        A::ActivityTaskScheduledEventAttributes(a) => format!(
            "{} #{}{}",
            a.activity_type.as_ref().map(|t| t.name.as_str()).unwrap_or("?"),
            a.activity_id,
            pl(a.input.as_ref())
        ),
        A::ActivityTaskStartedEventAttributes(a) => format!("attempt {}", a.attempt),
        A::ActivityTaskCompletedEventAttributes(a) => format!("result{}", pl(a.result.as_ref())),
        A::ActivityTaskFailedEventAttributes(a) => truncate(&failure_text(a.failure.as_ref()), 160),
        A::ActivityTaskTimedOutEventAttributes(a) => truncate(&failure_text(a.failure.as_ref()), 160),
        A::TimerStartedEventAttributes(a) => {
            format!("timer {} ({})", a.timer_id, duration_text(a.start_to_fire_timeout.as_ref()))
        }
        A::TimerFiredEventAttributes(a) => format!("timer {}", a.timer_id),
        A::TimerCanceledEventAttributes(a) => format!("timer {}", a.timer_id),
        A::MarkerRecordedEventAttributes(a) => marker_text(&a.marker_name, &a.details),
        A::WorkflowExecutionSignaledEventAttributes(a) => format!("{}{}", a.signal_name, pl(a.input.as_ref())),
        A::StartChildWorkflowExecutionInitiatedEventAttributes(a) => format!(
            "{} id={}{}",
            a.workflow_type.as_ref().map(|t| t.name.as_str()).unwrap_or("?"),
            a.workflow_id,
            pl(a.input.as_ref())
        ),
        A::ChildWorkflowExecutionCompletedEventAttributes(a) => format!("result{}", pl(a.result.as_ref())),
        A::ChildWorkflowExecutionFailedEventAttributes(a) => truncate(&failure_text(a.failure.as_ref()), 160),
        A::SignalExternalWorkflowExecutionInitiatedEventAttributes(a) => format!(
            "{} → {}",
            a.signal_name,
            a.workflow_execution.as_ref().map(|w| w.workflow_id.as_str()).unwrap_or("?")
        ),
        A::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(a) => {
            format!("→ {}", a.workflow_execution.as_ref().map(|w| w.workflow_id.as_str()).unwrap_or("?"))
        }
        A::UpsertWorkflowSearchAttributesEventAttributes(a) => {
            let keys: Vec<&str> = a
                .search_attributes
                .as_ref()
                .map(|s| s.indexed_fields.keys().map(String::as_str).collect())
                .unwrap_or_default();
            keys.join(", ")
        }
        A::WorkflowExecutionUpdateAcceptedEventAttributes(a) => {
            let req = a.accepted_request.as_ref();
            let name = req.and_then(|r| r.input.as_ref()).map(|i| i.name.as_str()).unwrap_or("?");
            let args = req.and_then(|r| r.input.as_ref()).and_then(|i| i.args.as_ref());
            format!("{name} id={}{}", a.protocol_instance_id, pl(args))
        }
        A::WorkflowExecutionUpdateRejectedEventAttributes(a) => {
            let name = a.rejected_request.as_ref().and_then(|r| r.input.as_ref()).map(|i| i.name.as_str()).unwrap_or("?");
            format!("{name}: {}", failure_text(a.failure.as_ref()))
        }
        A::WorkflowExecutionUpdateCompletedEventAttributes(a) => {
            let id = a.meta.as_ref().map(|m| m.update_id.as_str()).unwrap_or("?");
            format!("id={id}")
        }
        A::WorkflowExecutionUpdateAdmittedEventAttributes(a) => {
            let name = a.request.as_ref().and_then(|r| r.input.as_ref()).map(|i| i.name.as_str()).unwrap_or("?");
            name.to_string()
        }
        _ => String::new(),
    }
}

/// `ActivityTaskScheduled activity charge_payment #3 → completed (attempt 2)`: the one line
/// that stands for a head event and all its followers.
pub fn group_line(head: &HistoryEvent, followers: &[&HistoryEvent], max_payload: usize) -> String {
    let t = event_type(head);
    let what = match t {
        EventType::ActivityTaskScheduled => format!("activity {}", event_summary(head, max_payload)),
        EventType::TimerStarted => event_summary(head, max_payload),
        EventType::StartChildWorkflowExecutionInitiated => format!("child {}", event_summary(head, max_payload)),
        EventType::WorkflowExecutionSignaled => format!("signal {}", event_summary(head, max_payload)),
        EventType::SignalExternalWorkflowExecutionInitiated => {
            format!("signal external {}", event_summary(head, max_payload))
        }
        EventType::WorkflowExecutionUpdateAccepted => format!("update {}", event_summary(head, max_payload)),
        EventType::WorkflowExecutionUpdateRejected => format!("update rejected {}", event_summary(head, max_payload)),
        EventType::WorkflowExecutionUpdateAdmitted => format!("update admitted {}", event_summary(head, max_payload)),
        EventType::MarkerRecorded => event_summary(head, max_payload),
        _ => {
            let s = event_summary(head, max_payload);
            if s.is_empty() { event_type_name(t) } else { format!("{} {s}", event_type_name(t)) }
        }
    };
    match followers.last() {
        None => what,
        Some(last) => {
            let outcome = outcome_word(event_type(last));
            let extra = match (event_type(last), last.attributes.as_ref()) {
                (EventType::ActivityTaskCompleted | EventType::ChildWorkflowExecutionCompleted, _) => {
                    event_summary(last, max_payload).trim_start_matches("result").to_string()
                }
                (EventType::ActivityTaskFailed | EventType::ChildWorkflowExecutionFailed | EventType::ActivityTaskTimedOut, _) => {
                    format!(": {}", truncate(&event_summary(last, 0), 80))
                }
                _ => String::new(),
            };
            let attempt = followers.iter().find_map(|f| match f.attributes.as_ref() {
                Some(A::ActivityTaskStartedEventAttributes(a)) if a.attempt > 1 => Some(a.attempt),
                _ => None,
            });
            let attempt = attempt.map(|a| format!(" after {a} attempts")).unwrap_or_default();
            format!("{what} → {outcome}{attempt}{extra}")
        }
    }
}

fn outcome_word(t: EventType) -> String {
    use EventType::*;
    match t {
        ActivityTaskStarted | ChildWorkflowExecutionStarted | NexusOperationStarted => "started".into(),
        ActivityTaskCompleted | ChildWorkflowExecutionCompleted | NexusOperationCompleted => "completed".into(),
        WorkflowExecutionUpdateCompleted => "completed".into(),
        ActivityTaskFailed | ChildWorkflowExecutionFailed | NexusOperationFailed | StartChildWorkflowExecutionFailed => {
            "failed".into()
        }
        ActivityTaskTimedOut | ChildWorkflowExecutionTimedOut | NexusOperationTimedOut => "timed out".into(),
        ActivityTaskCancelRequested | NexusOperationCancelRequested => "cancel requested".into(),
        ActivityTaskCanceled | ChildWorkflowExecutionCanceled | NexusOperationCanceled => "canceled".into(),
        TimerFired => "fired".into(),
        TimerCanceled => "canceled".into(),
        ChildWorkflowExecutionTerminated => "terminated".into(),
        ExternalWorkflowExecutionSignaled => "delivered".into(),
        SignalExternalWorkflowExecutionFailed | RequestCancelExternalWorkflowExecutionFailed => "failed".into(),
        ExternalWorkflowExecutionCancelRequested => "cancel delivered".into(),
        other => event_type_name(other),
    }
}
