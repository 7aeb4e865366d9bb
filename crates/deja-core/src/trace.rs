//! The replay trace: what running the user's workflow code through their own `temporalio`
//! SDK against a history brings back — the verdict, every activation and completion, where
//! each command came from — as plain-Rust types that the alignment, the reports and the
//! debugger read. Producing it is the binary's `replay` module (the one place with Python).
//!
//! The verdict is the SDK core's, never deja's own: deja adds structure around it.

use deja_proto::coresdk::workflow_activation::WorkflowActivation;
use deja_proto::coresdk::workflow_completion::WorkflowActivationCompletion;
use serde::{Deserialize, Serialize};

/// The SDK's verdict on one history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Nondeterminism,
    WorkflowTaskFailure,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Nondeterminism => "nondeterminism",
            Verdict::WorkflowTaskFailure => "workflow-task-failure",
            Verdict::Error => "error",
        }
    }

    /// The harness's verdict word. Anything else is a bug on one side of the boundary, not
    /// a verdict: it must not pass for `error` (nor for anything else).
    pub fn parse(s: &str) -> Result<Verdict, UnknownVerdict> {
        match s {
            "pass" => Ok(Verdict::Pass),
            "nondeterminism" => Ok(Verdict::Nondeterminism),
            "workflow-task-failure" => Ok(Verdict::WorkflowTaskFailure),
            "error" => Ok(Verdict::Error),
            other => Err(UnknownVerdict(other.to_string())),
        }
    }
}

/// A verdict word the harness should never send.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown verdict from harness: {0:?} (expected pass, nondeterminism, workflow-task-failure or error)")]
pub struct UnknownVerdict(pub String);

/// A source location in user code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Frame {
    pub file: String,
    pub line: u32,
    pub function: String,
    #[serde(default)]
    pub code: String,
}

impl Frame {
    /// The source line as it is in the file now (with its indentation), else the recorded
    /// (stripped) code.
    pub fn code_line(&self) -> String {
        std::fs::read_to_string(&self.file)
            .ok()
            .and_then(|t| t.lines().nth(self.line.saturating_sub(1) as usize).map(str::to_string))
            .unwrap_or_else(|| self.code.clone())
    }
}

impl std::fmt::Display for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", crate::display_path(&self.file), self.line)?;
        if !self.function.is_empty() {
            write!(f, " in {}", self.function)?;
        }
        Ok(())
    }
}

/// The workflow's state right after a step (only recorded when asked: it costs a query
/// per activation).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StepState {
    /// Pending coroutine stacks, innermost frame last.
    #[serde(default)]
    pub stacks: Vec<Vec<Frame>>,
    /// The workflow instance's fields, as short reprs.
    #[serde(default)]
    pub fields: indexmap::IndexMap<String, String>,
    /// Results of `--query` queries: `{"result": …}` or `{"error": …}`.
    #[serde(default)]
    pub queries: indexmap::IndexMap<String, serde_json::Value>,
}

/// One activation: what core sent, what the code answered, where each command came from.
#[derive(Clone, Debug)]
pub struct Step {
    pub activation: WorkflowActivation,
    pub completion: WorkflowActivationCompletion,
    /// One entry per command of the completion: the user line that issued it.
    pub command_sites: Vec<Option<Frame>>,
    pub state: Option<StepState>,
    /// `workflow.patched` / `deprecate_patch` calls the code made in this activation.
    pub patch_calls: Vec<PatchCall>,
    /// With an explaining replay: the user lines this activation ran, in first-run
    /// order (a `def` line means the function was entered).
    pub lines: Vec<(String, u32)>,
}

/// One `workflow.patched(id)` (or `deprecate_patch(id)`) call the code made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchCall {
    pub id: String,
    pub deprecated: bool,
    pub site: Option<Frame>,
}

/// A signal, update or query handler the workflow code defines.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handler {
    /// `*` for a dynamic handler.
    pub name: String,
    /// Where its `def` is.
    pub site: Option<Frame>,
}

/// The handlers of the replayed workflow type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handlers {
    #[serde(default)]
    pub signals: Vec<Handler>,
    #[serde(default)]
    pub updates: Vec<Handler>,
    #[serde(default)]
    pub queries: Vec<Handler>,
}

impl Step {
    pub fn is_eviction(&self) -> bool {
        use deja_proto::coresdk::workflow_activation::workflow_activation_job::Variant;
        self.activation.jobs.iter().any(|j| matches!(j.variant, Some(Variant::RemoveFromCache(_))))
    }
}

/// Everything one replay produced.
/// How a replay's workflow was sandboxed (`"sandbox"` in the JSON reports).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxUse {
    /// The workflow module was imported into a new sandbox for this history.
    Fresh,
    /// A kept sandbox import whose module state was verified unchanged.
    Reused,
    /// Unsandboxed, or no workflow instance was made (also: nothing was replayed).
    #[default]
    None,
}

