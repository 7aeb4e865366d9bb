//! Counting and grouping: 900 histories that fail the same way are ONE problem.
//!
//! Failures are grouped by [`HistoryResult::signature`] (workflow type, verdict, the
//! divergent event/command kinds and the user's source line — see
//! `ReplayReport::signature`). A group keeps its count, its first result in full (the
//! example diff) and a few more paths; nothing else per history is kept, so memory stays
//! flat however large the corpus.

use indexmap::IndexMap;

use super::result::{HistoryResult, kind};
use crate::exit;
use crate::trace::{SandboxUse, Verdict};

/// Other paths listed per group besides the example.
/// Distinct "not reusable" notes kept for the summary.
const SANDBOX_NOTES: usize = 10;
const MORE_PATHS: usize = 5;
/// Skipped (non-history) paths remembered for `-v`.
const SKIPPED_PATHS: usize = 50;

/// Histories that failed the same way.
#[derive(Clone, Debug)]
pub struct Group {
    pub signature: String,
    pub verdict: Verdict,
    pub count: usize,
    /// The first history of the group, with its rendered report.
    pub example: HistoryResult,
    /// Up to a few more paths.
    pub more: Vec<String>,
}

/// The state of a run: counts so far, failure groups, and at the end the exit code.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Histories planned (after `--partition`).
    pub total: usize,
    /// Files found before `--partition`.
    pub found: usize,
    pub jobs: usize,
    pub pass: usize,
    pub nondeterminism: usize,
    pub task_failure: usize,
    pub error: usize,
    /// Of `error`: files that could not be loaded.
    pub load_errors: usize,
    /// Files that turned out not to be histories (directory walks and globs only).
    pub skipped: usize,
    pub skipped_paths: Vec<String>,
    /// Histories never run (`--fail-fast` stopped the run).
    pub not_run: usize,
    pub stopped_early: bool,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
    pub sdk_version: Option<String>,
    /// The SDK the workers found and what deja did with it (JSON `sdk`).
    pub sdk: Option<crate::trace::SdkInfo>,
    /// Failure groups, in order of first appearance (see [`Summary::groups_by_size`]).
    pub groups: IndexMap<String, Group>,
    /// How many histories ran on a "fresh", "reused" or no ("none") sandbox.
    pub sandbox: std::collections::BTreeMap<SandboxUse, usize>,
    /// Modules re-imported for every history, and why (distinct, the first few).
    pub sandbox_notes: Vec<String>,
    /// Counts per named worker (`[tool.deja.workers.NAME]`), by name; empty
    /// in the single-worker form.
    pub workers: IndexMap<String, WorkerCounts>,
}

/// One named worker's share of the run.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkerCounts {
    pub histories: usize,
    pub pass: usize,
    pub nondeterminism: usize,
    pub workflow_task_failure: usize,
    pub error: usize,
}

impl Summary {
    pub fn new(total: usize, found: usize, jobs: usize) -> Summary {
        Summary { total, found, jobs, ..Summary::default() }
    }

    pub fn record(&mut self, r: &HistoryResult) {
        if let Some(w) = &r.worker {
            let c = self.workers.entry(w.clone()).or_default();
            c.histories += 1;
            match r.verdict {
                Verdict::Pass => c.pass += 1,
                Verdict::Nondeterminism => c.nondeterminism += 1,
                Verdict::WorkflowTaskFailure => c.workflow_task_failure += 1,
                Verdict::Error => c.error += 1,
            }
        }
        *self.sandbox.entry(r.sandbox).or_default() += 1;
        if let Some(note) = &r.sandbox_note {
            if self.sandbox_notes.len() < SANDBOX_NOTES && !self.sandbox_notes.contains(note) {
                self.sandbox_notes.push(note.clone());
            }
        }
        match r.verdict {
            Verdict::Pass => self.pass += 1,
            Verdict::Nondeterminism => self.nondeterminism += 1,
            Verdict::WorkflowTaskFailure => self.task_failure += 1,
            Verdict::Error => {
                self.error += 1;
                if r.error_kind.as_deref() == Some(kind::LOAD) {
                    self.load_errors += 1;
                }
            }
        }
        if r.passed() {
            return;
        }
        match self.groups.get_mut(&r.signature) {
            Some(g) => {
                g.count += 1;
                if g.more.len() < MORE_PATHS {
                    g.more.push(r.path.clone());
                }
            }
            None => {
                let g = Group { signature: r.signature.clone(), verdict: r.verdict, count: 1, example: r.clone(), more: Vec::new() };
                self.groups.insert(r.signature.clone(), g);
            }
        }
    }

