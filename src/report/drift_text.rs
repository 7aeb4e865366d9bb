//! Drift findings in the text reports: one line per finding under the verdict (kind, event,
//! field, both values, the source line) and a dim line on what it means; `-v` shows the
//! values untrimmed and a failing final task's Python traceback.

use std::io::Write;

use super::vocab::display_path;
use crate::style::{Styles, Untrusted, escape_terminal, paint};
use deja_core::diff::drift::DriftFinding;
use deja_core::model::summary::Summary;
use deja_core::history::describe::truncate;

/// Values are cut to this many characters without `-v`.
const SHORT: usize = 60;

/// The verdict word, or `✗ drift (SDK: pass)` when the policy fails the history on drift.
pub fn verdict_word(v: deja_core::trace::Verdict, drift_failed: bool, st: &Styles) -> String {
    if drift_failed && v == deja_core::trace::Verdict::Pass {
        return paint(st.fail, "✗ drift (SDK: pass)");
    }
    super::replay_text::verdict_word(v, st)
}

/// `, 2 drift` for the header of a passing history (empty when there is none).
pub fn header_suffix(drift: &[DriftFinding], failed: bool, st: &Styles) -> String {
    if drift.is_empty() {
        return String::new();
    }
    let text = format!("{} drift", drift.len());
    format!(", {}", paint(if failed { st.fail } else { st.warn }, text))
}

/// Where a finding points: `workflows.py:40`.
pub fn site(f: &DriftFinding) -> Option<String> {
    match (&f.file, f.line) {
        (Some(file), Some(line)) => Some(format!("{}:{line}", display_path(file))),
        (Some(file), None) => Some(display_path(file)),
        _ => None,
    }
}

/// One line: `drift activity-input · event 5 · input: "A" → "B"  (workflows.py:40)`.
pub fn finding_line(f: &DriftFinding, verbose: u8, st: &Styles) -> String {
    let cut = |s: &str| if verbose > 0 { s.to_string() } else { truncate(s, SHORT) };
    let mark = if f.fails { paint(st.fail, "✗ drift") } else { paint(st.warn, "drift") };
    let mut line = format!("{mark} {}", paint(st.bold, f.kind.as_str()));
    if let Some(id) = f.event_id {
        line.push_str(&format!(" · event {id}"));
    }
    line.push_str(&format!(" · {}: ", escape_terminal(&f.field)));
    if f.recorded.is_empty() {
        line.push_str(&escape_terminal(&cut(&f.emitted)));
    } else {
        line.push_str(&format!("recorded {} → now {}", escape_terminal(&cut(&f.recorded)), escape_terminal(&cut(&f.emitted))));
    }
    if let Some(s) = site(f) {
        line.push_str(&paint(st.dim, format!("  ({})", Untrusted(&s))));
    }
    if f.unverifiable {
        line.push_str(&paint(st.dim, " [unverifiable]"));
    }
    line
}

/// Every finding, under the verdict.
pub fn print_drift(w: &mut dyn Write, drift: &[DriftFinding], verbose: u8, st: &Styles) -> std::io::Result<()> {
    for f in drift {
        writeln!(w, "  {}", finding_line(f, verbose, st))?;
        writeln!(w, "    {}", paint(st.dim, Untrusted(&f.message)))?;
        if verbose > 0
            && let Some(tb) = &f.traceback
        {
            for l in tb.lines() {
                writeln!(w, "    {}", paint(st.dim, Untrusted(l)))?;
            }
        }
    }
    Ok(())
}

/// The findings as plain text, one line each plus its meaning (JUnit `system-out`).
pub fn plain(drift: &[DriftFinding]) -> String {
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = print_drift(&mut buf, drift, 1, &Styles::default());
    String::from_utf8_lossy(&buf).into_owned()
}

/// `deja check`'s drift section: one heading per group (largest first) with its example.
pub fn render_groups(w: &mut dyn Write, s: &Summary, verbose: u8, st: &Styles) -> std::io::Result<()> {
    let groups = s.drift_groups_by_size();
    if groups.is_empty() {
        return Ok(());
    }
    let shown = if verbose > 0 { groups.len() } else { groups.len().min(10) };
    for g in &groups[..shown] {
        let n = if g.histories == 1 { "1 history".to_string() } else { format!("{} histories", g.histories) };
        let mark = if g.fails { paint(st.fail, format!("✗ drift · {n} ·")) } else { paint(st.warn, format!("drift · {n} ·")) };
        writeln!(w, "{mark} {}", paint(st.bold, Untrusted(&g.signature)))?;
        writeln!(w, "  {}", finding_line(&g.example, verbose, st))?;
        writeln!(w, "    {}", paint(st.dim, format!("e.g. {} — {}", Untrusted(&display_path(&g.example_path)), Untrusted(&g.example.message))))?;
    }
    if shown < groups.len() {
        writeln!(w, "{}", paint(st.dim, format!("{} more drift groups (-v shows them)", groups.len() - shown)))?;
    }
    writeln!(w)
}

/// The counts line's drift part: ` · 3 with drift (5 findings)`, and how many it failed.
pub fn counts_suffix(s: &Summary, st: &Styles) -> String {
    if s.drift_histories == 0 {
        return String::new();
    }
    let mut t = format!(" · {} with drift ({} finding{})", s.drift_histories, s.drift_findings, if s.drift_findings == 1 { "" } else { "s" });
    if s.drift_failed > 0 {
        t.push_str(&format!(", {} failed by drift", s.drift_failed));
    }
    paint(if s.drift_failed > 0 { st.fail } else { st.warn }, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use deja_core::diff::drift::DriftKind;

    #[test]
    fn history_strings_are_escaped() {
        let f = DriftFinding {
            kind: DriftKind::SignalExternal,
            event_id: Some(7),
            field: "signal_name".into(),
            recorded: "go\x1b[2J".into(),
            emitted: "::error::x".into(),
            file: Some("/w/wf\x07.py".into()),
            line: Some(3),
            message: "m".into(),
            task: None,
            unverifiable: false,
            fails: false,
            traceback: None,
        };
        let line = finding_line(&f, 0, &Styles::default());
        assert!(!line.contains('\x1b') && !line.contains('\x07'), "{line:?}");
        assert!(line.contains("recorded go\\x1b[2J → now ::error::x"), "{line}");
    }
}
