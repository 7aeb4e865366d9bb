//! Drift and tail checks through the real binary (README "Drift").
//!
//! * Every fixture in tests/fixtures/drift (recorded on a dev server by
//!   `histories/generate.py drift`) replayed with the next deploy (code_v2) reports exactly
//!   its finding — kind, event, field, both values, the source line — and passes; replayed
//!   with the code that wrote it, nothing.
//! * No false alarms: zero drift over histories/, histories/cli, the fixtures and a freshly
//!   generated corpus (one dev server for this binary).
//! * The tail cases pass the SDK's own Replayer (scripts/sdk_replay.py).
//! * The gate (`--strict`, `fail-on`, `allow`) and the reporters, parsed back.

mod common;

use std::collections::BTreeSet;

use common::{code, root, run, stderr, stdout};
use serde_json::Value;

const CODE: &str = "tests/fixtures/drift/code/drift_workflows.py";
const CODE_V2: &str = "tests/fixtures/drift/code_v2/drift_workflows.py";

fn manifest() -> Value {
    serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/drift/manifest.json")).unwrap()).unwrap()
}

fn fixtures() -> Vec<Value> {
    manifest()["fixtures"].as_array().unwrap().clone()
}

fn replay_json(file: &str, code_path: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["replay", file, "--workflows", code_path, "-o", "json"];
    args.extend_from_slice(extra);
    let o = run(&args);
    let doc: Value = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{file}: {e}\n{}", stderr(&o)));
    (code(&o), doc)
}

#[test]
fn every_fixture_reports_its_kind_values_and_line_and_nothing_with_its_own_code() {
    let all = fixtures();
    let kinds: BTreeSet<&str> = all.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    for k in [
        "activity-input",
        "activity-options",
        "timer-duration",
        "child-input",
        "child-options",
        "signal-external",
        "cancel-external",
        "continue-as-new",
        "search-attributes",
        "memo",
        "result",
        "nexus-input",
        "sdk-warning",
        "update-validation",
        "tail",
    ] {
        assert!(kinds.contains(k), "no fixture for {k}");
    }
    for f in &all {
        let name = f["name"].as_str().unwrap();
        let file = f["file"].as_str().unwrap();

        let (exit, doc) = replay_json(file, CODE_V2, &[]);
        assert_eq!(exit, 0, "{name}: drift is a warning by default");
        assert_eq!(doc["verdict"], "pass", "{name}: the SDK passes it");
        assert_eq!(doc["drift_failed"], false, "{name}");
        let drift = doc["drift"].as_array().unwrap();
        assert_eq!(drift.len(), 1, "{name}: exactly one finding: {drift:#?}");
        let d = &drift[0];
        assert_eq!(d["kind"], f["kind"], "{name}");
        assert_eq!(d["field"], f["field"], "{name}");
        assert_eq!(d["event_id"], f["event_id"], "{name}");
        assert_eq!(d["recorded"], f["recorded"], "{name}");
        let emitted = d["emitted"].as_str().unwrap();
        assert!(emitted.contains(f["emitted"].as_str().unwrap()), "{name}: emitted {emitted:?}, manifest {}", f["emitted"]);
        assert_eq!(d["line"], f["line"], "{name}: the line that issued it");
        assert!(d["file"].as_str().unwrap().ends_with(CODE_V2), "{name}: {}", d["file"]);
        assert!(!d["message"].as_str().unwrap().is_empty(), "{name}: says what it means");
        assert_eq!(d.get("unverifiable").and_then(Value::as_bool).unwrap_or(false), f["unverifiable"].as_bool().unwrap(), "{name}");
        if name == "tail_fail" {
            let tb = d["traceback"].as_str().expect("the Python traceback of the failing task");
            assert!(tb.contains("drift_workflows.py") && tb.contains("raise RuntimeError"), "{tb}");
        }

        let (exit, doc) = replay_json(file, CODE, &[]);
        assert_eq!((exit, &doc["verdict"]), (0, &Value::from("pass")), "{name} with its own code");
        assert_eq!(doc["drift"], serde_json::json!([]), "{name}: no drift with the code that wrote it");
    }
}

