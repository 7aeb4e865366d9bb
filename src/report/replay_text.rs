//! The human report of one replay: verdict, message, the side-by-side diff of the
//! divergent workflow task, and the user's source line.

use std::io::Write;

use super::display_path;
use super::model::{ReplayReport, SourceExcerpt};
use crate::diff::{Row, RowStatus};
use crate::history::describe::truncate;
use crate::replay::Verdict;
use crate::style::{Styles, Untrusted, escape_terminal, paint};

/// Verdict word, styled.
pub fn verdict_word(v: Verdict, st: &Styles) -> String {
    match v {
        Verdict::Pass => paint(st.pass, "✓ pass"),
        Verdict::Nondeterminism => paint(st.fail, "✗ nondeterminism"),
        Verdict::WorkflowTaskFailure => paint(st.fail, "✗ workflow task failure"),
        Verdict::Error => paint(st.fail, "✗ error"),
    }
}

/// The one-line header: verdict, workflow, file.
pub fn header(r: &ReplayReport, st: &Styles) -> String {
    format!(
        "{} {} {} · {} ({} events, {} workflow tasks)",
        verdict_word(r.verdict, st),
        paint(st.bold, Untrusted(&r.history.workflow_type)),
        Untrusted(&r.history.workflow_id),
        Untrusted(&display_path(&r.history.source)),
        r.history.events,
        r.history.tasks
    )
}

const COL: usize = 52;

fn cell(text: &str, width: usize) -> String {
    let t = truncate(&escape_terminal(text), width);
    let pad = width.saturating_sub(t.chars().count());
    format!("{t}{}", " ".repeat(pad))
}

fn row_line(row: &Row, st: &Styles, marked: bool) -> String {
    let (mark, style) = match row.status {
        RowStatus::Match => ("=", st.dim),
        RowStatus::Differs => ("≠", st.fail),
        RowStatus::OnlyHistory => ("-", st.removed),
        RowStatus::OnlyCode => ("+", st.added),
        RowStatus::Skipped => ("·", st.dim),
        RowStatus::NotReached => (" ", st.dim),
    };
    let left = match &row.recorded {
        Some(r) => format!("{:>5} {} {}", r.event_id, r.item.event_type, r.item.label),
        None => format!("{:>5} —", ""),
    };
    let right = match &row.emitted {
        Some(e) => format!("{} {}", e.item.command, e.item.label),
        None => match row.status {
            RowStatus::Skipped => row.note.clone().unwrap_or_default(),
            RowStatus::NotReached => "(not replayed)".into(),
            _ => "—".into(),
        },
    };
    let site = row.emitted.as_ref().and_then(|e| e.site.as_ref()).map(|s| format!("  {}:{}", Untrusted(&short_file(&s.file)), s.line)).unwrap_or_default();
    let pointer = if marked { paint(st.fail, "▶") } else { " ".into() };
    let mut line = format!("{pointer} {} {} {}{}", paint(style, mark), cell(&left, COL), paint(style, cell(&right, COL)), paint(st.dim, site));
    if let (Some(note), RowStatus::Match) = (&row.note, row.status) {
        line.push_str(&paint(st.dim, format!("  ({})", Untrusted(note))));
    }
    line.trim_end().to_string()
}

fn short_file(f: &str) -> String {
    std::path::Path::new(f).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| f.to_string())
}

fn columns_header(st: &Styles) -> String {
    paint(st.dim, format!("    {} {}", cell("      history recorded", COL), "code emitted"))
}

/// The aligned rows of one task.
fn print_task(w: &mut dyn Write, r: &ReplayReport, task: usize, mark: Option<usize>, st: &Styles) -> std::io::Result<()> {
    let Some(t) = r.alignment.rows.iter().find(|row| row.task == task).map(|_| task) else {
        return Ok(());
    };
    let rows: Vec<(usize, &Row)> = r.alignment.rows.iter().enumerate().filter(|(_, row)| row.task == t).collect();
    let first = rows.first().and_then(|(_, row)| row.recorded.as_ref().map(|x| x.event_id));
    let range = match (first, rows.last().and_then(|(_, row)| row.recorded.as_ref().map(|x| x.event_id))) {
        (Some(a), Some(b)) => format!(" · command events {a}–{b}"),
        _ => String::new(),
    };
    writeln!(w, "  {}", paint(st.accent, format!("workflow task {}{range}", task + 1)))?;
    for (i, row) in rows {
        writeln!(w, "  {}", row_line(row, st, Some(i) == mark))?;
    }
    Ok(())
}

