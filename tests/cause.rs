//! Why a replay diverged (issue 13): every cause kind on real recorded histories
//! (tests/fixtures/causes, recorded by `histories/generate.py causes`), through the real
//! binary — without a baseline, with a git baseline built in a temporary repository, and
//! in `deja check`.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

fn causes_manifest() -> Value {
    serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/causes/manifest.json")).expect("causes manifest")).expect("JSON")
}

fn json_of(out: &std::process::Output, what: &str) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}\n{}", stdout(out), stderr(out)))
}

#[test]
fn every_cause_is_named_at_its_line_without_a_baseline() {
    let m = causes_manifest();
    let variants = m["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 12);
    for v in variants {
        let name = v["name"].as_str().unwrap();
        let code = v["code"].as_str().unwrap();
        let out = run(&["replay", v["history"].as_str().unwrap(), "--workflows", code, "-o", "json"]);
        assert_eq!(common::code(&out), 1, "{name}: {}", stderr(&out));
        let r = json_of(&out, name);
        let c = &r["cause"];
        assert_eq!(c["kind"], v["kind"], "{name}: {c:#}");
        assert_eq!(c["line"], v["line_without_baseline"], "{name}: {c:#}");
        assert!(c["file"].as_str().unwrap().ends_with(code), "{name}: {c:#}");
        assert!(c["baseline"].as_str().unwrap().contains("--baseline"), "{name}: says what --baseline adds");
        let message = c["message"].as_str().unwrap();
        let fix = r["fix"]["text"].as_str().unwrap_or("");
        let diff = r["fix"]["diff"].as_str().unwrap_or("");
        if !diff.is_empty() {
            fix_applies_and_parses(name, &root().join(code), diff, &root().join(".venv"));
        }
        match v["kind"].as_str().unwrap() {
            "restricted-call" if name == "unsandboxed_clock" => {
                // Nothing refused the call: the divergence came later, on the branch it took.
                assert!(message.contains("runs unsandboxed") && message.contains("workflow.now()"), "{name}: {message}");
                assert!(c["details"][0].as_str().unwrap().starts_with("the divergence: history recorded event 5"), "{name}: {c:#}");
                assert!(diff.contains("+        if workflow.now().year > 2000:"), "{name}: {diff}");
            }
            "restricted-call" => {
                assert!(message.contains("does not apply"), "{name}: {message}");
                assert!(!r["message"].as_str().unwrap().contains("mark the import as pass through"), "{name}: {}", r["message"]);
                let want = match name {
                    "restricted_datetime_now" => "+        stamp = workflow.now().isoformat()",
                    "restricted_uuid4" => "+        ident = str(workflow.uuid4())",
                    _ => "",
                };
                assert!(fix.contains("workflow."), "{name}: {fix}");
                assert!(diff.contains(want), "{name}: {diff}");
            }
            "missing-handler" => {
                let (old, new) = if name == "signal_renamed" { ("checkout", "check_out") } else { ("set_address", "change_address") };
                assert!(message.contains(&format!("'{old}'")) && message.contains(&format!("'{new}' looks like it renamed")), "{name}: {message}");
                assert!(c["details"][0].as_str().unwrap().contains(new), "{name}: {c:#}");
                assert!(diff.contains(&format!("(name=\"{old}\")")), "{name}: {diff}");
            }
            "patch-renamed" => {
                assert!(message.contains("'refund-fraud-check'") && message.contains("\"refund-fraud-check-v2\""), "{name}: {message}");
                assert!(diff.contains("+        if workflow.patched(\"refund-fraud-check\"):"), "{name}: {diff}");
            }
            "patch-removed" => {
                assert!(c["details"].to_string().contains("step 1 of 3"), "{name}: {c:#}");
                assert!(diff.contains("+        workflow.deprecate_patch(\"refund-fraud-check\")"), "{name}: {diff}");
            }
            "waiting" => {
                assert!(message.contains("wait_condition") && message.contains("for a condition to become true"), "{name}: {message}");
                assert!(c["details"].to_string().contains("history delivered to the code in this task: event 13 signal checkout"), "{name}: {c:#}");
            }
            "command-changed" => {
                assert!(diff.contains("workflow.patched(\""), "{name}: {diff}");
                assert!(fix.contains("deprecate_patch"), "{name}: the deprecation path: {fix}");
                if name == "activity_renamed" {
                    assert!(fix.contains("@activity.defn(name=\"charge\")"), "{name}: {fix}");
                }
            }
            other => panic!("{name}: unexpected kind {other}"),
        }
        // The same cause in the text report, escaped and under the diff.
        let text = stdout(&run(&["replay", v["history"].as_str().unwrap(), "--workflows", code]));
        assert!(text.contains("  cause: ") && text.contains(&format!(":{}", v["line_without_baseline"])), "{name}: {text}");
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=deja-test", "-c", "user.email=test@deja.invalid", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn copy_app(from: &Path, to: &Path) {
    for f in ["shop_workflows.py", "shop_activities.py"] {
        std::fs::copy(from.join(f), to.join(f)).expect("copy");
    }
}

#[test]
fn with_a_git_baseline_the_cause_line_is_a_changed_line() {
    let m = causes_manifest();
    let fixtures = root().join("tests/fixtures/causes");
    let repo = tempfile::tempdir().expect("temp repo");
    let app = repo.path().join("app");
    std::fs::create_dir(&app).unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    copy_app(&fixtures.join("app_v1"), &app);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "v1"]);
    let venv = root().join(".venv");
    for v in m["variants"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        git(repo.path(), &["checkout", "-q", "-B", name, "main"]);
        copy_app(&fixtures.join("variants").join(name), &app);
        git(repo.path(), &["commit", "-q", "-am", name]);
        let history = root().join(v["history"].as_str().unwrap());
        let out = Command::new(env!("CARGO_BIN_EXE_deja"))
            .current_dir(repo.path())
            .env_remove("VIRTUAL_ENV")
            .args(["replay", history.to_str().unwrap(), "--workflows", "app/shop_workflows.py", "--python-env", venv.to_str().unwrap()])
            .args(["--baseline", "HEAD~1", "-o", "json"])
            .output()
            .expect("deja runs");
        assert_eq!(common::code(&out), 1, "{name}: {}", stderr(&out));
        let r = json_of(&out, name);
        let c = &r["cause"];
        assert_eq!(c["kind"], v["kind"], "{name}: {c:#}");
        assert_eq!(c["line"], v["line"], "{name}: {c:#}");
        assert!(c["baseline"].as_str().unwrap().starts_with("baseline HEAD~1: replays this history clean"), "{name}: {c:#}");
        let hunk = c["hunk"].as_str().unwrap_or_else(|| panic!("{name}: no hunk: {c:#}"));
        assert!(hunk.contains("@@"), "{name}: {hunk}");
        if v["kind"] != "missing-handler" {
            // A renamed handler is never called; everything else ran its changed line.
            let lines: Vec<&Value> = c["changed_lines"].as_array().unwrap().iter().collect();
            assert!(lines.iter().any(|l| l["line"] == v["line"]), "{name}: {c:#}");
        }
        if name == "constant_changed" {
            let l = &c["changed_lines"][0];
            assert_eq!((l["text"].as_str().unwrap(), l["was"].as_str().unwrap()), ("CYCLES_PER_RUN = 2  # CAUSE", "CYCLES_PER_RUN = 3"));
            assert!(!l["read_at"].as_array().unwrap().is_empty(), "{l:#}");
            assert!(r["fix"]["diff"].as_str().unwrap().contains("(CYCLES_PER_RUN if workflow.patched(\"billing-cycles-per-run\") else 3)"), "{r:#}");
        }
        if name == "step_inserted" {
            assert!(r["fix"]["diff"].as_str().unwrap().contains("+        if workflow.patched(\"order-sleep\"):\n+            await workflow.sleep"), "{:#}", r["fix"]);
        }
        // Nothing was written into the user's tree.
        let st = Command::new("git").current_dir(repo.path()).args(["status", "--porcelain", "--ignored"]).output().unwrap();
        assert!(st.stdout.is_empty(), "{name}: the tree changed: {}", String::from_utf8_lossy(&st.stdout));
        // The fix is code a person can apply: patched into a copy, it still parses.
        if let Some(diff) = r["fix"]["diff"].as_str() {
            fix_applies_and_parses(name, &app.join("shop_workflows.py"), diff, &venv);
        }
    }
}