#[test]
fn the_sdk_replayer_passes_the_tail_cases() {
    let tails: Vec<String> = fixtures().iter().filter(|f| f["kind"] == "tail").map(|f| f["file"].as_str().unwrap().to_string()).collect();
    assert_eq!(tails.len(), 3);
    let files: Vec<&str> = tails.iter().map(String::as_str).collect();
    let sdk = common::sdk_verdicts(CODE_V2, &files, false);
    for f in &files {
        assert_eq!(sdk[*f]["verdict"], "pass", "{f}: the SDK's Replayer cannot see it: {:#}", sdk[*f]);
        let (_, doc) = replay_json(f, CODE_V2, &[]);
        assert_eq!(doc["drift"][0]["kind"], "tail", "{f}: deja does");
        // --strict turns tail findings into failures, except what cannot be verified.
        let o = run(&["replay", f, "--workflows", CODE_V2, "--strict"]);
        let unverifiable = doc["drift"][0].get("unverifiable").and_then(Value::as_bool).unwrap_or(false);
        assert_eq!(code(&o), if unverifiable { 0 } else { 1 }, "{f}: {}", stdout(&o));
    }
}

/// `deja check` over a tree with the given code: its JSON document.
fn check_json(dir: &str, code_path: &str, extra: &[&str]) -> (i32, Value) {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("r.json");
    let mut args = vec!["check", dir, "--workflows", code_path, "-q", "--json", json.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = run(&args);
    let doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap_or_else(|_| panic!("{}", stderr(&o)))).unwrap();
    (code(&o), doc)
}

fn assert_no_drift(what: &str, doc: &Value) {
    let s = &doc["summary"];
    assert_eq!(s["drift"]["findings"], 0, "{what}: {:#}", s["drift"]);
    for r in doc["results"].as_array().unwrap() {
        assert_eq!(r["verdict"], "pass", "{what}: {}", r["path"]);
        assert_eq!(r["drift"], serde_json::json!([]), "{what}: {}", r["path"]);
    }
}

#[test]
fn no_drift_on_any_history_replayed_with_the_code_that_wrote_it() {
    let (exit, doc) = check_json("histories", "histories/code/workflows.py", &[]);
    assert_eq!(exit, 0);
    let shipped = common::manifest()["histories"].as_array().unwrap().len();
    assert_eq!(doc["results"].as_array().unwrap().len(), 2 * shipped, "histories/ and histories/cli");
    assert_no_drift("histories/", &doc);

    let (exit, doc) = check_json("tests/fixtures/drift", CODE, &[]);
    assert_eq!(exit, 0);
    assert_eq!(doc["results"].as_array().unwrap().len(), fixtures().len());
    assert_no_drift("drift fixtures", &doc);

    // A fresh corpus from a dev server (varied workflows, retries, children, updates, CAN).
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    let out = std::process::Command::new(root().join(".venv/bin/python"))
        .current_dir(root())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["histories/generate.py", "corpus", "--count", "40", "--out", corpus.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "corpus: {}", String::from_utf8_lossy(&out.stderr));
    let (exit, doc) = check_json(corpus.to_str().unwrap(), "histories/code/workflows.py", &["--strict"]);
    assert_eq!(exit, 0, "--strict passes a corpus without drift");
    assert!(doc["results"].as_array().unwrap().len() >= 40);
    assert_no_drift("generated corpus", &doc);
}

