//! `[tool.deja]` in `pyproject.toml`: the same settings as the flags, kept with the code.
//! Flags win over the file; relative paths in the file are relative to the file.
//!
//! ```toml
//! [tool.deja]
//! workflows = ["app.workflows"]        # modules, files or module:Class
//! python-path = ["src"]
//! python-env = ".venv"
//! data-converter = "app.codec:converter"
//! interceptors = ["app.tracing:interceptor"]
//! unsandboxed = false
//! fresh-sandbox = false                # true: re-import the code for every history
//! queries = ["current_state"]
//! histories = ["histories/*.json"]     # what plain `deja check` replays
//! jobs = 4
//! timeout = 60
//! strict = false                       # true: any drift finding fails the history
//! fail-on = ["activity-input"]         # drift kinds that fail a history
//! allow = ["sdk-warning"]              # drift kinds never reported
//!
//! [tool.deja.workers.billing]          # several named workers (then no top-level workflows)
//! workflows = ["billing.workflows"]
//! python-path = ["services/billing"]   # unset keys come from the top-level table
//! histories = ["histories/billing/*.json"]   # its histories by path,
//! task-queues = ["billing-tq"]         # by recorded task queue,
//! workflow-types = ["InvoiceWorkflow"] # or by workflow type
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The `[tool.deja]` table. Unknown keys are reported as warnings, not errors, so an
/// older deja reading a newer file still works.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "kebab-case")]
pub struct DejaConfig {
    #[serde(default)]
    pub workflows: Vec<String>,
    #[serde(default, alias = "python_path")]
    pub python_path: Vec<PathBuf>,
    #[serde(default, alias = "python_env")]
    pub python_env: Option<PathBuf>,
    #[serde(default, alias = "data_converter")]
    pub data_converter: Option<String>,
    #[serde(default)]
    pub interceptors: Vec<String>,
    #[serde(default)]
    pub unsandboxed: Option<bool>,
    #[serde(default, alias = "fresh_sandbox")]
    pub fresh_sandbox: Option<bool>,
    #[serde(default)]
    pub queries: Vec<String>,
    #[serde(default)]
    pub histories: Vec<String>,
    #[serde(default)]
    pub jobs: Option<usize>,
    #[serde(default)]
    pub timeout: Option<f64>,
    /// Fail a history on any drift finding (tail findings included), as `--strict`.
    #[serde(default)]
    pub strict: Option<bool>,
    /// Drift kinds that fail a history (`["activity-input", "signal-external"]`).
    #[serde(default, alias = "fail_on")]
    pub fail_on: Vec<String>,
    /// Drift kinds never reported.
    #[serde(default)]
    pub allow: Vec<String>,
    /// `[tool.deja.workers.NAME]`: several named workers (see [`WorkerConfig`]), in name order.
    #[serde(default)]
    pub workers: std::collections::BTreeMap<String, WorkerConfig>,
}

/// One named worker: its code and which histories are its own. Keys it does not set
/// (`python-path`, `data-converter`, `interceptors`, `unsandboxed`, `fresh-sandbox`) come
/// from the top-level table.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WorkerConfig {
    #[serde(default)]
    pub workflows: Vec<String>,
    #[serde(default, alias = "python_path")]
    pub python_path: Option<Vec<PathBuf>>,
    #[serde(default, alias = "data_converter")]
    pub data_converter: Option<String>,
    #[serde(default)]
    pub interceptors: Option<Vec<String>>,
    #[serde(default)]
    pub unsandboxed: Option<bool>,
    #[serde(default, alias = "fresh_sandbox")]
    pub fresh_sandbox: Option<bool>,
    /// Its histories by path: files, directories or globs (relative to the pyproject).
    /// Also checked by a plain `deja check`.
    #[serde(default)]
    pub histories: Vec<String>,
    /// Its histories by the task queue recorded in their start event.
    #[serde(default, alias = "task_queues")]
    pub task_queues: Vec<String>,
    /// Its histories by workflow type.
    #[serde(default, alias = "workflow_types")]
    pub workflow_types: Vec<String>,
}

const KNOWN_KEYS: &[&str] = &[
    "workflows", "python-path", "python_path", "python-env", "python_env", "data-converter", "data_converter",
    "interceptors", "unsandboxed", "fresh-sandbox", "fresh_sandbox", "queries", "histories", "jobs", "timeout",
    "strict", "fail-on", "fail_on", "allow",
    "interceptors", "unsandboxed", "fresh-sandbox", "fresh_sandbox", "queries", "histories", "jobs", "timeout", "workers",
];

