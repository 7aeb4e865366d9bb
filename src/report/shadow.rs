//! `deja shadow status` / `start --wait`: the aggregate as text, JSON (`deja.shadow/v1`)
//! and JUnit. Every string that came from a history (signatures, ids, types, the example
//! report) is escaped for the terminal here; JSON and JUnit keep the originals.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::report::files::{Kind, ReportFile};
use crate::shadow::model::Aggregate;
use crate::style::{Styles, Untrusted, escape_block, paint};

/// The JSON document: the aggregate with the schema and the run's workflow id.
pub fn json(id: &str, a: &Aggregate) -> serde_json::Value {
    let mut v = serde_json::to_value(a).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("schema".into(), "deja.shadow/v1".into());
        o.insert("workflow_id".into(), id.into());
    }
    v
}

fn pct(n: u64, of: u64) -> String {
    if of == 0 { "–".into() } else { format!("{:.0}%", 100.0 * n as f64 / of as f64) }
}

fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The human report: state, progress, counts, server calls, failures by cause with one
/// example each (`examples`: show the example reports, not only their first line).
pub fn text(id: &str, a: &Aggregate, now: f64, examples: bool, st: &Styles) -> String {
    let mut o = String::new();
    let p = &a.params;
    let state = match a.state.as_str() {
        "completed" => paint(st.pass, "completed"),
        "failed" => paint(st.fail, "failed"),
        "running" => paint(st.accent, "running"),
        other => paint(st.warn, Untrusted(other)),
    };
    let took = a.finished_at.unwrap_or(now) - a.started_at;
    let mut head = format!("{} {}: {state} · pass {} · {}", paint(st.bold, "shadow run"), Untrusted(id), a.pass_no, duration(took));
    if let (Some(next), "running") = (a.next_pass_at, a.state.as_str()) {
        let _ = write!(head, " · pass {} done, the next starts in {}", a.pass_no, duration(next - now));
    }
    let _ = writeln!(o, "{head}");
    if let Some(e) = &a.error {
        let _ = writeln!(o, "  {} {}", paint(st.fail, "error:"), Untrusted(e));
    }
    let query = if p.query.is_empty() { "(every run)".to_string() } else { Untrusted(&p.query).to_string() };
    let mut opts = format!("sample {}", pct((p.sample_rate * 1000.0) as u64, 1000));
    let _ = write!(opts, " · {} × {} runs in flight", p.concurrency, p.batch_size);
    if let Some(m) = p.max {
        let _ = write!(opts, " · max {m}");
    }
    if p.continuous {
        let _ = write!(opts, " · continuous every {}", duration(p.interval_seconds));
    }
    let _ = writeln!(o, "  query {query} · {opts}");
    let mut progress = format!("  scanned {} · sampled {} · replayed {}", a.scanned, a.sampled, a.replayed);
    if a.in_flight + a.queued > 0 {
        let _ = write!(progress, " · in flight {} · queued {}", a.in_flight, a.queued);
    }
    if a.replayed > 0 && a.seconds > 0.0 {
        let _ = write!(progress, " · {:.1} ms replay per run", 1000.0 * a.seconds / a.replayed as f64);
    }
    let _ = writeln!(o, "{progress}");
    let mut counts = vec![format!("{} pass", paint(st.pass, a.count("pass")))];
    for (word, style) in [("nondeterminism", st.fail), ("workflow-task-failure", st.fail), ("error", st.fail)] {
        if a.count(word) > 0 {
            counts.push(format!("{} {word}", paint(style, a.count(word))));
        }
    }
    if a.unavailable > 0 {
        counts.push(format!("{} unavailable (not on the server any more)", paint(st.warn, a.unavailable)));
    }
    if a.drift > 0 {
        counts.push(format!("{} with drift ({} failing)", paint(st.warn, a.drift), a.drift_failed));
    }
    let _ = writeln!(o, "  {}", counts.join(" · "));
    if a.retried_batches > 0 {
        let _ = writeln!(o, "  {} batches retried after a worker was lost or stopped ({} runs resumed from their heartbeat)", a.retried_batches, a.resumed_runs);
    }
    let fetched = a.replayed.saturating_sub(a.unavailable).max(1);
    let _ = writeln!(
        o,
        "  {}",
        paint(st.dim, format!("server calls: {} list pages, {} history pages ({:.2} per run)", a.calls.list, a.calls.fetch, a.calls.fetch as f64 / fetched as f64))
    );
    if a.groups.is_empty() {
        return o;
    }
    let _ = writeln!(o, "\n{}", paint(st.bold, "Not replayed clean, by cause (largest first):"));
    for (sig, g) in a.groups_by_size() {
        let _ = writeln!(o, "  {} {}×  {}  {}", paint(st.fail, "✗"), g.count, Untrusted(sig), paint(st.dim, format!("({})", Untrusted(&g.verdict))));
        if let Some(ex) = &g.example {
            let _ = writeln!(o, "      e.g. {} run {} ({})", Untrusted(&ex.workflow_id), Untrusted(&ex.run_id), Untrusted(&ex.workflow_type));
            if examples && !ex.text.trim().is_empty() {
                for line in escape_block(ex.text.trim_end()).lines() {
                    let _ = writeln!(o, "      {} {line}", paint(st.dim, "│"));
                }
            }
        }
    }
    if a.groups_dropped > 0 {
        let _ = writeln!(o, "  … {} more runs in causes past the first 50", a.groups_dropped);
    }
    o
}

