//! Several named workers in one repository (`[tool.deja.workers.NAME]`), through the real
//! binary on tests/fixtures/multi_worker: three services recorded on a dev server
//! (`histories/generate.py multi-worker`), two of which register a workflow type named
//! `ProcessWorkflow` with different code. Expected verdicts come from the SDK's own
//! Replayer (the fixture's manifest.json: every history against every service's code).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{code, deja, root, stderr, stdout};
use serde_json::Value;

fn fixture() -> PathBuf {
    root().join("tests/fixtures/multi_worker")
}

/// `deja ARGS` in the fixture repository, with the repo's venv.
fn in_fixture(args: &[&str]) -> Output {
    deja().current_dir(fixture()).env("VIRTUAL_ENV", root().join(".venv")).args(args).output().expect("deja runs")
}

/// The SDK's verdict for a fixture history replayed with a service's code, in deja's words.
fn sdk_verdict(history: &str, service: &str) -> &'static str {
    let m: Value = serde_json::from_slice(&std::fs::read(fixture().join("manifest.json")).unwrap()).unwrap();
    match m["histories"][history]["sdk_replay"][service].as_str().unwrap_or_else(|| panic!("{history} × {service} not in manifest")) {
        "pass" => "pass",
        "NondeterminismError" => "nondeterminism",
        // The Replayer's RuntimeError here is "workflow type not registered": deja's error row.
        "RuntimeError" => "error",
        other => panic!("unexpected SDK verdict {other}"),
    }
}

fn tmp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("deja-workers-{}-{name}", std::process::id()))
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("report written")).expect("valid JSON")
}

#[test]
fn every_named_worker_replays_its_own_histories_in_one_run() {
    let (j, x) = (tmp_path("all.json"), tmp_path("all.xml"));
    let out = in_fixture(&["check", "histories", "--json", &j.display().to_string(), "--junit", &x.display().to_string()]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let doc = json(&j);
    // Routed by path (billing), by task queue (shipping, wherever the file is), by type (audit).
    let expected = [
        ("histories/billing/process_inv-1001.json", "billing"),
        ("histories/billing/process_inv-1002.json", "billing"),
        ("histories/shipping/process_parcel-7.json", "shipping"),
        ("histories/misc/process_parcel-8.json", "shipping"),
        ("histories/misc/audit_q3-ledger.json", "audit"),
    ];
    let got: BTreeMap<String, (String, String)> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["path"].as_str().unwrap().to_string(), (r["worker"].as_str().unwrap_or("-").to_string(), r["verdict"].as_str().unwrap().to_string())))
        .collect();
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for (path, worker) in expected {
        let (w, v) = &got[path];
        assert_eq!((w.as_str(), v.as_str()), (worker, sdk_verdict(path, worker)), "{path}");
    }
    let workers = &doc["summary"]["workers"];
    assert_eq!((workers["billing"]["histories"].as_u64(), workers["shipping"]["pass"].as_u64(), workers["audit"]["pass"].as_u64()), (Some(2), Some(2), Some(1)), "{workers}");
    // One JUnit report, a testsuite per worker (the type names clash, the suites do not).
    let xml = std::fs::read_to_string(&x).unwrap();
    for suite in ["billing", "shipping", "audit"] {
        assert!(xml.contains(&format!("<testsuite name=\"{suite}\"")), "{xml}");
    }
    let text = stdout(&out);
    assert!(text.contains("worker billing: 2 histories · 2 pass") && text.contains("worker shipping: 2 histories · 2 pass"), "{text}");
    assert!(text.contains("5 histories") && text.contains("5 pass"), "{text}");
    let _ = (std::fs::remove_file(&j), std::fs::remove_file(&x));
}

