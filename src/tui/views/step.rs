//! The step pane: for the current workflow task, what core delivered to the code (the
//! activation jobs), what the code did with it, and its commands side by side with the
//! command events history recorded — the task's rows of the same alignment `deja replay`
//! prints, with differences marked (`≠` differs, `-` only in history, `+` only from the
//! code, `✗` the divergence core reported).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Widget;

use super::{line, note_height, pane_block, scroll_for};
use deja_core::diff::{Row, RowStatus};
use crate::tui::action::Pane;
use crate::tui::app::{App, Pos, Replay};
use crate::tui::model::{EventKind, HistoryModel};
use crate::tui::theme::Theme;
use crate::report::vocab::{command_text, row_mark, short_file};

/// One line of the step pane. Diff rows are laid out at draw time, to the pane's width.
#[derive(Clone, Debug)]
pub enum StepLine {
    Text(Line<'static>),
    /// The column titles of the diff.
    Columns,
    /// `report.alignment.rows[i]`.
    Row(usize),
}

#[derive(Clone, Debug, Default)]
pub struct StepContent {
    pub title: String,
    pub lines: Vec<StepLine>,
    /// The line to scroll to by itself (the divergent row).
    pub focus: Option<usize>,
}

pub fn build(hist: &HistoryModel, replay: &Replay, task: usize, th: &Theme) -> StepContent {
    let Some(t) = hist.timeline.tasks.get(task) else { return StepContent::default() };
    let title = format!("task {}/{} · events {}–{}", task + 1, hist.timeline.tasks.len(), t.first_event_id, t.last_event_id);
    let mut lines = Vec::new();
    let trace = match replay {
        Replay::Ready(trace) | Replay::Running(trace, _) => trace,
        Replay::Failed(f) => {
            lines.push(StepLine::Text(line("✗ the replay could not run, so there is no trace:", th.fail)));
            for l in wrap(&f.message, WRAP) {
                lines.push(StepLine::Text(line(format!("  {l}"), th.text)));
            }
            lines.push(StepLine::Text(line("fix the code and press r to import it again", th.bold)));
            if !f.detail.is_empty() {
                lines.push(StepLine::Text(line("Python said:", th.dim)));
            }
            for l in f.detail.lines() {
                lines.push(StepLine::Text(line(l.to_string(), th.dim)));
            }
            return StepContent { title, lines, focus: None };
        }
        Replay::Pending => {
            lines.push(StepLine::Text(line("… replaying: this task's activations and commands appear here when the replay finishes", th.dim)));
            return StepContent { title, lines, focus: None };
        }
    };
    let steps = trace.steps_of_task.get(task).map(Vec::as_slice).unwrap_or(&[]);
    if trace.steps.is_empty() && trace.report.verdict != deja_core::trace::Verdict::Pass {
        // Nothing ran at all (unregistered type, invalid history…): say why, in full.
        lines.push(StepLine::Text(line(format!("{}: the SDK ran no workflow code", super::verdict_word(trace.report.verdict)), th.fail)));
        for l in wrap(&trace.report.message, WRAP) {
            lines.push(StepLine::Text(line(format!("  {l}"), th.text)));
        }
        return StepContent { title, lines, focus: None };
    }
    if steps.is_empty() {
        let why = match trace.report.alignment.reached_task {
            Some(r) if task > r => format!("replay stopped in task {}: this task was never delivered to the code", r + 1),
            _ if t.started_event_id.is_none() => "this task has not run yet (no WorkflowTaskStarted in history)".to_string(),
            _ => "no activation was recorded for this task".to_string(),
        };
        lines.push(StepLine::Text(line(why, th.dim)));
    }
    let total = trace.steps.iter().filter(|s| !s.is_eviction()).count();
    for &si in steps {
        let step = &trace.steps[si];
        let nth = trace.steps[..=si].iter().filter(|s| !s.is_eviction()).count();
        let replaying = if step.activation.is_replaying { "replaying" } else { "new" };
        lines.push(StepLine::Text(Line::from(vec![
            ratatui::text::Span::styled("delivered to the code", th.bold),
            ratatui::text::Span::styled(format!(" · activation {nth}/{total} · {replaying}"), th.dim),
        ])));
        for job in &step.activation.jobs {
            lines.push(StepLine::Text(line(format!("  ‣ {}", trace.job_line(job)), th.text)));
        }
        match trace.step_failure(si) {
            Some(msg) => lines.push(StepLine::Text(line(format!("  ✗ the code failed this activation: {msg}"), th.fail))),
            None => {
                let n = trace.command_count(si);
                let text = if n == 0 { "  ⇢ answered with no commands (waiting)".to_string() } else { format!("  ⇢ answered with {n} command{}", if n == 1 { "" } else { "s" }) };
                lines.push(StepLine::Text(line(text, th.dim)));
            }
        }
    }
    let rows = trace.rows_of_task.get(task).map(Vec::as_slice).unwrap_or(&[]);
    let mut focus = None;
    if !rows.is_empty() {
        lines.push(StepLine::Text(line("commands", th.bold)));
        lines.push(StepLine::Columns);
        for &ri in rows {
            if trace.report.alignment.first_divergence == Some(ri) {
                focus = Some(lines.len());
            }
            lines.push(StepLine::Row(ri));
            let row = &trace.report.alignment.rows[ri];
            if let (Some(note), RowStatus::Match) = (&row.note, row.status) {
                lines.push(StepLine::Text(line(format!("      note: {note}"), th.dim)));
            }
            // Drift on this pair: both values (`line` escapes them).
            let event = row.recorded.as_ref().map(|r| r.event_id);
            for f in trace.report.drift.iter().filter(|f| f.event_id.is_some() && f.event_id == event) {
                lines.push(StepLine::Text(line(format!("      ≈ {}", f.one_line()), th.fail)));
            }
        }
        // Tail findings of this task that no row carries (commands only the code emits).
        for f in trace.report.drift.iter().filter(|f| f.task == Some(task) && f.event_id.is_none()) {
            lines.push(StepLine::Text(line(format!("≈ {}", f.one_line()), th.fail)));
        }
    } else if !steps.is_empty() {
        lines.push(StepLine::Text(line("no command events in this task", th.dim)));
    }
    if let (Some(d), Some(_)) = (&trace.report.divergence, focus) {
        let hist_side = d.row.recorded.as_ref().map(|r| format!("event {} {} {}", r.event_id, r.item.event_type, r.item.label));
        let code_side = d.row.emitted.as_ref().map(|e| command_text(e.item.command, &e.item.label));
        lines.push(StepLine::Text(line(format!("✗ history recorded: {}", hist_side.unwrap_or_else(|| "nothing".into())), th.fail)));
        lines.push(StepLine::Text(line(format!("  the code emitted: {}", code_side.unwrap_or_else(|| "nothing".into())), th.fail)));
    }
    StepContent { title, lines, focus }
}

pub fn render(app: &App, tabs: &[Pane], area: Rect, buf: &mut Buffer) {
    let content = &app.inspect.step;
    let block = pane_block(app, Pane::Step, tabs, content.title.clone());
    let inner = block.inner(area);
    block.render(area, buf);
    note_height(app, Pane::Step, inner.height);
    let off = scroll_for(app, Pane::Step, content.lines.len(), inner.height as usize);
    let current_event = match app.pos {
        Pos::Event(id) => {
            // A follower stands for its head's command event.
            match app.hist.info(id).map(|i| i.kind) {
                Some(EventKind::Follower { head }) => Some(head),
                _ => Some(id),
            }
        }
        Pos::Task(_) => None,
    };
    let visible = || content.lines.iter().skip(off).take(inner.height as usize);
    // Size the two sides to what the visible rows need, so `ActivityTaskScheduled
    // price_cart #1` is not cut in half on an 80-column screen; the source site is added
    // to the emitted side only when everything fits (the Source pane shows it anyway).
    let texts: Vec<(String, String, String)> = visible()
        .filter_map(|l| match l {
            StepLine::Row(ri) => app.trace()?.report.alignment.rows.get(*ri).map(cells),
            _ => None,
        })
        .collect();
    let width = |f: &dyn Fn(&(String, String, String)) -> usize| texts.iter().map(f).max().unwrap_or(0);
    let left = width(&|t| t.0.chars().count()).max(16);
    let right = width(&|t| t.1.chars().count()).max(12);
    let with_site = width(&|t| t.1.chars().count() + t.2.chars().count()).max(12);
    let body = (inner.width as usize).saturating_sub(6);
    let show_site = left + with_site <= body;
    let split = split_width(inner.width as usize, (left, if show_site { with_site } else { right }));
    for (i, l) in visible().enumerate() {
        let y = inner.y + i as u16;
        let row_area = Rect { x: inner.x, y, width: inner.width, height: 1 };
        match l {
            StepLine::Text(t) => {
                buf.set_line(inner.x, y, t, inner.width);
            }
            StepLine::Columns => columns(row_area, buf, &app.theme, split, ("history recorded", "code emitted"), "   ", app.theme.dim, app.theme.dim),
            StepLine::Row(ri) => {
                let Some(trace) = app.trace() else { continue };
                let Some(row) = trace.report.alignment.rows.get(*ri) else { continue };
                let is_div = trace.report.alignment.first_divergence == Some(*ri);
                let here = current_event.is_some() && row.recorded.as_ref().map(|r| r.event_id) == current_event;
                draw_row(app, row, is_div, here, split, show_site, row_area, buf);
            }
        }
    }
}

/// The mark and styles of a diff row.
fn row_look(th: &Theme, status: RowStatus, is_div: bool) -> (&'static str, Style) {
    if is_div {
        return ("✗", th.fail);
    }
    let style = match status {
        RowStatus::Match => th.text,
        RowStatus::Differs => th.fail,
        RowStatus::OnlyHistory => th.removed,
        RowStatus::OnlyCode => th.added,
        RowStatus::Skipped | RowStatus::NotReached => th.dim,
    };
    (row_mark(status), style)
}

/// The texts of a diff row: recorded side, emitted side, and where the code emitted it.
fn cells(row: &Row) -> (String, String, String) {
    let left = match &row.recorded {
        Some(r) => format!("{} {} {}", r.event_id, r.item.event_type, r.item.label),
        None => "— nothing recorded".into(),
    };
    let (right, site) = match &row.emitted {
        Some(e) => (
            command_text(e.item.command, &e.item.label),
            e.site.as_ref().map(|s| format!("  @{}:{}", short_file(&s.file), s.line)).unwrap_or_default(),
        ),
        None => (
            match row.status {
                RowStatus::Skipped => row.note.clone().unwrap_or_else(|| "(no command expected)".into()),
                RowStatus::NotReached => "(not replayed)".into(),
                _ => "— nothing emitted".into(),
            },
            String::new(),
        ),
    };
    (left, right, site)
}

#[allow(clippy::too_many_arguments)]
fn draw_row(app: &App, row: &Row, is_div: bool, here: bool, split: usize, show_site: bool, area: Rect, buf: &mut Buffer) {
    let th = &app.theme;
    let (mark, style) = row_look(th, row.status, is_div);
    let (left, mut right, site) = cells(row);
    if show_site {
        right.push_str(&site);
    }
    let prefix = format!("{}{} ", if here { "▶" } else { " " }, mark);
    let (ls, rs) = if row.status == RowStatus::Match { (th.text, th.text) } else { (style, style) };
    columns(area, buf, th, split, (&left, &right), &prefix, ls, rs);
    if here {
        buf.set_style(area, th.current);
    }
    if is_div {
        buf.set_style(Rect { x: area.x, y: area.y, width: 2.min(area.width), height: 1 }, th.fail);
    }
}

/// The width of the left cell, given the pane width and what each side needs.
pub fn split_width(width: usize, (left, right): (usize, usize)) -> usize {
    let body = width.saturating_sub(6);
    let half = body / 2;
    if left + right <= body {
        left + (body - left - right) / 2
    } else if left <= half {
        left
    } else if right <= half {
        body - right
    } else {
        half
    }
}

/// Two cells either side of a `│`, after a 3-character prefix; the left one `lw` wide.
#[allow(clippy::too_many_arguments)]
fn columns(area: Rect, buf: &mut Buffer, th: &Theme, lw: usize, (left, right): (&str, &str), prefix: &str, ls: Style, rs: Style) {
    let w = area.width as usize;
    let (left, right) = (&*crate::style::escape_terminal(left), &*crate::style::escape_terminal(right));
    if w < 12 {
        buf.set_stringn(area.x, area.y, format!("{prefix}{left}"), w, ls);
        return;
    }
    let rw = w.saturating_sub(6 + lw);
    buf.set_stringn(area.x, area.y, prefix, 3, th.text);
    buf.set_stringn(area.x + 3, area.y, left, lw, ls);
    buf.set_stringn(area.x + 3 + lw as u16, area.y, " │ ", 3, th.dim);
    buf.set_stringn(area.x + 6 + lw as u16, area.y, right, rw, rs);
}

/// Long messages are wrapped to fit an 80-column terminal.
const WRAP: usize = 74;

/// Split `text` into lines of at most `width` characters, at spaces where possible.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    for para in text.lines() {
        let mut cur = String::new();
        for word in para.split(' ') {
            let mut word = word.to_string();
            while word.chars().count() > width {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                let head: String = word.chars().take(width).collect();
                word = word.chars().skip(width).collect();
                out.push(head);
            }
            if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
                out.push(std::mem::take(&mut cur));
            }
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(&word);
        }
        out.push(cur);
    }
    out
}

/// `StartTimer 1 (5m)`, or just `CompleteWorkflowExecution` when there is no label.
#[cfg(test)]
mod tests {
    use super::{split_width, wrap};

    #[test]
    fn columns_give_each_side_what_it_needs_when_they_fit() {
        // 80 wide: 72 for the cells.
        assert_eq!(split_width(78, (38, 17)), 38 + (72 - 55) / 2);
        assert_eq!(split_width(78, (50, 30)), 42, "right fits in half: left gets the rest");
        assert_eq!(split_width(78, (20, 60)), 20);
        assert_eq!(split_width(78, (50, 50)), 36);
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_splits_long_words() {
        assert_eq!(wrap("aaa bbb ccc", 7), vec!["aaa bbb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("one\ntwo", 10), vec!["one", "two"]);
    }
}
