//! One vocabulary for both sides of the diff.

use std::collections::HashMap;

use deja_proto::coresdk::workflow_commands::{
    WorkflowCommand, signal_external_workflow_execution::Target, update_response::Response, workflow_command::Variant as C,
};
use deja_proto::temporal::api::history::v1::history_event::Attributes as A;
use serde::Serialize;

use crate::history::describe::{duration_text, marker_text, payload_json, payload_list_text, payload_text};
use crate::history::{HistoryEvent, LoadedHistory};

/// What a command is, in the terms core matches commands to events by.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Activity,
    LocalActivity,
    CancelActivity,
    Timer,
    CancelTimer,
    Patch,
    ChildWorkflow,
    SignalExternal,
    CancelExternal,
    UpsertSearchAttributes,
    ModifyProperties,
    UpdateAccepted,
    UpdateCompleted,
    NexusOperation,
    CancelNexusOperation,
    CompleteWorkflow,
    FailWorkflow,
    CancelWorkflow,
    ContinueAsNew,
    Marker,
}

/// One side of a diff row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Item {
    pub kind: Kind,
    /// The identity core compares (activity type + id, timer id, patch id, child type + id…);
    /// empty where core compares only the kind.
    pub key: String,
    /// What a person reads: `activity charge_payment #3`.
    pub label: String,
    /// Inputs and other details core does not compare, decoded when JSON.
    pub detail: String,
    /// The event type this is (recorded) or would produce (emitted).
    pub event_type: &'static str,
    /// The lang command name (emitted side), e.g. `ScheduleActivity`.
    pub command: &'static str,
}

impl Item {
    /// Whether two items match as core would match them.
    pub fn matches(&self, other: &Item) -> bool {
        self.kind == other.kind && self.key == other.key
    }

    /// `ScheduleActivity charge_payment #3`: the command (or event) and its label.
    pub fn label_or_command(&self) -> String {
        let name = if self.command.is_empty() { self.event_type } else { self.command };
        if self.label.is_empty() { name.to_string() } else { format!("{name} {}", self.label) }
    }
}

fn payloads(p: &[deja_proto::temporal::api::common::v1::Payload]) -> String {
    payload_list_text(p, 160)
}

fn opt_payloads(p: Option<&deja_proto::temporal::api::common::v1::Payloads>) -> String {
    p.map(|p| payloads(&p.payloads)).unwrap_or_default()
}

/// Turns emitted commands into items, remembering what earlier commands scheduled (a
/// cancel names its target only by sequence number).
#[derive(Default)]
pub struct CommandReader {
    activity_by_seq: HashMap<u32, String>,
    child_by_seq: HashMap<u32, String>,
    accepted_updates: std::collections::HashSet<String>,
}

