//! `deja replay HISTORY --workflows …`: one history, one verdict, the diff.

use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::{OutputFormat, ReplayArgs};
use deja_core::history::tasks::Timeline;
use deja_core::model::replay::ReplayReport;
use crate::report::replay_text::print_report;
use deja_core::trace::Verdict;
use crate::style::Styles;
use deja_core::exit;

pub fn run(args: ReplayArgs, verbose: u8, st: &Styles) -> Result<u8> {
    let mut h = crate::source::load_one(&args.source)?;
    if let Some(until) = args.until {
        if until < 1 || until > h.events().len() as i64 {
            anyhow::bail!("--until {until}: the history has events 1–{}", h.events().len());
        }
        h = h.truncated_to_task_of(until);
    }
    let mut setup = super::resolve_code(&args.code, &args.query, false)?;
    // Queries (from --query or [tool.deja]) are recorded with the state they run against.
    setup.code.record_state = !setup.code.queries.is_empty();
    // A bad --baseline is a usage error: found out before anything replays.
    let old = args.code.baseline.as_deref().map(|spec| crate::baseline::resolve(spec, &setup.code)).transpose()?;
    let (interp, session) = super::start_python(&setup, verbose)?;
    super::check_queries(&session.queries, h.workflow_type(), &setup.code.queries)?;
    let outcome = session.replay_explaining_failures(&h.encode(), &h.workflow_id).map_err(|e| super::explain(e, verbose))?;
    let baseline = match old {
        Some(old) if outcome.verdict != Verdict::Pass => {
            session.close();
            Some(crate::baseline::replay(&interp, &old, (&h.encode(), &h.workflow_id), verbose)?)
        }
        _ => None,
    };
    let tl = Timeline::new(h.events());
    let mut report = ReplayReport::build_with(&h, &tl, &outcome, baseline.as_ref());
    report.apply_drift_policy(&setup.drift);
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
    Ok(if report.passed() { exit::OK } else { exit::FAILURES })
}
