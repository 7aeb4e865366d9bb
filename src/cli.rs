//! Command-line arguments: parsed by clap into plain data, no I/O here. `main.rs` resolves
//! them (with `[tool.deja]` from `pyproject.toml`) into what each command runs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::style::ColorChoice;

const AFTER_HELP: &str = "\
Exit codes: 0 all replayed clean · 1 non-determinism or replay failure found · 2 usage, input or environment error.
Docs: README.md, docs/CLI.md";

/// Replay Temporal workflow histories against your Python workflow code, and find, explain
/// and step through non-determinism.
#[derive(Debug, Parser)]
#[command(name = "deja", about, after_help = AFTER_HELP, disable_version_flag = true, arg_required_else_help = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Print deja's version, the temporalio found in the Python environment (VIRTUAL_ENV,
    /// else ./.venv) and which of deja's optimisations are active with it.
    #[arg(short = 'V', long)]
    pub version: bool,
    /// More detail: aligned tasks on success, Python tracebacks on errors.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// When to use colour (also honours NO_COLOR).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a history grouped by workflow task, one line per event group.
    Show(ShowArgs),
    /// Replay one history against your workflow code and explain any divergence.
    Replay(ReplayArgs),
    /// Replay many histories in parallel: the deployment gate for CI.
    Check(CheckArgs),
    /// Step through a replay in a terminal UI.
    Debug(DebugArgs),
    /// Download histories from a Temporal server.
    Fetch(FetchArgs),
    /// Replay production continuously on your own Temporal cluster: a worker fleet runs
    /// deja's shadow workflow, which samples a visibility query and replays in batches.
    Shadow(ShadowArgs),
    /// Internal: time loading a history (for `make bench`).
    #[command(hide = true, name = "__load-bench")]
    LoadBench {
        history: PathBuf,
        #[arg(long, default_value_t = 5)]
        repeat: u32,
    },
    /// Internal: a replay worker process of `deja check` (speaks framed protobuf on stdio).
    #[command(hide = true, name = "__worker")]
    Worker(WorkerArgs),
}

/// Output format of a command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// History file: proto3 JSON, legacy JSON, or binary protobuf (.binpb).
    pub history: PathBuf,
    /// Only events in this range, e.g. `10..40`, `10..`, `..40`.
    #[arg(long, value_name = "A..B", value_parser = parse_range)]
    pub events: Option<(i64, i64)>,
    /// Show payloads (decoded when JSON), truncated to this many characters.
    #[arg(long, value_name = "CHARS", num_args = 0..=1, default_missing_value = "120")]
    pub payloads: Option<usize>,
    /// Workflow id to use when the history does not record one.
    #[arg(long)]
    pub workflow_id: Option<String>,
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// How to find and run the user's workflow code (shared by replay, check and debug).
/// Any of these may instead be set in `pyproject.toml` under `[tool.deja]`; flags win.
#[derive(Debug, Args, Clone, Default)]
pub struct WorkflowArgs {
    /// Workflow code: a module (`app.workflows`), a file (`src/app/workflows.py`) or
    /// `module:Class`. Repeatable. Every @workflow.defn class in a module is registered.
    #[arg(long, short = 'w', value_name = "MODULE|FILE|MODULE:CLASS")]
    pub workflows: Vec<String>,
    /// Extra directory on Python's import path. Repeatable.
    #[arg(long, value_name = "DIR")]
    pub python_path: Vec<PathBuf>,
    /// The Python environment (venv) with temporalio and your dependencies.
    /// Default: $VIRTUAL_ENV, else ./.venv.
    #[arg(long, value_name = "DIR")]
    pub python_env: Option<PathBuf>,
    /// Data converter the workers use, as `module:attr` (for payload codecs).
    #[arg(long, value_name = "MODULE:ATTR")]
    pub data_converter: Option<String>,
    /// Worker interceptors, as `module:attr`. Repeatable.
    #[arg(long, value_name = "MODULE:ATTR")]
    pub interceptors: Vec<String>,
    /// Run all workflows without the sandbox, as workers with UnsandboxedWorkflowRunner do.
    #[arg(long)]
    pub unsandboxed: bool,
    /// Re-import the workflow module in a fresh sandbox for every history, exactly as
    /// the SDK does. By default a module's sandbox import is kept between histories
    /// while a fingerprint of its state proves it unchanged (docs/ARCHITECTURE.md).
    #[arg(long, env = "DEJA_FRESH_SANDBOX", value_parser = clap::builder::FalseyValueParser::new())]
    pub fresh_sandbox: bool,
    /// pyproject.toml to read `[tool.deja]` from (default: the nearest one upwards).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Fail a history on any drift finding — a changed activity input, timer, option,
    /// signal, result… that replay passes — and on the tail checks (README "Drift").
    /// Default: drift is reported as a warning (exit 0).
    #[arg(long)]
    pub strict: bool,
    /// Explain a failure against the old code: a git revision of your repository (`main`,
    /// `HEAD~1`: the same workflow files as they were then) or a file/folder holding the
    /// old code. The history is replayed against it too; the report names the changed
    /// lines that ran before the divergence, with the diff hunk.
    #[arg(long, value_name = "REF|PATH")]
    pub baseline: Option<String>,
    /// Use the code of this named worker from [tool.deja.workers.NAME]. `check` without it
    /// runs every named worker, each on its own histories.
    #[arg(long, value_name = "NAME")]
    pub worker: Option<String>,
}