/// A loaded config: the table, the file it came from, and warnings about it.
#[derive(Debug, Default, Clone)]
pub struct Loaded {
    pub config: DejaConfig,
    pub file: Option<PathBuf>,
    pub warnings: Vec<String>,
}

impl Loaded {
    /// A path from the file, made relative to the file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        match (&self.file, p.is_absolute()) {
            (Some(f), false) => f.parent().map(|d| d.join(p)).unwrap_or_else(|| p.to_path_buf()),
            _ => p.to_path_buf(),
        }
    }

    /// A module-or-file spec from the file: file paths are made relative to the file.
    pub fn resolve_spec(&self, spec: &str) -> String {
        let (target, rest) = match spec.rsplit_once(':') {
            Some((t, c)) if !c.contains('/') && !c.contains('\\') => (t, Some(c)),
            _ => (spec, None),
        };
        let looks_like_file = target.ends_with(".py") || target.contains('/');
        let target = if looks_like_file { self.resolve(Path::new(target)).display().to_string() } else { target.to_string() };
        match rest {
            Some(c) => format!("{target}:{c}"),
            None => target,
        }
    }
}

/// Longest per-history time limit accepted (`--timeout`, `[tool.deja] timeout`): one day.
pub const MAX_TIMEOUT: f64 = 86_400.0;

/// Why a per-history time limit is unusable, if it is.
pub fn timeout_problem(secs: f64) -> Option<String> {
    if secs.is_finite() && secs > 0.0 && secs <= MAX_TIMEOUT {
        return None;
    }
    Some(format!("must be a number of seconds greater than 0 and at most {MAX_TIMEOUT} (one day), e.g. 60"))
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: invalid TOML: {msg}")]
    Toml { path: String, msg: String },
    #[error("{path}: [tool.deja]: {msg}")]
    Invalid { path: String, msg: String },
}

/// Find and read `[tool.deja]`: the explicit file, else the nearest `pyproject.toml` from the
/// current directory upwards. A pyproject without the table yields the defaults.
pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
    let file = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => find_upwards(&std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))),
    };
    let Some(file) = file else { return Ok(Loaded::default()) };
    let path = file.display().to_string();
    let text = std::fs::read_to_string(&file).map_err(|error| ConfigError::Io { path: path.clone(), error })?;
    parse(&text, file)
}

fn find_upwards(start: &Path) -> Option<PathBuf> {
    start.ancestors().map(|d| d.join("pyproject.toml")).find(|p| p.is_file())
}

/// Parse a pyproject text (split out for tests).
pub fn parse(text: &str, file: PathBuf) -> Result<Loaded, ConfigError> {
    let path = file.display().to_string();
    let doc: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Toml { path: path.clone(), msg: e.message().to_string() })?;
    let Some(table) = doc.get("tool").and_then(|t| t.get("deja")) else {
        return Ok(Loaded { config: DejaConfig::default(), file: Some(file), warnings: Vec::new() });
    };
    let mut warnings = Vec::new();
    if let Some(t) = table.as_table() {
        for key in t.keys() {
            if !KNOWN_KEYS.contains(&key.as_str()) {
                warnings.push(format!("{path}: [tool.deja]: unknown key `{key}` ignored"));
            }
        }
    }
    let config: DejaConfig =
        table.clone().try_into().map_err(|e: toml::de::Error| ConfigError::Invalid { path: path.clone(), msg: e.message().to_string() })?;
    if let Some(problem) = workers_problem(&config) {
        return Err(ConfigError::Invalid { path, msg: problem });
    }
    if let Some(problem) = config.timeout.and_then(timeout_problem) {
        let t = config.timeout.unwrap_or_default();
        return Err(ConfigError::Invalid { path, msg: format!("timeout = {t}: {problem}") });
    }
    for (key, words) in [("fail-on", &config.fail_on), ("allow", &config.allow)] {
        if let Err(msg) = deja_core::diff::drift::DriftPolicy::parse_kinds(words) {
            return Err(ConfigError::Invalid { path, msg: format!("{key}: {msg}") });
        }
    }
    Ok(Loaded { config, file: Some(file), warnings })
}

