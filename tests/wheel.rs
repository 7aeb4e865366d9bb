//! The deja-replay wheel, installed with pip into a fresh venv, used the ways a Python team
//! uses it: the `deja` command (replay, check, a debug session in tmux), `python -m deja`,
//! the Python API, the pytest plugin, the GitHub Action's script and the pre-commit hook.
//!
//! These need the wheel (`make wheel` builds it into target/wheels/) and PyPI or pip's
//! cache (temporalio, pytest), so they are `#[ignore]`d in a plain `cargo test` and run by
//! `make test-wheel` (part of `make test`): `cargo test --test wheel -- --ignored`.
//! One venv for the whole binary, made on first use.

#[path = "../crates/deja-fetch/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const NEEDS: &str = "needs the wheel: run `make test-wheel`";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The one wheel `make wheel` left in target/wheels/.
fn wheel() -> PathBuf {
    let dir = repo().join("target/wheels");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}; build the wheel first: `make wheel`", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("deja_replay-") && n.to_string_lossy().ends_with(".whl")))
        .collect();
    assert_eq!(found.len(), 1, "expected exactly one deja_replay wheel in {} (make wheel cleans old ones): {found:?}", dir.display());
    let w = found.remove(0);
    let name = w.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.contains("-cp310-abi3-"), "one wheel for every CPython >= 3.10 (abi3): {name}");
    w
}

/// The pin `make venv` uses, so pip's cache has it.
fn temporalio_pin() -> String {
    let reqs = std::fs::read_to_string(repo().join("python/requirements.txt")).unwrap();
    reqs.lines().find(|l| l.starts_with("temporalio==")).expect("temporalio pinned in python/requirements.txt").trim().to_string()
}

struct Venv {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Venv {
    fn bin(&self, name: &str) -> PathBuf {
        self.root.join("bin").join(name)
    }

    fn python(&self) -> PathBuf {
        self.bin("python")
    }

    /// PATH with the venv first, as an activated venv has it.
    fn path_env(&self) -> String {
        format!("{}:{}", self.root.join("bin").display(), std::env::var("PATH").unwrap_or_default())
    }

    /// The venv's `deja`, run in `dir` with the activated venv's environment.
    fn deja(&self, dir: &Path, args: &[&str]) -> Output {
        self.cmd(&self.bin("deja"), dir).args(args).output().expect("run the venv's deja")
    }

    fn cmd(&self, program: &Path, dir: &Path) -> Command {
        let mut c = Command::new(program);
        c.current_dir(dir)
            .env("PATH", self.path_env())
            .env("VIRTUAL_ENV", &self.root)
            .env_remove("PYTHONPATH")
            .env_remove("GITHUB_ACTIONS")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }
}

fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed ({}):\n{}\n{}", out.status, text(&out.stdout), text(&out.stderr));
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh venv with the wheel, the pinned temporalio and pytest; the time from nothing to
/// the first verdict is printed (the number the README quotes).
fn venv() -> &'static Venv {
    static VENV: OnceLock<Venv> = OnceLock::new();
    VENV.get_or_init(|| {
        let wheel = wheel();
        let base = std::env::var("DEJA_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let dir = tempfile::Builder::new().prefix("deja-wheel-venv-").tempdir().unwrap();
        let root = dir.path().join("venv");
        let started = Instant::now();
        run_ok(Command::new(&base).args(["-m", "venv"]).arg(&root), "python3 -m venv");
        let v = Venv { _dir: dir, root };
        run_ok(
            v.cmd(&v.python(), repo())
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
                .arg(&wheel)
                .arg(temporalio_pin()),
            "pip install the wheel",
        );
        let installed = started.elapsed();
        let out = v.deja(repo(), &["replay", "histories/shopping_cart.json", "--workflows", "histories/code/workflows.py"]);
        assert_eq!(out.status.code(), Some(0), "first verdict:\n{}\n{}", text(&out.stdout), text(&out.stderr));
        eprintln!(
            "wheel {} ({:.1} MB): venv + pip install {:.1} s, first verdict at {:.1} s",
            wheel.file_name().unwrap().to_string_lossy(),
            std::fs::metadata(&wheel).unwrap().len() as f64 / 1e6,
            installed.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        // pytest (and pre-commit) for the plugin and hook tests; not part of the timing.
        run_ok(
            v.cmd(&v.python(), repo()).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "pytest==9.2.0", "pre-commit==4.7.0"]),
            "pip install pytest pre-commit",
        );
        v
    })
}

