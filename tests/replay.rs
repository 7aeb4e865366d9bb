//! `deja replay` through the real binary, with the SDK's own Replayer as the oracle.

mod common;

use common::*;
use serde_json::Value;

fn replay_json(history: &str, workflows: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["replay", history, "--workflows", workflows, "--output", "json"];
    args.extend_from_slice(extra);
    let out = run(&args);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{history}: not JSON ({e}): {}\n{}", stdout(&out), stderr(&out)));
    (code(&out), json, stderr(&out))
}

#[test]
fn every_history_passes_against_its_own_code_and_the_sdk_agrees() {
    let m = manifest();
    let hist = m["histories"].as_array().unwrap();
    let files: Vec<&str> = hist.iter().map(|h| h["file"].as_str().unwrap()).collect();
    let sdk = sdk_verdicts("histories/code/workflows.py", &files, false);
    for h in hist {
        let file = h["file"].as_str().unwrap();
        let (code, r, err) = replay_json(file, h["code"].as_str().unwrap(), &[]);
        assert_eq!(r["verdict"], "pass", "{file}: {r:#}\n{err}");
        assert_eq!(code, 0, "{file}");
        assert_eq!(sdk[file]["verdict"], r["verdict"], "{file}: deja and the SDK disagree");
        // The CLI export replays the same.
        let (_, cli, _) = replay_json(h["cli_file"].as_str().unwrap(), h["code"].as_str().unwrap(), &[]);
        assert_eq!(cli["verdict"], "pass", "{}", h["cli_file"]);
    }
}

#[test]
fn nondeterministic_variants_are_caught_at_the_right_event() {
    let m = manifest();
    let variants = m["variants"].as_array().unwrap();
    assert!(variants.len() >= 3);
    let file_of = |name: &str| {
        m["histories"].as_array().unwrap().iter().find(|h| h["name"] == name).unwrap()["file"].as_str().unwrap().to_string()
    };
    let files: Vec<String> = variants.iter().map(|v| file_of(v["history"].as_str().unwrap())).collect();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let sdk = sdk_verdicts("histories/code_v2/workflows.py", &refs, false);
    for (v, file) in variants.iter().zip(&files) {
        let (code, r, err) = replay_json(file, v["code"].as_str().unwrap(), &[]);
        assert_eq!(code, 1, "{file}: {err}");
        assert_eq!(r["verdict"], v["expected"], "{file}");
        assert_eq!(sdk[file.as_str()]["verdict"], r["verdict"], "{file}: deja and the SDK disagree");
        let d = &r["divergence"];
        assert_eq!(d["row"]["recorded"]["event_id"], v["first_divergent_event_id"], "{file}: first divergent event: {d:#}");
        assert!(d["task"]["first_event_id"].as_i64().unwrap() <= v["first_divergent_event_id"].as_i64().unwrap());
        // The divergent command's source line is found in the v2 code.
        let site = &d["site"];
        assert!(site["file"].as_str().unwrap().ends_with("code_v2/workflows.py"), "{file}: {site}");
        assert!(site["line"].as_u64().unwrap() > 0);
    }
}

