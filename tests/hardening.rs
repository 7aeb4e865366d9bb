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
    // The message quoting the unregistered type stays on its line.
    assert!(so.contains("workflow type 'Cart\\x1b]0;pwned\\x07\\r\\n::error::x\\0' is not registered"), "{so}");

    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).expect("--json parses");
    let ids: Vec<&str> = doc["results"].as_array().unwrap().iter().map(|r| r["workflow_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [format!("cart-{EVIL}"), format!("cart-{EVIL}")], "JSON keeps the original strings");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("JUnit is valid XML");
    assert_eq!(report.tests, 2);
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}\n{text}", path.display()))
}

/// Files in `dir` (not recursive) whose name ends in `.partial`.
fn partials(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".partial")).collect()
}

#[test]
fn two_runs_writing_one_report_path_do_not_corrupt_it() {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("check.json");
    let junit = tmp.path().join("junit.xml");
    let spawn = |files: &[&str]| {
        let mut c = deja();
        c.args(["check", "-w", "histories/code/workflows.py", "-j", "1", "--json", &path_str(&json), "--junit", &path_str(&junit)]).args(files);
        c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap()
    };
    let long = spawn(&["histories/order_fulfillment.json", "histories/shopping_cart.json", "histories/invoice_timers.json", "histories/refund_patched.json"]);
    let short = spawn(&["histories/shopping_cart.json"]);
    for (what, child) in [("short", short), ("long", long)] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{what} run: every history passes\n{}", stderr(&out));
    }
    let doc = read_json(&json);
    assert_eq!(doc["summary"]["exit_code"], 0);
    assert!(quick_junit::Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap()).is_ok());
    assert_eq!(partials(tmp.path()), Vec::<String>::new());
}

#[test]
fn a_run_that_ends_in_an_error_replaces_the_previous_reports_with_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("check.json");
    let junit = tmp.path().join("junit.xml");
    let reports = ["--json", &path_str(&json), "--junit", &path_str(&junit)].map(String::from);
    let out = run_in(&[&["check", "histories/shopping_cart.json", "-w", "histories/code/workflows.py"], &reports.each_ref().map(String::as_str)[..]].concat(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(read_json(&json)["summary"]["pass"], 1);

    let bad = tmp.path().join("broken_workflows.py");
    std::fs::write(&bad, "raise RuntimeError('this module does not import')\n").unwrap();
    let out = run_in(&[&["check", "histories/shopping_cart.json", "-w", &path_str(&bad)], &reports.each_ref().map(String::as_str)[..]].concat(), &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let doc = read_json(&json);
    assert_eq!(doc["schema"], "deja.check/v1");
    assert!(doc["error"].as_str().unwrap().contains("this module does not import"), "{doc:#}");
    assert_eq!((doc["exit_code"].as_u64(), doc["summary"].is_null()), (Some(2), true), "{doc:#}");
    let report = quick_junit::Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap()).unwrap();
    assert_eq!((report.tests, report.errors, report.failures), (1, 1, 0), "the old green JUnit is gone");

    // An error before any worker starts (no histories there) replaces them too.
    std::fs::write(&json, "{\"stale\": true}").unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = run_in(&[&["check", &path_str(&empty), "-w", "histories/code/workflows.py"], &reports.each_ref().map(String::as_str)[..]].concat(), &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(read_json(&json)["error"].as_str().unwrap().contains("no history files found"));
    assert_eq!(partials(tmp.path()), Vec::<String>::new());
}

#[test]
fn sigterm_during_check_removes_partial_files_and_exits_143() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    std::fs::create_dir(&corpus).unwrap();
    for i in 0..40 {
        std::fs::copy(root().join("histories/catalog_reindex_large.json"), corpus.join(format!("large_{i:02}.json"))).unwrap();
    }
    let json = tmp.path().join("check.json");
    let junit = tmp.path().join("junit.xml");
    let child = deja()
        .args(["check", &path_str(&corpus), "-w", "histories/code/workflows.py", "-j", "1", "--json", &path_str(&json), "--junit", &path_str(&junit)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the run has created its report files, then a bit more.
    let started = std::time::Instant::now();
    while partials(tmp.path()).len() < 2 && started.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(partials(tmp.path()).len(), 2, "both report files are being written");
    std::thread::sleep(std::time::Duration::from_millis(1000));
    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 143, "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted by SIGTERM"), "{}", stderr(&out));
    assert_eq!(partials(tmp.path()), Vec::<String>::new(), "no partial files left");
    assert!(read_json(&json)["error"].as_str().unwrap().contains("interrupted"));
}

#[test]
fn timeout_out_of_range_is_a_usage_error_naming_flag_or_key() {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("check.json");
    std::fs::write(&json, "{\"stale\": \"pass\"}").unwrap();
    for bad in ["1e19", "0", "-3", "NaN"] {
        let flag = format!("--timeout={bad}");
        let out = run_in(&["check", "histories/shopping_cart.json", "-w", "histories/code/workflows.py", &flag, "--json", &path_str(&json)], &[]);
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        let se = stderr(&out);
        assert!(se.contains(&format!("--timeout {bad}: must be a number of seconds greater than 0 and at most 86400")), "{se}");
        assert!(!se.contains("panicked"), "{se}");
        assert!(read_json(&json)["error"].as_str().unwrap().contains("--timeout"), "the stale report is replaced");
    }

    let pyproject = tmp.path().join("pyproject.toml");
    std::fs::write(&pyproject, "[tool.deja]\ntimeout = 1e19\n").unwrap();
    let out = run_in(&["check", "histories/shopping_cart.json", "-w", "histories/code/workflows.py", "--config", &path_str(&pyproject)], &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let se = stderr(&out);
    assert!(se.contains("pyproject.toml: [tool.deja]: timeout = ") && se.contains("at most 86400"), "{se}");
}

#[test]
fn check_output_json_prints_the_check_document_on_stdout() {
    let out = run_in(&["check", "histories/shopping_cart.json", "-w", "histories/code/workflows.py", "-o", "json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stdout is one JSON document: {e}\n{}", stdout(&out)));
    assert_eq!(doc["schema"], "deja.check/v1");
    assert_eq!(doc["summary"]["pass"], 1);
    assert_eq!(doc["results"][0]["report"]["schema"], "deja.replay/v1");
    assert!(stderr(&out).contains("1 pass"), "the human summary goes to stderr: {}", stderr(&out));

    // An error is a document too.
    let out = run_in(&["check", "histories/shopping_cart.json", "-w", "tests/fixtures/code/import_error/workflows.py", "-o", "json"], &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert!(doc["error"].as_str().unwrap().contains("loading workflow code"), "{doc:#}");
}

/// Copy a directory's files (not `__pycache__`).
fn copy_code(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn pycache_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "__pycache__") {
                found.push(p);
            } else {
                found.extend(pycache_dirs(&p));
            }
        }
    }
    found
}