impl CommandReader {
    /// The item for a command, or `None` for commands that write no history event
    /// (query answers, cancels of local activities or unsent signals, rejected updates).
    pub fn read(&mut self, cmd: &WorkflowCommand) -> Option<Item> {
        let item = |kind, key: String, label: String, detail: String, event_type, command| {
            Some(Item { kind, key, label, detail, event_type, command })
        };
        match cmd.variant.as_ref()? {
            C::ScheduleActivity(a) => {
                self.activity_by_seq.insert(a.seq, a.activity_id.clone());
                item(
                    Kind::Activity,
                    format!("{} #{}", a.activity_type, a.activity_id),
                    format!("{} #{}", a.activity_type, a.activity_id),
                    payloads(&a.arguments),
                    "ActivityTaskScheduled",
                    "ScheduleActivity",
                )
            }
            C::ScheduleLocalActivity(a) => item(
                Kind::LocalActivity,
                format!("{} #{}", a.activity_type, a.activity_id),
                format!("local activity {} #{}", a.activity_type, a.activity_id),
                payloads(&a.arguments),
                "MarkerRecorded",
                "ScheduleLocalActivity",
            ),
            C::RequestCancelActivity(a) => {
                let id = self.activity_by_seq.get(&a.seq).cloned().unwrap_or_else(|| a.seq.to_string());
                item(Kind::CancelActivity, id.clone(), format!("#{id}"), String::new(), "ActivityTaskCancelRequested", "RequestCancelActivity")
            }
            C::StartTimer(t) => item(
                Kind::Timer,
                t.seq.to_string(),
                format!("{} ({})", t.seq, duration_text(t.start_to_fire_timeout.as_ref())),
                String::new(),
                "TimerStarted",
                "StartTimer",
            ),
            C::CancelTimer(t) => item(Kind::CancelTimer, t.seq.to_string(), t.seq.to_string(), String::new(), "TimerCanceled", "CancelTimer"),
            C::SetPatchMarker(p) => item(
                Kind::Patch,
                p.patch_id.clone(),
                format!("patch {}{}", p.patch_id, if p.deprecated { " (deprecated)" } else { "" }),
                String::new(),
                "MarkerRecorded",
                "SetPatchMarker",
            ),
            C::StartChildWorkflowExecution(c) => {
                self.child_by_seq.insert(c.seq, c.workflow_id.clone());
                item(
                    Kind::ChildWorkflow,
                    format!("{} {}", c.workflow_type, c.workflow_id),
                    format!("{} id={}", c.workflow_type, c.workflow_id),
                    payloads(&c.input),
                    "StartChildWorkflowExecutionInitiated",
                    "StartChildWorkflowExecution",
                )
            }
            C::CancelChildWorkflowExecution(c) => {
                let id = self.child_by_seq.get(&c.child_workflow_seq).cloned().unwrap_or_default();
                item(Kind::CancelExternal, id.clone(), format!("id={id}"), c.reason.clone(), "RequestCancelExternalWorkflowExecutionInitiated", "CancelChildWorkflowExecution")
            }
            C::RequestCancelExternalWorkflowExecution(c) => {
                let id = c.workflow_execution.as_ref().map(|w| w.workflow_id.clone()).unwrap_or_default();
                item(Kind::CancelExternal, id.clone(), format!("id={id}"), c.reason.clone(), "RequestCancelExternalWorkflowExecutionInitiated", "RequestCancelExternalWorkflowExecution")
            }
            C::SignalExternalWorkflowExecution(s) => {
                let target = match s.target.as_ref() {
                    Some(Target::WorkflowExecution(w)) => w.workflow_id.clone(),
                    Some(Target::ChildWorkflowId(id)) => id.clone(),
                    None => String::new(),
                };
                item(
                    Kind::SignalExternal,
                    String::new(),
                    format!("{} → {target}", s.signal_name),
                    payloads(&s.args),
                    "SignalExternalWorkflowExecutionInitiated",
                    "SignalExternalWorkflowExecution",
                )
            }
            C::UpsertWorkflowSearchAttributes(u) => {
                let keys: Vec<&str> =
                    u.search_attributes.as_ref().map(|s| s.indexed_fields.keys().map(String::as_str).collect()).unwrap_or_default();
                item(Kind::UpsertSearchAttributes, String::new(), keys.join(", "), String::new(), "UpsertWorkflowSearchAttributes", "UpsertWorkflowSearchAttributes")
            }
            C::ModifyWorkflowProperties(_) => item(Kind::ModifyProperties, String::new(), String::new(), String::new(), "WorkflowPropertiesModified", "ModifyWorkflowProperties"),
            C::UpdateResponse(u) => match u.response.as_ref()? {
                Response::Accepted(_) => {
                    self.accepted_updates.insert(u.protocol_instance_id.clone());
                    item(Kind::UpdateAccepted, u.protocol_instance_id.clone(), format!("accept {}", u.protocol_instance_id), String::new(), "WorkflowExecutionUpdateAccepted", "UpdateResponse")
                }
                Response::Completed(p) => item(Kind::UpdateCompleted, u.protocol_instance_id.clone(), format!("complete {}", u.protocol_instance_id), payload_text(p, 160), "WorkflowExecutionUpdateCompleted", "UpdateResponse"),
                // A rejection after acceptance (the handler failed) completes the update;
                // a rejection by the validator writes no event.
                Response::Rejected(f) if self.accepted_updates.contains(&u.protocol_instance_id) => item(
                    Kind::UpdateCompleted,
                    u.protocol_instance_id.clone(),
                    format!("complete {} (failed)", u.protocol_instance_id),
                    f.message.clone(),
                    "WorkflowExecutionUpdateCompleted",
                    "UpdateResponse",
                ),
                Response::Rejected(_) => None,
            },
            C::ScheduleNexusOperation(n) => item(
                Kind::NexusOperation,
                format!("{}/{}", n.service, n.operation),
                format!("{}/{} on {}", n.service, n.operation, n.endpoint),
                n.input.as_ref().map(|p| payload_text(p, 160)).unwrap_or_default(),
                "NexusOperationScheduled",
                "ScheduleNexusOperation",
            ),
            C::RequestCancelNexusOperation(n) => item(Kind::CancelNexusOperation, n.seq.to_string(), format!("#{}", n.seq), String::new(), "NexusOperationCancelRequested", "RequestCancelNexusOperation"),
            C::CompleteWorkflowExecution(c) => item(Kind::CompleteWorkflow, String::new(), String::new(), c.result.as_ref().map(|p| payload_text(p, 160)).unwrap_or_default(), "WorkflowExecutionCompleted", "CompleteWorkflowExecution"),
            C::FailWorkflowExecution(f) => item(Kind::FailWorkflow, String::new(), String::new(), f.failure.as_ref().map(|f| f.message.clone()).unwrap_or_default(), "WorkflowExecutionFailed", "FailWorkflowExecution"),
            C::CancelWorkflowExecution(_) => item(Kind::CancelWorkflow, String::new(), String::new(), String::new(), "WorkflowExecutionCanceled", "CancelWorkflowExecution"),
            C::ContinueAsNewWorkflowExecution(c) => item(Kind::ContinueAsNew, String::new(), c.workflow_type.clone(), payloads(&c.arguments), "WorkflowExecutionContinuedAsNew", "ContinueAsNewWorkflowExecution"),
            C::RespondToQuery(_) | C::CancelSignalWorkflow(_) | C::RequestCancelLocalActivity(_) => None,
        }
    }
}

