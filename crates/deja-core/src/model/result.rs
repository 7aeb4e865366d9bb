//! One history's result, compact: what the summary, JUnit, JSON and annotations need, and
//! nothing that grows with the history (the full report crosses only when `--json` asks).
//!
//! Workers build it from a [`ReplayReport`] (they have the history and the trace); the
//! parent builds it for what only it can see: a worker that crashed or ran over time.

use serde::{Deserialize, Serialize};

use crate::trace::{Frame, SandboxUse, Verdict};
use super::replay::ReplayReport;

/// `error_kind` values added by `deja check` (the harness has its own: `deadlock`,
/// `unregistered-type`, `invalid-history`, `other`).
pub mod kind {
    /// The file could not be loaded as a history.
    pub const LOAD: &str = "load";
    /// The worker process died while replaying the history.
    pub const CRASH: &str = "crash";
    /// The history ran over `--timeout`.
    pub const TIMEOUT: &str = "timeout";
    /// The harness itself failed on this history (a deja bug or an SDK surprise).
    pub const HARNESS: &str = "harness";
}

/// The outcome of checking one history file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HistoryResult {
    /// The file, as discovered (relative when given relative).
    pub path: String,
    pub verdict: Verdict,
    pub error_kind: Option<String>,
    /// Known once the file is loaded.
    pub workflow_type: Option<String>,
    pub workflow_id: Option<String>,
    pub run_id: Option<String>,
    pub events: Option<usize>,
    /// One line: the SDK's message, the load error, the crash.
    pub message: String,
    /// Groups results with the same cause (see `ReplayReport::signature`).
    pub signature: String,
    /// The user's source line to point at: the cause line, else the divergence site or
    /// the failure frame.
    pub location: Option<Frame>,
    /// The named cause, one paragraph (`ReplayReport::cause`), for annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Seconds inside the SDK replay (0 when nothing was replayed).
    pub seconds: f64,
    /// How the workflow's sandbox was made; `None` when nothing was replayed.
    #[serde(default)]
    pub sandbox: SandboxUse,
    /// Why the module was imported afresh, when it is not reusable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_note: Option<String>,
    /// Python warnings the replay raised (e.g. the SDK's asyncio.wait() warning).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The human report (`deja replay`'s renderer), in the terminal's colours; failures only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The same without colour, when `text` is coloured and a file report needs plain text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain: Option<String>,
    /// The `deja.replay/v1` report, only when `--json` was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
    /// What a crashed worker left on stderr worth showing (the runner fills it in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_tail: Option<WorkerTail>,
    /// Drift findings (see `diff::drift`), after the policy's `allow`.
    #[serde(default)]
    pub drift: Vec<crate::diff::drift::DriftFinding>,
    /// Drift fails this history under the policy (`--strict`, `fail-on`).
    #[serde(default)]
    pub drift_failed: bool,
    /// The named worker (`[tool.deja.workers.NAME]`) whose code replayed it; `None` in the
    /// single-worker form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
}

/// The part of a dead worker's stderr worth showing, and what it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerTail {
    /// `Python's faulthandler (innermost call first):` or `last lines the worker wrote to stderr:`.
    pub title: String,
    pub lines: Vec<String>,
}

impl WorkerTail {
    /// Indented under its title, starting on a new line (the tail of a message or report).
    pub fn indented(&self) -> String {
        let mut s = format!("\n  {}", self.title);
        for l in &self.lines {
            s.push_str("\n    ");
            s.push_str(l);
        }
        s
    }
}

impl HistoryResult {
    /// A result with no replay behind it (load error, crash, timeout).
    pub fn error(path: &str, kind: &str, message: String, signature: String) -> HistoryResult {
        HistoryResult {
            path: path.to_string(),
            verdict: Verdict::Error,
            error_kind: Some(kind.to_string()),
            workflow_type: None,
            workflow_id: None,
            run_id: None,
            events: None,
            message,
            signature,
            location: None,
            cause: None,
            seconds: 0.0,
            sandbox: SandboxUse::None,
            sandbox_note: None,
            warnings: Vec::new(),
            text: None,
            plain: None,
            report: None,
            worker_tail: None,
            drift: Vec::new(),
            drift_failed: false,
            worker: None,
        }
    }

    /// From a finished replay report; rendering is left to the caller.
    pub fn from_report(path: &str, r: &ReplayReport) -> HistoryResult {
        let cause_at = r.cause.as_ref().and_then(|c| match (&c.file, c.line) {
            (Some(file), Some(line)) => Some(Frame {
                file: file.clone(),
                line,
                function: String::new(),
                code: (line as usize)
                    .checked_sub(1)
                    .and_then(|i| std::fs::read_to_string(file).ok()?.lines().nth(i).map(|l| l.trim().to_string()))
                    .unwrap_or_default(),
            }),
            _ => None,
        });
        let location = cause_at.or_else(|| r.divergence.as_ref().and_then(|d| d.site.clone())).or_else(|| r.frames.last().cloned());
        let failing = r.drift.iter().find(|f| f.fails).filter(|_| r.verdict == Verdict::Pass);
        let signature = match failing {
            Some(f) => f.signature(&r.history.workflow_type),
            None => r.signature(),
        };
        // A history failed by drift: its first failing finding is the cause and the place.
        let (message, location) = match failing {
            Some(f) => (
                f.one_line(),
                f.file.as_ref().map(|file| Frame { file: file.clone(), line: f.line.unwrap_or(0), function: String::new(), code: String::new() }),
            ),
            None => (r.message.clone(), location),
        };
        HistoryResult {
            path: path.to_string(),
            verdict: r.verdict,
            error_kind: r.error_kind.clone(),
            workflow_type: Some(r.history.workflow_type.clone()),
            workflow_id: Some(r.history.workflow_id.clone()),
            run_id: r.history.run_id.clone(),
            events: Some(r.history.events),
            message,
            signature,
            location,
            cause: r.cause.as_ref().map(|c| format!("cause ({}): {}", c.kind.as_str(), c.message)),
            seconds: r.seconds,
            sandbox: r.sandbox,
            sandbox_note: r.sandbox_note.clone(),
            warnings: r.warnings.clone(),
            text: None,
            plain: None,
            report: None,
            worker_tail: None,
            drift: r.drift.clone(),
            drift_failed: r.drift_failed,
            worker: None,
        }
    }

    /// Passed the gate: the SDK's verdict is pass and no drift fails it.
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass && !self.drift_failed
    }

    /// The first finding that fails the history (the group it is counted under).
    pub fn failing_drift(&self) -> Option<&crate::diff::drift::DriftFinding> {
        self.drift.iter().find(|f| f.fails)
    }

    /// The report text without colour (for files): `plain` when there is one, else `text`.
    pub fn plain_text(&self) -> Option<&str> {
        self.plain.as_deref().or(self.text.as_deref())
    }

    /// `OrderWorkflow order-1001`, or the path when the file never loaded.
    pub fn subject(&self) -> String {
        match (&self.workflow_type, &self.workflow_id) {
            (Some(t), Some(id)) => format!("{t} {id}"),
            (Some(t), None) => t.clone(),
            _ => self.path.clone(),
        }
    }
}