/// `--json FILE`: the aggregate, atomically.
pub fn write_json(dest: &Path, id: &str, a: &Aggregate) -> Result<()> {
    let mut f = ReportFile::create(Kind::Json, dest)?;
    let body = serde_json::to_vec_pretty(&json(id, a))?;
    f.file()?.write_all(&body).with_context(|| format!("--json: writing {}", dest.display()))?;
    f.commit()
}

/// `--junit FILE`: one suite; a failing test case per failing run known to the aggregate
/// (the first 200 of each cause, 2,000 in all), with the cause's example report, and one passing case
/// for the runs that replayed clean.
pub fn write_junit(dest: &Path, id: &str, a: &Aggregate) -> Result<()> {
    let mut f = ReportFile::create(Kind::Junit, dest)?;
    let mut report = Report::new("deja shadow");
    let mut suite = TestSuite::new(format!("shadow {id}"));
    let passed = a.count("pass").saturating_sub(a.drift_failed);
    let mut ok = TestCase::new(format!("{passed} runs replayed clean"), TestCaseStatus::success());
    ok.set_classname("deja.shadow");
    suite.add_test_case(ok);
    for (sig, g) in a.groups_by_size() {
        for (wid, rid, wtype) in &g.histories {
            // A run the server no longer had was not judged: skipped, not failed.
            let mut status = if g.verdict == "unavailable" {
                TestCaseStatus::skipped()
            } else {
                TestCaseStatus::non_success(NonSuccessKind::Failure)
            };
            status.set_message(sig.as_str());
            status.set_type(g.verdict.as_str());
            if let Some(ex) = &g.example {
                status.set_description(format!("{}\n(example: {} run {})", ex.text, ex.workflow_id, ex.run_id));
            }
            let mut case = TestCase::new(format!("{wid} {rid}"), status);
            case.set_classname(if wtype.is_empty() { "unknown".to_string() } else { wtype.clone() });
            suite.add_test_case(case);
        }
    }
    report.add_test_suite(suite);
    let xml = report.to_string().with_context(|| format!("--junit {}: serialising the report", dest.display()))?;
    f.file()?.write_all(xml.as_bytes()).with_context(|| format!("--junit: writing {}", dest.display()))?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Aggregate {
        serde_json::from_str(
            r#"{"state":"completed","pass":1,"started_at":0,"finished_at":75,"scanned":10,"sampled":4,"replayed":4,
                "params":{"query":"WorkflowType='A'","sample_rate":0.5,"concurrency":2,"batch_size":10},
                "counts":{"pass":2,"nondeterminism":1,"unavailable":1},"unavailable":1,"calls":{"list":1,"fetch":3},
                "groups":{"A nondeterminism \u001b[31m::error::x":{"verdict":"nondeterminism","count":1,
                  "example":{"workflow_id":"w\u0007","run_id":"r","workflow_type":"A","text":"line one\n::error::two"},
                  "histories":[["w\u0007","r","A"]]}}}"#,
        )
        .unwrap()
    }

    #[test]
    fn text_escapes_what_came_from_histories() {
        let t = text("id", &sample(), 100.0, true, &Styles::default());
        assert!(t.contains("completed · pass 1 · 1m15s"), "{t}");
        assert!(t.contains("1 nondeterminism"), "{t}");
        assert!(t.contains("1 unavailable"), "{t}");
        assert!(t.contains("3 history pages (1.00 per run)"), "{t}");
        assert!(!t.contains('\u{1b}') && !t.contains('\u{7}'), "{t:?}");
        assert!(!t.lines().any(|l| l.trim_start().starts_with("::")), "{t}");
    }

    #[test]
    fn json_and_junit_keep_the_original_strings() {
        let a = sample();
        let v = json("id", &a);
        assert_eq!(v["schema"], "deja.shadow/v1");
        assert!(v["groups"].as_object().unwrap().keys().next().unwrap().contains('\u{1b}'));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.xml");
        write_junit(&p, "id", &a).unwrap();
        let xml = std::fs::read_to_string(&p).unwrap();
        assert!(xml.contains("tests=\"2\"") && xml.contains("failures=\"1\""), "{xml}");
    }
}
