//! Listing runs with a visibility query, optionally capped and sampled per type.

use std::collections::{HashMap, VecDeque};

use deja_proto::temporal::api::enums::v1::WorkflowExecutionStatus;
use deja_proto::temporal::api::workflow::v1::WorkflowExecutionInfo;
use deja_proto::temporal::api::workflowservice::v1::ListWorkflowExecutionsRequest;
use futures::Stream;

use crate::client::Client;
use crate::error::{CallCtx, FetchError};

/// Servers cap list pages at `frontend.visibilityMaxPageSize` (1000 by default).
const MAX_LIST_PAGE: usize = 1000;

/// One run as the visibility store lists it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExecutionSummary {
    pub workflow_id: String,
    pub run_id: String,
    pub workflow_type: String,
    pub status: WorkflowExecutionStatus,
    /// Event count per the visibility store (may lag for running workflows).
    pub history_length: i64,
}

impl ExecutionSummary {
    pub fn is_running(&self) -> bool {
        self.status == WorkflowExecutionStatus::Running
    }

    fn from_info(info: WorkflowExecutionInfo) -> Option<Self> {
        let exec = info.execution?;
        Some(ExecutionSummary {
            workflow_id: exec.workflow_id,
            run_id: exec.run_id,
            workflow_type: info.r#type.map(|t| t.name).unwrap_or_default(),
            status: WorkflowExecutionStatus::try_from(info.status)
                .unwrap_or(WorkflowExecutionStatus::Unspecified),
            history_length: info.history_length,
        })
    }
}

/// What to do with the next listed run.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Take,
    Skip,
    /// `limit` reached: stop listing.
    Stop,
}

/// Applies `limit` and `sample_per_type`. Sampling never stops the scan early (a rare
/// type may only show up on a late page); only the overall limit does.
#[derive(Debug, Default)]
pub struct Sampler {
    limit: Option<usize>,
    per_type: Option<usize>,
    taken: usize,
    by_type: HashMap<String, usize>,
}

impl Sampler {
    pub fn new(limit: Option<usize>, per_type: Option<usize>) -> Self {
        Sampler {
            limit,
            per_type,
            ..Sampler::default()
        }
    }

    pub fn offer(&mut self, workflow_type: &str) -> Decision {
        if self.limit.is_some_and(|l| self.taken >= l) {
            return Decision::Stop;
        }
        if let Some(k) = self.per_type {
            let n = self.by_type.entry(workflow_type.to_string()).or_default();
            if *n >= k {
                return Decision::Skip;
            }
            *n += 1;
        }
        self.taken += 1;
        Decision::Take
    }

    /// Whether nothing more can be taken.
    pub fn is_full(&self) -> bool {
        self.limit.is_some_and(|l| self.taken >= l)
    }
}

struct State {
    client: Client,
    query: String,
    page_size: i32,
    token: Vec<u8>,
    buffer: VecDeque<ExecutionSummary>,
    sampler: Sampler,
    exhausted: bool,
}

/// Streams runs matching `query` (a visibility query such as
/// `WorkflowType = 'Order' AND StartTime > '2025-01-01T00:00:00Z'`; empty = all),
/// newest first as the server orders them, paginating as the stream is consumed.
///
/// `limit` caps how many runs are yielded; `sample_per_type` keeps at most that many of
/// each workflow type. Pages are only fetched as the consumer asks, so a download that
/// stops early doesn't scan the whole namespace.
pub fn list_executions(
    client: &Client,
    query: &str,
    limit: Option<usize>,
    sample_per_type: Option<usize>,
) -> impl Stream<Item = Result<ExecutionSummary, FetchError>> + Send + 'static {
    let page_size = match (limit, sample_per_type) {
        (Some(l), None) => l.clamp(1, MAX_LIST_PAGE),
        _ => MAX_LIST_PAGE,
    } as i32;
    let state = State {
        client: client.clone(),
        query: query.trim().to_string(),
        page_size,
        token: Vec::new(),
        buffer: VecDeque::new(),
        sampler: Sampler::new(limit, sample_per_type),
        exhausted: false,
    };
    futures::stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        loop {
            if st.sampler.is_full() {
                return None;
            }
            if let Some(exec) = st.buffer.pop_front() {
                match st.sampler.offer(&exec.workflow_type) {
                    Decision::Take => return Some((Ok(exec), Some(st))),
                    Decision::Skip => continue,
                    Decision::Stop => return None,
                }
            }
            if st.exhausted {
                return None;
            }
            match next_page(&mut st).await {
                Ok(()) => {}
                Err(e) => return Some((Err(e), None)),
            }
        }
    })
}

async fn next_page(st: &mut State) -> Result<(), FetchError> {
    let req = ListWorkflowExecutionsRequest {
        namespace: st.client.namespace().into(),
        page_size: st.page_size,
        next_page_token: std::mem::take(&mut st.token),
        query: st.query.clone(),
    };
    let ctx = CallCtx {
        query: Some(&st.query),
        ..CallCtx::new("ListWorkflowExecutions", st.client.config())
    };
    let page = st
        .client
        .call(ctx, |mut c| {
            let req = req.clone();
            async move { c.list_workflow_executions(req).await }
        })
        .await?;
    st.buffer.extend(
        page.executions
            .into_iter()
            .filter_map(ExecutionSummary::from_info),
    );
    st.exhausted = page.next_page_token.is_empty();
    st.token = page.next_page_token;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &mut Sampler, types: &[&str]) -> Vec<Decision> {
        types.iter().map(|t| s.offer(t)).collect()
    }

    #[test]
    fn no_limits_takes_everything() {
        let mut s = Sampler::new(None, None);
        assert!(
            run(&mut s, &["a", "a", "b"])
                .iter()
                .all(|d| *d == Decision::Take)
        );
        assert!(!s.is_full());
    }

    #[test]
    fn limit_stops() {
        let mut s = Sampler::new(Some(2), None);
        assert_eq!(
            run(&mut s, &["a", "b", "c"]),
            vec![Decision::Take, Decision::Take, Decision::Stop]
        );
        assert!(s.is_full());
    }

    #[test]
    fn sample_skips_common_types_but_keeps_scanning_for_rare_ones() {
        let mut s = Sampler::new(None, Some(1));
        assert_eq!(
            run(&mut s, &["a", "a", "a", "a", "b"]),
            vec![
                Decision::Take,
                Decision::Skip,
                Decision::Skip,
                Decision::Skip,
                Decision::Take
            ]
        );
    }

    #[test]
    fn limit_and_sample_together() {
        let mut s = Sampler::new(Some(3), Some(2));
        assert_eq!(
            run(&mut s, &["a", "a", "a", "b", "c"]),
            vec![
                Decision::Take,
                Decision::Take,
                Decision::Skip,
                Decision::Take,
                Decision::Stop
            ]
        );
    }

    #[test]
    fn zero_limit_takes_nothing() {
        let mut s = Sampler::new(Some(0), None);
        assert!(s.is_full());
        assert_eq!(s.offer("a"), Decision::Stop);
    }
}
