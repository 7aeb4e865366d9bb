//! The human report of one replay: verdict, message, the side-by-side diff of the
//! divergent workflow task, and the user's source line.

use std::io::Write;

use super::vocab::{self, command_text, display_path, short_file};
use deja_core::diff::items::Kind;
use deja_core::diff::{Row, RowStatus};
use deja_core::history::describe::truncate;
use deja_core::model::replay::{ReplayReport, SourceExcerpt};
use deja_core::trace::Verdict;
use crate::style::{Styles, Untrusted, escape_terminal, paint};

/// Verdict word, styled.
pub fn verdict_word(v: Verdict, st: &Styles) -> String {
    paint(if v == Verdict::Pass { st.pass } else { st.fail }, vocab::verdict_word(v))
}

/// The one-line header: verdict, workflow, file.
pub fn header(r: &ReplayReport, st: &Styles) -> String {
    format!(
        "{}{} {} {} · {} ({} events, {} workflow tasks)",
        super::drift_text::verdict_word(r.verdict, r.drift_failed, st),
        super::drift_text::header_suffix(&r.drift, r.drift_failed, st),
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
    let style = match row.status {
        RowStatus::Match | RowStatus::Skipped | RowStatus::NotReached => st.dim,
        RowStatus::Differs => st.fail,
        RowStatus::OnlyHistory => st.removed,
        RowStatus::OnlyCode => st.added,
    };
    let mark = vocab::row_mark(row.status);
    let left = match &row.recorded {
        Some(r) => format!("{:>5} {} {}", r.event_id, r.item.event_type, r.item.label),
        None => format!("{:>5} —", ""),
    };
    let right = match &row.emitted {
        Some(e) => command_text(e.item.command, &e.item.label),
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

/// Python warnings (always: the SDK warns about non-deterministic calls that do not fail
/// replay) and the code's printed output (with -v; otherwise how many lines).
fn print_warnings_and_output(w: &mut dyn Write, r: &ReplayReport, verbose: u8, st: &Styles) -> std::io::Result<()> {
    for warning in &r.warnings {
        // `file:line: Category: message`: the file as the user typed it (relative).
        let shown = match warning.split_once(": ").and_then(|(loc, rest)| loc.rsplit_once(':').map(|(file, line)| (file, line, rest))) {
            Some((file, line, rest)) if line.chars().all(|c| c.is_ascii_digit()) => format!("{}:{line}: {rest}", display_path(file)),
            _ => warning.clone(),
        };
        writeln!(w, "  {} {}", paint(st.warn, "warning:"), escape_terminal(&shown))?;
    }
    let printed: Vec<&str> = r.output.lines().collect();
    if printed.is_empty() {
        return Ok(());
    }
    if verbose > 0 {
        writeln!(w, "  {}", paint(st.dim, "the workflow code printed:"))?;
        for line in printed {
            writeln!(w, "    {}", escape_terminal(line))?;
        }
    } else {
        let n = printed.len();
        writeln!(w, "  {}", paint(st.dim, format!("the workflow code printed {n} line{} (-v shows {})", if n == 1 { "" } else { "s" }, if n == 1 { "it" } else { "them" })))?;
    }
    Ok(())
}

/// With -v and recorded state (`--query`): each activation's query results and fields.
fn print_states(w: &mut dyn Write, r: &ReplayReport, st: &Styles) -> std::io::Result<()> {
    if r.trace.iter().all(|t| t.state.is_none()) {
        return Ok(());
    }
    writeln!(w, "\n  {}", paint(st.bold, "state after each activation:"))?;
    for (i, t) in r.trace.iter().enumerate() {
        let Some(state) = &t.state else { continue };
        writeln!(w, "  {}", paint(st.accent, format!("activation {} · history length {} · {}", i + 1, t.history_length, t.jobs.join(", "))))?;
        for (name, v) in &state.queries {
            let shown = query_text(v, st);
            writeln!(w, "    query {} = {shown}", Untrusted(name))?;
        }
        for (name, v) in &state.fields {
            writeln!(w, "    {} = {}", paint(st.dim, escape_terminal(name)), escape_terminal(&truncate(v, 200)))?;
        }
    }
    Ok(())
}

/// A recorded query result (`{"result": …}` or `{"error": …}`), cut to 200 characters and
/// escaped before it is painted: the colour's own escape codes must stay codes.
fn query_text(v: &serde_json::Value, st: &Styles) -> String {
    let safe = |text: &str| escape_terminal(&truncate(text, 200)).into_owned();
    match (v.get("result"), v.get("error")) {
        (Some(serde_json::Value::String(res)), _) => safe(res),
        (Some(res), _) => safe(&res.to_string()),
        (None, Some(err)) => paint(st.fail, safe(&format!("error: {}", err.as_str().map(str::to_string).unwrap_or_else(|| err.to_string())))),
        _ => safe(&v.to_string()),
    }
}

/// The full report as a string, coloured or plain (what a `deja check` worker sends back
/// for a failed history).
pub fn render(report: &ReplayReport, verbose: u8, color: bool) -> String {
    let mut styles = Styles::default();
    if color {
        styles.colorize();
    }
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = print_report(&mut buf, report, verbose, &styles);
    String::from_utf8_lossy(&buf).into_owned()
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
    print_warnings_and_output(w, r, verbose, st)?;
    super::drift_text::print_drift(w, &r.drift, verbose, st)?;
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
                // The code raised and the SDK failed the workflow with it (as history
                // recorded): replay passes, but say what was raised and where.
                for e in r.alignment.rows.iter().filter_map(|row| row.emitted.as_ref()).filter(|e| e.item.kind == Kind::FailWorkflow) {
                    let at = e.site.as_ref().map(|s| format!(" at {}", Untrusted(&s.to_string()))).unwrap_or_default();
                    writeln!(w, "  the workflow code raised{at}: {}", escape_terminal(&e.item.detail))?;
                    if let Some(code) = e.site.as_ref().map(|s| s.code.trim()).filter(|c| !c.is_empty()) {
                        writeln!(w, "    {}", paint(st.dim, escape_terminal(code)))?;
                    }
                }
                writeln!(w, "{}", columns_header(st))?;
                let tasks: std::collections::BTreeSet<usize> = r.alignment.rows.iter().map(|row| row.task).collect();
                for t in tasks {
                    print_task(w, r, t, None, st)?;
                }
            }
        }
    }
    super::cause_text::print_cause(w, r, st)?;
    if verbose > 0 {
        print_states(w, r, st)?;
    }
    if verbose > 0 && !r.raw.is_empty() && r.verdict != Verdict::Pass {
        writeln!(w, "\n  {}", paint(st.dim, "SDK failure text:"))?;
        for l in r.raw.lines() {
            writeln!(w, "    {}", paint(st.dim, Untrusted(l)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_results_are_escaped_before_they_are_painted() {
        let mut st = Styles::default();
        st.colorize();
        let err = query_text(&serde_json::json!({"error": "bad\x1b[2Jthing"}), &st);
        assert_eq!(err, paint(st.fail, "error: bad\\x1b[2Jthing"), "{err:?}");
        assert!(err.starts_with('\x1b'), "the colour stays a colour: {err:?}");
        let ok = query_text(&serde_json::json!({"result": "line\nnext"}), &st);
        assert_eq!(ok, "line\\nnext");
    }
}
