//! `deja check` through the real binary: exit codes, the JUnit and JSON reports read back,
//! crash containment, partitions, and every verdict on the sample corpus compared with the
//! SDK's own Replayer (scripts/sdk_replay.py).
//!
//! Runtime is kept modest by running the expensive corpus (it holds an 11,684-event
//! history) once and checking all report formats on that one run.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;

use common::*;
use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use serde_json::Value;

/// Run `deja check` with extra environment.
fn check(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = deja();
    c.arg("check").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("deja runs")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}\n{text}", path.display()))
}

/// `path → verdict` of a `deja.check/v1` document.
fn verdicts(doc: &Value) -> BTreeMap<String, String> {
    doc["results"].as_array().unwrap().iter().map(|r| (r["path"].as_str().unwrap().to_string(), r["verdict"].as_str().unwrap().to_string())).collect()
}

fn result<'a>(doc: &'a Value, path: &str) -> &'a Value {
    doc["results"].as_array().unwrap().iter().find(|r| r["path"] == path).unwrap_or_else(|| panic!("{path} not in {doc:#}"))
}

#[test]
fn sample_corpus_every_verdict_matches_the_sdk_and_reports_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let junit = tmp.path().join("reports/junit.xml");
    let json = tmp.path().join("reports/check.json");
    let out = check(
        &["histories/", "-w", "histories/code_v2/workflows.py", "--junit", &path_str(&junit), "--json", &path_str(&json)],
        &[("GITHUB_ACTIONS", "true")],
    );
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(code(&out), 1, "non-determinism found → exit 1\n{so}\n{se}");

    // Every verdict is the SDK's (both export flavours: histories/ and histories/cli/).
    let doc = read_json(&json);
    assert_eq!(doc["schema"], "deja.check/v1");
    let got = verdicts(&doc);
    let mut files: Vec<String> = Vec::new();
    for dir in ["histories", "histories/cli"] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") && name != "manifest.json" {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    files.sort();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let sdk = sdk_verdicts("histories/code_v2/workflows.py", &refs, false);
    assert_eq!(got.len(), files.len(), "one result per history: {got:#?}");
    for f in &files {
        assert_eq!(got.get(f).map(String::as_str), sdk[f.as_str()]["verdict"].as_str(), "{f}: deja and the SDK disagree");
    }
    // The manifest's variants are the non-determinism, and nothing else fails.
    let m = manifest();
    let mut expected_nd = BTreeSet::new();
    for v in m["variants"].as_array().unwrap() {
        let h = m["histories"].as_array().unwrap().iter().find(|h| h["name"] == v["history"]).unwrap();
        expected_nd.insert(h["file"].as_str().unwrap().to_string());
        expected_nd.insert(h["cli_file"].as_str().unwrap().to_string());
    }
    let nd: BTreeSet<String> = got.iter().filter(|(_, v)| *v == "nondeterminism").map(|(p, _)| p.clone()).collect();
    assert_eq!(nd, expected_nd);
    assert!(got.values().all(|v| v == "pass" || v == "nondeterminism"), "{got:#?}");

    // JSON: the full replay report per history, and a summary with groups.
    let r = result(&doc, "histories/order_fulfillment.json");
    assert_eq!(r["report"]["schema"], "deja.replay/v1");
    assert_eq!(r["report"]["divergence"]["row"]["recorded"]["event_id"], 11);
    assert!(r["location"]["file"].as_str().unwrap().ends_with("code_v2/workflows.py"));
    let s = &doc["summary"];
    assert_eq!((s["files"].as_u64(), s["histories"].as_u64()), (Some(31), Some(30)));
    assert_eq!((s["pass"].as_u64(), s["nondeterminism"].as_u64()), (Some(24), Some(6)));
    assert_eq!(s["skipped"], 1, "manifest.json is not a history: skipped in a directory walk");
    assert_eq!(s["skipped_paths"][0], "histories/manifest.json");
    assert_eq!(s["exit_code"], 1);
    let groups = s["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3, "three problems, each seen in two exports: {groups:#?}");
    assert!(groups.iter().all(|g| g["count"] == 2));

    // JUnit: read back with a JUnit parser; a suite per workflow type, the diff in the failure.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let report = Report::deserialize_from_str(&xml).unwrap_or_else(|e| panic!("JUnit does not parse: {e}\n{xml}"));
    assert_eq!((report.tests, report.failures, report.errors), (30, 6, 0));
    let suite = report.test_suites.iter().find(|s| s.name.as_str() == "OrderFulfillmentWorkflow").unwrap();
    assert_eq!(suite.test_cases.len(), 2);
    let case = suite.test_cases.iter().find(|c| c.name.as_str() == "histories/order_fulfillment.json").unwrap();
    match &case.status {
        TestCaseStatus::NonSuccess { kind: NonSuccessKind::Failure, message, ty, description, .. } => {
            assert!(message.as_ref().unwrap().as_str().contains("'charge_payment'"));
            assert_eq!(ty.as_ref().unwrap().as_str(), "nondeterminism");
            let d = description.as_ref().unwrap().as_str();
            assert!(d.contains("history recorded: event 11 ActivityTaskScheduled charge_payment #2"), "{d}");
            assert!(!d.contains('\u{1b}'), "no escape codes in JUnit");
        }
        other => panic!("{other:?}"),
    }

    // Text: each problem once, with its count and one example diff.
    assert!(so.contains("✗ 2 histories · OrderFulfillmentWorkflow nondeterminism history:ActivityTaskScheduled code:ScheduleActivity at histories/code_v2/workflows.py:"), "{so}");
    assert_eq!(so.matches("first divergence in workflow task").count(), 3, "one example per group:\n{so}");
    assert!(so.contains("30 histories in"), "{so}");
    assert!(so.contains("24 pass · 6 nondeterminism · 0 workflow task failure · 0 error"), "{so}");

    // GitHub annotations point at the v2 source line, relative to the checkout.
    let ann: Vec<&str> = so.lines().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(ann.len(), 3, "{so}");
    assert!(ann.iter().any(|a| a.starts_with("::error file=histories/code_v2/workflows.py,line=") && a.contains("OrderFulfillmentWorkflow (2 histories)")), "{ann:#?}");
}

/// Three healthy histories of two registered types plus the hazard's type twice.
fn hazard_run(hazard: &str, extra: &[&str]) -> (Output, Value) {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("out.json");
    let module = format!("tests/fixtures/code/hazards/{hazard}_workflow.py");
    let mut args = vec![
        "histories/order_fulfillment.json",
        "histories/shipping_quotes_parallel.json",
        "histories/invoice_timers.json",
        "histories/cli/order_fulfillment.json",
        "histories/cli/shipping_quotes_parallel.json",
        "-w",
        "histories/code/workflows.py:ShippingQuoteWorkflow",
        "-w",
        "histories/code/workflows.py:InvoiceReminderWorkflow",
        "-w",
        &module,
        "--json",
    ];
    let jp = path_str(&json);
    args.push(&jp);
    args.extend_from_slice(extra);
    let out = check(&args, &[]);
    let doc = read_json(&json);
    (out, doc)
}

fn assert_contained(out: &Output, doc: &Value, kind: &str, needle: &str) {
    assert_eq!(code(out), 1, "{}\n{}", stdout(out), stderr(out));
    for p in ["histories/order_fulfillment.json", "histories/cli/order_fulfillment.json"] {
        let r = result(doc, p);
        assert_eq!(r["verdict"], "error", "{r:#}");
        assert_eq!(r["error_kind"], kind, "{r:#}");
        let msg = r["message"].as_str().unwrap();
        assert!(msg.contains(needle) && msg.contains("OrderFulfillmentWorkflow order-1001"), "{msg}");
    }
    for p in ["histories/shipping_quotes_parallel.json", "histories/invoice_timers.json", "histories/cli/shipping_quotes_parallel.json"] {
        assert_eq!(result(doc, p)["verdict"], "pass", "{p} is not affected by the other history's crash");
    }
}

#[test]
fn a_segfault_is_one_error_row_and_the_run_goes_on() {
    // One worker: the crash takes down the only worker, a new one finishes the run.
    let (out, doc) = hazard_run("segfault", &["--jobs", "1"]);
    assert_contained(&out, &doc, "crash", "worker crashed: signal 11 (SIGSEGV)");
    // faulthandler's stack in the dead worker names the user's line.
    let loc = &result(&doc, "histories/order_fulfillment.json")["location"];
    assert!(loc["file"].as_str().unwrap().ends_with("hazards/segfault_workflow.py"), "{loc}");
    assert!(stdout(&out).contains("Fatal Python error: Segmentation fault"));
}

#[test]
fn os_exit_is_one_error_row_and_the_run_goes_on() {
    let (out, doc) = hazard_run("exit", &[]);
    assert_contained(&out, &doc, "crash", "worker crashed: exit status 3");
}

#[test]
fn a_blocked_workflow_times_out_and_its_worker_is_replaced() {
    let (out, doc) = hazard_run("block", &["--timeout", "3"]);
    assert_contained(&out, &doc, "timeout", "timed out after 3 s");
}

#[test]
fn user_output_on_stdout_cannot_corrupt_the_protocol() {
    let tmp = tempfile::tempdir().unwrap();
    let module = tmp.path().join("noisy_workflow.py");
    std::fs::write(
        &module,
        r#"import os
from datetime import timedelta
from temporalio import workflow

print("import-time noise " * 500)

@workflow.defn
class OrderFulfillmentWorkflow:
    @workflow.run
    async def run(self, order: dict) -> str:
        for name in ["reserve_inventory", "charge_payment", "ship_order"]:
            await workflow.execute_activity(name, order, start_to_close_timeout=timedelta(seconds=30))
            print("\x00\x00\x00\x05{junk" * 100)
        with workflow.unsafe.sandbox_unrestricted():
            os.write(1, b"\x00\x00\x10\x00 raw bytes on fd 1")
        await workflow.execute_activity("send_confirmation", args=[order["customer_email"], "x"], start_to_close_timeout=timedelta(seconds=30))
        return "done"
"#,
    )
    .unwrap();
    let out = check(&["histories/order_fulfillment.json", "histories/cli/order_fulfillment.json", "-w", &path_str(&module)], &[]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("2 pass"), "{}", stdout(&out));
}

#[test]
fn exit_codes() {
    // 0: everything passes.
    let out = check(&["histories/order_fulfillment.json", "histories/vendor_shipment_child.json", "-w", "histories/code/workflows.py", "-q"], &[]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).is_empty(), "--quiet: no progress on stderr: {}", stderr(&out));

    // 1: a history named explicitly that is not a history is an error row among good ones.
    let out = check(&["histories/order_fulfillment.json", "histories/manifest.json", "-w", "histories/code/workflows.py"], &[]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("histories/manifest.json: not a Temporal history"), "{}", stdout(&out));

    // 2: usage and environment errors, each one clear message.
    let cases: &[(&[&str], &str)] = &[
        (&["histories/order_fulfillment.json"], "no workflow code given"),
        (&["histories/nope.json", "-w", "histories/code/workflows.py"], "histories/nope.json: no such file or directory"),
        (&["histories/order_fulfillment.json", "-w", "histories/code/workflows.py", "--python-env", "/nonexistent-env"], "/nonexistent-env"),
        (&["histories/order_fulfillment.json", "-w", "histories/code/workflows.py", "--jobs", "0"], "--jobs 0"),
        (&["histories/order_fulfillment.json", "-w", "histories/code/workflows.py", "--partition", "3/2"], "partition"),
        (&["histories/manifest.json", "-w", "histories/code/workflows.py"], "1 could not be loaded"),
    ];
    for (args, needle) in cases {
        let out = check(args, &[]);
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(code(&out), 2, "{args:?}: {all}");
        assert!(all.contains(needle), "{args:?}: missing {needle:?} in {all}");
    }

    // 2: workflow code that does not import stops the run with ONE message, not one per
    // history; the JUnit file is an error report (not a half one, not a stale pass).
    let tmp = tempfile::tempdir().unwrap();
    let junit = tmp.path().join("junit.xml");
    let out = check(&["histories/", "-w", "tests/fixtures/code/import_error/workflows.py", "--junit", &path_str(&junit)], &[]);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    assert_eq!(err.matches("shop_pricing_engine").count(), 1, "{err}");
    assert!(err.contains("loading workflow code: importing"), "{err}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1, "only the JUnit file, no partial file left");
    let report = Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap()).unwrap();
    assert_eq!((report.tests, report.errors), (1, 1), "the report says error");
}

