//! `deja replay HISTORY --workflows …`: one history, one verdict, the diff.

use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::{HistorySource, OutputFormat, ReplayArgs};
use crate::history::tasks::Timeline;
use crate::history::{self, LoadedHistory};
use crate::report::model::ReplayReport;
use crate::report::replay_text::print_report;
use crate::replay::Verdict;
use crate::style::Styles;
use crate::exit;

/// Load the history a replay-like command names: a file, or with `--workflow-id` and no
/// file, the run fetched from the server.
pub fn load_history(source: &HistorySource) -> Result<LoadedHistory> {
    match (source.history.as_deref(), source.workflow_id.as_deref()) {
        (Some(p), id) => Ok(history::load_path(p, id)?),
        (None, Some(id)) => super::fetch::fetch_one(&source.server, id, source.run_id.as_deref()),
        (None, None) => anyhow::bail!("no history given: pass a history file (JSON or .binpb), or --workflow-id ID to fetch it from the server"),
    }
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

pub fn run(args: ReplayArgs, verbose: u8, st: &Styles) -> Result<u8> {
    let mut h = load_history(&args.source)?;
    if let Some(until) = args.until {
        if until < 1 || until > h.events().len() as i64 {
            anyhow::bail!("--until {until}: the history has events 1–{}", h.events().len());
        }
        h = h.truncated_to_task_of(until);
    }
    let mut setup = super::resolve_code(&args.code, &args.query, false)?;
    // Queries (from --query or [tool.deja]) are recorded with the state they run against.
    setup.code.record_state = !setup.code.queries.is_empty();
    let (_interp, session) = super::start_python(&setup, verbose)?;
    check_queries(&session.queries, h.workflow_type(), &setup.code.queries)?;
    let outcome = session.replay(&h.encode(), &h.workflow_id).map_err(|e| super::explain(e, verbose))?;
    let tl = Timeline::new(h.events());
    let mut report = ReplayReport::build(&h, &tl, &outcome);
    if let Some(until) = args.until {
        report.history.until_event_id = Some(until);
    }

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.output {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report).context("writing JSON")?;
            writeln!(out)?;
        }
        OutputFormat::Text => print_report(&mut out, &report, verbose, st)?,
    }
    out.flush()?;
    Ok(if report.verdict == Verdict::Pass { exit::OK } else { exit::FAILURES })
}
