//! Why a replay diverged, and what to do about it: from the symptom (the SDK's verdict
//! and the aligned diff) to a named cause and a fix as code.
//!
//! * [`restricted`] — a sandbox-refused or non-deterministic call (`datetime.now`,
//!   `random`, `uuid4`, I/O, threads): the call, its line and the workflow-safe
//!   replacement (never the SDK's "pass through" advice for these).
//! * [`handlers`] — a signal or update in history that the code has no handler for: the
//!   handlers it has and the likely rename; the fix keeps the old name registered.
//! * [`patches`] — patch lifecycle: the ids history recorded, the ids the code calls, the
//!   step of the three-step removal; a renamed patch id named with both ids.
//! * [`baseline`] — with the old code (`--baseline`): the textual diff between the
//!   versions intersected with the user lines each version ran before the divergence.
//! * [`fix`] — the `workflow.patched("<id>")` version of a changed hunk and its
//!   deprecation path.
//!
//! Pure functions over (history, trace, alignment, optional baseline): no Python, no
//! I/O except reading the user's source files for excerpts.

pub mod baseline;
pub mod fix;
pub mod handlers;
pub mod patches;
pub mod restricted;
#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::diff::{Alignment, Row};
use crate::history::LoadedHistory;
use crate::history::tasks::Timeline;
use crate::trace::{Frame, ReplayOutcome, Verdict};

pub use baseline::{Baseline, FilePair};

/// What kind of cause deja found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CauseKind {
    /// A call the sandbox refuses or that is non-deterministic in workflow code.
    RestrictedCall,
    /// A signal or update in history that no handler of the code receives.
    MissingHandler,
    /// History has patch id A, the code calls `workflow.patched(B)`.
    PatchRenamed,
    /// History has a patch marker, the code no longer calls `workflow.patched` for it.
    PatchRemoved,
    /// The code emitted nothing where history has a command: it was waiting.
    Waiting,
    /// The code issues another command than history recorded (added, removed, renamed,
    /// reordered steps, changed constants).
    CommandChanged,
    /// The workflow code raised.
    Exception,
}

impl CauseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CauseKind::RestrictedCall => "restricted-call",
            CauseKind::MissingHandler => "missing-handler",
            CauseKind::PatchRenamed => "patch-renamed",
            CauseKind::PatchRemoved => "patch-removed",
            CauseKind::Waiting => "waiting",
            CauseKind::CommandChanged => "command-changed",
            CauseKind::Exception => "exception",
        }
    }

    /// Words for a heading: `restricted call`.
    pub fn words(self) -> &'static str {
        match self {
            CauseKind::RestrictedCall => "non-deterministic call",
            CauseKind::MissingHandler => "no handler",
            CauseKind::PatchRenamed => "patch id renamed",
            CauseKind::PatchRemoved => "patch removed too early",
            CauseKind::Waiting => "the code was still waiting",
            CauseKind::CommandChanged => "the command sequence changed",
            CauseKind::Exception => "the workflow code raised",
        }
    }
}

/// A line of the new code that changed against the baseline and ran before the divergence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangedLine {
    pub file: String,
    /// Line in the new code (for a removed line: where it was).
    pub line: u32,
    /// The new text ("" for a removed line).
    pub text: String,
    /// The old text, when the line replaced one (or was removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub was: Option<String>,
    /// For a module- or class-level assignment: the lines that read the name and ran.
    pub read_at: Vec<u32>,
}

/// The named cause of a failure.
#[derive(Clone, Debug, Serialize)]
pub struct Cause {
    pub kind: CauseKind,
    /// The user file and line to look at (the cause line).
    pub file: Option<String>,
    pub line: Option<u32>,
    /// With a baseline: the changed lines that ran before the divergence.
    pub changed_lines: Vec<ChangedLine>,
    /// One paragraph: what happened and why replay fails.
    pub message: String,
    /// Supporting facts, one per line (handlers the code has, patch ids, stacks…).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// With a baseline: the diff hunk around the cause line (unified, old → new).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hunk: Option<String>,
    /// What the baseline said: which one was used, or that it does not pass either; or,
    /// without one, what `--baseline` would add.
    pub baseline: String,
}