#[test]
fn policy_strict_fail_on_and_allow() {
    let h = "tests/fixtures/drift/activity_input.json";
    let (exit, doc) = replay_json(h, CODE_V2, &["--strict"]);
    assert_eq!((exit, &doc["drift_failed"], &doc["drift"][0]["fails"]), (1, &Value::Bool(true), &Value::Bool(true)));

    let tmp = tempfile::tempdir().unwrap();
    let cfg = |name: &str, body: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, format!("[tool.deja]\n{body}\n")).unwrap();
        p.to_str().unwrap().to_string()
    };
    let fail_on = cfg("fail_on.toml", r#"fail-on = ["activity-input"]"#);
    let (exit, doc) = replay_json(h, CODE_V2, &["--config", &fail_on]);
    assert_eq!((exit, &doc["drift_failed"]), (1, &Value::Bool(true)), "fail-on names the kind");

    let other = cfg("other.toml", r#"fail-on = ["memo", "signal-external"]"#);
    assert_eq!(replay_json(h, CODE_V2, &["--config", &other]).0, 0, "fail-on other kinds");

    let allow = cfg("allow.toml", "strict = true\nallow = [\"activity-input\"]");
    let (exit, doc) = replay_json(h, CODE_V2, &["--config", &allow]);
    assert_eq!((exit, &doc["drift"]), (0, &serde_json::json!([])), "allowed kinds are not reported, even with strict");

    let bad = cfg("bad.toml", r#"fail-on = ["activity-inptu"]"#);
    let o = run(&["replay", h, "--workflows", CODE_V2, "--config", &bad]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(err.contains("bad.toml") && err.contains("fail-on") && err.contains("\"activity-inptu\"") && err.contains("activity-input"), "{err}");

    // check: the kind in the summary, exit 1.
    let (exit, doc) = check_json("tests/fixtures/drift", CODE_V2, &["--config", &fail_on]);
    assert_eq!(exit, 1);
    let s = &doc["summary"];
    assert_eq!((s["drift"]["failed"].as_u64(), s["exit_code"].as_u64()), (Some(1), Some(1)));
    let failing = doc["results"].as_array().unwrap().iter().find(|r| r["drift_failed"] == true).unwrap();
    assert!(failing["signature"].as_str().unwrap().contains("drift activity-input"), "{failing:#}");
    assert!(s["groups"].as_array().unwrap().iter().any(|g| g["signature"].as_str().unwrap().contains("activity-input")), "{s:#}");
}

#[test]
fn reporters_carry_drift_text_json_junit_github() {
    // Text: under the verdict, both values and the line.
    let o = run(&["replay", "tests/fixtures/drift/timer_duration.json", "--workflows", CODE_V2]);
    let text = stdout(&o);
    assert!(text.lines().next().unwrap().starts_with("✓ pass, 1 drift TimerDurationWorkflow"), "{text}");
    assert!(text.contains("drift timer-duration · event 5 · start_to_fire_timeout: recorded 300ms → now 3s"), "{text}");
    assert!(text.contains("drift_workflows.py:80"), "{text}");

    let tmp = tempfile::tempdir().unwrap();
    let xml = tmp.path().join("j.xml");
    let json = tmp.path().join("c.json");
    let o = common::deja()
        .args(["check", "tests/fixtures/drift", "--workflows", CODE_V2, "--junit", xml.to_str().unwrap(), "--json", json.to_str().unwrap()])
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "drift alone does not fail check: {}", stderr(&o));
    let n = fixtures().len();

    // check text: the counts line.
    let out = stdout(&o);
    assert!(out.contains(&format!("{n} pass")) && out.contains(&format!("{n} with drift ({n} findings)")), "{out}");

    // JSON: per-history drift and the grouped summary.
    let doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let d = &doc["summary"]["drift"];
    assert_eq!((d["histories"].as_u64(), d["findings"].as_u64(), d["failed"].as_u64()), (Some(n as u64), Some(n as u64), Some(0)));
    assert_eq!(d["groups"].as_array().unwrap().len(), n);
    assert_eq!(d["kinds"]["tail"], 3);
    for r in doc["results"].as_array().unwrap() {
        assert_eq!(r["drift"].as_array().unwrap().len(), 1, "{}", r["path"]);
    }

    // JUnit: every case passes, carries a drift property and the findings in system-out.
    let back = quick_junit::Report::deserialize_from_str(&std::fs::read_to_string(&xml).unwrap()).unwrap();
    assert_eq!((back.tests, back.failures, back.errors), (n, 0, 0));
    let cases: Vec<&quick_junit::TestCase> = back.test_suites.iter().flat_map(|s| s.test_cases.iter()).collect();
    for c in &cases {
        assert!(matches!(c.status, quick_junit::TestCaseStatus::Success { .. }), "{}", c.name.as_str());
        let prop = c.properties.iter().find(|p| p.name.as_str() == "drift").unwrap_or_else(|| panic!("{}: no drift property", c.name.as_str()));
        assert!(prop.value.as_str().starts_with("1 ("), "{}", prop.value.as_str());
        assert!(c.system_out.as_ref().is_some_and(|s| s.as_str().contains("drift ")), "{}", c.name.as_str());
    }

    // GitHub: one ::warning per drift group, on the issuing line.
    let warnings: Vec<&str> = out.lines().filter(|l| l.starts_with("::warning ")).collect();
    assert_eq!(warnings.len(), n, "{out}");
    let signal = warnings.iter().find(|l| l.contains("signal-external")).unwrap();
    assert!(signal.starts_with(&format!("::warning file={CODE_V2},line=105,title=deja%3A drift signal-external in SignalExternalWorkflow (1 history)::")), "{signal}");
    assert!(signal.contains("signal_name: recorded approve → now approve_all%0A"), "{signal}");
    assert!(!out.lines().any(|l| l.starts_with("::error")), "drift is a warning: {out}");
}
