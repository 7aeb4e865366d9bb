//! Histories in: load every format users have on disk into the prost `History`, check it
//! is a history the SDK can replay, and give it the workflow-task structure that replay,
//! diff and the debugger stand on.
//!
//! * [`load`] — JSON (proto3 and the legacy PascalCase dialect, bare or wrapped) and binary.
//! * [`legacy`] — the reflection walk that rewrites legacy enum names and names bad fields.
//! * [`tasks`] — the split into workflow tasks, the way the SDK core does it.
//! * [`describe`] — one-line, human descriptions of events and payloads.

pub mod describe;
pub mod legacy;
pub mod load;
pub mod tasks;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use deja_proto::temporal::api::enums::v1::EventType;
pub use deja_proto::temporal::api::history::v1::{History, HistoryEvent, history_event::Attributes};
pub use load::{LoadError, load_path};

/// Where a history came from. Shown in every message about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    /// Fetched from a server: `namespace/workflow_id/run_id`.
    Server(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Server(s) => write!(f, "server:{s}"),
        }
    }
}

/// Which piece of evidence gave the workflow id (it matters: `workflow.info().workflow_id`
/// during replay is whatever id the history is replayed under).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkflowIdSource {
    /// `WorkflowExecutionStarted.workflowId` (servers ≥ 1.21 record it).
    StartedEvent,
    /// The `workflowId` of a wrapper object around the events.
    Wrapper,
    /// `--workflow-id` given by the user.
    Flag,
    /// Nothing said; deja made one up from the file name.
    FileName,
}

/// The input format a history was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// proto3 JSON (`temporal workflow show -o json`, `WorkflowHistory.to_json()`).
    Json,
    /// JSON from old UI / tctl exports with PascalCase enum values.
    LegacyJson,
    /// Binary protobuf `temporal.api.history.v1.History`.
    Binary,
}

/// A validated history in memory.
#[derive(Clone, Debug)]
pub struct LoadedHistory {
    pub history: History,
    pub source: Source,
    pub format: Format,
    pub workflow_id: String,
    pub workflow_id_source: WorkflowIdSource,
    pub run_id: Option<String>,
}

impl LoadedHistory {
    pub fn events(&self) -> &[HistoryEvent] {
        &self.history.events
    }

    /// The workflow type from the first event (validation guarantees it is a start event).
    pub fn workflow_type(&self) -> &str {
        match self.history.events.first().and_then(|e| e.attributes.as_ref()) {
            Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => {
                a.workflow_type.as_ref().map(|t| t.name.as_str()).unwrap_or("")
            }
            _ => "",
        }
    }

    /// The task queue the first run was started on (from the start event; `""` if absent).
    pub fn task_queue(&self) -> &str {
        match self.history.events.first().and_then(|e| e.attributes.as_ref()) {
            Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => a.task_queue.as_ref().map(|q| q.name.as_str()).unwrap_or(""),
            _ => "",
        }
    }

    /// The event with this id (ids are 1..=n, checked at load).
    pub fn event(&self, id: i64) -> Option<&HistoryEvent> {
        usize::try_from(id - 1).ok().and_then(|i| self.history.events.get(i))
    }

    /// Binary protobuf, as the SDK wants it.
    pub fn encode(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(&self.history)
    }

    /// A copy cut after the workflow task that contains `event_id` (for `--until`).
    pub fn truncated_to_task_of(&self, event_id: i64) -> LoadedHistory {
        let tasks = tasks::split(&self.history.events);
        let end = tasks
            .iter()
            .find(|t| t.last_event_id >= event_id)
            .map(|t| t.last_event_id)
            .unwrap_or(self.history.events.len() as i64);
        let mut copy = self.clone();
        copy.history.events.truncate(end as usize);
        copy
    }
}

/// The `EventType` of an event, `Unspecified` for values this build does not know.
pub fn event_type(e: &HistoryEvent) -> EventType {
    EventType::try_from(e.event_type).unwrap_or(EventType::Unspecified)
}

/// `ActivityTaskScheduled` from `EVENT_TYPE_ACTIVITY_TASK_SCHEDULED`: the name people read.
pub fn event_type_name(t: EventType) -> String {
    let s = t.as_str_name().trim_start_matches("EVENT_TYPE_");
    s.split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_string() + &c.as_str().to_lowercase(),
                None => String::new(),
            }
        })
        .collect()
}
