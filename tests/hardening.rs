//! Hardening through the real binary: untrusted strings in histories, report files that a
//! CI can trust, signals, bad numbers, odd file names and messages for bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine;
use common::*;
use serde_json::Value;

/// Terminal title escape, BEL, a CRLF that would start a GitHub workflow command, NUL.
const EVIL: &str = "\x1b]0;pwned\x07\r\n::error::x\0";

fn run_in(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = deja();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("deja runs")
}

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// histories/shopping_cart.json with EVIL in its workflow id, a signal name and a signal
/// payload; `evil_type` also puts it in the workflow type (which no code registers).
fn evil_history(dir: &Path, name: &str, evil_type: bool) -> PathBuf {
    let mut h: Value = serde_json::from_slice(&std::fs::read(root().join("histories/shopping_cart.json")).unwrap()).unwrap();
    let events = h["events"].as_array_mut().unwrap();
    let started = &mut events[0]["workflowExecutionStartedEventAttributes"];
    started["workflowId"] = format!("cart-{EVIL}").into();
    if evil_type {
        started["workflowType"]["name"] = format!("Cart{EVIL}").into();
    }
    assert_eq!(events[5]["eventType"], "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED");
    events[5]["workflowExecutionSignaledEventAttributes"]["signalName"] = format!("sig-{EVIL}").into();
    let p = &mut events[2]["workflowExecutionSignaledEventAttributes"]["input"]["payloads"][0];
    let data = base64::engine::general_purpose::STANDARD.decode(p["data"].as_str().unwrap()).unwrap();
    let mut item: Value = serde_json::from_slice(&data).unwrap();
    item["sku"] = format!("SKU-{EVIL}").into();
    p["data"] = b64(&serde_json::to_vec(&item).unwrap()).into();
    // The recorded activity input (what `show --payloads` prints).
    let p = &mut events[22]["activityTaskScheduledEventAttributes"]["input"]["payloads"][0];
    let data = base64::engine::general_purpose::STANDARD.decode(p["data"].as_str().unwrap()).unwrap();
    let mut items: Value = serde_json::from_slice(&data).unwrap();
    items[0]["sku"] = format!("SKU-{EVIL}").into();
    p["data"] = b64(&serde_json::to_vec(&items).unwrap()).into();
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(&h).unwrap()).unwrap();
    path
}

/// No raw control byte but line feeds, and no line that GitHub would read as a workflow
/// command except deja's own `::error file=…` annotations (returned, counted by caller).
fn assert_safe(what: &str, text: &str) -> usize {
    let bad: Vec<char> = text.chars().filter(|&c| c != '\n' && (c.is_control())).collect();
    assert!(bad.is_empty(), "{what}: raw control characters {bad:?} in\n{text}");
    let mut own = 0;
    for l in text.lines() {
        if l.trim_start().starts_with("::") {
            assert!(l.starts_with("::error file=") && l.contains(",title=deja%3A "), "{what}: a line that is a workflow command: {l:?}");
            own += 1;
        }
    }
    own
}

#[test]
fn history_strings_are_escaped_on_every_text_path_and_kept_in_json() {
    let tmp = tempfile::tempdir().unwrap();
    let evil = evil_history(tmp.path(), "evil.json", false);
    let evil_type = evil_history(tmp.path(), "evil_type.json", true);
    let (e, et) = (path_str(&evil), path_str(&evil_type));

    let out = run_in(&["show", &e, "--payloads", "200"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let so = stdout(&out);
    assert!(so.contains(r#""sku":"SKU-\u001b]0;pwned\u0007\r\n::error::x\u0000""#), "payload shown (as JSON, escaped):\n{so}");
    assert!(so.contains("sig-\\x1b]0;pwned"), "signal name shown escaped:\n{so}");
    assert_eq!(assert_safe("show", &so), 0);
    assert_safe("show stderr", &stderr(&out));

    let out = run_in(&["show", &e, "-o", "json"], &[]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("show -o json parses");
    assert_eq!(doc["workflow_id"].as_str().unwrap(), format!("cart-{EVIL}"), "JSON keeps the original string");

    for args in [vec!["replay", &e, "-w", "histories/code/workflows.py", "-v"], vec!["replay", &et, "-w", "histories/code/workflows.py", "-v"]] {
        let out = run_in(&args, &[]);
        assert_eq!(assert_safe("replay stdout", &stdout(&out)), 0);
        assert_eq!(assert_safe("replay stderr", &stderr(&out)), 0);
        assert!(format!("{}{}", stdout(&out), stderr(&out)).contains("cart-\\x1b]0;pwned"), "{}{}", stdout(&out), stderr(&out));
    }
    let out = run_in(&["replay", &e, "-w", "histories/code/workflows.py", "-o", "json"], &[]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("replay -o json parses");
    assert_eq!(doc["history"]["workflow_id"].as_str().unwrap(), format!("cart-{EVIL}"));

    // check: one non-determinism (v2 code) and one unregistered type, annotated for GitHub.
    let json = tmp.path().join("check.json");
    let junit = tmp.path().join("junit.xml");
    let out = run_in(
        &["-v", "check", &e, &et, "-w", "histories/code_v2/workflows.py", "--json", &path_str(&json), "--junit", &path_str(&junit)],
        &[("GITHUB_ACTIONS", "true")],
    );
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(code(&out), 1, "{so}\n{se}");
    assert_eq!(assert_safe("check stdout", &so), 2, "one annotation per failure group:\n{so}");
    assert_eq!(assert_safe("check stderr", &se), 0);
    assert!(so.contains("Cart\\x1b]0;pwned\\x07\\r\\n::error::x\\0"), "{so}");

    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).expect("--json parses");
    let ids: Vec<&str> = doc["results"].as_array().unwrap().iter().map(|r| r["workflow_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [format!("cart-{EVIL}"), format!("cart-{EVIL}")], "JSON keeps the original strings");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("JUnit is valid XML");
    assert_eq!(report.tests, 2);
}