#[test]
fn replay_and_check_write_no_bytecode_into_the_users_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let code_dir = tmp.path().join("code");
    copy_code(&root().join("histories/code"), &code_dir);
    let wf = path_str(&code_dir.join("workflows.py"));
    let out = run_in(&["replay", "histories/shopping_cart.json", "-w", &wf], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run_in(&["check", "histories/shopping_cart.json", "histories/order_fulfillment.json", "-w", &wf, "-j", "2"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run_in(&["check", "histories/legacy_inventory_unsandboxed.json", "-w", &wf, "--unsandboxed"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(pycache_dirs(tmp.path()), Vec::<PathBuf>::new());
}

#[test]
fn file_names_that_are_not_utf8_are_checked() {
    use std::os::unix::ffi::OsStringExt;
    let tmp = tempfile::tempdir().unwrap();
    let odd = tmp.path().join(std::ffi::OsString::from_vec(b"cart-\xff\xfe.json".to_vec()));
    std::fs::copy(root().join("histories/shopping_cart.json"), &odd).unwrap();
    std::fs::copy(root().join("histories/order_fulfillment.json"), tmp.path().join("order.json")).unwrap();
    let json = tmp.path().join("out/check.json");
    let out = run_in(&["check", &path_str(tmp.path()), "-w", "histories/code/workflows.py", "--json", &path_str(&json)], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let doc = read_json(&json);
    assert_eq!((doc["summary"]["pass"].as_u64(), doc["summary"]["error"].as_u64()), (Some(2), Some(0)), "{doc:#}");
    // The report names it readably (U+FFFD for the bytes that are not UTF-8).
    assert!(doc["results"].as_array().unwrap().iter().any(|r| r["path"].as_str().unwrap().ends_with("cart-\u{fffd}\u{fffd}.json")), "{doc:#}");

    // Named on the command line (not valid UTF-8 as an argument either).
    let out = deja().arg("check").arg(&odd).args(["-w", "histories/code/workflows.py"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("1 pass"), "{}", stdout(&out));
}

/// `deja show FILE` on bad input: exit 2 and its one-line message.
fn show_error(path: &Path) -> String {
    let out = run_in(&["show", &path_str(path)], &[]);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    let se = stderr(&out);
    assert_eq!(se.trim_end().lines().count(), 1, "one line: {se}");
    se
}

#[test]
fn bad_input_messages_are_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cart = std::fs::read(root().join("histories/shopping_cart.json")).unwrap();

    let empty = tmp.path().join("empty.json");
    std::fs::write(&empty, "").unwrap();
    let se = show_error(&empty);
    assert!(se.contains("empty.json: the file is empty (0 bytes)") && !se.contains("truncated"), "{se}");

    // A UTF-8 byte order mark is accepted.
    let bom = tmp.path().join("bom.json");
    std::fs::write(&bom, [&b"\xEF\xBB\xBF"[..], &cart].concat()).unwrap();
    let out = run_in(&["show", &path_str(&bom)], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).starts_with("ShoppingCartWorkflow"), "{}", stdout(&out));

    // An event type number this build does not know: named, short, no "expected expected".
    let mut h: Value = serde_json::from_slice(&cart).unwrap();
    h["events"][3]["eventType"] = 999.into();
    let num = tmp.path().join("num.json");
    std::fs::write(&num, serde_json::to_vec(&h).unwrap()).unwrap();
    let se = show_error(&num);
    assert!(se.contains("num.json: event 4, field `eventType`: unknown enum value 999"), "{se}");
    assert!(se.contains("Upgrade deja") && !se.contains("expected expected") && se.len() < 600, "{se}");

    // An OS error is said once.
    let se = show_error(&tmp.path().join("missing.json"));
    assert_eq!(se.matches("No such file or directory").count(), 1, "{se}");
    let out = run_in(&["check", &path_str(&tmp.path().join("nope")), "-w", "histories/code/workflows.py"], &[]);
    assert_eq!(code(&out), 2);
    let out = run_in(&["replay", "histories/shopping_cart.json", "-w", "histories/code/workflows.py", "--config", &path_str(&tmp.path().join("none.toml"))], &[]);
    assert_eq!(code(&out), 2);
    assert_eq!(stderr(&out).matches("No such file or directory").count(), 1, "{}", stderr(&out));
}

#[test]
fn a_large_json_array_of_numbers_is_refused_at_its_first_element() {
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("numbers.json");
    let mut text = String::with_capacity(21 << 20);
    text.push('[');
    let mut i = 0u64;
    while text.len() < 20 << 20 {
        text.push_str(&i.to_string());
        text.push(',');
        i += 1;
    }
    text.push_str("0]");
    std::fs::write(&big, &text).unwrap();
    let se = show_error(&big);
    assert!(se.contains("numbers.json: not a Temporal history: element 1 of the events list is a number, not an event object"), "{se}");
    assert!(!se.contains("invalid type") && !se.contains("HistoryEvent"), "not a full-parse error: {se}");

    let scalar = tmp.path().join("scalar.json");
    std::fs::write(&scalar, "42\n").unwrap();
    let se = show_error(&scalar);
    assert!(se.contains("scalar.json: not a Temporal history: the file holds a number"), "{se}");
}

#[test]
fn core_debug_dumps_are_shown_as_a_short_message_and_raw_only_with_v() {
    // An activity completion pointing at the wrong scheduled event: core's message embeds
    // the whole event as a Rust debug dump.
    let tmp = tempfile::tempdir().unwrap();
    let mut h: Value = serde_json::from_slice(&std::fs::read(root().join("histories/shopping_cart.json")).unwrap()).unwrap();
    let done = h["events"].as_array_mut().unwrap().iter_mut().find(|e| e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_COMPLETED").unwrap();
    done["activityTaskCompletedEventAttributes"]["scheduledEventId"] = "3".into();
    let path = tmp.path().join("wrong_scheduled_id.json");
    std::fs::write(&path, serde_json::to_vec(&h).unwrap()).unwrap();

    let out = run_in(&["replay", &path_str(&path), "-w", "histories/code/workflows.py"], &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let so = stdout(&out);
    assert!(so.contains("could not find a matching command for it: HistoryEvent(id: 25, ActivityTaskCompleted)\n"), "{so}");
    assert!(!so.contains("event_time") && !so.contains("Timestamp {"), "no debug dump without -v: {so}");
    let out = run_in(&["replay", &path_str(&path), "-w", "histories/code/workflows.py", "-v"], &[]);
    assert!(stdout(&out).contains("event_time: Some(Timestamp {"), "-v keeps the SDK's raw text: {}", stdout(&out));
}

#[test]
fn a_closed_stdout_does_not_spoil_the_report_files() {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("check.json");
    let junit = tmp.path().join("junit.xml");
    let mut child = deja()
        .args(["check", "histories/shopping_cart.json", "-w", "histories/code/workflows.py", "--json", &path_str(&json), "--junit", &path_str(&junit)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `| head -0`: the summary cannot be written
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = read_json(&json);
    assert_eq!(doc["summary"]["pass"], 1, "the run's own report, not an error document: {doc:#}");
    let report = quick_junit::Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap()).unwrap();
    assert_eq!((report.tests, report.errors), (1, 0));
}