impl SandboxUse {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxUse::Fresh => "fresh",
            SandboxUse::Reused => "reused",
            SandboxUse::None => "none",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ReplayOutcome {
    pub verdict: Verdict,
    /// For `Error`: `unregistered-type`, `deadlock`, `invalid-history`, `other`.
    pub error_kind: Option<String>,
    /// One clean line: the core's message out of its debug dump, or the exception.
    pub message: String,
    /// The SDK's full failure text (shown with -v).
    pub raw: String,
    /// User frames of a task failure or deadlock, innermost last.
    pub frames: Vec<Frame>,
    pub steps: Vec<Step>,
    /// Seconds spent inside the SDK replay call.
    pub seconds: f64,
    pub sandbox: SandboxUse,
    /// With `Fresh`: why the module is imported afresh for every history, if it is not
    /// reusable (`leaky: a run changed the module's state 2 times`).
    pub sandbox_note: Option<String>,
    /// Python warnings raised during the replay, one line each (`file:line: Category: message`),
    /// e.g. the SDK's "asyncio.wait() is non-deterministic".
    pub warnings: Vec<String>,
    /// What the workflow code printed (stdout/stderr writes on the replay's threads).
    pub output: String,
    /// The replayed workflow type's signal/update/query handlers.
    pub handlers: Handlers,
    /// Whether this replay recorded line traces and stacks (`explain`).
    pub explained: bool,
    /// The `--baseline` replay of the same history against the old code, when asked for
    /// (read by `ReplayReport::build` to name the changed lines).
    pub baseline: Option<Box<crate::cause::Baseline>>,
    /// Updates history accepted that the code's validator now rejects (the harness runs
    /// the validator on the recorded arguments; replay itself does not).
    pub update_rejections: Vec<UpdateRejection>,
}

/// An accepted update the current validator rejects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateRejection {
    pub update_id: String,
    pub name: String,
    /// `ValueError: …` as the validator raised it.
    pub message: String,
    /// The user line that raised.
    pub file: Option<String>,
    pub line: Option<u32>,
}

/// The `temporalio` deja found in the user's environment and what deja does with it
/// (the harness's `SdkFeatures`, detected by looking at the SDK, not by version alone).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SdkInfo {
    pub version: String,
    /// `supported`, or `newer` (past the range the version matrix proves: plain SDK path).
    pub status: String,
    pub supported_range: String,
    /// Speed-ups active on this SDK (`sandbox reuse`, …); none on the plain path.
    #[serde(default)]
    pub optimisations: Vec<String>,
    #[serde(default)]
    pub command_sites: bool,
    #[serde(default)]
    pub state_queries: bool,
    #[serde(default)]
    pub updates: bool,
    #[serde(default)]
    pub nexus: bool,
    /// One line for stderr when the SDK is outside the proven range.
    #[serde(default)]
    pub notice: Option<String>,
    /// Set by Rust: the SDK's activation protos differ from the vendored ones on the wire,
    /// so they are read with the SDK's own descriptors ([`sdk_protos`]).
    #[serde(default)]
    pub protos_transcoded: bool,
    /// The first wire differences found (`-v`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proto_differences: Vec<String>,
}

impl SdkInfo {
    /// `temporalio 1.35.0 · optimisations: sandbox reuse, …` for `-v` and `--version`.
    pub fn describe(&self) -> String {
        let opts = if self.optimisations.is_empty() { "none (plain SDK path)".to_string() } else { self.optimisations.join(", ") };
        let protos = match self.proto_differences.first() {
            Some(d) if self.protos_transcoded => format!(" · activation protos read with the SDK's own descriptors ({d})"),
            _ => String::new(),
        };
        format!("temporalio {} ({}) · optimisations: {opts}{protos}", self.version, self.status)
    }
}

/// How to load the user's code, resolved from flags and `[tool.deja]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CodeConfig {
    pub workflows: Vec<String>,
    pub python_path: Vec<String>,
    pub unsandboxed: bool,
    /// Re-import the workflow code in a fresh sandbox for every history (the SDK's way).
    #[serde(default)]
    pub fresh_sandbox: bool,
    pub data_converter: Option<String>,
    pub interceptors: Vec<String>,
    pub queries: Vec<String>,
    pub record_state: bool,
    pub debug_mode: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_words_round_trip_and_nothing_else_parses() {
        for v in [Verdict::Pass, Verdict::Nondeterminism, Verdict::WorkflowTaskFailure, Verdict::Error] {
            assert_eq!(Verdict::parse(v.as_str()), Ok(v));
        }
        for bad in ["", "Pass", "errror", "non-determinism"] {
            assert_eq!(Verdict::parse(bad), Err(UnknownVerdict(bad.to_string())), "{bad:?}");
        }
    }
}