#[test]
fn fail_fast_stops_at_the_first_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("out.json");
    let out = check(
        &[
            "histories/order_fulfillment.json",
            "histories/shipping_quotes_parallel.json",
            "histories/invoice_timers.json",
            "histories/vendor_shipment_child.json",
            "histories/fraud_screening_local_activities.json",
            "-w",
            "histories/code_v2/workflows.py",
            "--jobs",
            "1",
            "--fail-fast",
            "--json",
            &path_str(&json),
        ],
        &[],
    );
    assert_eq!(code(&out), 1);
    let doc = read_json(&json);
    let s = &doc["summary"];
    assert_eq!(s["nondeterminism"], 1, "{s:#}");
    assert!(s["not_run"].as_u64().unwrap() > 0, "{s:#}");
    assert!(stdout(&out).contains("not run (--fail-fast)"));
}

/// A directory of small histories under names of its own (so the shard keys are ours).
fn small_corpus(dir: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, f) in ["order_fulfillment", "shipping_quotes_parallel", "invoice_timers", "vendor_shipment_child", "subscription_billing_last_run"]
        .iter()
        .enumerate()
    {
        for copy in 0..2 {
            let name = format!("sub{copy}/h{i}-{f}.json");
            let to = dir.join(&name);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(root().join(format!("histories/{f}.json")), &to).unwrap();
            names.insert(name);
        }
    }
    names
}

