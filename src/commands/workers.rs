//! Several named workers in one repository (`[tool.deja.workers.NAME]`): each worker's
//! code, and which histories of a `deja check` run are whose (routing: `check::route`).
//!
//! `deja check` without `--workflows` in a repository that declares named workers runs
//! every worker on its own histories — each worker's code in worker processes of its own,
//! so workflow type names (and module names) may repeat across workers — and reports one
//! run: one summary, one JUnit file (a testsuite per worker), one JSON document (a
//! `worker` per history, counts per worker). A history that no worker claims, or that
//! several claim, stops the run before anything is replayed (exit 2), naming the files and
//! what each worker claims.

use std::path::PathBuf;

use anyhow::Result;

use crate::check::pool::Job;
use crate::check::route::{self, Route, Selector};
use crate::config::{Loaded, WorkerConfig};
use deja_core::trace::CodeConfig;

/// Files named per error in the "matches no worker" message before "and N more".
const LISTED: usize = 10;

/// One named worker's code, the top-level table filling in what it does not set.
pub fn code_for(loaded: &Loaded, name: Option<&str>, queries: &[String], record_state: bool) -> Result<CodeConfig> {
    let c = &loaded.config;
    let names = || c.workers.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
    let Some(name) = name else {
        anyhow::bail!(
            "[tool.deja] declares named workers ({}): pass --worker NAME to pick whose code replays this history, \
             or --workflows MODULE|FILE",
            names()
        );
    };
    let Some(w) = c.workers.get(name) else {
        if c.workers.is_empty() {
            anyhow::bail!("--worker {name}: no named workers are declared; add [tool.deja.workers.{name}] to pyproject.toml or drop the flag");
        }
        anyhow::bail!("--worker {name}: no such worker in [tool.deja.workers]; the workers are: {}", names());
    };
    Ok(code_of(loaded, w, queries, record_state))
}

fn code_of(loaded: &Loaded, w: &WorkerConfig, queries: &[String], record_state: bool) -> CodeConfig {
    let c = &loaded.config;
    let python_path = w.python_path.as_ref().unwrap_or(&c.python_path);
    let interceptors = w.interceptors.as_ref().unwrap_or(&c.interceptors);
    CodeConfig {
        workflows: w.workflows.iter().map(|s| loaded.resolve_spec(s)).collect(),
        python_path: python_path.iter().map(|p| loaded.resolve(p).display().to_string()).collect(),
        unsandboxed: w.unsandboxed.or(c.unsandboxed).unwrap_or(false),
        fresh_sandbox: w.fresh_sandbox.or(c.fresh_sandbox).unwrap_or(false),
        data_converter: w.data_converter.as_ref().or(c.data_converter.as_ref()).map(|d| loaded.resolve_spec(d)),
        interceptors: interceptors.iter().map(|i| loaded.resolve_spec(i)).collect(),
        queries: if queries.is_empty() { c.queries.clone() } else { queries.to_vec() },
        record_state,
        debug_mode: false,
    }
}

/// One named worker of a `deja check` run and the histories it replays.
pub struct Plan {
    pub name: String,
    pub code: CodeConfig,
    pub jobs: Vec<Job>,
}

/// Whether this `deja check` runs named workers: declared, and no `--workflows` given.
pub fn in_use(loaded: &Loaded, workflows_flag: &[String]) -> bool {
    !loaded.config.workers.is_empty() && workflows_flag.is_empty()
}