    pub fn skip(&mut self, path: &str) {
        self.skipped += 1;
        if self.skipped_paths.len() < SKIPPED_PATHS {
            self.skipped_paths.push(path.to_string());
        }
    }

    /// Histories with a verdict (including `error` rows).
    pub fn done(&self) -> usize {
        self.pass + self.failed()
    }

    /// Histories that did not pass.
    pub fn failed(&self) -> usize {
        self.nondeterminism + self.task_failure + self.error
    }

    /// Largest group first; ties keep first-seen order.
    pub fn groups_by_size(&self) -> Vec<&Group> {
        let mut g: Vec<&Group> = self.groups.values().collect();
        g.sort_by_key(|g| std::cmp::Reverse(g.count));
        g
    }

    /// 0 all passed · 1 something did not · 2 nothing could be checked at all (every file
    /// was unloadable or not a history): an input problem, not a verdict on the code.
    pub fn exit_code(&self) -> u8 {
        let checked = self.done() - self.load_errors;
        if checked == 0 && self.total > 0 && !self.stopped_early {
            return exit::ERROR;
        }
        if self.failed() > 0 { exit::FAILURES } else { exit::OK }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(path: &str, verdict: Verdict, sig: &str) -> HistoryResult {
        let mut r = HistoryResult::error(path, "x", String::new(), sig.into());
        r.verdict = verdict;
        r.error_kind = None;
        r
    }

    #[test]
    fn groups_count_and_keep_one_example() {
        let mut s = Summary::new(5, 5, 2);
        s.record(&result("a", Verdict::Pass, ""));
        for p in ["b", "c", "d"] {
            s.record(&result(p, Verdict::Nondeterminism, "Order nondeterminism at wf.py:9"));
        }
        s.record(&result("e", Verdict::WorkflowTaskFailure, "Order workflow-task-failure at wf.py:3"));
        assert_eq!((s.pass, s.nondeterminism, s.task_failure, s.error), (1, 3, 1, 0));
        let g = s.groups_by_size();
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].count, g[0].example.path.as_str(), g[0].more.clone()), (3, "b", vec!["c".to_string(), "d".to_string()]));
        assert_eq!(s.exit_code(), exit::FAILURES);
    }

    #[test]
    fn named_workers_are_counted_apart() {
        let mut s = Summary::new(3, 3, 1);
        let mut a = result("a", Verdict::Pass, "");
        a.worker = Some("billing".into());
        let mut b = result("b", Verdict::Nondeterminism, "shipping: P nondeterminism");
        b.worker = Some("shipping".into());
        s.record(&a);
        s.record(&b);
        s.record(&result("c", Verdict::Pass, ""));
        assert_eq!(s.workers.keys().collect::<Vec<_>>(), ["billing", "shipping"]);
        assert_eq!((s.workers["billing"].histories, s.workers["billing"].pass), (1, 1));
        assert_eq!((s.workers["shipping"].histories, s.workers["shipping"].nondeterminism), (1, 1));
        assert_eq!(s.pass, 2);
    }

    #[test]
    fn exit_codes() {
        let mut s = Summary::new(1, 1, 1);
        s.record(&result("a", Verdict::Pass, ""));
        assert_eq!(s.exit_code(), exit::OK);

        let mut s = Summary::new(2, 2, 1);
        for p in ["a", "b"] {
            s.record(&HistoryResult::error(p, kind::LOAD, "bad".into(), "invalid history: truncated JSON".into()));
        }
        assert_eq!(s.exit_code(), exit::ERROR, "nothing loadable is an input error");

        s.record(&result("c", Verdict::Pass, ""));
        assert_eq!(s.exit_code(), exit::FAILURES, "one unloadable file among good ones is a failure");

        let s = Summary::new(0, 3, 1);
        assert_eq!(s.exit_code(), exit::OK, "an empty shard is fine");
    }
}
