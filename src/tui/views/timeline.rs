//! The timeline: one line per workflow task header and per event group, marks in three
//! fixed columns (`▶` position, `●` breakpoint, `✗` divergence), `▸`/`▾` for folded and
//! expanded followers. Only the rows in view are formatted.

use ratatui::buffer::Buffer;
use ratatui::layout::{Margin, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Scrollbar, ScrollbarOrientation, ScrollbarState, StatefulWidget, Widget};

use super::{note_height, pane_block};
use crate::tui::action::Pane;
use crate::tui::app::{App, Row};
use crate::tui::model::EventKind;

/// Rows kept visible above and below the cursor when scrolling.
const SCROLL_OFF: usize = 2;

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    // Counts are on the status line ("event 23/35 · task 5/7"); the title says what is
    // filtered.
    let extra = if app.show_bookkeeping { "all events".to_string() } else { "bookkeeping hidden (f)".to_string() };
    let block = pane_block(app, Pane::Timeline, &[Pane::Timeline], extra);
    let inner = block.inner(area);
    block.render(area, buf);
    note_height(app, Pane::Timeline, inner.height);
    let h = inner.height as usize;
    if h == 0 {
        return;
    }
    let cursor = app.cursor_row();
    let off = keep_in_view(app.timeline_offset.get(), cursor, h, app.rows.len());
    app.timeline_offset.set(off);
    let idw = app.hist.len().to_string().len().max(2);
    for (i, row) in app.rows.iter().enumerate().skip(off).take(h) {
        let line = row_line(app, *row, i == cursor, idw);
        let y = inner.y + (i - off) as u16;
        if i == cursor {
            buf.set_style(Rect { x: inner.x, y, width: inner.width, height: 1 }, app.theme.current);
        }
        buf.set_line(inner.x, y, &line, inner.width);
    }
    if app.rows.len() > h {
        let mut state = ScrollbarState::new(app.rows.len().saturating_sub(h)).position(off);
        Scrollbar::new(ScrollbarOrientation::VerticalRight).begin_symbol(None).end_symbol(None).render(
            area.inner(Margin { vertical: 1, horizontal: 0 }),
            buf,
            &mut state,
        );
    }
}

/// The first row to show so the cursor stays in view with some context.
pub fn keep_in_view(off: usize, cursor: usize, height: usize, total: usize) -> usize {
    let margin = if height > 2 * SCROLL_OFF + 2 { SCROLL_OFF } else { 0 };
    let mut off = off;
    if cursor < off + margin {
        off = cursor.saturating_sub(margin);
    }
    if cursor + margin + 1 > off + height {
        off = cursor + margin + 1 - height;
    }
    off.min(total.saturating_sub(height))
}

fn row_line(app: &App, row: Row, is_cursor: bool, idw: usize) -> Line<'_> {
    let th = &app.theme;
    let trace = app.trace();
    let cur = if is_cursor { "▶" } else { " " };
    let style_all = |s: Style| if is_cursor { s.patch(th.current) } else { s };
    match row {
        Row::Task(t) => {
            let Some(task) = app.hist.timeline.tasks.get(t) else { return Line::default() };
            let bp = if app.breakpoints.contains(&app.header_event(t)) { "●" } else { " " };
            let problem = trace.is_some_and(|tr| tr.problem_task == Some(t));
            let div = if problem { "✗" } else { " " };
            let mut text = format!("── task {} · events {}–{}", t + 1, task.first_event_id, task.last_event_id);
            if task.failed_attempts > 0 {
                text.push_str(&format!(" · {} failed attempt{}", task.failed_attempts, if task.failed_attempts == 1 { "" } else { "s" }));
            }
            let not_reached = trace.is_some_and(|tr| tr.report.alignment.reached_task.is_none_or(|r| t > r));
            let mut style = th.task;
            if problem {
                text.push_str(" · diverges here");
                style = th.fail;
            } else if task.started_event_id.is_none() {
                text.push_str(" · not run yet");
                style = th.dim;
            } else if not_reached {
                text.push_str(" · not replayed");
                style = th.dim;
            }
            let drift = trace.map_or(0, |tr| tr.report.drift.iter().filter(|f| f.task == Some(t)).count());
            if drift > 0 {
                text.push_str(&format!(" · {drift} drift (D)"));
            }
            Line::from(vec![
                Span::styled(cur.to_string(), style_all(th.text)),
                Span::styled(bp.to_string(), style_all(th.breakpoint)),
                Span::styled(div.to_string(), style_all(th.fail)),
                Span::styled(format!(" {text}"), style_all(style)),
            ])
        }
        Row::Event { id, nested } => {
            let Some(info) = app.hist.info(id) else { return Line::default() };
            let bp = if app.breakpoints.contains(&id) { "●" } else { " " };
            let is_div = trace.is_some_and(|tr| tr.divergence_event == Some(id));
            let drifted = !is_div && trace.is_some_and(|tr| tr.report.drift.iter().any(|f| f.event_id == Some(id)));
            let div = if is_div {
                "✗"
            } else if drifted {
                "≈"
            } else {
                " "
            };
            let fold = if nested {
                "  └ "
            } else if app.hist.has_followers(id) {
                if app.expanded.contains(&id) { "▾ " } else { "▸ " }
            } else {
                "  "
            };
            let matched = app.search.as_ref().is_some_and(|s| s.matches.binary_search(&id).is_ok());
            let mut style = match info.kind {
                EventKind::Bookkeeping => th.dim,
                EventKind::FailedAttempt => th.fail,
                _ if is_div => th.fail,
                _ if matches!(info.ty, deja_core::history::EventType::WorkflowExecutionFailed) => th.fail,
                _ => th.text,
            };
            if matched {
                style = style.patch(th.matched);
            }
            Line::from(vec![
                Span::styled(cur.to_string(), style_all(th.text)),
                Span::styled(bp.to_string(), style_all(th.breakpoint)),
                Span::styled(div.to_string(), style_all(th.fail)),
                Span::styled(format!(" {id:>idw$} "), style_all(th.dim)),
                Span::styled(fold.to_string(), style_all(th.text)),
                Span::styled(crate::style::escape_terminal(&info.text), style_all(style)),
            ])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::keep_in_view;

    #[test]
    fn scrolling_keeps_context_around_the_cursor() {
        assert_eq!(keep_in_view(0, 0, 10, 100), 0);
        assert_eq!(keep_in_view(0, 9, 10, 100), 2);
        assert_eq!(keep_in_view(50, 10, 10, 100), 8);
        assert_eq!(keep_in_view(0, 99, 10, 100), 90);
        assert_eq!(keep_in_view(95, 99, 10, 100), 90);
        assert_eq!(keep_in_view(0, 3, 10, 5), 0);
    }
}
