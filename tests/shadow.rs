//! `deja shadow` against a real dev server: 200 corpus workflows of twelve types are run on
//! it (`histories/generate.py populate`), then shadowed by two real `deja shadow worker`
//! processes running the changed code (`histories/code_v2`), one of them killed mid-run.
//! The totals must equal the runs sampled, and the failing runs must be exactly those
//! `deja check --query` reports for the same set.

#[path = "../crates/deja-fetch/tests/support/mod.rs"]
mod support;
mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{code, deja, stderr, stdout};
use serde_json::Value;

const QUERY: &str = "TaskQueue = 'deja-samples'";
const CODE_V2: &str = "histories/code_v2/workflows.py";

/// A `deja shadow worker` process, killed (SIGKILL) when dropped.
struct Worker(Child);

impl Worker {
    fn start(address: &str, tq: &str, log: &std::path::Path) -> Worker {
        let log = std::fs::File::create(log).unwrap();
        let child = deja()
            .args(["shadow", "worker", "--task-queue", tq, "-w", CODE_V2, "--address", address])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Worker(child)
    }

    /// Wait for the worker's "polling …" line (its SDK workers have started).
    fn wait_ready(log: &std::path::Path) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !std::fs::read_to_string(log).unwrap_or_default().contains("polling") {
            assert!(Instant::now() < deadline, "worker not ready: {}", std::fs::read_to_string(log).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether the server shows a replay activity of run `id` started by the worker with this pid.
fn replaying_on(address: &str, id: &str, pid: u32) -> bool {
    let o = Command::new(support::temporal_cli()).args(["workflow", "describe", "-w", id, "--address", address, "-o", "json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let me = format!("{pid}@");
    v["pendingActivities"].as_array().is_some_and(|acts| {
        acts.iter().any(|a| a["state"] == "PENDING_ACTIVITY_STATE_STARTED" && a["lastWorkerIdentity"].as_str().is_some_and(|w| w.starts_with(&me)))
    })
}

fn status(address: &str, id: &str) -> Option<Value> {
    let o = deja().args(["shadow", "status", id, "--json", "--address", address]).output().unwrap();
    serde_json::from_slice(&o.stdout).ok()
}

/// Poll `status --json` until `done` holds (panics with the last status after `secs`).
fn wait_for(address: &str, id: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = status(address, id);
        if let Some(s) = s.filter(|s| done(s)) {
            return s;
        }
        assert!(Instant::now() < deadline, "{id}: still waiting after {secs} s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every failing (workflow id, run id) the aggregate names, checking none is named twice.
fn failing_runs(agg: &Value) -> BTreeSet<(String, String)> {
    let mut seen = BTreeSet::new();
    for g in agg["groups"].as_object().unwrap().values() {
        let hs = g["histories"].as_array().unwrap();
        assert_eq!(hs.len() as u64, g["count"].as_u64().unwrap(), "a group lists every run (fewer than 200)");
        for h in hs {
            let key = (h[0].as_str().unwrap().to_string(), h[1].as_str().unwrap().to_string());
            assert!(seen.insert(key.clone()), "{key:?} counted twice");
        }
    }
    seen
}

fn counts_total(agg: &Value) -> u64 {
    agg["counts"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum()
}

#[test]
fn a_worker_fleet_shadows_production_and_survives_a_killed_worker() {
    let server = support::TestServer::start();
    let address = server.address.clone();
    let tmp = tempfile::tempdir().unwrap();

    // 200 workflows of twelve types (continue-as-new chains add runs).
    let populate = Command::new(support::python())
        .args(["histories/generate.py", "populate", "--address", &address, "--count", "200"])
        .current_dir(common::root())
        .output()
        .unwrap();
    assert!(populate.status.success(), "{:?}\n{}\n{}", populate.status, String::from_utf8_lossy(&populate.stdout), String::from_utf8_lossy(&populate.stderr));
    let line = String::from_utf8_lossy(&populate.stdout);
    let recorded: Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    let runs = recorded["runs"].as_u64().unwrap();
    assert!(runs >= 200, "{recorded}");

    // The oracle: deja check on the same set.
    let check_json = tmp.path().join("check.json");
    let check = deja()
        .args(["check", "--address", &address, "--query", QUERY, "-w", CODE_V2, "-q", "--json", check_json.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(code(&check), 1, "{}", stderr(&check));
    let check: Value = serde_json::from_slice(&std::fs::read(&check_json).unwrap()).unwrap();
    let results = check["results"].as_array().unwrap();
    assert_eq!(results.len() as u64, runs);
    let check_failing: BTreeSet<(String, String)> = results
        .iter()
        .filter(|r| r["verdict"] != "pass" || r["drift_failed"] == true)
        .map(|r| (r["workflow_id"].as_str().unwrap().to_string(), r["run_id"].as_str().unwrap().to_string()))
        .collect();
    assert!(check_failing.len() > 20, "the changed code breaks some runs: {}", check_failing.len());

    // Two shadow workers; the run is started with small batches, a short heartbeat timeout
    // and an early continue-as-new, so the kill lands mid-run and the chain is exercised.
    let mut w1 = Worker::start(&address, "shadow-it", &tmp.path().join("w1.log"));
    let _w2 = Worker::start(&address, "shadow-it", &tmp.path().join("w2.log"));
    Worker::wait_ready(&tmp.path().join("w1.log"));
    Worker::wait_ready(&tmp.path().join("w2.log"));
    let out_json = tmp.path().join("shadow.json");
    let junit = tmp.path().join("shadow.xml");
    let start = deja()
        .args(["shadow", "start", "--task-queue", "shadow-it", "--query", QUERY, "--id", "shadow-full"])
        .args(["--batch-size", "2", "--concurrency", "2", "--heartbeat-timeout", "3s", "--continue-as-new-after", "200"])
        .args(["--wait", "--json", out_json.to_str().unwrap(), "--junit", junit.to_str().unwrap(), "--address", &address])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let killed_at = loop {
        assert!(Instant::now() < deadline, "the shadow run made no progress");
        // Kill the first worker while it is replaying a batch: freeze it, ask the server
        // whether it holds a started replay activity, kill it if so, else let it go on.
        if let Some(s) = status(&address, "shadow-full")
            && s["replayed"].as_u64().unwrap_or(0) >= 20
        {
            let pid = w1.0.id();
            unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
            if replaying_on(&address, "shadow-full", pid) {
                w1.kill();
                break s;
            }
            unsafe { libc::kill(pid as i32, libc::SIGCONT) };
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(killed_at["state"], "running", "the worker was killed mid-run: {killed_at}");
    let start = start.wait_with_output().unwrap();
    assert_eq!(code(&start), 1, "{}\n{}", stdout(&start), stderr(&start));
    assert_eq!(stdout(&start).lines().next().unwrap(), "shadow-full");
    let agg: Value = serde_json::from_slice(&std::fs::read(&out_json).unwrap()).unwrap();
    assert_eq!(agg["schema"], "deja.shadow/v1");
    assert_eq!(agg["state"], "completed");
    assert_eq!(agg["sampled"].as_u64().unwrap(), runs, "{agg}");
    assert_eq!(agg["replayed"].as_u64().unwrap(), runs, "every sampled run counted once: {agg}");
    assert_eq!(counts_total(&agg), runs);
    assert_eq!(agg["unavailable"], 0);
    assert!(agg["runs"].as_u64().unwrap() > 1, "continued as new: {}", agg["runs"]);
    // The killed worker's batch timed out on its heartbeat and finished on the other one.
    assert!(agg["retried_batches"].as_u64().unwrap() >= 1, "{agg}");
    assert_eq!(failing_runs(&agg), check_failing, "shadow and check disagree on which runs fail");
    assert_eq!(agg["calls"]["fetch"].as_u64().unwrap(), runs, "one history page per (small) run");
    // Every group carries an example report of one of its runs.
    for g in agg["groups"].as_object().unwrap().values() {
        assert!(g["example"]["text"].as_str().unwrap().contains("first divergence") || g["verdict"] != "nondeterminism", "{g}");
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(&format!("failures=\"{}\"", check_failing.len())), "{xml}");
    assert!(stdout(&start).contains("Not replayed clean, by cause"), "{}", stdout(&start));
    // status reads the finished run's result; -v adds the example reports.
    let st = deja().args(["shadow", "status", "shadow-full", "--address", &address]).output().unwrap();
    assert_eq!(code(&st), 1, "{}", stderr(&st));
    assert!(stdout(&st).contains("completed") && !stdout(&st).contains("first divergence"), "{}", stdout(&st));
    let st = deja().args(["shadow", "status", "shadow-full", "-v", "--address", &address]).output().unwrap();
    assert!(stdout(&st).contains("first divergence"), "{}", stdout(&st));

    // Sampling: the one worker left replays ~30 % of the runs (a hash of the run id).
    let sampled = deja()
        .args(["shadow", "start", "--task-queue", "shadow-it", "--query", QUERY, "--id", "shadow-sample"])
        .args(["--sample-rate", "0.3", "--batch-size", "10", "--wait", "--json", out_json.to_str().unwrap(), "--address", &address])
        .output()
        .unwrap();
    assert!([0, 1].contains(&code(&sampled)), "{}", stderr(&sampled));
    let agg: Value = serde_json::from_slice(&std::fs::read(&out_json).unwrap()).unwrap();
    let n = agg["sampled"].as_u64().unwrap() as f64;
    let (mean, sd) = (runs as f64 * 0.3, (runs as f64 * 0.3 * 0.7).sqrt());
    assert!((n - mean).abs() <= 4.0 * sd, "sampled {n} of {runs} at rate 0.3");
    assert_eq!(agg["replayed"], agg["sampled"]);
    assert_eq!(agg["scanned"].as_u64().unwrap(), runs, "the shadow workflow's own runs are not scanned");
    let sample_failing = failing_runs(&agg);
    assert!(sample_failing.is_subset(&check_failing));

    // --max, --continuous and stop: the run replays 15, then waits for its next pass; stop
    // cancels it cleanly and keeps the totals.
    let started = deja()
        .args(["shadow", "start", "--task-queue", "shadow-it", "--query", QUERY, "--id", "shadow-stop"])
        .args(["--max", "15", "--continuous", "--interval", "1h", "--address", &address])
        .output()
        .unwrap();
    assert_eq!(code(&started), 0, "{}", stderr(&started));
    wait_for(&address, "shadow-stop", 60, |s| s["replayed"] == 15);
    let stop = deja().args(["shadow", "stop", "shadow-stop", "--address", &address]).output().unwrap();
    assert_eq!(code(&stop), 0, "{}", stderr(&stop));
    let s = status(&address, "shadow-stop").unwrap();
    assert_eq!(s["state"], "completed", "--max ends a continuous run: {s}");

    let started = deja()
        .args(["shadow", "start", "--task-queue", "shadow-it", "--query", QUERY, "--id", "shadow-cancel"])
        .args(["--continuous", "--interval", "1h", "--batch-size", "1", "--concurrency", "1", "--address", &address])
        .output()
        .unwrap();
    assert_eq!(code(&started), 0, "{}", stderr(&started));
    std::thread::sleep(Duration::from_millis(1500));
    let stop = deja().args(["shadow", "stop", "shadow-cancel", "--address", &address]).output().unwrap();
    assert_eq!(code(&stop), 0, "{}", stderr(&stop));
    assert!(stdout(&stop).contains("cancelled"), "{}", stdout(&stop));
    let s = status(&address, "shadow-cancel").unwrap();
    assert_eq!(s["state"], "cancelled");
    assert_eq!(counts_total(&s), s["replayed"].as_u64().unwrap());

    // --expire: a continuous run waiting an hour for its next pass ends when it expires.
    let started = deja()
        .args(["shadow", "start", "--task-queue", "shadow-it", "--query", QUERY, "--id", "shadow-expire"])
        .args(["--continuous", "--interval", "1h", "--expire", "4s", "--sample-rate", "0.5", "--address", &address])
        .output()
        .unwrap();
    assert_eq!(code(&started), 0, "{}", stderr(&started));
    let s = wait_for(&address, "shadow-expire", 60, |s| s["state"] != "running");
    assert_eq!(s["state"], "expired", "{s}");
    // Expiry stops dispatching; what was in flight is counted, what was queued is not.
    assert_eq!(s["replayed"].as_u64().unwrap() + s["queued"].as_u64().unwrap(), s["sampled"].as_u64().unwrap(), "{s}");
    assert!(s["finished_at"].as_f64().unwrap() - s["started_at"].as_f64().unwrap() < 30.0, "{s}");

    // Bad input: a query the server refuses, an unknown run, a bad rate — exit 2, one line.
    let bad = deja().args(["shadow", "start", "--task-queue", "shadow-it", "--query", "Nonsense = 'x'", "--address", &address]).output().unwrap();
    assert_eq!(code(&bad), 2);
    assert!(stderr(&bad).contains("Nonsense"), "{}", stderr(&bad));
    let bad = deja().args(["shadow", "status", "no-such-run", "--address", &address]).output().unwrap();
    assert_eq!(code(&bad), 2);
    assert!(stderr(&bad).contains("no-such-run"), "{}", stderr(&bad));
    // A run nobody works on: status says so at once instead of waiting on the query.
    let orphan = deja().args(["shadow", "start", "--task-queue", "nobody-polls-this", "--id", "orphan", "--address", &address]).output().unwrap();
    assert_eq!(code(&orphan), 0, "{}", stderr(&orphan));
    let t = Instant::now();
    let bad = deja().args(["shadow", "status", "orphan", "--address", &address]).output().unwrap();
    assert_eq!(code(&bad), 2);
    assert!(stderr(&bad).contains("no `deja shadow worker --task-queue nobody-polls-this`"), "{}", stderr(&bad));
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // --wait on a run that is terminated from outside ends (exit 2) instead of waiting on.
    let waiting = deja()
        .args(["shadow", "start", "--task-queue", "nobody-polls-this", "--id", "orphan-wait", "--wait", "--address", &address])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let term = Command::new(support::temporal_cli())
        .args(["workflow", "terminate", "--workflow-id", "orphan-wait", "--reason", "test", "--address", &address])
        .output()
        .unwrap();
    assert!(term.status.success(), "{}", String::from_utf8_lossy(&term.stderr));
    let mut waiting = waiting;
    let deadline = Instant::now() + Duration::from_secs(30);
    while waiting.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = waiting.kill();
            panic!("--wait kept waiting on a terminated run");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let waited = waiting.wait_with_output().unwrap();
    assert_eq!(code(&waited), 2, "{}", stderr(&waited));
    assert!(stderr(&waited).contains("is terminated"), "{}", stderr(&waited));
    let bad = deja().args(["shadow", "worker", "--task-queue", "q", "-w", CODE_V2, "--baseline", "HEAD~1", "--address", &address]).output().unwrap();
    assert_eq!(code(&bad), 2);
    assert!(stderr(&bad).contains("--baseline HEAD~1"), "{}", stderr(&bad));
    let bad = deja().args(["shadow", "start", "--task-queue", "q", "--sample-rate", "1.5", "--address", &address]).output().unwrap();
    assert_eq!(code(&bad), 2);
    assert!(stderr(&bad).contains("--sample-rate"), "{}", stderr(&bad));
}

/// Faults the run must ride out: histories deleted between listing and replay are error
/// rows ("unavailable"), not a failed run; the server going away and coming back (same
/// database) is waited out, and the run finishes with every sampled run counted once.
#[test]
fn a_shadow_run_rides_out_deleted_histories_and_a_server_restart() {
    let mut server = support::TestServer::start();
    let address = server.address.clone();
    let tmp = tempfile::tempdir().unwrap();
    let populate = Command::new(support::python())
        .args(["histories/generate.py", "populate", "--address", &address, "--count", "80", "--seed", "11"])
        .current_dir(common::root())
        .output()
        .unwrap();
    assert!(populate.status.success(), "{:?}\n{}\n{}", populate.status, String::from_utf8_lossy(&populate.stdout), String::from_utf8_lossy(&populate.stderr));
    let temporal = |args: &[&str]| Command::new(support::temporal_cli()).args(args).args(["--address", &address]).output().unwrap();
    let listed: Value = serde_json::from_slice(&temporal(&["workflow", "list", "--query", QUERY, "-o", "json"]).stdout).unwrap();
    let runs: Vec<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["execution"]["workflowId"].as_str().unwrap().into(), e["execution"]["runId"].as_str().unwrap().into()))
        .collect();
    assert!(runs.len() >= 80);

    // The code that recorded them: every run that can be fetched passes.
    let log = tmp.path().join("w.log");
    let mut w = Worker(
        deja()
            .args(["shadow", "worker", "--task-queue", "shadow-faults", "-w", "histories/code/workflows.py", "--address", &address])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(tmp.path().join("w.err")).unwrap())
            .spawn()
            .unwrap(),
    );
    let _ = &mut w;
    let err = tmp.path().join("w.err");
    Worker::wait_ready(&err);
    let started = deja()
        .args(["shadow", "start", "--task-queue", "shadow-faults", "--query", QUERY, "--id", "shadow-faults"])
        .args(["--batch-size", "1", "--concurrency", "1", "--heartbeat-timeout", "3s", "--address", &address])
        .output()
        .unwrap();
    assert_eq!(code(&started), 0, "{}", stderr(&started));
    // Once the listing is in, freeze the worker, delete ten runs, restart the server.
    let at_freeze = wait_for(&address, "shadow-faults", 60, |s| s["sampled"].as_u64() == Some(runs.len() as u64));
    let pid = w.0.id() as i32;
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    eprintln!("frozen at {} replayed", at_freeze["replayed"]);
    // Batches follow the listing's order: the last ten listed are replayed last.
    let deleted: Vec<&(String, String)> = runs.iter().rev().take(10).collect();
    for (wid, rid) in &deleted {
        let o = temporal(&["workflow", "delete", "--yes", "--workflow-id", wid, "--run-id", rid]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // The server carries deletions out asynchronously: wait until each history is gone.
    let t0 = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    for (wid, rid) in &deleted {
        while temporal(&["workflow", "show", "--workflow-id", wid, "--run-id", rid]).status.success() {
            assert!(Instant::now() < deadline, "{wid} {rid} still there after it was deleted");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    eprintln!("deleted in {:?}", t0.elapsed());
    server.restart(Duration::from_secs(3));
    unsafe { libc::kill(pid, libc::SIGCONT) };

    let s = wait_for(&address, "shadow-faults", 120, |s| s["state"] != "running");
    assert_eq!(s["state"], "completed", "{s}");
    assert_eq!(s["sampled"].as_u64().unwrap(), runs.len() as u64);
    assert_eq!(s["replayed"], s["sampled"], "{s}");
    let unavailable = s["unavailable"].as_u64().unwrap();
    let gone = temporal(&["workflow", "show", "--workflow-id", &deleted[0].0, "--run-id", &deleted[0].1]);
    assert!((1..=10).contains(&unavailable), "deleted runs not yet replayed are unavailable: {s}\n{}", String::from_utf8_lossy(&gone.stderr));
    assert_eq!(s["counts"]["pass"].as_u64().unwrap() + unavailable, runs.len() as u64, "{s}");
    let st = deja().args(["shadow", "status", "shadow-faults", "--address", &address]).output().unwrap();
    assert_eq!(code(&st), 0, "a history that could not be fetched does not fail the run: {}", stdout(&st));
    assert!(stdout(&st).contains("unavailable"), "{}", stdout(&st));
}
