//! Fetching one run's full history, page by page.

use deja_proto::temporal::api::common::v1::WorkflowExecution;
use deja_proto::temporal::api::enums::v1::{
    EventType, HistoryEventFilterType, WorkflowExecutionStatus,
};
use deja_proto::temporal::api::history::v1::{History, history_event::Attributes};
use deja_proto::temporal::api::workflowservice::v1::{
    DescribeWorkflowExecutionRequest, GetWorkflowExecutionHistoryRequest,
};
use prost::Message;

use crate::client::Client;
use crate::error::{CallCtx, FetchError};

/// How many events to ask for per page. Servers cap this (256 by default — the
/// `frontend.historyMaxPageSize` dynamic config); asking for more lets servers
/// configured higher send fewer, larger pages.
const HISTORY_PAGE_SIZE: i32 = 1000;

/// One run's history as fetched, with what deja needs to file and replay it.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchedHistory {
    pub workflow_id: String,
    pub run_id: String,
    /// From the `WorkflowExecutionStarted` event.
    pub workflow_type: String,
    pub history: History,
    /// Derived from the last event: a close event gives the final status, anything else
    /// means the run was still open (`Running`) when fetched.
    pub status: WorkflowExecutionStatus,
    pub last_event_type: EventType,
}

impl FetchedHistory {
    /// Whether the run was still open when fetched, so the history is a prefix.
    pub fn is_running(&self) -> bool {
        self.status == WorkflowExecutionStatus::Running
    }

    pub fn event_count(&self) -> usize {
        self.history.events.len()
    }
}

/// The final status a close event stands for; `Running` for any other event.
pub fn status_after(last: EventType) -> WorkflowExecutionStatus {
    use EventType as E;
    use WorkflowExecutionStatus as S;
    match last {
        E::WorkflowExecutionCompleted => S::Completed,
        E::WorkflowExecutionFailed => S::Failed,
        E::WorkflowExecutionTimedOut => S::TimedOut,
        E::WorkflowExecutionCanceled => S::Canceled,
        E::WorkflowExecutionTerminated => S::Terminated,
        E::WorkflowExecutionContinuedAsNew => S::ContinuedAsNew,
        _ => S::Running,
    }
}

/// Fetches the whole history of a run — for a running workflow, as it stands now.
/// Without `run_id` the latest run of `workflow_id` is fetched (its run ID is looked up
/// first, so the result always names the run it belongs to).
pub async fn fetch_history(
    client: &Client,
    workflow_id: &str,
    run_id: Option<&str>,
) -> Result<FetchedHistory, FetchError> {
    let run_id = match run_id.filter(|r| !r.is_empty()) {
        Some(r) => r.to_string(),
        None => latest_run_id(client, workflow_id).await?,
    };
    let ns = client.namespace().to_string();
    let ctx = CallCtx {
        workflow: Some((workflow_id, Some(&run_id))),
        ..CallCtx::new("GetWorkflowExecutionHistory", client.config())
    };
    let mut history = History::default();
    let mut token = Vec::new();
    loop {
        let req = GetWorkflowExecutionHistoryRequest {
            namespace: ns.clone(),
            execution: Some(WorkflowExecution {
                workflow_id: workflow_id.into(),
                run_id: run_id.clone(),
            }),
            maximum_page_size: HISTORY_PAGE_SIZE,
            next_page_token: token,
            wait_new_event: false,
            history_event_filter_type: HistoryEventFilterType::AllEvent as i32,
            skip_archival: false,
        };
        let page = client
            .call(ctx, |mut c| {
                let req = req.clone();
                async move { c.get_workflow_execution_history(req).await }
            })
            .await?;
        if let Some(h) = page.history {
            history.events.extend(h.events);
        }
        // Servers configured to send raw history put the events in encoded blobs instead.
        for blob in page.raw_history {
            let h = History::decode(blob.data.as_slice()).map_err(|e| {
                FetchError::Internal(format!("cannot decode raw history of `{workflow_id}`: {e}"))
            })?;
            history.events.extend(h.events);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }

    let workflow_type = history
        .events
        .first()
        .and_then(|e| match &e.attributes {
            Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => {
                a.workflow_type.as_ref()
            }
            _ => None,
        })
        .map(|t| t.name.clone())
        .unwrap_or_default();
    let last_event_type = history
        .events
        .last()
        .and_then(|e| EventType::try_from(e.event_type).ok())
        .unwrap_or(EventType::Unspecified);
    Ok(FetchedHistory {
        workflow_id: workflow_id.into(),
        run_id,
        workflow_type,
        status: status_after(last_event_type),
        last_event_type,
        history,
    })
}

async fn latest_run_id(client: &Client, workflow_id: &str) -> Result<String, FetchError> {
    let ctx = CallCtx {
        workflow: Some((workflow_id, None)),
        ..CallCtx::new("DescribeWorkflowExecution", client.config())
    };
    let req = DescribeWorkflowExecutionRequest {
        namespace: client.namespace().into(),
        execution: Some(WorkflowExecution {
            workflow_id: workflow_id.into(),
            run_id: String::new(),
        }),
    };
    let resp = client
        .call(ctx, |mut c| {
            let req = req.clone();
            async move { c.describe_workflow_execution(req).await }
        })
        .await?;
    resp.workflow_execution_info
        .and_then(|i| i.execution)
        .map(|e| e.run_id)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| FetchError::WorkflowNotFound {
            workflow_id: workflow_id.into(),
            run_id: None,
            namespace: client.namespace().into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_events_map_to_statuses() {
        assert_eq!(
            status_after(EventType::WorkflowExecutionCompleted),
            WorkflowExecutionStatus::Completed
        );
        assert_eq!(
            status_after(EventType::WorkflowExecutionContinuedAsNew),
            WorkflowExecutionStatus::ContinuedAsNew
        );
        assert_eq!(
            status_after(EventType::WorkflowTaskStarted),
            WorkflowExecutionStatus::Running
        );
        assert_eq!(
            status_after(EventType::Unspecified),
            WorkflowExecutionStatus::Running
        );
    }
}
