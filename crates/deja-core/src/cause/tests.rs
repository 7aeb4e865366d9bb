//! The cause finders on a real recorded history with hand-made outcomes: which verdicts get
//! a cause at all, and the restricted-call finder's line and replacement.

use super::*;
use crate::diff::align;
use crate::trace::{ReplayOutcome, SandboxUse};

fn history() -> (LoadedHistory, Timeline) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/causes/histories/report.json");
    let h = crate::history::load_path(&path, None).expect("fixture loads");
    let tl = Timeline::new(h.events());
    (h, tl)
}

fn outcome(verdict: Verdict, message: &str, frames: Vec<Frame>) -> ReplayOutcome {
    ReplayOutcome {
        verdict,
        error_kind: None,
        message: message.into(),
        raw: String::new(),
        frames,
        steps: Vec::new(),
        seconds: 0.0,
        sandbox: SandboxUse::None,
        sandbox_note: None,
        warnings: Vec::new(),
        output: String::new(),
        handlers: Default::default(),
        update_rejections: Vec::new(),
        explained: true,
        baseline: None,
    }
}

fn explain_of(o: &ReplayOutcome) -> Option<(Cause, Option<Fix>)> {
    let (h, tl) = history();
    let alignment = align(&h, &tl, o);
    explain(&Inputs { history: &h, timeline: &tl, outcome: o, alignment: &alignment, divergence: None }, None)
}

#[test]
fn passes_errors_and_unpaired_divergences_get_no_cause() {
    assert!(explain_of(&outcome(Verdict::Pass, "", vec![])).is_none());
    assert!(explain_of(&outcome(Verdict::Error, "[TMPRL1101] Potential deadlock detected", vec![])).is_none());
    // Core's message is all there is: deja does not invent a cause.
    assert!(explain_of(&outcome(Verdict::Nondeterminism, "[TMPRL1100] During event handling, …", vec![])).is_none());
}

#[test]
fn a_sandbox_refusal_names_the_call_its_line_and_the_replacement() {
    let frame = Frame { file: "/nonexistent/app/wf.py".into(), line: 96, function: "run".into(), code: "ident = str(uuid.uuid4())".into() };
    let msg = "RestrictedWorkflowAccessError: Cannot access uuid.uuid4.__call__ from inside a workflow. If this is code from a module not used in a workflow or known to only be used deterministically from a workflow, mark the import as pass through.";
    let (c, fix) = explain_of(&outcome(Verdict::WorkflowTaskFailure, msg, vec![frame])).expect("a cause");
    assert_eq!((c.kind, c.file.as_deref(), c.line), (CauseKind::RestrictedCall, Some("/nonexistent/app/wf.py"), Some(96)));
    assert!(c.message.contains("`uuid.uuid4`") && c.message.contains("workflow.uuid4()"), "{}", c.message);
    assert!(c.baseline.contains("--baseline"), "says what a baseline adds");
    let fix = fix.expect("a fix");
    assert!(fix.text.contains("workflow.uuid4()"), "{}", fix.text);
    assert!(fix.diff.is_none(), "no file to diff against");
}

#[test]
fn an_exception_points_at_the_innermost_user_frame() {
    let frame = Frame { file: "/nonexistent/app/wf.py".into(), line: 12, function: "run".into(), code: "x = d['k']".into() };
    let (c, _) = explain_of(&outcome(Verdict::WorkflowTaskFailure, "KeyError: 'k'", vec![frame])).expect("a cause");
    assert_eq!((c.kind, c.line), (CauseKind::Exception, Some(12)));
    assert!(c.message.contains("wf.py:12") && c.message.contains("KeyError"), "{}", c.message);
}