/// Applies `diff` to a copy of `file` (never the file itself) with `patch` and parses the
/// result with the venv's Python.
fn fix_applies_and_parses(name: &str, file: &Path, diff: &str, venv: &Path) {
    let out = tempfile::tempdir().expect("temp dir");
    let patch_file = out.path().join("fix.diff");
    std::fs::write(&patch_file, diff).unwrap();
    let patched = out.path().join("patched.py");
    let st = Command::new("patch")
        .args(["-s", "-o", patched.to_str().unwrap(), file.to_str().unwrap(), patch_file.to_str().unwrap()])
        .output()
        .expect("patch runs");
    assert!(st.status.success(), "{name}: the fix does not apply: {}\n{diff}", String::from_utf8_lossy(&st.stdout));
    let parse = Command::new(venv.join("bin/python"))
        .args(["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())", patched.to_str().unwrap()])
        .output()
        .expect("python runs");
    assert!(parse.status.success(), "{name}: the patched code does not parse: {}\n{diff}", String::from_utf8_lossy(&parse.stderr));
}

#[test]
fn a_baseline_folder_and_a_bad_baseline() {
    let v = "tests/fixtures/causes/variants/constant_changed/shop_workflows.py";
    let out = run(&["replay", "tests/fixtures/causes/histories/billing.json", "--workflows", v, "--baseline", "tests/fixtures/causes/app_v1", "-o", "json"]);
    let r = json_of(&out, "folder baseline");
    assert_eq!((r["cause"]["kind"].as_str(), r["cause"]["line"].as_u64()), (Some("command-changed"), Some(18)), "{:#}", r["cause"]);
    // A baseline that does not replay the history either is said to be one.
    let other = "tests/fixtures/causes/variants/step_inserted";
    let out = run(&["replay", "tests/fixtures/causes/histories/order.json", "--workflows", "tests/fixtures/causes/variants/activity_renamed/shop_workflows.py", "--baseline", other, "-o", "json"]);
    let r = json_of(&out, "failing baseline");
    assert!(r["cause"]["baseline"].as_str().unwrap().starts_with(&format!("baseline {other}: does NOT replay this history either (nondeterminism")), "{:#}", r["cause"]);
    let out = run(&["replay", "tests/fixtures/causes/histories/billing.json", "--workflows", v, "--baseline", "no-such-ref-or-dir"]);
    assert_eq!(common::code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--baseline no-such-ref-or-dir: not a file, a folder or a git revision"), "{}", stderr(&out));
}

#[test]
fn check_groups_by_cause_and_explains_with_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("check.json");
    let out = run(&[
        "check",
        "tests/fixtures/causes/histories/",
        "--workflows",
        "tests/fixtures/causes/variants/constant_changed/shop_workflows.py",
        "--baseline",
        "tests/fixtures/causes/app_v1",
        "-j",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(common::code(&out), 1, "{}", stderr(&out));
    let so = stdout(&out);
    assert!(so.contains("cause: command-changed"), "{so}");
    assert!(so.contains("changed lines that ran before the divergence:"), "{so}");
    let doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let failed: Vec<&Value> = doc["results"].as_array().unwrap().iter().filter(|r| r["verdict"] != "pass").collect();
    assert_eq!(failed.len(), 1, "{doc:#}");
    assert_eq!(failed[0]["report"]["cause"]["line"], 18);
    assert_eq!(failed[0]["location"]["line"], 18, "the annotation line is the cause line");
    assert!(doc["results"].as_array().unwrap().iter().filter(|r| r["verdict"] == "pass").all(|r| r["report"]["cause"].is_null()));
}

#[test]
fn history_strings_in_the_cause_are_escaped_in_text_and_faithful_in_json() {
    // A deliberate bad input: the recorded cart history with an ESC sequence in the
    // checkout signal's name (a hostile history names whatever it likes).
    let text = std::fs::read_to_string(root().join("tests/fixtures/causes/histories/cart.json")).unwrap();
    let evil = "checkout\u{1b}]0;pwned\u{7}";
    let bad = text.replace("\"signalName\": \"checkout\"", &format!("\"signalName\": {}", serde_json::to_string(evil).unwrap()));
    assert_ne!(bad, text, "the fixture has a checkout signal");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cart.json");
    std::fs::write(&path, bad).unwrap();
    let code = "tests/fixtures/causes/app_v1/shop_workflows.py";
    let out = run(&["replay", path.to_str().unwrap(), "--workflows", code]);
    let so = stdout(&out);
    assert!(so.contains("cause: no handler"), "{so}");
    assert!(so.contains("checkout\\x1b]0;pwned\\x07"), "{so}");
    assert!(!so.contains('\u{1b}') && !so.contains('\u{7}'), "raw control characters reached the terminal: {so:?}");
    let r = json_of(&run(&["replay", path.to_str().unwrap(), "--workflows", code, "-o", "json"]), "evil");
    assert!(r["cause"]["message"].as_str().unwrap().contains(evil), "JSON keeps the original: {:#}", r["cause"]);
}

/// The shipped next deploy (histories/code_v2) changes an argument inside a multi-line
/// call: the patched fix must guard the whole statement, not the argument line.
#[test]
fn a_fix_for_a_multi_line_call_guards_the_whole_statement() {
    let v2 = "histories/code_v2/workflows.py";
    let out = run(&["replay", "histories/order_fulfillment.json", "--workflows", v2, "--baseline", "histories/code/workflows.py", "-o", "json"]);
    assert_eq!(common::code(&out), 1, "{}", stderr(&out));
    let r = json_of(&out, "order_fulfillment");
    let diff = r["fix"]["diff"].as_str().unwrap_or_else(|| panic!("no fix diff: {r:#}"));
    assert!(diff.contains("+        if workflow.patched(") && diff.contains("+            self.payment_id = await workflow.execute_activity("), "{diff}");
    fix_applies_and_parses("order_fulfillment", &root().join(v2), diff, &root().join(".venv"));
}

/// The shipped next deploy drops the patched branch itself (not just the call): the fix
/// restores the patch with both branches — `deprecate_patch` alone would still diverge.
#[test]
fn a_removed_patched_branch_is_restored_not_deprecated() {
    let v2 = "histories/code_v2/workflows.py";
    let out = run(&["replay", "histories/refund_patched.json", "--workflows", v2, "-o", "json"]);
    assert_eq!(common::code(&out), 1, "{}", stderr(&out));
    let r = json_of(&out, "refund_patched");
    assert_eq!(r["cause"]["kind"], "patch-removed", "{:#}", r["cause"]);
    let message = r["cause"]["message"].as_str().unwrap();
    assert!(message.contains("took the patched branch (event 13") && message.contains("runs the other branch"), "{message}");
    let fix = r["fix"]["text"].as_str().unwrap();
    assert!(fix.starts_with("Restore `if workflow.patched(\"refund-fraud-check\"):`"), "{fix}");
    let diff = r["fix"]["diff"].as_str().unwrap();
    assert!(diff.contains("+        if workflow.patched(\"refund-fraud-check\"):\n+            ...  # the patched code") && diff.contains("+        else:\n+            return await"), "{diff}");
    assert!(!diff.contains("deprecate_patch"), "{diff}");
    fix_applies_and_parses("refund_patched", &root().join(v2), diff, &root().join(".venv"));
}
