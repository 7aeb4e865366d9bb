//! One module per subcommand; each turns parsed arguments into work and an exit code.
//! Shared set-up (config, Python environment, user code) lives here.

pub mod check;
pub mod debug;
pub mod fetch;
pub mod replay;
pub mod shadow;
pub mod show;
pub mod version;
pub mod workers;

use anyhow::Result;

use crate::cli::WorkflowArgs;
use crate::config;
use crate::replay::embed::{Interpreter, Session};
use crate::replay::ReplayError;
use deja_core::trace::CodeConfig;

/// What `replay`, `check` and `debug` need to run user code.
pub struct CodeSetup {
    pub code: CodeConfig,
    pub python_env: Option<std::path::PathBuf>,
    pub config: config::Loaded,
    /// Which drift fails a history (`--strict`, `[tool.deja] strict / fail-on / allow`).
    pub drift: deja_core::diff::drift::DriftPolicy,
}

/// Merge flags over `[tool.deja]`.
pub fn resolve_code(args: &WorkflowArgs, queries: &[String], record_state: bool) -> Result<CodeSetup> {
    let loaded = config::load(args.config.as_deref())?;
    for w in &loaded.warnings {
        eprintln!("deja: warning: {}", crate::style::escape_block(w));
    }
    let c = &loaded.config;
    if let (Some(name), false) = (&args.worker, args.workflows.is_empty()) {
        anyhow::bail!("--worker {name} and --workflows both say which code to run: pass one of them");
    }
    if args.workflows.is_empty() && (!c.workers.is_empty() || args.worker.is_some()) {
        let code = workers::code_for(&loaded, args.worker.as_deref(), queries, record_state)?;
        let python_env = args.python_env.clone().or_else(|| c.python_env.as_ref().map(|p| loaded.resolve(p)));
        let drift = drift_policy(args, c);
        return Ok(CodeSetup { code, python_env, config: loaded, drift });
    }
    let workflows = if args.workflows.is_empty() {
        c.workflows.iter().map(|w| loaded.resolve_spec(w)).collect()
    } else {
        args.workflows.clone()
    };
    if workflows.is_empty() {
        anyhow::bail!(
            "no workflow code given: pass --workflows MODULE|FILE (e.g. --workflows app.workflows), \
             or set `workflows = [...]` under [tool.deja] in pyproject.toml"
        );
    }
    let mut python_path: Vec<String> = args.python_path.iter().map(|p| p.display().to_string()).collect();
    if python_path.is_empty() {
        python_path = c.python_path.iter().map(|p| loaded.resolve(p).display().to_string()).collect();
    }
    let mut all_queries = queries.to_vec();
    if all_queries.is_empty() {
        all_queries = c.queries.clone();
    }
    let code = CodeConfig {
        workflows,
        python_path,
        unsandboxed: args.unsandboxed || c.unsandboxed.unwrap_or(false),
        fresh_sandbox: args.fresh_sandbox || c.fresh_sandbox.unwrap_or(false),
        data_converter: args.data_converter.clone().or_else(|| c.data_converter.as_ref().map(|d| loaded.resolve_spec(d))),
        interceptors: if args.interceptors.is_empty() {
            c.interceptors.iter().map(|i| loaded.resolve_spec(i)).collect()
        } else {
            args.interceptors.clone()
        },
        queries: all_queries,
        record_state,
        debug_mode: false,
    };
    let python_env = args.python_env.clone().or_else(|| c.python_env.as_ref().map(|p| loaded.resolve(p)));
    let drift = drift_policy(args, c);
    Ok(CodeSetup { code, python_env, config: loaded, drift })
}

/// `--strict` over `[tool.deja] strict / fail-on / allow` (the kinds were validated when
/// the file was read). The same policy for every named worker.
pub fn drift_policy(args: &WorkflowArgs, c: &config::DejaConfig) -> deja_core::diff::drift::DriftPolicy {
    let kinds = |w: &[String]| deja_core::diff::drift::DriftPolicy::parse_kinds(w).unwrap_or_default();
    deja_core::diff::drift::DriftPolicy { strict: args.strict || c.strict.unwrap_or(false), fail_on: kinds(&c.fail_on), allow: kinds(&c.allow) }
}

/// Start Python in the user's environment and import their code.
pub fn start_python(setup: &CodeSetup, verbose: u8) -> Result<(Interpreter, Session)> {
    let (interp, session) = crate::replay::start(setup.python_env.as_deref(), &setup.code).map_err(|e| explain(e, verbose))?;
    if let Some(notice) = &interp.sdk.notice {
        eprintln!("deja: note: {}", crate::style::Untrusted(notice));
    }
    if verbose > 0 {
        eprintln!("deja: {}", crate::style::Untrusted(&interp.sdk.describe()));
    }
    Ok((interp, session))
}

/// Print the Python traceback when asked (`-v`) and turn the error into a one-liner.
pub fn explain(e: impl Into<ReplayError>, verbose: u8) -> anyhow::Error {
    let e = e.into();
    if verbose > 0 && !e.detail().is_empty() {
        eprintln!("{}", crate::style::escape_block(e.detail().trim_end()));
    }
    e.into_anyhow()
}

/// Every asked-for query must exist on the workflow type the history runs (a typo would
/// otherwise record an error per step and be easy to miss). Built-in `__…` queries and
/// dynamic query handlers accept any name; an unregistered type is the replay's own error.
pub fn check_queries(by_type: &std::collections::BTreeMap<String, Vec<String>>, workflow_type: &str, queries: &[String]) -> Result<()> {
    let Some(known) = by_type.get(workflow_type).or_else(|| by_type.get("*")) else {
        return Ok(());
    };
    if known.iter().any(|q| q == "*") {
        return Ok(());
    }
    for q in queries {
        if !q.starts_with("__") && !known.contains(q) {
            let list = if known.is_empty() { "it defines none".to_string() } else { format!("its queries: {}", known.join(", ")) };
            anyhow::bail!("--query {q}: workflow {workflow_type} has no query named '{q}' ({list}); fix the name or drop the flag");
        }
    }
    Ok(())
}
