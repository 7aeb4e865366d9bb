//! `--junit FILE`: a JUnit XML report of `deja check`, via quick-junit (as nextest does).
//!
//! One `<testsuite>` per workflow type (per named worker when `[tool.deja.workers]` are in
//! use; the classname is still the workflow type), one `<testcase>` per history (name: the history
//! path; classname: the workflow type). Non-determinism and workflow task failures are
//! `<failure>`s, everything else that is not a pass (unloadable file, crash, timeout,
//! unregistered type) is an `<error>`; the failure's `message` is the one-line cause and
//! its text is the same plain-text diff `deja replay` prints. CI readers (GitHub test
//! reporters, GitLab, Jenkins, Buildkite) then show the diff next to the failing history.
//!
//! Only per-history *rows* are kept until the end (quick-junit serialises a whole report);
//! a row for a passing history is a name and a time.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use indexmap::IndexMap;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use deja_core::model::events::{CheckEvent, Reporter};
use deja_core::model::result::HistoryResult;
use deja_core::trace::Verdict;
use super::check_text::contained_text;
use super::files::{Kind, ReportFile};

/// The suite for files that never loaded (no workflow type to file them under).
const UNLOADED_SUITE: &str = "unloadable histories";
/// Failures per signature that carry their full diff; later ones with the same signature
/// point at the first instead, so memory stays bounded when thousands fail the same way.
const FULL_TEXTS_PER_SIGNATURE: usize = 50;

/// Collects test cases as results arrive; writes the file when the run finishes.
pub struct JunitReporter {
    /// A temporary file beside `FILE`, created up front (so an unwritable path fails before
    /// any replay), renamed over `FILE` at the end, removed if the run never gets there.
    file: ReportFile,
    suites: IndexMap<String, TestSuite>,
    /// Per failure signature: how many seen, and the first path.
    seen: std::collections::HashMap<String, (usize, String)>,
}

impl JunitReporter {
    /// Checks now that the file can be written, so a bad path fails before any replay.
    pub fn create(path: &Path) -> Result<JunitReporter> {
        let file = ReportFile::create(Kind::Junit, path)?;
        Ok(JunitReporter { file, suites: IndexMap::new(), seen: Default::default() })
    }

    fn add(&mut self, r: &HistoryResult) {
        let suite_name = super::workers::junit_suite(r).or_else(|| r.workflow_type.clone()).unwrap_or_else(|| UNLOADED_SUITE.to_string());
        let mut case = test_case(r);
        if !r.passed() {
            let (n, first) = self.seen.entry(r.signature.clone()).or_insert_with(|| (0, r.path.clone()));
            *n += 1;
            if *n > FULL_TEXTS_PER_SIGNATURE {
                if let TestCaseStatus::NonSuccess { description, .. } = &mut case.status {
                    *description = Some(
                        format!("{}\n\nSame failure as {first} (signature: {}); `deja replay {}` shows this history's diff.", r.message, r.signature, r.path)
                            .into(),
                    );
                }
            }
        }
        let suite = self.suites.entry(suite_name.clone()).or_insert_with(|| TestSuite::new(suite_name));
        suite.add_test_case(case);
    }

    fn write(&mut self, seconds: f64) -> Result<()> {
        let mut report = Report::new("deja check");
        report.set_time(Duration::from_secs_f64(seconds.max(0.0)));
        let mut suites: Vec<TestSuite> = std::mem::take(&mut self.suites).into_values().collect();
        suites.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
        for s in &mut suites {
            s.test_cases.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
            let t: Duration = s.test_cases.iter().filter_map(|c| c.time).sum();
            s.set_time(t);
        }
        report.add_test_suites(suites);
        let dest = self.file.dest().display().to_string();
        let xml = report.to_string().with_context(|| format!("--junit {dest}: serialising the report"))?;
        self.file.file()?.write_all(xml.as_bytes()).with_context(|| format!("--junit: writing {dest}"))?;
        self.file.commit()
    }
}