#[test]
fn worker_flag_runs_one_worker_on_the_files_named() {
    // Billing's histories against shipping's ProcessWorkflow: the SDK says non-determinism.
    let j = tmp_path("one.json");
    let out = in_fixture(&["check", "--worker", "shipping", "histories/billing", "--json", &j.display().to_string()]);
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    let doc = json(&j);
    for r in doc["results"].as_array().unwrap() {
        let path = r["path"].as_str().unwrap();
        assert_eq!((r["worker"].as_str(), r["verdict"].as_str()), (Some("shipping"), Some(sdk_verdict(path, "shipping"))), "{path}");
    }
    assert_eq!(doc["results"].as_array().unwrap().len(), 2);
    // The failure group names its worker, so equal type names in two workers never merge.
    assert!(stdout(&out).contains("shipping: ProcessWorkflow nondeterminism"), "{}", stdout(&out));

    // --worker with no paths: that worker's share of the configured histories.
    let out = in_fixture(&["check", "--worker", "audit", "-o", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let paths: Vec<&str> = doc["results"].as_array().unwrap().iter().map(|r| r["path"].as_str().unwrap()).collect();
    // Paths from pyproject.toml are resolved against its directory (as in the one-worker form).
    assert!(paths.len() == 1 && paths[0].ends_with("tests/fixtures/multi_worker/histories/misc/audit_q3-ledger.json"), "{paths:?}");
    assert_eq!((doc["summary"]["files"].as_u64(), doc["summary"]["found"].as_u64()), (Some(1), Some(5)), "{}", doc["summary"]);

    let out = in_fixture(&["check", "--worker", "audit", "-w", "audit.workflows"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--worker audit and --workflows both say which code to run"), "{}", stderr(&out));

    let out = in_fixture(&["check", "--worker", "nope"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--worker nope: no such worker in [tool.deja.workers]; the workers are: audit, billing, shipping"), "{}", stderr(&out));
    let _ = std::fs::remove_file(&j);
}

#[test]
fn a_history_no_worker_claims_or_two_claim_stops_the_run_naming_the_choices() {
    let j = tmp_path("none.json");
    let out = in_fixture(&["check", "histories", "unrouted", "--json", &j.display().to_string()]);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    let err = stderr(&out);
    for needle in [
        "1 history matches no worker:",
        "unrouted/process_legacy.json (task queue legacy-tq, workflow type ProcessWorkflow)",
        "billing: histories histories/billing/*.json",
        "shipping: task queues shipping-tq",
        "audit: workflow types AuditWorkflow",
        "deja check --worker NAME",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(!stdout(&out).contains("pass"), "nothing is replayed: {}", stdout(&out));
    let report = json(&j);
    assert_eq!(report["exit_code"].as_u64(), Some(2), "the report file says error too: {report}");
    assert!(report["error"].as_str().unwrap().contains("unrouted/process_legacy.json"), "{report}");

    // Two workers claiming one file by path: ambiguous, with both names.
    let dir = tempfile::tempdir().unwrap();
    let f = fixture();
    let cfg = dir.path().join("pyproject.toml");
    std::fs::write(
        &cfg,
        format!(
            "[tool.deja.workers.a]\nworkflows=['billing.workflows']\npython-path=['{f}/services/billing']\nhistories=['{f}/histories/billing']\n\
             [tool.deja.workers.b]\nworkflows=['audit.workflows']\npython-path=['{f}/services/audit']\nhistories=['{f}/histories/**/*1001.json']\n",
            f = f.display()
        ),
    )
    .unwrap();
    let out = in_fixture(&["check", "--config", &cfg.display().to_string(), "histories/billing"]);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("1 history claimed by more than one worker:\n    histories/billing/process_inv-1001.json (claimed by a and b through histories (path))"),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_file(&j);
}

#[test]
fn replay_in_a_repo_of_named_workers_takes_worker() {
    let out = in_fixture(&["replay", "histories/misc/process_parcel-8.json"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("declares named workers (audit, billing, shipping): pass --worker NAME"), "{}", stderr(&out));
    let out = in_fixture(&["replay", "histories/misc/process_parcel-8.json", "--worker", "shipping", "-o", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = in_fixture(&["replay", "histories/misc/process_parcel-8.json", "--worker", "billing", "-o", "json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
}

#[test]
fn a_worker_whose_code_does_not_import_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture();
    let cfg = dir.path().join("pyproject.toml");
    std::fs::write(
        &cfg,
        format!(
            "[tool.deja.workers.billing]\nworkflows=['billing.workflows']\npython-path=['{f}/services/billing']\nhistories=['{f}/histories/billing']\n\
             [tool.deja.workers.shipping]\nworkflows=['shipping.no_such_module']\npython-path=['{f}/services/shipping']\ntask-queues=['shipping-tq']\n",
            f = f.display()
        ),
    )
    .unwrap();
    let out = in_fixture(&["check", "--config", &cfg.display().to_string(), "histories/billing", "histories/shipping"]);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("worker shipping: ") && err.contains("shipping.no_such_module"), "{err}");
    assert!(!err.contains("Traceback"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Start-up sharing: the pool's other workers are forked from the first one after its
// interpreter is up (check::fork). A forked worker must be contained exactly like a
// spawned one: its real signal in the crash row, killed on --timeout, gone with deja.
// ---------------------------------------------------------------------------------------

/// Two histories whose workflow code crashes/blocks, `-j 2`: one per worker, so the
/// forked worker holds one of them.
fn hazard_pair(hazard: &str, extra: &[&str], env: &[(&str, &str)]) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("out.json");
    let module = format!("tests/fixtures/code/hazards/{hazard}_workflow.py");
    let mut c = deja();
    c.args(["check", "histories/order_fulfillment.json", "histories/cli/order_fulfillment.json", "-w", &module, "-j", "2", "-vv", "--json"]);
    c.arg(&j).args(extra).env("DEJA_STARTUP_TRACE", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let doc = json(&j);
    (out, doc)
}

fn messages(doc: &Value) -> Vec<String> {
    doc["results"].as_array().unwrap().iter().map(|r| format!("{} {}", r["error_kind"], r["message"])).collect()
}

#[test]
fn a_forked_worker_is_contained_like_a_spawned_one() {
    let (out, doc) = hazard_pair("segfault", &[], &[]);
    let err = stderr(&out);
    assert!(err.contains("[worker 2] deja-startup-ms: ") && err.contains(" forked="), "worker 2 was not forked:\n{err}");
    let m = messages(&doc);
    assert_eq!(m.len(), 2, "{m:?}");
    for msg in &m {
        // The pool waited for the forked worker itself: the real signal, not "vanished".
        assert!(msg.contains("\"crash\"") && msg.contains("worker crashed: signal 11 (SIGSEGV)"), "{m:?}");
    }

    let (out, doc) = hazard_pair("block", &["--timeout", "2"], &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    for msg in messages(&doc) {
        assert!(msg.contains("\"timeout\"") && msg.contains("timed out after 2 s"), "{msg}");
    }

    // DEJA_WORKER_FORK=0: every worker spawned, same verdicts.
    let (out, doc) = hazard_pair("segfault", &[], &[("DEJA_WORKER_FORK", "0")]);
    assert!(!stderr(&out).contains(" forked="), "{}", stderr(&out));
    assert!(messages(&doc).iter().all(|m| m.contains("signal 11 (SIGSEGV)")), "{:?}", messages(&doc));
}

/// Processes whose environment carries `marker` (workers inherit deja's environment,
/// forked ones too).
fn processes_with(marker: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        if let Ok(env) = std::fs::read(e.path().join("environ"))
            && env.split(|&b| b == 0).any(|kv| kv == marker.as_bytes())
        {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            if !stat.contains(") Z ") {
                pids.push(pid);
            }
        }
    }
    pids
}

#[test]
fn forked_workers_die_with_deja() {
    let marker = format!("DEJA_TEST_MARKER={}", std::process::id());
    let (k, v) = marker.split_once('=').unwrap();
    let mut child = deja()
        .args(["check", "histories/order_fulfillment.json", "histories/cli/order_fulfillment.json", "-w", "tests/fixtures/code/hazards/block_workflow.py", "-j", "2"])
        .env(k, v)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // deja + its two workers, both blocked in workflow code.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while processes_with(&marker).len() < 3 {
        assert!(std::time::Instant::now() < deadline, "workers never started: {:?}", processes_with(&marker));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    child.kill().unwrap(); // SIGKILL: no clean-up code runs in deja
    child.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !processes_with(&marker).is_empty() {
        assert!(std::time::Instant::now() < deadline, "workers outlived deja: {:?}", processes_with(&marker));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_few_small_histories_start_one_worker_unless_jobs_says_more() {
    let three = ["histories/invoice_timers.json", "histories/refund_patched.json", "histories/shopping_cart.json"];
    let started = |extra: &[&str]| {
        let out = deja()
            .args(["check", "-w", "histories/code/workflows.py", "-vv"])
            .args(three)
            .args(extra)
            .env("DEJA_STARTUP_TRACE", "1")
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let err = stderr(&out);
        // Each worker writes its start-up line once it is ready.
        let workers: std::collections::BTreeSet<&str> =
            err.lines().filter(|l| l.contains("deja-startup-ms: ") && l.contains(" code=")).filter_map(|l| l.split(']').next()).collect();
        (workers.len(), err)
    };
    let (n, err) = started(&[]);
    assert_eq!(n, 1, "{err}");
    assert!(err.contains("3 histories with 1 worker"), "{err}");
    // (Whether the second worker gets ready before the first has replayed all three is a
    // race: the plan is what is checked.)
    let (_, err) = started(&["-j", "2"]);
    assert!(err.contains("3 histories with 2 workers"), "an explicit --jobs is kept:\n{err}");
}