fn print_source(w: &mut dyn Write, src: &SourceExcerpt, st: &Styles, label: &str) -> std::io::Result<()> {
    writeln!(w, "  {label} {}:{}", Untrusted(&display_path(&src.file)), src.line)?;
    for (n, text) in &src.lines {
        let text = escape_terminal(text);
        if *n == src.line {
            writeln!(w, "  {} {}", paint(st.fail, format!("▶{n:>5} │")), paint(st.bold, &text))?;
        } else {
            writeln!(w, "  {}", paint(st.dim, format!(" {n:>5} │ {text}")))?;
        }
    }
    Ok(())
}

/// Print a full report. `verbose` adds every aligned task (on success too) and the raw
/// SDK failure text.
pub fn print_report(w: &mut dyn Write, r: &ReplayReport, verbose: u8, st: &Styles) -> std::io::Result<()> {
    writeln!(w, "{}", header(r, st))?;
    if let Some(until) = r.history.until_event_id {
        writeln!(w, "  {}", paint(st.dim, format!("replayed up to the workflow task containing event {until} (--until)")))?;
    }
    if r.verdict != Verdict::Pass {
        writeln!(w, "  {}", Untrusted(&r.message))?;
    }
    match r.verdict {
        Verdict::Nondeterminism => {
            if let Some(d) = &r.divergence {
                writeln!(w)?;
                writeln!(
                    w,
                    "  {}",
                    paint(
                        st.bold,
                        format!(
                            "first divergence in workflow task {} (events {}–{}):",
                            d.task.index + 1,
                            d.task.first_event_id,
                            d.task.last_event_id
                        )
                    )
                )?;
                let hist = d.row.recorded.as_ref().map(|x| format!("event {} {} {}", x.event_id, x.item.event_type, x.item.label));
                let code = d.row.emitted.as_ref().map(|x| format!("{} {}", x.item.command, x.item.label));
                writeln!(w, "    history recorded: {}", Untrusted(&hist.unwrap_or_else(|| "nothing here".into())))?;
                writeln!(w, "    code emitted:     {}", Untrusted(&code.unwrap_or_else(|| "nothing here".into())))?;
                writeln!(w)?;
                writeln!(w, "{}", columns_header(st))?;
                if d.task.index > 0 && verbose == 0 {
                    print_task(w, r, d.task.index - 1, r.alignment.first_divergence, st)?;
                }
                if verbose > 0 {
                    for t in 0..=d.task.index {
                        print_task(w, r, t, r.alignment.first_divergence, st)?;
                    }
                } else {
                    print_task(w, r, d.task.index, r.alignment.first_divergence, st)?;
                }
                if let Some(src) = &d.source {
                    writeln!(w)?;
                    let label = if d.row.emitted.is_some() { "issued at" } else { "the code's last command in this task was issued at" };
                    print_source(w, src, st, label)?;
                }
            } else {
                writeln!(w, "  {}", paint(st.dim, "(deja could not pair this with a command; the SDK's message above is authoritative)"))?;
            }
        }
        Verdict::WorkflowTaskFailure | Verdict::Error => {
            for f in &r.frames {
                writeln!(w, "    at {}", Untrusted(&f.to_string()))?;
                if !f.code.is_empty() {
                    writeln!(w, "       {}", paint(st.dim, Untrusted(f.code.trim())))?;
                }
            }
            if let Some(src) = &r.source {
                writeln!(w)?;
                print_source(w, src, st, "in")?;
            }
        }
        Verdict::Pass => {
            if verbose > 0 {
                writeln!(w, "{}", columns_header(st))?;
                let tasks: std::collections::BTreeSet<usize> = r.alignment.rows.iter().map(|row| row.task).collect();
                for t in tasks {
                    print_task(w, r, t, None, st)?;
                }
            }
        }
    }
    if verbose > 0 && !r.raw.is_empty() && r.verdict != Verdict::Pass {
        writeln!(w, "\n  {}", paint(st.dim, "SDK failure text:"))?;
        for l in r.raw.lines() {
            writeln!(w, "    {}", paint(st.dim, Untrusted(l)))?;
        }
    }
    Ok(())
}