/// One history as a test case.
pub fn test_case(r: &HistoryResult) -> TestCase {
    let status = match r.verdict {
        // Drift the policy fails the history on (`--strict`, `fail-on`): a failure of type `drift`.
        Verdict::Pass if r.drift_failed => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(r.message.as_str());
            st.set_type("drift");
            if let Some(text) = r.plain_text() {
                st.set_description(text.to_string());
            }
            st
        }
        Verdict::Pass => TestCaseStatus::success(),
        v => {
            let kind = if v == Verdict::Error { NonSuccessKind::Error } else { NonSuccessKind::Failure };
            let mut st = TestCaseStatus::non_success(kind);
            st.set_message(r.message.as_str());
            let ty = match &r.error_kind {
                Some(k) if v == Verdict::Error => format!("error: {k}"),
                _ => v.as_str().to_string(),
            };
            st.set_type(ty);
            if let Some(text) = r.plain_text().map(str::to_string).or_else(|| contained_text(r)) {
                st.set_description(text);
            }
            st
        }
    };
    let mut tc = TestCase::new(r.path.as_str(), status);
    if let Some(t) = &r.workflow_type {
        tc.set_classname(t.as_str());
    }
    tc.set_time(Duration::from_secs_f64(r.seconds.max(0.0)));
    if let Some(id) = &r.workflow_id {
        tc.add_property(("workflow_id", id.as_str()));
    }
    if let Some(loc) = &r.location {
        tc.add_property(("source", format!("{}:{}", deja_core::display_path(&loc.file), loc.line).as_str()));
    }
    // Drift rides along without failing the case: a property (count and kinds) and the
    // findings in system-out.
    if !r.drift.is_empty() {
        let kinds: std::collections::BTreeSet<&str> = r.drift.iter().map(|f| f.kind.as_str()).collect();
        tc.add_property(("drift", format!("{} ({})", r.drift.len(), kinds.into_iter().collect::<Vec<_>>().join(", ")).as_str()));
        tc.set_system_out(super::drift_text::plain(&r.drift));
    }
    tc
}

impl Reporter for JunitReporter {
    fn event(&mut self, ev: &CheckEvent<'_>) -> Result<()> {
        match ev {
            CheckEvent::HistoryFinished(r) => self.add(r),
            CheckEvent::RunFinished(s) => self.write(s.seconds)?,
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deja_core::model::summary::Summary;

    #[test]
    fn round_trips_through_a_junit_reader() {
        let dir = std::env::temp_dir().join(format!("deja-junit-{}", std::process::id()));
        let path = dir.join("sub/report.xml");
        let mut rep = JunitReporter::create(&path).unwrap();
        let mut pass = HistoryResult::error("h/a.json", "x", String::new(), String::new());
        pass.verdict = Verdict::Pass;
        pass.error_kind = None;
        pass.workflow_type = Some("Order".into());
        let mut nd = pass.clone();
        nd.path = "h/b.json".into();
        nd.verdict = Verdict::Nondeterminism;
        nd.message = "Activity type of scheduled event 'a' does not match 'b' <&>".into();
        nd.text = Some("✗ nondeterminism\n  ▶ ≠ 11 ActivityTaskScheduled a\n".into());
        let crash = HistoryResult::error("h/c.json", "load", "truncated".into(), "sig".into());
        for r in [&pass, &nd, &crash] {
            rep.event(&CheckEvent::HistoryFinished(r)).unwrap();
        }
        rep.event(&CheckEvent::RunFinished(&Summary::default())).unwrap();

        let xml = std::fs::read_to_string(&path).unwrap();
        let back = Report::deserialize_from_str(&xml).unwrap();
        assert_eq!((back.tests, back.failures, back.errors), (3, 1, 1));
        let order = back.test_suites.iter().find(|s| s.name.as_str() == "Order").unwrap();
        let b = order.test_cases.iter().find(|c| c.name.as_str() == "h/b.json").unwrap();
        match &b.status {
            TestCaseStatus::NonSuccess { kind: NonSuccessKind::Failure, message, description, .. } => {
                assert_eq!(message.as_ref().unwrap().as_str(), nd.message);
                assert!(description.as_ref().unwrap().as_str().contains("ActivityTaskScheduled a"));
            }
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