/// `--partition k/n` of `dir` run from `cwd`: the shard's files relative to `dir`.
fn shard(cwd: &Path, dir_arg: &str, k: u32, n: u32) -> BTreeSet<String> {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("out.json");
    let code_path = path_str(&root().join("histories/code/workflows.py"));
    let part = format!("{k}/{n}");
    let out = deja()
        .current_dir(cwd)
        .args(["check", dir_arg, "-w", &code_path, "--python-env", &path_str(&root().join(".venv")), "--partition", &part, "-q", "--json", &path_str(&json)])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let doc = read_json(&json);
    let prefix = format!("{}/", dir_arg.trim_end_matches('/'));
    doc["results"].as_array().unwrap().iter().map(|r| r["path"].as_str().unwrap().trim_start_matches(&prefix).to_string()).collect()
}

#[test]
fn partitions_cover_every_history_once_wherever_the_checkout_is() {
    let tmp = tempfile::tempdir().unwrap();
    let all = small_corpus(&tmp.path().join("corpus"));
    let n = 3;
    let shards: Vec<BTreeSet<String>> = (1..=n).map(|k| shard(tmp.path(), "corpus", k, n)).collect();
    let mut union = BTreeSet::new();
    for s in &shards {
        for f in s {
            assert!(union.insert(f.clone()), "{f} is in two shards: {shards:#?}");
        }
    }
    assert_eq!(union, all, "every history in exactly one shard");

    // The same files in another checkout (other absolute path, other spelling) land in the
    // same shards: the key is the path relative to the argument.
    let other = tempfile::tempdir().unwrap();
    let moved = other.path().join("deep/checkout");
    small_corpus(&moved.join("histories"));
    assert_eq!(shard(&moved, "./histories/", 1, n), shards[0]);
}

