//! deja against a real Temporal dev server (started by the test on a free loopback port):
//! fetch to files, replay straight from the server, incremental re-fetch.

#[path = "../crates/deja-fetch/tests/support/mod.rs"]
mod support;
mod common;

use common::{code, deja, stderr, stdout};

const WORKLOADS: &str = "crates/deja-fetch/tests/support/workloads.py";

#[test]
fn fetch_then_replay_and_replay_straight_from_the_server() {
    let s = support::shared();
    let address = s.server.address.clone();
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().to_str().unwrap();
    let q = s.manifest.query.clone();

    let fetch = deja().args(["fetch", "--address", &address, "--query", &q, "--out", out_dir]).output().unwrap();
    assert_eq!(code(&fetch), 0, "{}", stderr(&fetch));
    let is_running = |st: &str| st.to_ascii_lowercase().contains("running");
    let closed: Vec<_> = s.manifest.runs.iter().filter(|r| !is_running(&r.status)).collect();
    assert!(!closed.is_empty());
    for r in &closed {
        let path = deja_fetch::store::history_path(out.path(), &r.workflow_type, &r.workflow_id, &r.run_id);
        assert!(path.is_file(), "{} was not written", path.display());
        // Every fetched file replays clean against the code that produced it.
        let rep = deja().args(["replay", path.to_str().unwrap(), "-w", WORKLOADS]).output().unwrap();
        let text = stdout(&rep);
        if r.status.to_ascii_lowercase().contains("completed") {
            assert_eq!(code(&rep), 0, "{}: {text}{}", path.display(), stderr(&rep));
        }
    }
    // Incremental: nothing closed is downloaded twice.
    let again = deja().args(["fetch", "--address", &address, "--query", &q, "--out", out_dir]).output().unwrap();
    let err = stderr(&again);
    assert_eq!(code(&again), 0, "{err}");
    assert!(err.contains(&format!("{} already on disk", closed.len())), "{err}");

    // Replay straight from the server by workflow id.
    let one = closed.iter().find(|r| r.status.to_ascii_lowercase().contains("completed")).unwrap();
    let rep = deja()
        .args(["replay", "--workflow-id", &one.workflow_id, "--address", &address, "-w", WORKLOADS, "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(code(&rep), 0, "{}", stderr(&rep));
    let r: serde_json::Value = serde_json::from_slice(&rep.stdout).unwrap();
    assert_eq!(r["verdict"], "pass");
    assert!(r["history"]["source"].as_str().unwrap().starts_with("server:default/"), "{}", r["history"]["source"]);

    // check --query: fetched and replayed in one go; the verdicts equal those from the files.
    let from_server = out.path().join("from-server.json");
    let from_files = out.path().join("from-files.json");
    let q_run = deja()
        .args(["check", "--address", &address, "--query", &q, "-w", WORKLOADS, "--json", from_server.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    let f_run = deja().args(["check", out_dir, "-w", WORKLOADS, "--json", from_files.to_str().unwrap(), "-q"]).output().unwrap();
    assert_eq!(code(&q_run), code(&f_run), "server: {}\nfiles: {}", stderr(&q_run), stderr(&f_run));
    let verdicts = |p: &std::path::Path| {
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        let mut v: Vec<(String, String)> = doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (format!("{}/{}", h["workflow_id"].as_str().unwrap_or(""), h["run_id"].as_str().unwrap_or("")), h["verdict"].as_str().unwrap_or("").to_string()))
            .collect();
        v.sort();
        v
    };
    let (a, b) = (verdicts(&from_server), verdicts(&from_files));
    assert_eq!(a.len(), s.manifest.runs.len(), "every run matched by the query was checked: {a:?}");
    assert_eq!(a, b, "check --query and check of the downloaded files agree");

    // A workflow that does not exist: one line, exit 2.
    let missing = deja().args(["replay", "--workflow-id", "no-such-wf", "--address", &address, "-w", WORKLOADS]).output().unwrap();
    assert_eq!(code(&missing), 2);
    assert_eq!(stderr(&missing).trim().lines().count(), 1, "{}", stderr(&missing));
}