/// What is wrong with `[tool.deja.workers.*]`, if anything.
fn workers_problem(c: &DejaConfig) -> Option<String> {
    if c.workers.is_empty() {
        return None;
    }
    if !c.workflows.is_empty() {
        let names: Vec<&str> = c.workers.keys().map(String::as_str).collect();
        return Some(format!(
            "`workflows` is set at the top level and named workers are declared too ({}): \
             move the top-level workflows into a [tool.deja.workers.NAME] table of their own",
            names.join(", ")
        ));
    }
    for (name, w) in &c.workers {
        if w.workflows.is_empty() {
            return Some(format!("workers.{name}: no `workflows`; give the worker its code, e.g. workflows = [\"app.workflows\"]"));
        }
        if w.histories.is_empty() && w.task_queues.is_empty() && w.workflow_types.is_empty() {
            return Some(format!(
                "workers.{name}: no way to tell which histories are its own; set `histories` (paths or globs), \
                 `task-queues` or `workflow-types`"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_table_and_warns_on_unknown_keys() {
        let l = parse(
            "[project]\nname='x'\n[tool.deja]\nworkflows=['app.workflows','src/wf.py:Order']\npython-path=['src']\nbogus=1\n",
            PathBuf::from("/repo/pyproject.toml"),
        )
        .unwrap();
        assert_eq!(l.config.workflows.len(), 2);
        assert_eq!(l.resolve(Path::new("src")), PathBuf::from("/repo/src"));
        assert_eq!(l.resolve_spec("src/wf.py:Order"), "/repo/src/wf.py:Order");
        assert_eq!(l.resolve_spec("app.workflows"), "app.workflows");
        assert_eq!(l.warnings.len(), 1);
        assert!(l.warnings[0].contains("bogus"));
    }

    #[test]
    fn missing_table_is_defaults_and_bad_types_are_errors() {
        let l = parse("[project]\nname='x'\n", PathBuf::from("p.toml")).unwrap();
        assert!(l.config.workflows.is_empty());
        let e = parse("[tool.deja]\nworkflows='notalist'\n", PathBuf::from("p.toml")).unwrap_err();
        assert!(e.to_string().contains("[tool.deja]"), "{e}");
    }

    #[test]
    fn timeout_out_of_range_names_the_key_and_the_range() {
        for bad in ["1e19", "0", "-5"] {
            let e = parse(&format!("[tool.deja]\ntimeout = {bad}\n"), PathBuf::from("/repo/pyproject.toml")).unwrap_err().to_string();
            assert!(e.starts_with("/repo/pyproject.toml: [tool.deja]: timeout = "), "{e}");
            assert!(e.contains("greater than 0 and at most 86400"), "{e}");
        }
        assert_eq!(parse("[tool.deja]\ntimeout = 5\n", PathBuf::from("p.toml")).unwrap().config.timeout, Some(5.0));
    }

    #[test]
    fn named_workers_are_read_and_checked() {
        let l = parse(
            "[tool.deja]\npython-path=['lib']\n[tool.deja.workers.billing]\nworkflows=['billing.workflows']\nhistories=['h/b/*.json']\n\
             [tool.deja.workers.shipping]\nworkflows=['s.w']\ntask-queues=['ship-tq']\nworkflow-types=['P']\nunsandboxed=true\n",
            PathBuf::from("/repo/pyproject.toml"),
        )
        .unwrap();
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let names: Vec<&str> = l.config.workers.keys().map(String::as_str).collect();
        assert_eq!(names, ["billing", "shipping"]);
        let s = &l.config.workers["shipping"];
        assert_eq!((s.task_queues.as_slice(), s.workflow_types.as_slice(), s.unsandboxed), (&["ship-tq".to_string()][..], &["P".to_string()][..], Some(true)));
        assert_eq!(l.config.workers["billing"].python_path, None);

        let e = parse("[tool.deja.workers.a]\nworkflows=['x']\n", PathBuf::from("p.toml")).unwrap_err().to_string();
        assert!(e.contains("workers.a: no way to tell which histories") && e.contains("task-queues"), "{e}");
        let e = parse("[tool.deja.workers.a]\nhistories=['h']\n", PathBuf::from("p.toml")).unwrap_err().to_string();
        assert!(e.contains("workers.a: no `workflows`"), "{e}");
        let e = parse("[tool.deja]\nworkflows=['x']\n[tool.deja.workers.a]\nworkflows=['y']\nhistories=['h']\n", PathBuf::from("p.toml")).unwrap_err().to_string();
        assert!(e.contains("top level") && e.contains("(a)"), "{e}");
        let e = parse("[tool.deja.workers.a]\nworkflows=['y']\nhistories=['h']\ntask-queue='x'\n", PathBuf::from("p.toml")).unwrap_err().to_string();
        assert!(e.contains("task-queue"), "{e}");
    }
}