/// A recorded command event as an item. `None` for events that are not command results.
pub fn recorded_item(h: &LoadedHistory, e: &HistoryEvent) -> Option<Item> {
    let item = |kind, key: String, label: String, detail: String, event_type| Some(Item { kind, key, label, detail, event_type, command: "" });
    match e.attributes.as_ref()? {
        A::ActivityTaskScheduledEventAttributes(a) => {
            let ty = a.activity_type.as_ref().map(|t| t.name.as_str()).unwrap_or("");
            item(Kind::Activity, format!("{ty} #{}", a.activity_id), format!("{ty} #{}", a.activity_id), opt_payloads(a.input.as_ref()), "ActivityTaskScheduled")
        }
        A::ActivityTaskCancelRequestedEventAttributes(a) => {
            let id = match h.event(a.scheduled_event_id).and_then(|s| s.attributes.as_ref()) {
                Some(A::ActivityTaskScheduledEventAttributes(s)) => s.activity_id.clone(),
                _ => a.scheduled_event_id.to_string(),
            };
            item(Kind::CancelActivity, id.clone(), format!("#{id}"), String::new(), "ActivityTaskCancelRequested")
        }
        A::TimerStartedEventAttributes(t) => item(
            Kind::Timer,
            t.timer_id.clone(),
            format!("{} ({})", t.timer_id, duration_text(t.start_to_fire_timeout.as_ref())),
            String::new(),
            "TimerStarted",
        ),
        A::TimerCanceledEventAttributes(t) => item(Kind::CancelTimer, t.timer_id.clone(), t.timer_id.clone(), String::new(), "TimerCanceled"),
        A::MarkerRecordedEventAttributes(m) => {
            let label = marker_text(&m.marker_name, &m.details);
            let first = |key: &str| m.details.get(key).and_then(|p| p.payloads.first()).and_then(payload_json);
            match m.marker_name.as_str() {
                "core_patch" => {
                    let id = first("patch-data").and_then(|d| d.get("id").and_then(|v| v.as_str()).map(str::to_owned)).unwrap_or_default();
                    item(Kind::Patch, id, label, String::new(), "MarkerRecorded")
                }
                "core_local_activity" => {
                    let d = first("data");
                    let get = |k: &str| d.as_ref().and_then(|d| d.get(k)).and_then(|v| v.as_str()).unwrap_or("").to_string();
                    let key = format!("{} #{}", get("activity_type"), get("activity_id"));
                    item(Kind::LocalActivity, key.clone(), format!("local activity {key}"), String::new(), "MarkerRecorded")
                }
                other => item(Kind::Marker, other.to_string(), label, String::new(), "MarkerRecorded"),
            }
        }
        A::StartChildWorkflowExecutionInitiatedEventAttributes(c) => {
            let ty = c.workflow_type.as_ref().map(|t| t.name.as_str()).unwrap_or("");
            item(Kind::ChildWorkflow, format!("{ty} {}", c.workflow_id), format!("{ty} id={}", c.workflow_id), opt_payloads(c.input.as_ref()), "StartChildWorkflowExecutionInitiated")
        }
        A::SignalExternalWorkflowExecutionInitiatedEventAttributes(s) => {
            let target = s.workflow_execution.as_ref().map(|w| w.workflow_id.as_str()).unwrap_or("");
            item(Kind::SignalExternal, String::new(), format!("{} → {target}", s.signal_name), opt_payloads(s.input.as_ref()), "SignalExternalWorkflowExecutionInitiated")
        }
        A::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(c) => {
            let id = c.workflow_execution.as_ref().map(|w| w.workflow_id.clone()).unwrap_or_default();
            item(Kind::CancelExternal, id.clone(), format!("id={id}"), c.reason.clone(), "RequestCancelExternalWorkflowExecutionInitiated")
        }
        A::UpsertWorkflowSearchAttributesEventAttributes(u) => {
            let keys: Vec<&str> = u.search_attributes.as_ref().map(|s| s.indexed_fields.keys().map(String::as_str).collect()).unwrap_or_default();
            item(Kind::UpsertSearchAttributes, String::new(), keys.join(", "), String::new(), "UpsertWorkflowSearchAttributes")
        }
        A::WorkflowPropertiesModifiedEventAttributes(_) => item(Kind::ModifyProperties, String::new(), String::new(), String::new(), "WorkflowPropertiesModified"),
        A::WorkflowExecutionUpdateAcceptedEventAttributes(u) => {
            let name = u.accepted_request.as_ref().and_then(|r| r.input.as_ref()).map(|i| i.name.as_str()).unwrap_or("");
            item(Kind::UpdateAccepted, u.protocol_instance_id.clone(), format!("accept {} ({name})", u.protocol_instance_id), String::new(), "WorkflowExecutionUpdateAccepted")
        }
        A::WorkflowExecutionUpdateCompletedEventAttributes(u) => {
            let id = u.meta.as_ref().map(|m| m.update_id.clone()).unwrap_or_default();
            item(Kind::UpdateCompleted, id.clone(), format!("complete {id}"), String::new(), "WorkflowExecutionUpdateCompleted")
        }
        A::NexusOperationScheduledEventAttributes(n) => item(
            Kind::NexusOperation,
            format!("{}/{}", n.service, n.operation),
            format!("{}/{} on {}", n.service, n.operation, n.endpoint),
            String::new(),
            "NexusOperationScheduled",
        ),
        A::NexusOperationCancelRequestedEventAttributes(n) => {
            item(Kind::CancelNexusOperation, n.scheduled_event_id.to_string(), String::new(), String::new(), "NexusOperationCancelRequested")
        }
        A::WorkflowExecutionCompletedEventAttributes(c) => item(Kind::CompleteWorkflow, String::new(), String::new(), opt_payloads(c.result.as_ref()), "WorkflowExecutionCompleted"),
        A::WorkflowExecutionFailedEventAttributes(f) => item(Kind::FailWorkflow, String::new(), String::new(), f.failure.as_ref().map(|f| f.message.clone()).unwrap_or_default(), "WorkflowExecutionFailed"),
        A::WorkflowExecutionCanceledEventAttributes(_) => item(Kind::CancelWorkflow, String::new(), String::new(), String::new(), "WorkflowExecutionCanceled"),
        A::WorkflowExecutionContinuedAsNewEventAttributes(c) => {
            let ty = c.workflow_type.as_ref().map(|t| t.name.as_str()).unwrap_or("");
            item(Kind::ContinueAsNew, String::new(), ty.to_string(), opt_payloads(c.input.as_ref()), "WorkflowExecutionContinuedAsNew")
        }
        _ => None,
    }
}

/// Whether a recorded upsert is the one core writes itself after a patch marker
/// (`TemporalChangeVersion`): no lang command corresponds to it.
pub fn is_core_patch_upsert(e: &HistoryEvent) -> bool {
    match e.attributes.as_ref() {
        Some(A::UpsertWorkflowSearchAttributesEventAttributes(u)) => u
            .search_attributes
            .as_ref()
            .is_some_and(|s| !s.indexed_fields.is_empty() && s.indexed_fields.keys().all(|k| k == "TemporalChangeVersion")),
        _ => false,
    }
}

/// Whether a recorded marker is a deprecated patch (code may drop it without a command).
pub fn is_deprecated_patch(e: &HistoryEvent) -> bool {
    match e.attributes.as_ref() {
        Some(A::MarkerRecordedEventAttributes(m)) if m.marker_name == "core_patch" => m
            .details
            .get("patch-data")
            .and_then(|p| p.payloads.first())
            .and_then(payload_json)
            .and_then(|d| d.get("deprecated").and_then(|v| v.as_bool()))
            == Some(true),
        _ => false,
    }
}