/// The standalone binary, on the same venv (same temporalio).
fn binary(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deja"))
        .current_dir(repo())
        .args(args)
        .arg("--python-env")
        .arg(&venv().root)
        .env_remove("VIRTUAL_ENV")
        .env_remove("GITHUB_ACTIONS")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn without_seconds(mut v: serde_json::Value) -> serde_json::Value {
    match &mut v {
        serde_json::Value::Object(m) => {
            m.remove("seconds");
            for x in m.values_mut() {
                *x = without_seconds(x.take());
            }
        }
        serde_json::Value::Array(a) => {
            for x in a.iter_mut() {
                *x = without_seconds(x.take());
            }
        }
        _ => {}
    }
    v
}

/// `deja replay` from pip prints what the binary prints, byte for byte, and exits the same:
/// the text diff and the deja.replay/v1 document, clean and divergent.
#[test]
#[ignore = "needs the wheel: run `make test-wheel`"]
fn replay_through_the_wheel_is_the_binary_s_replay() {
    let v = venv();
    for (code, expected) in [("histories/code/workflows.py", 0), ("histories/code_v2/workflows.py", 1)] {
        let args = ["replay", "histories/shopping_cart.json", "--workflows", code, "--color", "never"];
        let (w, b) = (v.deja(repo(), &args), binary(&args));
        assert_eq!(w.status.code(), Some(expected), "{code}:\n{}{}", text(&w.stdout), text(&w.stderr));
        assert_eq!(b.status.code(), Some(expected), "{code} (binary):\n{}", text(&b.stderr));
        assert_eq!(text(&w.stdout), text(&b.stdout), "{code}: text report differs");
        assert_eq!(text(&w.stderr), text(&b.stderr), "{code}: stderr differs");
        let json: Vec<&str> = args.iter().copied().chain(["-o", "json"]).collect();
        let (w, b) = (v.deja(repo(), &json), binary(&json));
        let parse = |o: &Output| without_seconds(serde_json::from_slice(&o.stdout).expect("deja.replay/v1 on stdout"));
        assert_eq!(parse(&w), parse(&b), "{code}: JSON differs");
    }
    let div = v.deja(repo(), &["replay", "histories/shopping_cart.json", "--workflows", "histories/code_v2/workflows.py"]);
    assert!(text(&div.stdout).contains("first divergence in workflow task 5"), "{}", text(&div.stdout));
}

/// `deja check` from pip: its workers are `python -m deja __worker` of the venv's own
/// interpreter (the process's `current_exe` is the *base* python, which has no deja and no
/// temporalio: started that way, no worker would ever be ready). Same verdicts, counts and
/// exit code as the binary, clean and with non-determinism.
#[test]
#[ignore = "needs the wheel: run `make test-wheel`"]
fn check_through_the_wheel_runs_python_m_deja_workers() {
    let v = venv();
    let tmp = tempfile::tempdir().unwrap();
    for (code, expected) in [("histories/code/workflows.py", 0), ("histories/code_v2/workflows.py", 1)] {
        let wj = tmp.path().join("wheel.json");
        let bj = tmp.path().join("binary.json");
        let w = v.deja(repo(), &["check", "histories/", "--workflows", code, "-j", "2", "--json", wj.to_str().unwrap()]);
        let b = binary(&["check", "histories/", "--workflows", code, "-j", "2", "--json", bj.to_str().unwrap()]);
        assert_eq!(w.status.code(), Some(expected), "{code}:\n{}{}", text(&w.stdout), text(&w.stderr));
        assert_eq!(b.status.code(), Some(expected), "{code} (binary):\n{}", text(&b.stderr));
        let read = |p: &Path| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() };
        let (wd, bd) = (read(&wj), read(&bj));
        for key in ["histories", "pass", "nondeterminism", "workflow_task_failure", "error", "skipped", "exit_code"] {
            assert_eq!(wd["summary"][key], bd["summary"][key], "{code}: summary.{key}");
        }
        let verdicts = |d: &serde_json::Value| {
            let mut v: Vec<(String, String)> = d["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (r["path"].as_str().unwrap().to_string(), r["verdict"].as_str().unwrap().to_string()))
                .collect();
            v.sort();
            v
        };
        assert_eq!(verdicts(&wd), verdicts(&bd), "{code}: verdicts");
        assert_eq!(wd["summary"]["histories"], 30);
    }
    // `python -m deja` is the same command.
    let out = v.cmd(&v.python(), repo()).args(["-m", "deja", "check", "histories/shopping_cart.json", "--workflows", "histories/code/workflows.py"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
}

/// Exit code 2 and one `deja: error:` line, as from the binary; and the wheel cannot be
/// pointed at another environment (it runs in its own interpreter), which it says.
#[test]
#[ignore = "needs the wheel: run `make test-wheel`"]
fn errors_through_the_wheel_are_one_line_and_exit_2() {
    let v = venv();
    let args = ["replay", "histories/no_such.json", "--workflows", "histories/code/workflows.py"];
    let (w, b) = (v.deja(repo(), &args), binary(&args));
    assert_eq!(w.status.code(), Some(2));
    assert_eq!(text(&w.stderr), text(&b.stderr));
    assert!(text(&w.stderr).starts_with("deja: error: "), "{}", text(&w.stderr));

    let other = tempfile::tempdir().unwrap();
    let out = v.deja(repo(), &["replay", "histories/shopping_cart.json", "--workflows", "histories/code/workflows.py", "--python-env", other.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("is not the environment this deja runs in") && err.contains("pip install deja-replay"), "{err}");
    assert!(!err.contains("Traceback"), "{err}");
    // Naming its own environment is fine (a repo's [tool.deja] python-env = ".venv").
    let own = v.root.to_str().unwrap();
    let out = v.deja(repo(), &["replay", "histories/shopping_cart.json", "--workflows", "histories/code/workflows.py", "--python-env", own]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = v.deja(repo(), &["--version"]);
    let s = text(&out.stdout);
    assert!(s.contains("found by the Python running deja") && s.contains("temporalio 1.35"), "{s}");
}

/// Ctrl-C behaves as with the binary (which embeds Python without its signal handlers):
/// `replay` ends at once, killed by SIGINT, no KeyboardInterrupt traceback; `check` cleans
/// up, leaves an "interrupted" error report and exits 130.
#[test]
#[ignore = "needs the wheel: run `make test-wheel`"]
fn ctrl_c_through_the_wheel_stops_at_once_like_the_binary() {
    use std::os::unix::process::ExitStatusExt;
    let v = venv();
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("check.json");
    let runs: [(&str, Vec<&str>); 2] = [
        ("replay", vec!["replay", "histories/catalog_reindex_large.json", "--workflows", "histories/code/workflows.py"]),
        ("check", vec!["check", "histories/catalog_reindex_large.json", "--workflows", "histories/code/workflows.py", "--json", json.to_str().unwrap()]),
    ];
    for (what, args) in runs {
        let mut child = v.cmd(&v.bin("deja"), repo()).args(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        assert!(child.try_wait().unwrap().is_none(), "{what}: still replaying when Ctrl-C comes");
        // SAFETY: a signal to our own child process.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let sent = Instant::now();
        let out = child.wait_with_output().unwrap();
        let waited = sent.elapsed();
        let err = text(&out.stderr);
        assert!(waited < Duration::from_secs(2), "{what}: took {waited:?} to stop after SIGINT");
        assert!(!err.contains("Traceback") && !err.contains("KeyboardInterrupt"), "{what}:\n{err}");
        if what == "replay" {
            assert_eq!(out.status.signal(), Some(libc::SIGINT), "{what}: {:?}\n{err}", out.status);
        } else {
            assert_eq!(out.status.code(), Some(130), "{what}: {:?}\n{err}", out.status);
            assert!(err.contains("interrupted by SIGINT"), "{err}");
            let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
            assert!(doc["error"].as_str().unwrap().contains("interrupted"), "{doc}");
        }
    }
}

/// A project as a Python team has it: workflow code, recorded histories, [tool.deja].
fn project(code: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("deja-wheel-project-").tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    for f in ["workflows.py", "activities.py"] {
        std::fs::copy(repo().join("histories").join(code).join(f), app.join(f)).unwrap();
    }
    let h = dir.path().join("histories");
    std::fs::create_dir_all(&h).unwrap();
    for f in ["shopping_cart.json", "order_fulfillment.json"] {
        std::fs::copy(repo().join("histories").join(f), h.join(f)).unwrap();
    }
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"shop\"\nversion = \"0\"\n\n[tool.deja]\nworkflows = [\"app/workflows.py\"]\nhistories = [\"histories/*.json\"]\n",
    )
    .unwrap();
    dir
}

/// `deja.replay` and `deja.check` return typed results built from deja's JSON: verdict,
/// divergence (task, event, both sides, code site), per-history results; exit 2 raises.
#[test]
#[ignore = "needs the wheel: run `make test-wheel`"]
fn python_api_returns_typed_results() {
    let v = venv();
    let script = r#"
import deja
r = deja.replay("histories/shopping_cart.json", workflows=["histories/code_v2/workflows.py"])
assert isinstance(r, deja.ReplayResult), r
assert (r.verdict, r.ok, r.exit_code) == ("nondeterminism", False, 1), r
d = r.divergence
assert isinstance(d, deja.Divergence), d
assert (d.task, d.event_id, d.status) == (4, 23, "differs"), d
assert (d.recorded, d.emitted) == ("ActivityTaskScheduled price_cart #1", "StartTimer 1 (5m)"), d
assert d.site.file.endswith("code_v2/workflows.py") and d.site.line == 225, d.site
assert r.drift == () or isinstance(r.drift, tuple)
assert r.workflow_type == "ShoppingCartWorkflow" and r.document["schema"] == "deja.replay/v1"
assert "first divergence in workflow task 5" in r.text()
ok = deja.replay("histories/shopping_cart.json", workflows=["histories/code/workflows.py"])
assert ok.ok and ok.passed and ok.divergence is None, ok
c = deja.check(["histories/shopping_cart.json", "histories/order_fulfillment.json"], workflows=["histories/code_v2/workflows.py"], jobs=2)
assert isinstance(c, deja.CheckResult) and c.exit_code == 1 and not c.ok
assert [r.path for r in c.results] == ["histories/order_fulfillment.json", "histories/shopping_cart.json"], c.results
assert all(isinstance(r, deja.HistoryResult) for r in c.results)
assert {r.verdict for r in c.failures} == {"nondeterminism"}, c.failures
assert c.results[1].divergence.event_id == 23
assert c.summary["nondeterminism"] == 2 and "nondeterminism" in c.text
try:
    deja.replay("histories/no_such.json", workflows=["histories/code/workflows.py"])
except deja.DejaError as e:
    assert e.exit_code == 2 and "no_such.json" in e.message, e
else:
    raise AssertionError("exit 2 must raise DejaError")
print("api ok")
"#;
    let out = v.cmd(&v.python(), repo()).args(["-c", script]).output().unwrap();
    assert!(out.status.success(), "{}\n{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "api ok");
}

/// The pytest plugin: a replay test is three lines; a failing one shows deja's own diff
/// (not a traceback into deja), and a passing one passes.
#[test]
#[ignore = "needs the wheel: run `make test-wheel`"]
fn pytest_plugin_three_line_tests_fail_with_deja_s_diff() {
    let v = venv();
    let proj = project("code_v2");
    std::fs::write(
        proj.path().join("test_replay.py"),
        "def test_cart_still_replays(deja_replay):\n    deja_replay(\"histories/shopping_cart.json\")\n\n\n\
         def test_old_code_replays(deja_replay):\n    deja_replay(\"histories/shopping_cart.json\", workflows=[\"old/workflows.py\"])\n\n\n\
         def test_all_histories(deja_check):\n    deja_check()\n",
    )
    .unwrap();
    let old = proj.path().join("old");
    std::fs::create_dir_all(&old).unwrap();
    for f in ["workflows.py", "activities.py"] {
        std::fs::copy(repo().join("histories/code").join(f), old.join(f)).unwrap();
    }
    let out = v.cmd(&v.python(), proj.path()).args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_replay.py"]).output().unwrap();
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{s}\n{}", text(&out.stderr));
    assert!(s.contains("2 failed, 1 passed"), "{s}");
    // deja's report is the failure message.
    assert!(s.contains("✗ nondeterminism ShoppingCartWorkflow"), "{s}");
    assert!(s.contains("first divergence in workflow task 5"), "{s}");
    assert!(s.contains("▶  225 │         await workflow.sleep(timedelta(minutes=5))"), "{s}");
    assert!(!s.contains("deja/pytest_plugin.py"), "no traceback into the plugin:\n{s}");
}

/// The GitHub Action's steps (scripts/ci-action.sh, the `run:` of action.yml): install the
/// wheel, `deja check` with GitHub annotations on the diverging line, a JUnit report,
/// deja's exit code as the step's and in $GITHUB_OUTPUT, the summary line in the step summary.
#[test]
#[ignore = "needs the wheel: run `make test-wheel`"]
fn github_action_script_checks_annotates_and_writes_junit() {
    let v = venv();
    let action = std::fs::read_to_string(repo().join("action.yml")).unwrap();
    let script = std::fs::read_to_string(repo().join("scripts/ci-action.sh")).unwrap();
    assert!(action.contains("run: bash \"$GITHUB_ACTION_PATH/scripts/ci-action.sh\""), "action.yml runs the script");
    for var in ["DEJA_PYTHON", "DEJA_PACKAGE", "DEJA_PATHS", "DEJA_WORKFLOWS", "DEJA_JUNIT", "DEJA_ARGS"] {
        assert!(action.contains(&format!("{var}: ${{{{ inputs.")), "action.yml sets {var}");
        assert!(script.contains(var), "the script reads {var}");
    }
    assert!(action.contains("uses: actions/upload-artifact@v4"));

    let proj = project("code_v2");
    let out_file = proj.path().join("github_output");
    let summary = proj.path().join("step_summary");
    let wheel = wheel();
    let run = |paths: &str| {
        v.cmd(Path::new("bash"), proj.path())
            .arg(repo().join("scripts/ci-action.sh"))
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", proj.path())
            .env("GITHUB_OUTPUT", &out_file)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("DEJA_PYTHON", v.python())
            .env("DEJA_PACKAGE", &wheel)
            .env("DEJA_PATHS", paths)
            .env("DEJA_JUNIT", "reports/deja.xml")
            .env("DEJA_ARGS", "--jobs 2")
            .output()
            .unwrap()
    };
    // Globs are deja's: `histories/*.json` reaches it unexpanded.
    let out = run("histories/*.json");
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{s}\n{}", text(&out.stderr));
    assert!(s.contains("::error file=app/workflows.py,line=225"), "annotation on the diverging line:\n{s}");
    assert!(s.contains("deja check: 2 histories in"), "{s}");
    let junit = std::fs::read_to_string(proj.path().join("reports/deja.xml")).unwrap();
    assert!(junit.contains("<testsuites") && junit.contains("failures=\"2\""), "{junit}");
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "exit-code=1\n");
    let sum = std::fs::read_to_string(&summary).unwrap();
    assert!(sum.starts_with("### deja check\ndeja check: 2 histories in"), "{sum}");

    // A bad input is exit 2, reported the same way.
    std::fs::write(&out_file, "").unwrap();
    let out = run("histories/none_here.json");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "exit-code=2\n");
}

/// The pre-commit hooks: every hook in .pre-commit-hooks.yaml is `deja check` without file
/// names; run by the real `pre-commit try-repo` (the venv hook: the project's own venv),
/// it passes on code that replays its histories and fails with the diff on code that does not.
#[test]
#[ignore = "needs the wheel: run `make test-wheel`"]
fn pre_commit_hook_runs_deja_check_on_the_project() {
    let v = venv();
    let hooks = std::fs::read_to_string(repo().join(".pre-commit-hooks.yaml")).unwrap();
    for id in ["deja-check", "deja-check-venv"] {
        let block = hooks.split("- id: ").find(|b| b.starts_with(&format!("{id}\n"))).unwrap_or_else(|| panic!("hook {id}"));
        assert!(block.contains("entry: deja check\n") && block.contains("pass_filenames: false"), "{block}");
    }
    // The hook repo pre-commit clones: this repository's committed hook file.
    let hook_repo = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join(".pre-commit-hooks.yaml"), hook_repo.path().join(".pre-commit-hooks.yaml")).unwrap();
    git(hook_repo.path(), &["init", "-q"]);
    git(hook_repo.path(), &["add", "."]);
    git(hook_repo.path(), &["commit", "-q", "-m", "hooks"]);
    for (code, expected) in [("code", 0), ("code_v2", 1)] {
        let proj = project(code);
        git(proj.path(), &["init", "-q"]);
        git(proj.path(), &["add", "."]);
        let home = proj.path().join(".pre-commit-home");
        let out = v
            .cmd(&v.bin("pre-commit"), proj.path())
            .env("PRE_COMMIT_HOME", &home)
            .args(["try-repo", hook_repo.path().to_str().unwrap(), "deja-check-venv", "--all-files", "--color", "never"])
            .output()
            .unwrap();
        let s = text(&out.stdout);
        assert_eq!(out.status.code(), Some(expected), "{code}:\n{s}\n{}", text(&out.stderr));
        if expected == 0 {
            assert!(s.contains("Passed"), "{s}");
        } else {
            assert!(s.contains("Failed") && s.contains("first divergence in workflow task 5"), "{s}");
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    run_ok(
        Command::new("git").current_dir(dir).args(["-c", "user.name=deja-test", "-c", "user.email=test@deja.invalid"]).args(args),
        "git",
    );
}

/// `deja debug` from pip in a real terminal: the UI opens, the replay (on deja's own thread,
/// calling into the venv's interpreter) reaches its verdict, `d` finds the divergence, `q`
/// gives the shell back in cooked mode.
#[test]
#[ignore = "needs the wheel: run `make test-wheel`"]
fn debug_session_through_the_wheel_in_tmux() {
    let v = venv();
    assert!(Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()), "tmux is not installed: run `bash scripts/install-test-deps.sh`");
    let socket = format!("deja-wheel-{}", std::process::id());
    let tmux = |args: &[&str]| Command::new("tmux").arg("-L").arg(&socket).args(args).output().expect("tmux");
    struct Kill<'a>(&'a dyn Fn(&[&str]) -> Output);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = (self.0)(&["kill-server"]);
        }
    }
    let _kill = Kill(&tmux);
    let out = tmux(&[
        "new-session", "-d", "-x", "120", "-y", "40", "-c", repo().to_str().unwrap(), "-e", "PS1=wheel$ ", "-e", "TERM=xterm-256color",
        "env", "-u", "NO_COLOR", "-u", "PYTHONPATH", "-u", "VIRTUAL_ENV", "bash", "--norc", "--noprofile",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let screen = || text(&tmux(&["capture-pane", "-p", "-t", "0"]).stdout);
    let wait = |what: &str, ok: &dyn Fn(&str) -> bool| {
        let started = Instant::now();
        loop {
            let s = screen();
            if ok(&s) {
                return s;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "timed out waiting for {what}:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait("the prompt", &|s| s.contains("wheel$"));
    let deja = v.bin("deja");
    tmux(&["send-keys", "-t", "0", "-l", &format!("{} debug histories/shopping_cart.json --workflows histories/code_v2/workflows.py; echo deja-exit=$?", deja.display())]);
    tmux(&["send-keys", "-t", "0", "Enter"]);
    wait("the debugger", &|s| s.contains("q quit"));
    wait("the verdict", &|s| s.contains("nondeterminism"));
    tmux(&["send-keys", "-t", "0", "-l", "g"]);
    wait("the start", &|s| s.contains(" task 1/7 "));
    tmux(&["send-keys", "-t", "0", "-l", "d"]);
    let s = wait("the divergence", &|s| s.contains("first divergence: event 23"));
    assert!(s.contains("StartTimer 1 (5m)") && s.contains("workflows.py:225"), "{s}");
    tmux(&["send-keys", "-t", "0", "-l", "q"]);
    let s = wait("the shell", &|s| s.lines().any(|l| l.starts_with("deja-exit=")));
    assert!(s.contains("deja-exit=0"), "{s}");
    tmux(&["send-keys", "-t", "0", "-l", "stty -a | grep -c -- -icanon | sed s/^/raw-flags=/"]);
    tmux(&["send-keys", "-t", "0", "Enter"]);
    let s = wait("stty", &|s| s.contains("raw-flags=0") || s.contains("raw-flags=1"));
    assert!(s.contains("raw-flags=0"), "raw mode left on:\n{s}");
}

/// One wheel for every CPython from 3.10: `abi3audit` (PyPA's checker) finds no symbol of
/// the extension outside the 3.10 stable ABI. (This machine has only CPython 3.11; the
/// wheel's tag and this audit are what let pip install it on 3.10, 3.12, 3.13, ….)
#[test]
#[ignore = "needs the wheel: run `make test-wheel`"]
fn the_extension_uses_only_the_python_3_10_stable_abi() {
    let v = venv();
    run_ok(
        v.cmd(&v.python(), repo()).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "abi3audit==0.0.26"]),
        "pip install abi3audit",
    );
    let out = v.cmd(&v.bin("abi3audit"), repo()).arg("--verbose").arg(wheel()).env("COLUMNS", "200").output().unwrap();
    let s = text(&out.stdout) + &text(&out.stderr);
    assert!(out.status.success(), "{s}");
    assert!(s.contains("1 extensions scanned; 0 ABI version mismatches and 0 ABI violations found"), "{s}");
}

#[test]
fn the_wheel_tests_say_how_to_run_them() {
    // Every test above is ignored in a plain `cargo test` with this reason; `make test` runs them.
    let me = std::fs::read_to_string(file!()).unwrap();
    let ignored = me.matches(&format!("#[ignore = \"{NEEDS}\"]")).count();
    assert!(ignored >= 7, "{ignored}");
    let make = std::fs::read_to_string(repo().join("Makefile")).unwrap();
    assert!(make.contains("cargo test --test wheel $(CARGO_JOBS) -- --ignored"), "make test-wheel runs them");
    assert!(make.contains("\t$(MAKE) test-wheel\n"), "make test runs test-wheel");
}

/// `deja shadow worker` from the wheel: the SDK's Worker in the venv's own interpreter,
/// replaying a dev server's runs for a shadow run started by the standalone binary; SIGTERM
/// stops it cleanly.
#[test]
#[ignore = "needs the wheel: run `make test-wheel`"]
fn shadow_worker_through_the_wheel() {
    let v = venv();
    let server = support::TestServer::start();
    let populate = Command::new(support::python())
        .args(["histories/generate.py", "populate", "--address", &server.address, "--count", "24"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(populate.status.success(), "{:?}\n{}\n{}", populate.status, text(&populate.stdout), text(&populate.stderr));
    let runs = serde_json::from_str::<serde_json::Value>(text(&populate.stdout).lines().last().unwrap()).unwrap()["runs"].as_u64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("worker.log");
    let mut worker = v
        .cmd(&v.bin("deja"), repo())
        .args(["shadow", "worker", "--task-queue", "wheel-shadow", "-w", "histories/code_v2/workflows.py", "--address", &server.address])
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("worker.err")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(dir.path().join("worker.err")).unwrap_or_default().contains("polling") {
        assert!(Instant::now() < deadline && worker.try_wait().unwrap().is_none(), "{}", std::fs::read_to_string(dir.path().join("worker.err")).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(100));
    }
    let json = dir.path().join("shadow.json");
    let start = Command::new(env!("CARGO_BIN_EXE_deja"))
        .current_dir(repo())
        .args(["shadow", "start", "--task-queue", "wheel-shadow", "--query", "TaskQueue = 'deja-samples'", "--wait", "--json"])
        .arg(&json)
        .args(["--address", &server.address])
        .output()
        .unwrap();
    assert_eq!(start.status.code(), Some(1), "code_v2 breaks some runs:\n{}\n{}", text(&start.stdout), text(&start.stderr));
    let agg: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(agg["replayed"].as_u64().unwrap(), runs, "{agg}");
    assert!(agg["counts"]["nondeterminism"].as_u64().unwrap() > 0, "{agg}");
    // SIGTERM: the SDK workers shut down and the process exits 0.
    unsafe { libc::kill(worker.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = worker.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "the worker did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    let err = std::fs::read_to_string(dir.path().join("worker.err")).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("deja shadow worker: stopped"), "{err}");
}