/// What to change.
#[derive(Clone, Debug, Serialize)]
pub struct Fix {
    pub text: String,
    /// A unified diff against the current file, where deja could write one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Everything the cause finders read.
pub struct Inputs<'a> {
    pub history: &'a LoadedHistory,
    pub timeline: &'a Timeline,
    pub outcome: &'a ReplayOutcome,
    pub alignment: &'a Alignment,
    /// The divergence row and the user line behind it (`Divergence::site`).
    pub divergence: Option<(&'a Row, Option<&'a Frame>)>,
}

/// What `--baseline` adds, said where no baseline was given.
pub const NO_BASELINE: &str =
    "no baseline: --baseline REF|PATH (e.g. HEAD~1, or the old code's file or folder) adds the changed lines that ran before the divergence and the diff hunk";

/// Name the cause of a failed replay and the fix; `None` for a pass, an error, or a
/// divergence deja could not pair with a command (core's message is all there is).
pub fn explain(inp: &Inputs<'_>, base: Option<&Baseline>) -> Option<(Cause, Option<Fix>)> {
    // Errors (a deadlock, an unregistered type, a broken history) say what they are
    // themselves; a divergence or an exception in workflow code gets a cause.
    if !matches!(inp.outcome.verdict, Verdict::Nondeterminism | Verdict::WorkflowTaskFailure) {
        return None;
    }
    let mut found = restricted::find(inp)
        .or_else(|| handlers::find(inp))
        .or_else(|| patches::find(inp))
        .or_else(|| waiting(inp))
        .or_else(|| command_changed(inp))
        .or_else(|| exception(inp))?;
    restricted::blame_ran_calls(inp, &mut found);
    match base {
        Some(b) => baseline::apply(inp, b, &mut found),
        None => found.0.baseline = NO_BASELINE.to_string(),
    }
    Some(found)
}

/// The user file of a frame, and its line.
pub(crate) fn at(f: Option<&Frame>) -> (Option<String>, Option<u32>) {
    (f.map(|f| f.file.clone()), f.map(|f| f.line))
}

/// `shop_workflows.py:47`
pub(crate) fn short(f: &Frame) -> String {
    let name = std::path::Path::new(&f.file).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| f.file.clone());
    format!("{name}:{}", f.line)
}

fn recorded_text(row: &Row) -> String {
    row.recorded.as_ref().map(|r| format!("event {} {} {}", r.event_id, r.item.event_type, r.item.label)).unwrap_or_else(|| "nothing".into())
}

/// Stacks of the workflow right after the activation of the divergent task.
pub(crate) fn stacks_at_divergence<'a>(inp: &'a Inputs<'_>) -> Option<&'a Vec<Vec<Frame>>> {
    let (row, _) = inp.divergence?;
    let task = inp.timeline.tasks.get(row.task)?;
    let started = task.started_event_id.unwrap_or(i64::MAX);
    let step = inp
        .outcome
        .steps
        .iter()
        .rev()
        .find(|s| !s.is_eviction() && i64::from(s.activation.history_length) <= started)?;
    step.state.as_ref().map(|s| &s.stacks).filter(|s| !s.is_empty())
}

/// The code emitted nothing where history has a command: where it was waiting.
fn waiting(inp: &Inputs<'_>) -> Option<(Cause, Option<Fix>)> {
    let (row, _) = inp.divergence?;
    if row.emitted.is_some() || row.recorded.is_none() {
        return None;
    }
    let stacks = stacks_at_divergence(inp);
    let primary = stacks.and_then(|s| s.first()).and_then(|s| s.last());
    let mut details = Vec::new();
    for s in stacks.into_iter().flatten() {
        if let Some(f) = s.last() {
            details.push(format!("waiting at {} in {}: {}", short(f), f.function, f.code.trim()));
        }
    }
    if let Some(task) = inp.timeline.tasks.get(row.task) {
        let delivered: Vec<String> = task
            .delivered
            .iter()
            .filter_map(|id| inp.history.events().iter().find(|e| e.event_id == *id))
            .map(|e| format!("event {} {}", e.event_id, crate::history::describe::group_line(e, &[], 60)))
            .collect();
        if !delivered.is_empty() {
            details.push(format!("history delivered to the code in this task: {}", delivered.join(", ")));
        }
    }
    let (file, line) = at(primary);
    let message = match primary {
        Some(f) => format!(
            "history recorded {} here, but the code had not got that far: after this workflow task it was still waiting at {} (`{}`) for {}. \
             That no longer becomes true or done as it did when history was recorded.",
            recorded_text(row),
            short(f),
            f.code.trim(),
            waits_for(&f.code)
        ),
        None => format!("history recorded {} here, but the code emitted nothing: it was waiting (no coroutine stack was recorded).", recorded_text(row)),
    };
    let fix = primary.map(|f| Fix {
        text: format!(
            "Make what the code waits for at {} happen as it did for histories recorded before the change. To change it for new workflows only, \
             guard the new condition with `workflow.patched(\"{}\")` and keep the old one in the else branch.",
            short(f),
            fix::suggest_id(inp.history.workflow_type(), &f.code)
        ),
        diff: None,
    });
    Some((Cause { kind: CauseKind::Waiting, file, line, changed_lines: Vec::new(), message, details, hunk: None, baseline: String::new() }, fix))
}

