//! The shadow run's aggregate (`deja.shadow/v1`), as the workflow keeps it and the
//! `status` query / the run's result return it. Written by `python/deja_harness/shadow.py`
//! (`_new_state`, `merge`); read here for `status`, `--wait` and the reporters. Unknown
//! fields are ignored and missing ones default, so a worker of a newer deja still reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use deja_core::exit;

/// The options a run was started with (the workflow's input, carried across
/// continue-as-new).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Params {
    pub query: String,
    pub sample_rate: f64,
    pub concurrency: u32,
    pub batch_size: u32,
    pub page_size: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire_seconds: Option<f64>,
    pub continuous: bool,
    pub interval_seconds: f64,
    pub seed: String,
    pub heartbeat_seconds: f64,
    pub replay_timeout_seconds: f64,
    pub attempts: u32,
    pub continue_as_new_after: u64,
}

/// One failure signature: how many, the verdict, an example report, which runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Group {
    pub verdict: String,
    pub count: u64,
    pub message: String,
    pub example: Option<Example>,
    /// `[workflow_id, run_id, workflow_type]`: the first 200 of the group (2,000 in all).
    pub histories: Vec<(String, String, String)>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Example {
    pub workflow_id: String,
    pub run_id: String,
    pub workflow_type: String,
    /// `deja replay`'s report of this run, plain text (from the history: untrusted).
    pub text: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Calls {
    pub list: u64,
    pub fetch: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Aggregate {
    pub params: Params,
    /// `running`, `completed`, `expired`, `cancelled`, `failed`.
    pub state: String,
    pub error: Option<String>,
    pub started_at: f64,
    pub finished_at: Option<f64>,
    #[serde(rename = "pass")]
    pub pass_no: u64,
    pub passes_done: u64,
    /// `--continuous`: when the next pass starts (Unix seconds), while waiting for it.
    pub next_pass_at: Option<f64>,
    pub pages: u64,
    pub scanned: u64,
    pub sampled: u64,
    pub replayed: u64,
    pub in_flight: u64,
    pub queued: u64,
    /// Replayed runs by verdict word (`pass`, `nondeterminism`, `workflow-task-failure`,
    /// `error`) plus `unavailable`: a history the server no longer had.
    pub counts: BTreeMap<String, u64>,
    pub drift: u64,
    pub drift_failed: u64,
    pub unavailable: u64,
    pub seconds: f64,
    pub calls: Calls,
    pub groups: BTreeMap<String, Group>,
    pub groups_dropped: u64,
    /// Batches that completed on a later attempt (their worker was lost or stopped), and
    /// the runs those attempts took over from the last heartbeat instead of replaying again.
    pub retried_batches: u64,
    pub resumed_runs: u64,
    /// Workflow runs in the continue-as-new chain so far.
    pub runs: u64,
}

impl Aggregate {
    pub fn count(&self, verdict: &str) -> u64 {
        self.counts.get(verdict).copied().unwrap_or(0)
    }

    /// Runs that failed the gate: non-determinism, a task failure, a replay error, drift
    /// the policy fails. A history the server no longer had is not one of them.
    pub fn failed(&self) -> u64 {
        self.count("nondeterminism") + self.count("workflow-task-failure") + self.count("error") + self.drift_failed
    }

    pub fn is_closed(&self) -> bool {
        self.state != "running"
    }

    /// Largest group first; ties by signature.
    pub fn groups_by_size(&self) -> Vec<(&String, &Group)> {
        let mut g: Vec<_> = self.groups.iter().collect();
        g.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
        g
    }

    /// `deja check`'s contract: 1 when a run failed; 2 when the run itself failed (the
    /// server refused the query) or nothing could be replayed though runs were sampled;
    /// else 0.
    pub fn exit_code(&self) -> u8 {
        if self.state == "failed" {
            return exit::ERROR;
        }
        if self.failed() > 0 {
            return exit::FAILURES;
        }
        if self.sampled > 0 && self.replayed > 0 && self.replayed == self.unavailable {
            return exit::ERROR;
        }
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agg(json: &str) -> Aggregate {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn exit_codes_follow_the_check_contract() {
        assert_eq!(agg(r#"{"state":"completed","sampled":3,"replayed":3,"counts":{"pass":3}}"#).exit_code(), 0);
        assert_eq!(agg(r#"{"state":"completed","sampled":3,"replayed":3,"counts":{"pass":2,"nondeterminism":1}}"#).exit_code(), 1);
        assert_eq!(agg(r#"{"state":"completed","sampled":3,"replayed":3,"counts":{"pass":3},"drift_failed":1}"#).exit_code(), 1);
        assert_eq!(agg(r#"{"state":"failed","error":"bad query"}"#).exit_code(), 2);
        // A history that was gone is an error row, not a failed run…
        assert_eq!(agg(r#"{"state":"completed","sampled":2,"replayed":2,"counts":{"pass":1,"unavailable":1},"unavailable":1}"#).exit_code(), 0);
        // …unless nothing at all could be replayed.
        assert_eq!(agg(r#"{"state":"completed","sampled":2,"replayed":2,"counts":{"unavailable":2},"unavailable":2}"#).exit_code(), 2);
        assert_eq!(agg(r#"{"state":"completed","sampled":0,"replayed":0}"#).exit_code(), 0);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let a = agg(r#"{"state":"running","pass":2,"future_field":[1,2],"groups":{"s":{"count":2,"histories":[["w","r","T"]]}}}"#);
        assert_eq!(a.pass_no, 2);
        assert_eq!(a.groups["s"].histories[0].2, "T");
    }
}