/// `DIR/hist/NAME.json` copies of shipped histories, for runs driven by a pyproject.toml.
fn copy_histories(dir: &Path, names: &[&str]) -> std::path::PathBuf {
    let hist = dir.join("hist");
    std::fs::create_dir_all(&hist).unwrap();
    for f in names {
        std::fs::copy(root().join(format!("histories/{f}.json")), hist.join(format!("{f}.json"))).unwrap();
    }
    hist
}

#[test]
fn plain_check_uses_histories_from_pyproject() {
    let tmp = tempfile::tempdir().unwrap();
    copy_histories(tmp.path(), &["order_fulfillment", "invoice_timers"]);
    let cfg = tmp.path().join("pyproject.toml");
    std::fs::write(
        &cfg,
        format!(
            "[tool.deja]\nworkflows = [\"{}\"]\npython-env = \"{}\"\nhistories = [\"hist/*.json\"]\njobs = 1\n",
            path_str(&root().join("histories/code/workflows.py")),
            path_str(&root().join(".venv"))
        ),
    )
    .unwrap();
    let out = deja().current_dir(tmp.path()).args(["check"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("2 histories in") && stdout(&out).contains("1 worker"), "{}", stdout(&out));
}

/// Four copies of one real history in a temp dir, checked by ONE worker (so a kept sandbox
/// would be handed from copy to copy), against code whose module state its runs change.
fn module_state_run(module: &str, extra: &[&str]) -> (Vec<String>, Value) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("copies");
    std::fs::create_dir(&dir).unwrap();
    let mut files = Vec::new();
    for i in 1..=4 {
        let f = dir.join(format!("order_{i}.json"));
        std::fs::copy(root().join("histories/order_fulfillment.json"), &f).unwrap();
        files.push(path_str(&f));
    }
    let json = path_str(&tmp.path().join("out.json"));
    let mut args = vec![path_str(&dir), "-w".into(), module.into(), "--jobs".into(), "1".into(), "--json".into(), json.clone()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = check(&argv, &[("DEJA_FRESH_SANDBOX", "")]);
    let doc = read_json(Path::new(&json));

    // The SDK re-imports the module for every run: every copy passes. So must deja.
    let file_refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let sdk = sdk_verdicts(module, &file_refs, false);
    for f in &files {
        assert_eq!(sdk[f]["verdict"], "pass", "the SDK's verdict on {f}: {:#}", sdk[f]);
        assert_eq!(result(&doc, f)["verdict"], "pass", "{f}: {:#}\n{}", result(&doc, f), stderr(&out));
    }
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut sandboxes: Vec<(String, String)> =
        doc["results"].as_array().unwrap().iter().map(|r| (r["path"].as_str().unwrap().to_string(), r["sandbox"].as_str().unwrap().to_string())).collect();
    sandboxes.sort();
    (sandboxes.into_iter().map(|(_, s)| s).collect(), doc)
}

#[test]
fn sandbox_reuse_never_changes_a_verdict() {
    // Module state changed by every run: a kept sandbox is dropped after each run, so at
    // most the first copy can run on one (it was verified pristine after validation).
    let (leaky, _) = module_state_run("tests/fixtures/code/module_state/leaky_state.py", &[]);
    assert!(leaky.iter().filter(|s| *s == "reused").count() <= 1, "{leaky:?}");
    // State in C that no fingerprint sees: never reused.
    let (hidden, doc) = module_state_run("tests/fixtures/code/module_state/hidden_state.py", &[]);
    assert_eq!(hidden, ["fresh"; 4], "{hidden:?}");
    let notes = doc["summary"]["sandbox_notes"].as_array().unwrap();
    assert!(notes.len() == 1 && notes[0].as_str().unwrap().contains("hidden_state['_rng'] holds state deja cannot check (random.Random)"), "{notes:?}");
    assert_eq!(doc["summary"]["sandbox"]["fresh"], 4);
    // Well-behaved code: reused from copy to copy (this is where check's speed comes from)…
    let (plain, doc) = module_state_run("histories/code/workflows.py", &[]);
    assert_eq!(plain, ["reused"; 4], "{plain:?}");
    assert_eq!(doc["summary"]["sandbox_notes"], serde_json::json!([]));
    // …unless asked not to.
    let (fresh, _) = module_state_run("histories/code/workflows.py", &["--fresh-sandbox"]);
    assert_eq!(fresh, ["fresh"; 4], "{fresh:?}");
}

#[test]
fn pyproject_timeout_and_fresh_sandbox_reach_the_workers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_histories(tmp.path(), &["order_fulfillment", "invoice_timers"]);
    std::fs::write(
        tmp.path().join("pyproject.toml"),
        format!(
            "[tool.deja]\nworkflows = [\"{}\", \"{}:InvoiceReminderWorkflow\"]\npython-env = \"{}\"\n\
             histories = [\"hist/*.json\"]\njobs = 1\ntimeout = 3\nfresh-sandbox = true\n",
            path_str(&root().join("tests/fixtures/code/hazards/block_workflow.py")),
            path_str(&root().join("histories/code/workflows.py")),
            path_str(&root().join(".venv"))
        ),
    )
    .unwrap();
    let out = deja().current_dir(tmp.path()).args(["check", "--json", "out.json"]).env_remove("DEJA_FRESH_SANDBOX").output().unwrap();
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    let doc = read_json(&tmp.path().join("out.json"));
    let blocked = result(&doc, &path_str(&dir.join("order_fulfillment.json")));
    assert_eq!((blocked["verdict"].as_str(), blocked["error_kind"].as_str()), (Some("error"), Some("timeout")), "{blocked:#}");
    assert!(blocked["message"].as_str().unwrap().contains("timed out after 3 s"), "{blocked:#}");
    let fine = result(&doc, &path_str(&dir.join("invoice_timers.json")));
    assert_eq!((fine["verdict"].as_str(), fine["sandbox"].as_str()), (Some("pass"), Some("fresh")), "{fine:#}");
}
