//! Shared test helpers: the real `deja` binary with a clean environment, the manifest of
//! sample histories, and the plain-SDK oracle.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `deja` with an environment that cannot leak into results (bat/ruff habit): no
/// TEMPORAL_*, NO_COLOR, PYTHONPATH, VIRTUAL_ENV or CI annotations; cwd = repo root so
/// `./.venv` is the Python environment.
pub fn deja() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_deja"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TEMPORAL_") || ["NO_COLOR", "PYTHONPATH", "VIRTUAL_ENV", "GITHUB_ACTIONS", "CLICOLOR_FORCE"].contains(&k.as_str()) {
            c.env_remove(k);
        }
    }
    c.current_dir(root());
    c
}

pub fn run(args: &[&str]) -> Output {
    deja().args(args).output().expect("deja runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn manifest() -> Value {
    serde_json::from_slice(&std::fs::read(root().join("histories/manifest.json")).expect("manifest")).expect("manifest JSON")
}

/// The plain SDK's verdicts (scripts/sdk_replay.py: from_json + Replayer, no deja code),
/// keyed by file as given.
pub fn sdk_verdicts(workflows: &str, files: &[&str], unsandboxed: bool) -> std::collections::HashMap<String, Value> {
    sdk_verdicts_in(&root().join(".venv"), workflows, files, unsandboxed)
}

/// [`sdk_verdicts`] with the temporalio of another environment (the SDK version matrix).
pub fn sdk_verdicts_in(env: &Path, workflows: &str, files: &[&str], unsandboxed: bool) -> std::collections::HashMap<String, Value> {
    let mut c = Command::new(env.join("bin/python"));
    c.env("PYTHONDONTWRITEBYTECODE", "1");
    c.current_dir(root()).arg("scripts/sdk_replay.py").args(["--workflows", workflows, "--batch"]);
    if unsandboxed {
        c.arg("--unsandboxed");
    }
    let out = c.args(files).output().expect("sdk_replay.py runs");
    assert!(out.status.success(), "sdk_replay.py failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("file").is_some())
        .map(|v| (v["file"].as_str().unwrap().to_string(), v))
        .collect()
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}
