//! The SDK version matrix: on every temporalio release deja supports, deja's verdict for a
//! history equals that release's own `Replayer` verdict (scripts/sdk_replay.py run in the
//! same environment), for the shipped histories replayed against the code that wrote them
//! and against the next deploy (histories/code_v2), sandboxed and not; the diff is read
//! from that release's activations (their protos differ from the ones deja vendors); and a
//! release older than the supported range is refused with one line naming what to do.
//!
//! Each release lives in its own cached venv under `target/sdk-venvs/` (made by
//! scripts/sdk-venv.sh on first use; later runs reuse it). `DEJA_SDK_MATRIX=quick` runs the
//! oldest supported release and 1.32 only (the one whose activation protos are
//! renumbered); the default is the full matrix. The pinned release (python/requirements.txt)
//! is covered by every other test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

fn quick() -> bool {
    std::env::var("DEJA_SDK_MATRIX").is_ok_and(|v| v == "quick")
}

/// The cached venv for `version`, made on first use.
fn venv(version: &str) -> PathBuf {
    let out = Command::new("bash").arg(root().join("scripts/sdk-venv.sh")).arg(version).current_dir(root()).output().expect("sdk-venv.sh runs");
    assert!(out.status.success(), "making the temporalio {version} venv failed: {}", stderr(&out));
    root().join("target/sdk-venvs").join(version)
}

/// The top-level shipped histories (the big one included).
fn histories() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("histories"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json") && p.file_name().is_some_and(|n| n != "manifest.json"))
        .map(|p| format!("histories/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    files.sort();
    files
}

/// deja check's verdicts under `env`, keyed by path as given.
fn deja_verdicts(env: &Path, workflows: &str, files: &[String], unsandboxed: bool) -> std::collections::HashMap<String, (String, Value)> {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("check.json");
    let mut c = deja();
    c.args(["check", "--quiet", "--workflows", workflows, "--python-env"]).arg(env).arg("--json").arg(&json);
    if unsandboxed {
        c.arg("--unsandboxed");
    }
    let out = c.args(files).output().unwrap();
    assert!([0, 1].contains(&code(&out)), "deja check under {}: exit {}\n{}", env.display(), code(&out), stderr(&out));
    let doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["path"].as_str().unwrap().to_string(), (r["verdict"].as_str().unwrap().to_string(), r["error_kind"].clone())))
        .collect()
}

fn agree(version: &str) {
    let env = venv(version);
    let files = histories();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let mut compared = 0;
    for (workflows, unsandboxed) in [("histories/code/workflows.py", false), ("histories/code_v2/workflows.py", false), ("histories/code_v2/workflows.py", true)] {
        let ours = deja_verdicts(&env, workflows, &files, unsandboxed);
        let sdk = sdk_verdicts_in(&env, workflows, &refs, unsandboxed);
        for f in &files {
            let want = &sdk[f.as_str()];
            let (verdict, kind) = &ours[f.as_str()];
            assert_eq!(
                (verdict.as_str(), kind),
                (want["verdict"].as_str().unwrap(), &want["error_kind"]),
                "temporalio {version}: {f} with {workflows} (unsandboxed: {unsandboxed}): deja vs the SDK's own Replayer ({})",
                want["message"]
            );
            compared += 1;
        }
    }
    assert_eq!(compared, files.len() * 3);

    // The diff is read from this release's own activations and completions.
    let out = deja()
        .args(["replay", "histories/shopping_cart.json", "--workflows", "histories/code_v2/workflows.py", "-o", "json", "--python-env"])
        .arg(&env)
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &doc["divergence"]["row"];
    assert_eq!(row["recorded"]["event_id"], 23, "{row}");
    assert_eq!(row["recorded"]["item"]["event_type"], "ActivityTaskScheduled", "{row}");
    assert_eq!(row["emitted"]["item"]["command"], "StartTimer", "{row}");
    assert!(row["emitted"]["site"]["file"].as_str().unwrap().ends_with("code_v2/workflows.py"), "{row}");
    assert_eq!(row["emitted"]["site"]["line"], 225, "{row}");

    // --version names the release and says it is supported.
    let out = deja().arg("--version").env("VIRTUAL_ENV", &env).output().unwrap();
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains(&format!("temporalio {version} (supported; deja supports 1.10.0 to 1.35.x)")), "{}", stdout(&out));
}

macro_rules! matrix {
    ($($name:ident => $version:literal, in_quick: $quick:literal;)*) => {$(
        #[test]
        fn $name() {
            if quick() && !$quick {
                eprintln!("DEJA_SDK_MATRIX=quick: temporalio {} not run", $version);
                return;
            }
            agree($version);
        }
    )*};
}

matrix! {
    temporalio_1_10_0 => "1.10.0", in_quick: true;
    temporalio_1_16_0 => "1.16.0", in_quick: false;
    temporalio_1_19_0 => "1.19.0", in_quick: false;
    temporalio_1_24_0 => "1.24.0", in_quick: false;
    temporalio_1_28_0 => "1.28.0", in_quick: false;
    temporalio_1_32_0 => "1.32.0", in_quick: true;
}

/// A release before the supported range: one line naming the version, the range and the
/// fix, exit 2, for replay and check alike; `--version` still answers.
#[test]
fn a_release_older_than_supported_is_refused_with_the_fix() {
    let env = venv("1.9.0");
    for args in [vec!["replay", "histories/shopping_cart.json"], vec!["check", "histories/shopping_cart.json"]] {
        let out = deja().args(&args).args(["--workflows", "histories/code/workflows.py", "--python-env"]).arg(&env).output().unwrap();
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("temporalio 1.9.0 is older than deja supports (1.10.0 to 1.35.x)") && err.contains("pip install 'temporalio>=1.10.0'"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("Traceback"), "{err}");
    }
    let out = deja().arg("--version").env("VIRTUAL_ENV", &env).output().unwrap();
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("temporalio 1.9.0 is older than deja supports"), "{}", stdout(&out));
}

/// What `--version` prints comes from the user's environment (its path, the SDK's
/// version string, error texts): control characters are shown, never sent raw.
#[test]
fn version_report_escapes_what_the_environment_says() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("venv\x1b]0;pwned\x07");
    std::fs::create_dir_all(&env).unwrap();
    let out = deja().arg("--version").env("VIRTUAL_ENV", &env).output().unwrap();
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    assert!(text.contains("venv\\x1b]0;pwned\\x07"), "{text}");
}
