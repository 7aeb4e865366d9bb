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

/// Drift findings with the same cause (kind, field, source line) across histories.
#[derive(Clone, Debug)]
pub struct DriftGroup {
    pub signature: String,
    pub kind: crate::diff::drift::DriftKind,
    /// Findings in the group (one history can add several).
    pub count: usize,
    /// Histories with a finding in the group.
    pub histories: usize,
    /// The first finding, and the history it is in.
    pub example: crate::diff::drift::DriftFinding,
    pub example_path: String,
    /// Whether the group's findings fail their histories under the policy.
    pub fails: bool,
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
    /// Histories that passed the SDK's replay but have drift findings.
    pub drift_histories: usize,
    /// Drift findings in all.
    pub drift_findings: usize,
    /// Histories the SDK passed that the drift policy fails (counted in `failed()`).
    pub drift_failed: usize,
    /// Findings per kind.
    pub drift_kinds: std::collections::BTreeMap<crate::diff::drift::DriftKind, usize>,
    /// Drift grouped by signature, in order of first appearance.
    pub drift_groups: IndexMap<String, DriftGroup>,
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
        self.record_drift(r);
        match r.verdict {
            Verdict::Pass if r.drift_failed => self.drift_failed += 1,
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

    fn record_drift(&mut self, r: &HistoryResult) {
        if r.drift.is_empty() {
            return;
        }
        self.drift_histories += 1;
        self.drift_findings += r.drift.len();
        let wf = r.workflow_type.as_deref().unwrap_or("");
        let mut seen: Vec<String> = Vec::new();
        for f in &r.drift {
            *self.drift_kinds.entry(f.kind).or_default() += 1;
            let sig = f.signature(wf);
            let first_in_history = !seen.contains(&sig);
            match self.drift_groups.get_mut(&sig) {
                Some(g) => {
                    g.count += 1;
                    g.fails |= f.fails;
                    if first_in_history {
                        g.histories += 1;
                        if g.more.len() < MORE_PATHS {
                            g.more.push(r.path.clone());
                        }
                    }
                }
                None => {
                    let g = DriftGroup {
                        signature: sig.clone(),
                        kind: f.kind,
                        count: 1,
                        histories: 1,
                        example: f.clone(),
                        example_path: r.path.clone(),
                        fails: f.fails,
                        more: Vec::new(),
                    };
                    self.drift_groups.insert(sig.clone(), g);
                }
            }
            seen.push(sig);
        }
    }

    /// Drift groups, largest first.
    pub fn drift_groups_by_size(&self) -> Vec<&DriftGroup> {
        let mut g: Vec<&DriftGroup> = self.drift_groups.values().collect();
        g.sort_by_key(|g| std::cmp::Reverse(g.count));
        g
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
        self.nondeterminism + self.task_failure + self.error + self.drift_failed
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

    fn drifted(path: &str, kind: crate::diff::drift::DriftKind, fails: bool) -> HistoryResult {
        let mut r = result(path, Verdict::Pass, "");
        r.workflow_type = Some("Order".into());
        r.drift = vec![crate::diff::drift::DriftFinding {
            kind,
            event_id: Some(5),
            field: "input".into(),
            recorded: "1".into(),
            emitted: "2".into(),
            file: Some("wf.py".into()),
            line: Some(9),
            message: String::new(),
            task: Some(0),
            unverifiable: false,
            fails,
            traceback: None,
        }];
        r.drift_failed = fails;
        if fails {
            r.signature = r.drift[0].signature("Order");
        }
        r
    }

    #[test]
    fn drift_is_counted_grouped_and_fails_only_under_the_policy() {
        use crate::diff::drift::DriftKind;
        let mut s = Summary::new(3, 3, 1);
        s.record(&drifted("a", DriftKind::ActivityInput, false));
        s.record(&drifted("b", DriftKind::ActivityInput, false));
        s.record(&result("c", Verdict::Pass, ""));
        assert_eq!((s.pass, s.drift_histories, s.drift_findings, s.drift_failed), (3, 2, 2, 0));
        assert_eq!(s.drift_kinds.get(&DriftKind::ActivityInput), Some(&2));
        let g = s.drift_groups_by_size();
        assert_eq!((g.len(), g[0].count, g[0].histories, g[0].example_path.as_str()), (1, 2, 2, "a"));
        assert_eq!(g[0].signature, "Order drift activity-input input at wf.py:9");
        assert!(s.groups.is_empty(), "drift alone is not a failure");
        assert_eq!(s.exit_code(), exit::OK);

        s.record(&drifted("d", DriftKind::ActivityInput, true));
        assert_eq!((s.pass, s.drift_failed, s.failed()), (3, 1, 1));
        assert_eq!(s.groups.len(), 1, "a history failed by drift is grouped with the failures");
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