/// The one history `replay` and `debug` work on: a file, or a workflow on a server.
#[derive(Debug, Args)]
pub struct HistorySource {
    /// History file (JSON or .binpb). Omit with --workflow-id to fetch from a server.
    pub history: Option<PathBuf>,
    /// Workflow id to replay under when the history does not record one; with no HISTORY,
    /// the workflow to fetch from the server.
    #[arg(long)]
    pub workflow_id: Option<String>,
    /// Run id to fetch (with --workflow-id and no HISTORY).
    #[arg(long)]
    pub run_id: Option<String>,
    #[command(flatten)]
    pub server: deja_fetch::ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub code: WorkflowArgs,
    /// Run these workflow queries after every step and record their results. Repeatable.
    #[arg(long, value_name = "NAME")]
    pub query: Vec<String>,
    /// Replay only up to the workflow task that contains this event.
    #[arg(long, value_name = "EVENT_ID")]
    pub until: Option<i64>,
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub source: HistorySource,
}

#[derive(Debug, Args)]
#[command(after_long_help = crate::commands::check::AFTER_LONG_HELP)]
pub struct CheckArgs {
    /// History files, directories (recursive) or globs. Default: `histories` in [tool.deja].
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub code: WorkflowArgs,
    /// Worker processes (default: number of cores, but no more than one per ~128 KB of
    /// histories: a few small histories are done before another worker would be ready).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Per-history time limit in seconds; a history over it is an error and its worker is
    /// replaced. Default: `timeout` in [tool.deja], else 60.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Stop at the first failure.
    #[arg(long)]
    pub fail_fast: bool,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a JSON report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// `json`: print the `deja.check/v1` document (what --json writes) on stdout; the
    /// human summary then goes to stderr.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Replay only shard K of N (1-based), split stably by path.
    #[arg(long, value_name = "K/N", value_parser = parse_partition)]
    pub partition: Option<(u32, u32)>,
    /// Print only the summary and failures.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Fetch the histories to check from a server with this visibility query.
    #[arg(long, value_name = "QUERY")]
    pub query: Option<String>,
    /// With --query: at most this many histories.
    #[arg(long)]
    pub limit: Option<usize>,
    /// With --query: at most this many per workflow type.
    #[arg(long)]
    pub sample_per_type: Option<usize>,
    /// With --query: also save the fetched histories here.
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    #[command(flatten)]
    pub server: deja_fetch::ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct DebugArgs {
    #[command(flatten)]
    pub code: WorkflowArgs,
    /// Workflow queries to run after every step. Repeatable.
    #[arg(long, value_name = "NAME")]
    pub query: Vec<String>,
    #[command(flatten)]
    pub source: HistorySource,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Fetch this workflow's history.
    #[arg(long)]
    pub workflow_id: Option<String>,
    /// With --workflow-id: this run (default: the latest).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Fetch every run matching this visibility query, e.g.
    /// "WorkflowType='Order' AND ExecutionStatus='Completed'".
    #[arg(long, value_name = "QUERY")]
    pub query: Option<String>,
    /// With --query: at most this many runs.
    #[arg(long)]
    pub limit: Option<usize>,
    /// With --query: at most this many runs per workflow type.
    #[arg(long)]
    pub sample_per_type: Option<usize>,
    /// Directory to write `<WorkflowType>/<workflowId>__<runId>.json` files into.
    #[arg(long, value_name = "DIR", default_value = "histories")]
    pub out: PathBuf,
    /// Concurrent downloads.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    #[command(flatten)]
    pub server: deja_fetch::ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {}

#[derive(Debug, Args)]
#[command(after_long_help = crate::commands::shadow::AFTER_LONG_HELP)]
pub struct ShadowArgs {
    #[command(subcommand)]
    pub command: ShadowCommand,
}

#[derive(Debug, Subcommand)]
pub enum ShadowCommand {
    /// Run a shadow worker: the SDK's own Worker, in deja's interpreter with your workflow
    /// code loaded, polling TQ (the shadow workflow, listing) and TQ-replay (replay
    /// batches, one at a time per process). Run as many as you like, anywhere; stops on
    /// SIGINT/SIGTERM (an unfinished batch is retried on another worker).
    Worker(ShadowWorkerArgs),
    /// Start a shadow run on the workers of TQ and print its workflow id.
    Start(ShadowStartArgs),
    /// Progress, counts and grouped failures of a shadow run (read through a query); -v
    /// adds each cause's example report.
    Status(ShadowStatusArgs),
    /// Stop a shadow run: the replays in flight are cancelled; the totals so far stay.
    Stop(ShadowStopArgs),
}

#[derive(Debug, Args)]
pub struct ShadowWorkerArgs {
    /// Task queue of the shadow run (replay batches use TQ-replay).
    #[arg(long, value_name = "TQ")]
    pub task_queue: String,
    #[command(flatten)]
    pub code: WorkflowArgs,
    #[command(flatten)]
    pub server: deja_fetch::ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct ShadowStartArgs {
    /// Task queue the shadow workers poll.
    #[arg(long, value_name = "TQ")]
    pub task_queue: String,
    /// Visibility query choosing the runs to replay, e.g.
    /// "WorkflowType='Order' AND CloseTime > '2026-11-01T00:00:00Z'" (default: every run).
    #[arg(long, value_name = "QUERY", default_value = "")]
    pub query: String,
    /// Fraction of the matching runs to replay (0–1), chosen by a hash of the run id.
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    pub sample_rate: f64,
    /// Replay activities (batches) in flight at once across the fleet.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub concurrency: u32,
    /// Runs per replay activity.
    #[arg(long, value_name = "N", default_value_t = 25)]
    pub batch_size: u32,
    /// Stop after replaying this many runs.
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
    /// Stop after this long (e.g. 30m, 2h, 1d); replays in flight still count.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub expire: Option<std::time::Duration>,
    /// Start over after each pass through the query (with --interval between passes).
    #[arg(long)]
    pub continuous: bool,
    /// With --continuous: pause between passes.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1h")]
    pub interval: std::time::Duration,
    /// A replay activity whose worker sent no heartbeat for this long is retried elsewhere.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub heartbeat_timeout: std::time::Duration,
    /// Workflow id of the run (default: deja-shadow-<time>).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Follow the run with a progress bar, then exit like `deja check` (0/1/2).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: write the final aggregate as JSON (`deja.shadow/v1`) here.
    #[arg(long, value_name = "FILE", requires = "wait")]
    pub json: Option<PathBuf>,
    /// With --wait: write a JUnit XML report here (a test case per failing run).
    #[arg(long, value_name = "FILE", requires = "wait")]
    pub junit: Option<PathBuf>,
    /// Runs per visibility page.
    #[arg(long, value_name = "N", default_value_t = 1000, hide = true)]
    pub page_size: u32,
    /// Continue-as-new once the shadow workflow's history has this many events.
    #[arg(long, value_name = "EVENTS", default_value_t = 5000, hide = true)]
    pub continue_as_new_after: u64,
    #[command(flatten)]
    pub server: deja_fetch::ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct ShadowStatusArgs {
    /// Workflow id of the shadow run (printed by `deja shadow start`).
    pub id: String,
    /// Print the aggregate as JSON (`deja.shadow/v1`) instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: deja_fetch::ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct ShadowStopArgs {
    /// Workflow id of the shadow run.
    pub id: String,
    #[command(flatten)]
    pub server: deja_fetch::ConnectionArgs,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        return std::time::Duration::try_from_secs_f64(secs).map_err(|e| e.to_string());
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 30s, 10m, 2h, 1d)"))
}

fn parse_range(s: &str) -> Result<(i64, i64), String> {
    let (a, b) = s.split_once("..").ok_or_else(|| format!("expected A..B, got `{s}`"))?;
    let a = if a.is_empty() { 1 } else { a.parse().map_err(|_| format!("`{a}` is not an event id"))? };
    let b = if b.is_empty() { i64::MAX } else { b.trim_start_matches('=').parse().map_err(|_| format!("`{b}` is not an event id"))? };
    if a > b {
        return Err(format!("empty range {s}"));
    }
    Ok((a, b))
}

fn parse_partition(s: &str) -> Result<(u32, u32), String> {
    let (k, n) = s.split_once('/').ok_or_else(|| format!("expected K/N like 2/4, got `{s}`"))?;
    let k: u32 = k.parse().map_err(|_| format!("`{k}` is not a number"))?;
    let n: u32 = n.parse().map_err(|_| format!("`{n}` is not a number"))?;
    if n == 0 || k == 0 || k > n {
        return Err(format!("partition {s}: need 1 <= K <= N"));
    }
    Ok((k, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("3..9"), Ok((3, 9)));
        assert_eq!(parse_range("..9"), Ok((1, 9)));
        assert_eq!(parse_range("5.."), Ok((5, i64::MAX)));
        assert!(parse_range("9..3").is_err());
        assert!(parse_range("x").is_err());
    }

    #[test]
    fn partitions() {
        assert_eq!(parse_partition("2/4"), Ok((2, 4)));
        assert!(parse_partition("0/4").is_err());
        assert!(parse_partition("5/4").is_err());
    }
}
