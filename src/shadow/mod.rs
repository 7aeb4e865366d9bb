//! `deja shadow`: replay production continuously on the team's own Temporal cluster.
//!
//! Temporal is the scheduler. The shadow workflow and its activities are Python
//! (`python/deja_harness/shadow.py`), run by the SDK's own `Worker` inside deja's
//! interpreter; this module is the Rust half of the replay activity ([`analyse`]: history
//! bytes in, one compact [`HistoryResult`] out — the same load, replay, alignment, drift
//! and signature as `deja check`) and the shape of the aggregate the workflow keeps
//! ([`model`]), which `status`, `--wait` and the reporters read.
//!
//! Like `check`, nothing here renders: the command layer hands in the replay renderer.

pub mod model;

use deja_core::diff::drift::DriftPolicy;
use deja_core::history::tasks::Timeline;
use deja_core::history::{self, Source};
use deja_core::model::replay::ReplayReport;
use deja_core::model::result::{HistoryResult, kind};

use crate::check::worker::{self, Render};
use crate::replay::embed::Session;

/// What the replay activity needs besides the history.
pub struct Analysis {
    pub namespace: String,
    pub drift: DriftPolicy,
    pub render: Render,
    pub verbose: u8,
}

/// One fetched history (binary protobuf, as the server sent it) replayed against the
/// worker's code: the verdict, the failure signature, drift, and for a failure the
/// plain-text report (`deja replay`'s) as the group's example.
pub fn analyse(session: &Session, how: &Analysis, bytes: &[u8], workflow_id: &str, run_id: &str) -> HistoryResult {
    let path = format!("{}/{workflow_id}/{run_id}", how.namespace);
    let source = Source::Server(path.clone());
    let mut h = match history::load::load_bytes(bytes, source, Some(workflow_id)) {
        Ok(h) => h,
        Err(e) => return HistoryResult::error(&path, kind::LOAD, e.to_string(), "invalid history from the server".into()),
    };
    h.run_id = Some(run_id.to_string());
    match session.replay_explaining_failures(&h.encode(), &h.workflow_id) {
        Ok(outcome) => {
            let tl = Timeline::new(h.events());
            let mut report = ReplayReport::build(&h, &tl, &outcome);
            let signature = report.signature();
            let mut result = worker::result_of(&path, &mut report, signature, &how.drift);
            if !result.passed() {
                result.text = Some((how.render)(&report, how.verbose, false));
            }
            result
        }
        Err(e) => worker::harness_failed(&path, &h, &e),
    }
}