#[test]
fn text_report_explains_the_divergence_side_by_side() {
    let out = run(&["replay", "histories/order_fulfillment.json", "-w", "histories/code_v2/workflows.py"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    for needle in [
        "✗ nondeterminism",
        "Activity type of scheduled event 'charge_payment' does not match activity type of activity command 'authorize_payment'",
        "history recorded: event 11 ActivityTaskScheduled charge_payment #2",
        "code emitted:     ScheduleActivity authorize_payment #2",
        "issued at histories/code_v2/workflows.py:",
        "execute_activity(",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(!text.contains("\u{1b}["), "no colour when not a terminal");
}

#[test]
fn activations_map_onto_the_workflow_task_split() {
    // The SDK core's own view of the tasks: each non-eviction activation reports the
    // WorkflowTaskStarted id of its task as history_length.
    for h in manifest()["histories"].as_array().unwrap() {
        let file = h["file"].as_str().unwrap();
        if h["events"].as_u64().unwrap() > 2000 {
            continue; // the large one is covered by the benchmark
        }
        let (_, r, _) = replay_json(file, h["code"].as_str().unwrap(), &[]);
        let mut from_core: Vec<u64> = r["trace"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| !s["jobs"].as_array().unwrap().iter().any(|j| j == "RemoveFromCache"))
            .map(|s| s["history_length"].as_u64().unwrap())
            .collect();
        from_core.dedup();
        let show = run(&["show", file, "-o", "json"]);
        let tasks: Value = serde_json::from_slice(&show.stdout).unwrap();
        let from_split: Vec<u64> = tasks["tasks"].as_array().unwrap().iter().filter_map(|t| t["started_event_id"].as_u64()).collect();
        assert_eq!(from_core, from_split, "{file}: deja's task split differs from core's activations");
    }
}

#[test]
fn unsandboxed_workflow_and_module_forms() {
    let (code, r, err) = replay_json("histories/legacy_inventory_unsandboxed.json", "histories/code/workflows.py", &[]);
    assert_eq!((code, r["verdict"].as_str()), (0, Some("pass")), "{err}");
    // Dotted module + --python-path, and module:Class.
    let (code, r, err) = replay_json("histories/order_fulfillment.json", "workflows", &["--python-path", "histories/code"]);
    assert_eq!((code, r["verdict"].as_str()), (0, Some("pass")), "{err}");
    let (code, r, err) = replay_json("histories/order_fulfillment.json", "histories/code/workflows.py:OrderFulfillmentWorkflow", &[]);
    assert_eq!((code, r["verdict"].as_str()), (0, Some("pass")), "{err}");
    // Everything unsandboxed, as workers with UnsandboxedWorkflowRunner run it.
    let (code, r, err) = replay_json("histories/shopping_cart.json", "histories/code/workflows.py", &["--unsandboxed"]);
    assert_eq!((code, r["verdict"].as_str()), (0, Some("pass")), "{err}");
}

#[test]
fn until_replays_a_prefix() {
    let (code, r, err) = replay_json("histories/order_fulfillment.json", "histories/code_v2/workflows.py", &["--until", "5"]);
    assert_eq!(code, 0, "the divergence at event 11 is past --until 5: {err}");
    assert_eq!(r["verdict"], "pass");
    assert_eq!(r["history"]["until_event_id"], 5);
    let out = run(&["replay", "histories/order_fulfillment.json", "-w", "histories/code/workflows.py", "--until", "999"]);
    assert_eq!(code_of(&out), 2);
}

fn code_of(o: &std::process::Output) -> i32 {
    code(o)
}

#[test]
fn workflow_task_failure_and_deadlock_point_at_user_code() {
    let (code, r, _) = replay_json("histories/order_fulfillment.json", "tests/fixtures/code/hazards/raise_workflow.py", &[]);
    assert_eq!((code, r["verdict"].as_str()), (1, Some("workflow-task-failure")));
    assert!(r["message"].as_str().unwrap().contains("KeyError"), "{}", r["message"]);
    let frames = r["frames"].as_array().unwrap();
    assert!(frames.iter().any(|f| f["file"].as_str().unwrap().ends_with("raise_workflow.py")), "{frames:?}");
    assert!(frames.iter().all(|f| !f["file"].as_str().unwrap().contains("temporalio")), "trimmed to user frames: {frames:?}");

    let started = std::time::Instant::now();
    let (code, r, _) = replay_json("histories/order_fulfillment.json", "tests/fixtures/code/hazards/block_workflow.py", &[]);
    assert_eq!((code, r["verdict"].as_str(), r["error_kind"].as_str()), (1, Some("error"), Some("deadlock")));
    assert!(r["message"].as_str().unwrap().contains("block_workflow.py:"), "says where it was blocked: {}", r["message"]);
    assert!(started.elapsed().as_secs() < 25, "does not wait for the blocked thread");
}

#[test]
fn unregistered_type_lists_what_is_registered() {
    let (code, r, _) = replay_json("histories/shopping_cart.json", "tests/fixtures/code/hazards/raise_workflow.py", &[]);
    assert_eq!((code, r["verdict"].as_str(), r["error_kind"].as_str()), (1, Some("error"), Some("unregistered-type")));
    let msg = r["message"].as_str().unwrap();
    assert!(msg.contains("ShoppingCartWorkflow") && msg.contains("OrderFulfillmentWorkflow"), "{msg}");
}

#[test]
fn code_and_environment_errors_are_one_line_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["-w", "tests/fixtures/code/syntax_error/workflows.py"], "SyntaxError"),
        (&["-w", "tests/fixtures/code/import_error/workflows.py"], "No module named 'shop_pricing_engine'"),
        (&["-w", "tests/fixtures/code/no_workflows/workflows.py"], "no @workflow.defn classes"),
        (&["-w", "no_such_module.workflows"], "not found"),
        (&["-w", "histories/code/workflows.py", "--python-env", "/nonexistent-env"], "not a Python environment"),
        (&[], "no workflow code given"),
    ];
    for (args, needle) in cases {
        let mut all = vec!["replay", "histories/order_fulfillment.json"];
        all.extend_from_slice(args);
        let out = run(&all);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: expected {needle:?} in {err}");
        assert!(!err.contains("Traceback"), "{args:?}: no raw traceback without -v: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
    }
    // -v adds the Python traceback.
    let out = run(&["replay", "histories/order_fulfillment.json", "-w", "tests/fixtures/code/import_error/workflows.py", "-v"]);
    assert!(stderr(&out).contains("Traceback"), "{}", stderr(&out));
}

#[test]
fn bad_history_inputs_exit_2_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("deja-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read_to_string(root().join("histories/order_fulfillment.json")).unwrap();
    let cases = [
        ("truncated.json", good[..good.len() / 3].to_string(), "truncated JSON"),
        ("empty.json", "{\"events\": []}".to_string(), "empty history"),
        ("package.json", "{\"name\": \"x\"}".to_string(), "not a Temporal history"),
        ("decoded.json", good.replacen("\"data\": \"", "\"data\": \"{not base64}", 1), "decoded"),
    ];
    for (name, text, needle) in cases {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        for args in [vec!["show", p.to_str().unwrap()], vec!["replay", p.to_str().unwrap(), "-w", "histories/code/workflows.py"]] {
            let cmd = args[0];
            let out = run(&args);
            assert_eq!(code(&out), 2, "{cmd} {name}: {}", stderr(&out));
            assert!(stderr(&out).contains(name) && stderr(&out).contains(needle), "{cmd} {name}: {}", stderr(&out));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn state_and_queries_are_recorded_when_asked() {
    let (code, r, err) = replay_json("histories/order_fulfillment.json", "histories/code/workflows.py", &["--query", "status"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["verdict"], "pass", "recording state does not change the verdict");
    // Every activation carries the query's result and the instance's fields.
    let trace = r["trace"].as_array().expect("trace");
    assert!(!trace.is_empty());
    for (i, t) in trace.iter().enumerate() {
        assert!(t["state"]["queries"]["status"]["result"].is_string(), "step {i}: {t:#}");
        assert!(t["state"]["fields"]["status"].is_string(), "step {i}: {t:#}");
    }
    let last = trace.last().unwrap()["state"]["queries"]["status"]["result"].as_str().unwrap();
    assert!(last.contains("\"completed\""), "{last}");

    // -v prints them per activation.
    let out = run(&["replay", "histories/order_fulfillment.json", "-w", "histories/code/workflows.py", "--query", "status", "-v"]);
    let text = stdout(&out);
    assert!(text.contains("state after each activation:"), "{text}");
    assert_eq!(text.matches("    query status = {").count(), trace.len(), "{text}");
    assert!(text.contains("    status = 'completed'"), "{text}");

    // An unknown query name is a usage error naming the workflow's queries.
    let out = run(&["replay", "histories/order_fulfillment.json", "-w", "histories/code/workflows.py", "--query", "nosuch"]);
    assert_eq!(code_of(&out), 2, "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("nosuch") && err.contains("OrderFulfillmentWorkflow") && err.contains("its queries: status"), "{err}");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[test]
fn data_converter_and_interceptors_are_loaded() {
    let (code, r, err) = replay_json(
        "histories/order_fulfillment.json",
        "histories/code/workflows.py",
        &[
            "--data-converter",
            "tests/fixtures/code/extras/worker_settings.py:converter",
            "--interceptors",
            "tests/fixtures/code/extras/worker_settings.py:interceptor",
        ],
    );
    assert_eq!((code, r["verdict"].as_str()), (0, Some("pass")), "{err}");
    let out = run(&["replay", "histories/order_fulfillment.json", "-w", "histories/code/workflows.py", "--data-converter", "tests/fixtures/code/extras/worker_settings.py:nope"]);
    assert_eq!(code_of(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
}

#[test]
fn settings_come_from_pyproject_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let root = root();
    let toml = format!(
        "[project]\nname = \"shop\"\n\n[tool.deja]\nworkflows = [\"{}\"]\npython-env = \"{}\"\n",
        root.join("histories/code/workflows.py").display(),
        root.join(".venv").display()
    );
    std::fs::write(dir.path().join("pyproject.toml"), toml).unwrap();
    let history = root.join("histories/order_fulfillment.json");
    let out = deja().current_dir(dir.path()).args(["replay", history.to_str().unwrap()]).output().unwrap();
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("✓ pass"));
    // A flag overrides the file: the v2 code diverges.
    let v2 = root.join("histories/code_v2/workflows.py");
    let out = deja().current_dir(dir.path()).args(["replay", history.to_str().unwrap(), "-w", v2.to_str().unwrap()]).output().unwrap();
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn verbose_success_shows_aligned_tasks() {
    let out = run(&["replay", "histories/refund_patched.json", "-w", "histories/code/workflows.py", "-v"]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(text.contains("workflow task 1"), "{text}");
    assert!(text.contains("MarkerRecorded patch refund-fraud-check"), "{text}");
    assert!(text.contains("written by core after the patch marker"), "core's own upsert is marked, not a divergence: {text}");
}

/// The header's pair, the table's ▶ row and the JSON's `divergence.row` /
/// `alignment.rows[first_divergence]` name the same pair (real histories recorded by
/// tests/fixtures/histories/generate.py from tests/fixtures/code/patching/).
#[test]
fn header_table_and_json_agree_on_the_divergence_for_patch_changes() {
    // (history, code, the event core compared, the command it compared it with)
    let cases = [
        ("patch_v2.json", "patch_v1.py", 5, None), // patched() call removed: the marker alone
        ("patch_v2.json", "patch_v4.py", 5, None),
        ("patch_v3.json", "patch_v1.py", 13, Some("CompleteWorkflowExecution")), // deprecated marker skipped by core
        ("patch_v1.json", "patch_v3.py", 11, Some("StartTimer")),
    ];
    for (history, code, event, command) in cases {
        let h = format!("tests/fixtures/histories/patching/{history}");
        let w = format!("tests/fixtures/code/patching/{code}");
        let (c, r, err) = replay_json(&h, &w, &[]);
        assert_eq!((c, r["verdict"].as_str()), (1, Some("nondeterminism")), "{history} x {code}: {err}");
        let row = &r["divergence"]["row"];
        let first = r["alignment"]["first_divergence"].as_u64().expect("a marked row") as usize;
        assert_eq!(row, &r["alignment"]["rows"][first], "{history} x {code}: JSON divergence vs marked row");
        assert_eq!(row["recorded"]["event_id"], event, "{history} x {code}: {row:#}");
        assert_eq!(row["emitted"]["item"]["command"].as_str(), command, "{history} x {code}: {row:#}");

        let out = run(&["replay", &h, "-w", &w, "--color", "never"]);
        let text = stdout(&out);
        let hist_line = text.lines().find(|l| l.trim_start().starts_with("history recorded:")).unwrap_or_default();
        let code_line = text.lines().find(|l| l.trim_start().starts_with("code emitted:")).unwrap_or_default();
        assert!(hist_line.contains(&format!("event {event} ")), "{history} x {code}: {text}");
        match command {
            Some(cmd) => assert!(code_line.contains(cmd), "{history} x {code}: {text}"),
            None => assert!(code_line.contains("nothing here"), "{history} x {code}: {text}"),
        }
        let marked = text.lines().find(|l| l.trim_start().starts_with('▶') && !l.contains('│')).unwrap_or_default();
        assert!(marked.contains(&format!(" {event} ")), "{history} x {code}: ▶ row is {marked:?}\n{text}");
        let mark = if command.is_some() { "≠" } else { "-" };
        assert!(marked.trim_start_matches(['▶', ' ']).starts_with(mark), "{history} x {code}: ▶ row is {marked:?}");
        match command {
            Some(cmd) => assert!(marked.contains(cmd), "{history} x {code}: {marked:?}"),
            None => assert!(marked.trim_end().ends_with('—'), "{history} x {code}: {marked:?}"),
        }
    }
}

/// The SDK's own warning (asyncio.wait on workflow tasks) and what the code printed reach
/// every report: JSON fields, text under the verdict, `check --json` per history. The
/// history was recorded from this very workflow (tests/fixtures/histories/generate.py).
#[test]
fn sdk_warnings_and_printed_output_are_reported() {
    let h = "tests/fixtures/histories/asyncio_wait.json";
    let w = "tests/fixtures/code/asyncio_wait/wait_workflow.py";
    let (c, r, err) = replay_json(h, w, &[]);
    assert_eq!((c, r["verdict"].as_str()), (0, Some("pass")), "{err}");
    let warnings: Vec<&str> = r["warnings"].as_array().expect("warnings").iter().filter_map(|v| v.as_str()).collect();
    assert!(
        warnings.iter().any(|w| w.contains("asyncio.wait() is non-deterministic") && w.contains("wait_workflow.py:32:")),
        "the SDK's warning, at the user's line: {warnings:?}"
    );
    assert_eq!(r["output"], "assembled 2 parts\n");

    let out = run(&["replay", h, "-w", w]);
    let text = stdout(&out);
    assert!(text.lines().nth(1).is_some_and(|l| l.contains("warning:") && l.contains("asyncio.wait() is non-deterministic")), "{text}");
    assert!(text.contains("printed 1 line (-v shows it)") && !text.contains("assembled 2 parts"), "{text}");
    let out = run(&["replay", h, "-w", w, "-v"]);
    assert!(stdout(&out).contains("    assembled 2 parts"), "{}", stdout(&out));

    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("check.json");
    let out = run(&["check", h, "-w", w, "--json", json.to_str().unwrap(), "-q"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let entry = &doc["results"][0];
    assert!(entry["warnings"].to_string().contains("asyncio.wait() is non-deterministic"), "{entry:#}");
    assert_eq!(entry["report"]["output"], "assembled 2 parts\n");
}

/// A passing replay whose code raised (the SDK failed the workflow with it, as recorded):
/// -v says what was raised and where, as the JSON does.
#[test]
fn verbose_pass_shows_the_exception_the_code_raised() {
    let h = "histories/chargeback_dispute_failed.json";
    let (_, r, _) = replay_json(h, "histories/code/workflows.py", &[]);
    let json_has = r.to_string().contains("Dispute DSP-1111 lost: no proof of delivery");
    assert!(json_has);
    let out = run(&["replay", h, "-w", "histories/code/workflows.py", "-v"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let line = text.lines().find(|l| l.contains("raised")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("workflows.py:491") && line.contains("Dispute DSP-1111 lost: no proof of delivery"), "{text}");
}

/// A deprecated patch marker core skipped is never the cause `check` groups by: with code
/// whose activity was renamed (and no patch call), the deprecated-marker history fails on
/// the activity, like the history without any marker; the history with a live marker
/// fails on the marker.
#[test]
fn check_groups_by_the_pair_core_compared_not_by_a_skipped_deprecated_marker() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("check.json");
    let out = run(&["check", "tests/fixtures/histories/patching", "-w", "tests/fixtures/code/patching/patch_renamed.py", "--json", json.to_str().unwrap(), "-q"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let sig = |file: &str| {
        let r = doc["results"].as_array().unwrap().iter().find(|r| r["path"].as_str().unwrap().ends_with(file)).unwrap();
        r["signature"].as_str().unwrap().to_string()
    };
    let (v1, v2, v3) = (sig("patch_v1.json"), sig("patch_v2.json"), sig("patch_v3.json"));
    assert!(v3.contains("history:ActivityTaskScheduled code:ScheduleActivity"), "{v3}");
    assert_eq!(v1, v3, "the same cause: the renamed activity");
    assert!(v2.contains("history:MarkerRecorded code:-"), "{v2}");
    let groups = doc["summary"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{groups:#?}");
}