/// The paths a plain `deja check` replays: top-level `histories`, then every worker's.
pub fn default_paths(loaded: &Loaded) -> Vec<PathBuf> {
    let c = &loaded.config;
    let mut out: Vec<PathBuf> = Vec::new();
    for h in c.histories.iter().chain(c.workers.values().flat_map(|w| w.histories.iter())) {
        let p = loaded.resolve(std::path::Path::new(h));
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// Split the discovered histories between the workers (`only`: keep that worker's). A
/// history no worker claims, or several do, is an error naming each file and the choices.
/// With `only` and paths named on the command line, every file goes to that worker.
pub fn plan(loaded: &Loaded, only: Option<&str>, explicit_paths: bool, jobs: Vec<Job>) -> Result<Vec<Plan>> {
    let c = &loaded.config;
    if let Some(name) = only {
        code_for(loaded, Some(name), &[], false)?; // names the choices when NAME is unknown
    }
    let mut selectors = Vec::new();
    let mut plans = Vec::new();
    for (name, w) in &c.workers {
        let resolved: Vec<PathBuf> = w.histories.iter().map(|h| loaded.resolve(std::path::Path::new(h))).collect();
        let file = loaded.file.as_ref().map_or_else(String::new, |f| format!("{}: ", f.display()));
        selectors.push(Selector::new(name, &resolved, &w.histories, &w.task_queues, &w.workflow_types).map_err(|e| anyhow::anyhow!("{file}[tool.deja]: {e}"))?);
        plans.push(Plan { name: name.clone(), code: code_of(loaded, w, &[], false), jobs: Vec::new() });
    }
    if let (Some(name), true) = (only, explicit_paths) {
        plans.retain(|p| p.name == name);
        plans[0].jobs = jobs;
        return Ok(plans);
    }
    let mut unclaimed = Vec::new();
    let mut ambiguous = Vec::new();
    let mut unreadable = Vec::new();
    for job in jobs {
        match route::route(&selectors, &job.file) {
            Route::To(i) => plans[i].jobs.push(job),
            Route::NoWorker { task_queue, workflow_type } => {
                let what = if task_queue.is_empty() && workflow_type.is_empty() {
                    String::new()
                } else {
                    format!(" (task queue {task_queue}, workflow type {workflow_type})")
                };
                unclaimed.push(format!("{}{what}", job.path));
            }
            Route::Ambiguous { workers, by } => {
                let names: Vec<&str> = workers.iter().map(|&i| selectors[i].name.as_str()).collect();
                ambiguous.push(format!("{} (claimed by {} through {by})", job.path, names.join(" and ")));
            }
            Route::Unreadable => unreadable.push(job),
        }
    }
    if !unclaimed.is_empty() || !ambiguous.is_empty() {
        let mut msg = String::new();
        if !unclaimed.is_empty() {
            msg.push_str(&format!("{} matches no worker:{}", histories(unclaimed.len()), listing(&unclaimed)));
        }
        if !ambiguous.is_empty() {
            if !msg.is_empty() {
                msg.push_str("\n  ");
            }
            msg.push_str(&format!("{} claimed by more than one worker:{}", histories(ambiguous.len()), listing(&ambiguous)));
        }
        msg.push_str("\n  the workers in [tool.deja.workers]:");
        for s in &selectors {
            msg.push_str(&format!("\n    {}: {}", s.name, s.describe()));
        }
        msg.push_str(
            "\n  fix: add the file to one worker's `histories`, its task queue to `task-queues` or its type to \
             `workflow-types` (exactly one worker each), or name the worker: deja check --worker NAME FILE...",
        );
        anyhow::bail!(msg);
    }
    // A file that could not be read to decide goes to a worker that runs anyway, whose
    // loader reports it as an `error` row with its own message (the pool's usual path).
    let target = match only {
        Some(name) => plans.iter().position(|p| p.name == name),
        None => plans.iter().position(|p| !p.jobs.is_empty()).or(if plans.is_empty() { None } else { Some(0) }),
    };
    if let Some(i) = target {
        plans[i].jobs.extend(unreadable);
    }
    if let Some(name) = only {
        plans.retain(|p| p.name == name);
    }
    plans.retain(|p| !p.jobs.is_empty());
    Ok(plans)
}

fn histories(n: usize) -> String {
    if n == 1 { "1 history".into() } else { format!("{n} histories") }
}

fn listing(items: &[String]) -> String {
    let mut s: String = items.iter().take(LISTED).map(|i| format!("\n    {i}")).collect();
    if items.len() > LISTED {
        s.push_str(&format!("\n    … and {} more", items.len() - LISTED));
    }
    s
}

/// `deja check`'s set-up in named-worker mode: the config read once, its warnings shown,
/// and the Python environment from the flag or the top-level table. `code` is the first
/// (or `--worker`'s) worker's; each plan carries its own.
pub fn setup(loaded: Loaded, args: &crate::cli::WorkflowArgs) -> Result<super::CodeSetup> {
    for w in &loaded.warnings {
        eprintln!("deja: warning: {}", crate::style::escape_block(w));
    }
    let name = args.worker.clone().or_else(|| loaded.config.workers.keys().next().cloned());
    let code = code_for(&loaded, name.as_deref(), &[], false)?;
    let python_env = args.python_env.clone().or_else(|| loaded.config.python_env.as_ref().map(|p| loaded.resolve(p)));
    let drift = super::drift_policy(args, &loaded.config);
    Ok(super::CodeSetup { code, python_env, config: loaded, drift })
}

/// The code flags given with named workers (everything but `--workflows`) apply to every
/// worker, over what the file says — flags win, as everywhere.
pub fn with_flags(mut code: CodeConfig, args: &crate::cli::WorkflowArgs) -> CodeConfig {
    if !args.python_path.is_empty() {
        code.python_path = args.python_path.iter().map(|p| p.display().to_string()).collect();
    }
    if let Some(d) = &args.data_converter {
        code.data_converter = Some(d.clone());
    }
    if !args.interceptors.is_empty() {
        code.interceptors = args.interceptors.clone();
    }
    code.unsandboxed |= args.unsandboxed;
    code.fresh_sandbox |= args.fresh_sandbox;
    code
}
