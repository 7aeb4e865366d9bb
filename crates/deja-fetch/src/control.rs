//! Starting, querying and cancelling a workflow — what `deja shadow start/status/stop`
//! need from the server. Payloads are `json/plain`, the SDKs' default converter, so the
//! Python workflow reads its input and its query results come back as JSON.

use deja_proto::temporal::api::common::v1::{Payload, Payloads, WorkflowExecution, WorkflowType};
use deja_proto::temporal::api::enums::v1::{HistoryEventFilterType, TaskQueueKind, WorkflowExecutionStatus};
use deja_proto::temporal::api::history::v1::history_event::Attributes;
use deja_proto::temporal::api::query::v1::WorkflowQuery;
use deja_proto::temporal::api::taskqueue::v1::TaskQueue;
use deja_proto::temporal::api::workflowservice::v1::{
    DescribeWorkflowExecutionRequest, GetWorkflowExecutionHistoryRequest, QueryWorkflowRequest,
    RequestCancelWorkflowExecutionRequest, StartWorkflowExecutionRequest,
};

use crate::client::Client;
use crate::error::{CallCtx, FetchError};

fn identity() -> String {
    format!("deja/{}@{}", env!("CARGO_PKG_VERSION"), std::process::id())
}

fn json_payload(data: Vec<u8>) -> Payload {
    Payload { metadata: [("encoding".to_string(), b"json/plain".to_vec())].into_iter().collect(), data, ..Default::default() }
}

fn first_payload(p: Option<Payloads>) -> Option<Vec<u8>> {
    p.and_then(|p| p.payloads.into_iter().next()).map(|p| p.data)
}

/// Start `workflow_type` on `task_queue` with one JSON argument; returns the run id.
pub async fn start_workflow(client: &Client, workflow_id: &str, workflow_type: &str, task_queue: &str, input_json: Vec<u8>) -> Result<String, FetchError> {
    let req = StartWorkflowExecutionRequest {
        namespace: client.namespace().into(),
        workflow_id: workflow_id.into(),
        workflow_type: Some(WorkflowType { name: workflow_type.into() }),
        task_queue: Some(TaskQueue { name: task_queue.into(), kind: TaskQueueKind::Normal as i32, ..Default::default() }),
        input: Some(Payloads { payloads: vec![json_payload(input_json)] }),
        identity: identity(),
        request_id: format!("deja-{workflow_id}"),
        ..Default::default()
    };
    let ctx = CallCtx { workflow: Some((workflow_id, None)), ..CallCtx::new("StartWorkflowExecution", client.config()) };
    let resp = client.call(ctx, |mut c| {
        let req = req.clone();
        async move { c.start_workflow_execution(req).await }
    });
    Ok(resp.await?.run_id)
}

/// The latest run of `workflow_id` (continue-as-new followed): its status, run id and task queue.
pub async fn describe(client: &Client, workflow_id: &str) -> Result<(WorkflowExecutionStatus, String, String), FetchError> {
    let req = DescribeWorkflowExecutionRequest {
        namespace: client.namespace().into(),
        execution: Some(WorkflowExecution { workflow_id: workflow_id.into(), run_id: String::new() }),
    };
    let ctx = CallCtx { workflow: Some((workflow_id, None)), ..CallCtx::new("DescribeWorkflowExecution", client.config()) };
    let resp = client
        .call(ctx, |mut c| {
            let req = req.clone();
            async move { c.describe_workflow_execution(req).await }
        })
        .await?;
    let info = resp.workflow_execution_info.unwrap_or_default();
    let run_id = info.execution.map(|e| e.run_id).unwrap_or_default();
    let status = WorkflowExecutionStatus::try_from(info.status).unwrap_or(WorkflowExecutionStatus::Unspecified);
    Ok((status, run_id, info.task_queue))
}