/// What an `await` line waits for, in words.
fn waits_for(code: &str) -> &'static str {
    let has = |w: &str| code.contains(w);
    if has("wait_condition") {
        "a condition to become true (set by a signal, an update or earlier steps)"
    } else if has("sleep") {
        "a timer"
    } else if has("execute_activity") || has("start_activity") || has("local_activity") {
        "an activity's result"
    } else if has("child_workflow") {
        "a child workflow"
    } else if has("gather") || has("wait(") {
        "several tasks"
    } else {
        "what it awaits"
    }
}

/// Another command than history recorded.
fn command_changed(inp: &Inputs<'_>) -> Option<(Cause, Option<Fix>)> {
    let (row, site) = inp.divergence?;
    let emitted = row.emitted.as_ref();
    let code = emitted.map(|e| format!("{} {}", e.item.command, e.item.label)).unwrap_or_else(|| "nothing".into());
    let (file, line) = at(site);
    let at_text = site.map(|s| format!(" at {}", short(s))).unwrap_or_default();
    let message = format!(
        "history recorded {}, the code now issues {code}{at_text}: the change alters the command sequence, so every workflow that already ran past this point fails to replay.",
        recorded_text(row)
    );
    let mut details = Vec::new();
    let mut text = String::new();
    use crate::diff::items::Kind;
    if let (Some(r), Some(e)) = (row.recorded.as_ref(), emitted)
        && r.item.kind == e.item.kind
        && matches!(r.item.kind, Kind::Activity | Kind::LocalActivity | Kind::ChildWorkflow)
    {
        // The type is the first word of the key (`charge #2`, `ShipOrder ship-1`).
        let ty = |key: &str| key.split([' ', '#']).next().unwrap_or_default().to_string();
        let (old, new) = (ty(&r.item.key), ty(&e.item.key));
        if old != new {
            let (what, decorator) = match r.item.kind {
                Kind::ChildWorkflow => ("child workflow type", "@workflow.defn"),
                _ => ("activity type", "@activity.defn"),
            };
            details.push(format!("{what}: history has '{old}', the code now uses '{new}'"));
            text.push_str(&format!(
                "If '{new}' is '{old}' renamed, keep the old name registered instead: `{decorator}(name=\"{old}\")` on {new} \
                 (workers then run it under the name old histories use), or call it under its old name. Otherwise:\n"
            ));
        }
    }
    let fix = site.map(|s| fix::patched_for_line(inp.history.workflow_type(), s, &text, &recorded_text(row)));
    Some((Cause { kind: CauseKind::CommandChanged, file, line, changed_lines: Vec::new(), message, details, hunk: None, baseline: String::new() }, fix))
}

/// The code raised (no divergence): the innermost user frame.
fn exception(inp: &Inputs<'_>) -> Option<(Cause, Option<Fix>)> {
    if inp.outcome.verdict != Verdict::WorkflowTaskFailure {
        return None;
    }
    let f = inp.outcome.frames.last();
    let (file, line) = at(f);
    let said = crate::model::replay::clean_message(&inp.outcome.message);
    let message = match f {
        Some(f) => format!("the workflow code raised at {}: {said}", short(f)),
        None => said,
    };
    Some((Cause { kind: CauseKind::Exception, file, line, changed_lines: Vec::new(), message, details: Vec::new(), hunk: None, baseline: String::new() }, None))
}