/// Run query `name` (no arguments) on the latest run; its JSON result. One attempt of at
/// most `wait`: a query is answered by a worker, and when none is running the server holds
/// it until the deadline — retrying would only multiply the wait.
pub async fn query_json(client: &Client, workflow_id: &str, name: &str, wait: std::time::Duration) -> Result<Vec<u8>, FetchError> {
    let req = QueryWorkflowRequest {
        namespace: client.namespace().into(),
        execution: Some(WorkflowExecution { workflow_id: workflow_id.into(), run_id: String::new() }),
        query: Some(WorkflowQuery { query_type: name.into(), ..Default::default() }),
        ..Default::default()
    };
    let ctx = CallCtx { workflow: Some((workflow_id, None)), ..CallCtx::new("QueryWorkflow", client.config()) };
    let mut raw = client.raw();
    let resp = match tokio::time::timeout(wait, raw.query_workflow(req)).await {
        Err(_) => return Err(FetchError::Internal(format!("no worker answered the query within {} s", wait.as_secs()))),
        Ok(Err(status)) => return Err(crate::error::from_status(&status, &ctx)),
        Ok(Ok(r)) => r.into_inner(),
    };
    if let Some(rejected) = resp.query_rejected {
        return Err(FetchError::Internal(format!("the query was rejected (workflow status {})", rejected.status)));
    }
    first_payload(resp.query_result).ok_or_else(|| FetchError::Internal("the query returned no result".into()))
}

/// How many workers the server has seen polling `task_queue` for workflow tasks recently.
pub async fn workflow_pollers(client: &Client, task_queue: &str) -> Result<usize, FetchError> {
    use deja_proto::temporal::api::enums::v1::TaskQueueType;
    use deja_proto::temporal::api::workflowservice::v1::DescribeTaskQueueRequest;
    let req = DescribeTaskQueueRequest {
        namespace: client.namespace().into(),
        task_queue: Some(TaskQueue { name: task_queue.into(), kind: TaskQueueKind::Normal as i32, ..Default::default() }),
        task_queue_type: TaskQueueType::Workflow as i32,
        ..Default::default()
    };
    let resp = client
        .call(CallCtx::new("DescribeTaskQueue", client.config()), |mut c| {
            let req = req.clone();
            async move { c.describe_task_queue(req).await }
        })
        .await?;
    Ok(resp.pollers.len())
}

/// Ask the latest run to cancel (the workflow decides how to stop).
pub async fn request_cancel(client: &Client, workflow_id: &str, reason: &str) -> Result<(), FetchError> {
    let req = RequestCancelWorkflowExecutionRequest {
        namespace: client.namespace().into(),
        workflow_execution: Some(WorkflowExecution { workflow_id: workflow_id.into(), run_id: String::new() }),
        identity: identity(),
        request_id: format!("deja-cancel-{workflow_id}"),
        reason: reason.into(),
        ..Default::default()
    };
    let ctx = CallCtx { workflow: Some((workflow_id, None)), ..CallCtx::new("RequestCancelWorkflowExecution", client.config()) };
    client
        .call(ctx, |mut c| {
            let req = req.clone();
            async move { c.request_cancel_workflow_execution(req).await }
        })
        .await?;
    Ok(())
}

/// The JSON result of a completed run (its close event); `None` if it closed otherwise.
pub async fn completed_result(client: &Client, workflow_id: &str, run_id: &str) -> Result<Option<Vec<u8>>, FetchError> {
    let req = GetWorkflowExecutionHistoryRequest {
        namespace: client.namespace().into(),
        execution: Some(WorkflowExecution { workflow_id: workflow_id.into(), run_id: run_id.into() }),
        history_event_filter_type: HistoryEventFilterType::CloseEvent as i32,
        ..Default::default()
    };
    let ctx = CallCtx { workflow: Some((workflow_id, Some(run_id))), ..CallCtx::new("GetWorkflowExecutionHistory", client.config()) };
    let resp = client
        .call(ctx, |mut c| {
            let req = req.clone();
            async move { c.get_workflow_execution_history(req).await }
        })
        .await?;
    let last = resp.history.and_then(|h| h.events.into_iter().last());
    Ok(match last.and_then(|e| e.attributes) {
        Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => first_payload(a.result),
        _ => None,
    })
}

/// Ask for one page of `query`, so a query the server refuses fails with
/// [`FetchError::InvalidQuery`] before anything starts.
pub async fn check_query(client: &Client, query: &str) -> Result<(), FetchError> {
    use deja_proto::temporal::api::workflowservice::v1::ListWorkflowExecutionsRequest;
    let req = ListWorkflowExecutionsRequest { namespace: client.namespace().into(), page_size: 1, query: query.into(), ..Default::default() };
    let ctx = CallCtx { query: Some(query), ..CallCtx::new("ListWorkflowExecutions", client.config()) };
    client
        .call(ctx, |mut c| {
            let req = req.clone();
            async move { c.list_workflow_executions(req).await }
        })
        .await?;
    Ok(())
}
