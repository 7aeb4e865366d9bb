//! Drawing. `impl Widget for &App` lays the screen out and hands each pane to its module;
//! rendering borrows the state (no copy per frame) and draws only visible lines.
//!
//! Screen: a two-line header (verdict, what was replayed, core's message), the panes, and
//! a status line. On large terminals (≥ 120×30) the timeline sits left, Step top right and
//! one of Source/State/Detail below it; on smaller ones the timeline sits on top and one
//! inspector pane below, switched with Tab or 1–5.

pub mod detail;
pub mod source;
pub mod state;
pub mod step;
pub mod timeline;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Widget};

use super::action::{KEYS, Mode, Pane};
use super::app::{App, Pos, Replay};
use deja_core::trace::Verdict;

/// Lines of a pane whose content does not depend on the width.
pub type PaneText = Vec<Line<'static>>;

/// Terminals at least this big get the side-by-side layout.
const WIDE: (u16, u16) = (120, 30);

pub use crate::report::vocab::verdict_word;

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let [header, body, status] = Layout::vertical([Constraint::Length(2), Constraint::Fill(1), Constraint::Length(1)]).areas(area);
        render_header(self, header, buf);
        let wide = area.width >= WIDE.0 && area.height >= WIDE.1;
        if wide {
            let [left, right] = Layout::horizontal([Constraint::Percentage(44), Constraint::Fill(1)]).areas(body);
            // Step takes what it needs (up to 60%), the pane below gets the rest.
            let want = (self.inspect.step.lines.len() as u16 + 2).clamp(8, right.height * 3 / 5);
            let [top, bottom] = Layout::vertical([Constraint::Length(want), Constraint::Fill(1)]).areas(right);
            timeline::render(self, left, buf);
            render_pane(self, Pane::Step, &[Pane::Step], top, buf);
            render_pane(self, self.lower, &[Pane::Source, Pane::State, Pane::Detail], bottom, buf);
        } else {
            let [top, bottom] = Layout::vertical([Constraint::Percentage(42), Constraint::Fill(1)]).areas(body);
            timeline::render(self, top, buf);
            render_pane(self, self.inspector, &[Pane::Step, Pane::Source, Pane::State, Pane::Detail], bottom, buf);
        }
        render_status(self, status, buf);
        if self.mode == Mode::Help {
            render_help(self, area, buf);
        }
    }
}

/// A pane's frame: double border when focused (visible without colour), the tabs it can
/// switch between in the title, the selected one in brackets.
pub fn pane_block<'a>(app: &App, pane: Pane, tabs: &[Pane], extra: String) -> Block<'a> {
    let focused = app.focus == pane;
    let mut title: Vec<Span> = vec![Span::raw(" ")];
    for (i, t) in tabs.iter().enumerate() {
        if i > 0 {
            title.push(Span::raw(" "));
        }
        let label = format!("{} {}", t.index() + 1, t.title());
        if *t == pane && tabs.len() > 1 {
            title.push(Span::styled(format!("[{label}]"), app.theme.bold));
        } else if *t == pane {
            title.push(Span::styled(label, app.theme.bold));
        } else {
            title.push(Span::styled(label, app.theme.dim));
        }
    }
    if !extra.is_empty() {
        title.push(Span::raw(format!(" · {extra}")));
    }
    title.push(Span::raw(" "));
    let block = Block::bordered().title(Line::from(title));
    if focused { block.border_type(BorderType::Double).border_style(app.theme.focus) } else { block }
}

fn render_pane(app: &App, pane: Pane, tabs: &[Pane], area: Rect, buf: &mut Buffer) {
    match pane {
        Pane::Step => step::render(app, tabs, area, buf),
        Pane::Source => source::render(app, tabs, area, buf),
        Pane::State => render_text(app, pane, tabs, String::new(), &app.inspect.state, area, buf),
        Pane::Detail => render_text(app, pane, tabs, String::new(), &app.inspect.detail, area, buf),
        Pane::Timeline => timeline::render(app, area, buf),
    }
}

/// Remember a pane's inner height for paging (PgUp/PgDn).
pub fn note_height(app: &App, pane: Pane, h: u16) {
    let mut hs = app.heights.get();
    hs[pane.index()] = h;
    app.heights.set(hs);
}

/// The scroll offset to draw a pane at: the user's, or the one following the position,
/// clamped so the last line stays at the bottom.
pub fn scroll_for(app: &App, pane: Pane, total: usize, height: usize) -> usize {
    let want = app.scroll[pane.index()].unwrap_or_else(|| app.auto_scroll(pane));
    want.min(total.saturating_sub(height))
}

/// Draw width-independent lines with a scroll offset; only the visible ones are touched.
pub fn render_text(app: &App, pane: Pane, tabs: &[Pane], extra: String, lines: &[Line<'static>], area: Rect, buf: &mut Buffer) {
    let block = pane_block(app, pane, tabs, extra);
    let inner = block.inner(area);
    block.render(area, buf);
    note_height(app, pane, inner.height);
    let off = scroll_for(app, pane, lines.len(), inner.height as usize);
    for (i, line) in lines.iter().skip(off).take(inner.height as usize).enumerate() {
        buf.set_line(inner.x, inner.y + i as u16, line, inner.width);
    }
}

fn render_header(app: &App, area: Rect, buf: &mut Buffer) {
    let th = &app.theme;
    let h = &app.hist.history;
    let (verdict, style, second) = match &app.replay {
        Replay::Ready(t) => {
            let r = &t.report;
            let style = if r.verdict == Verdict::Pass { th.pass } else { th.fail };
            let second = if r.verdict == Verdict::Pass {
                let drift = match r.drift.len() {
                    0 => String::new(),
                    n => format!(" · {n} drift (D jumps to each)"),
                };
                format!(
                    "every command matched history · {} activations · replay {:.2} s{drift}",
                    r.activations, r.seconds
                )
            } else {
                r.message.clone()
            };
            (app.verdict_text(), style, second)
        }
        Replay::Failed(f) => ("✗ could not replay".to_string(), th.fail, f.message.clone()),
        Replay::Pending | Replay::Running(..) => {
            let secs = app.replaying.map(|t| t.elapsed().as_secs()).unwrap_or(0);
            let done = match &app.replay {
                Replay::Running(_, steps) => format!("{} activations so far", steps.len()),
                _ => "starting".into(),
            };
            let second = format!(
                "replaying {} events through the workflow code… {secs} s · {done} · steps and state fill in as it goes · q quits",
                h.events().len()
            );
            (app.verdict_text(), th.dim, second)
        }
    };
    let first = Line::from(vec![
        Span::styled("deja debug ", th.bold),
        Span::styled(verdict, style),
        Span::raw(crate::style::escape_terminal(&format!(
            " · {} {} · {} vs {}",
            h.workflow_type(),
            h.workflow_id,
            deja_core::display_path(&h.source.to_string()),
            app.code_label
        )).into_owned()),
    ]);
    buf.set_line(area.x, area.y, &first, area.width);
    if area.height > 1 {
        buf.set_line(area.x, area.y + 1, &Line::from(Span::raw(format!("  {}", crate::style::Untrusted(&second)))), area.width);
    }
}

fn render_status(app: &App, area: Rect, buf: &mut Buffer) {
    let th = &app.theme;
    buf.set_style(area, th.current);
    if let Mode::Search(q) = &app.mode {
        let line = Line::from(vec![Span::raw("/"), Span::raw(q.clone()), Span::raw("█  Enter search · Esc cancel")]);
        buf.set_line(area.x, area.y, &line, area.width);
        return;
    }
    let tasks = app.hist.timeline.tasks.len();
    let task = app.task_of(app.pos) + 1;
    let mut left = match app.pos {
        Pos::Task(_) => format!(" task {task}/{tasks}"),
        Pos::Event(id) => {
            let ty = app.hist.info(id).map(|i| deja_core::history::event_type_name(i.ty)).unwrap_or_default();
            format!(" event {id}/{} {ty} · task {task}/{tasks}", app.hist.len())
        }
    };
    if !app.breakpoints.is_empty() {
        left.push_str(&format!(" · ●{}", app.breakpoints.len()));
    }
    if let Some(s) = &app.search {
        left.push_str(&format!(" · /{} ({})", s.query, s.matches.len()));
    }
    if let Some(m) = &app.message {
        left.push_str(" · ");
        left.push_str(&crate::style::escape_terminal(m));
    }
    let right = " ? help · q quit ";
    let room = (area.width as usize).saturating_sub(right.chars().count());
    buf.set_stringn(area.x, area.y, &left, room, th.current);
    if left.chars().count() < room {
        buf.set_stringn(area.x + room as u16, area.y, right, right.len(), th.current);
    }
}

fn render_help(app: &App, area: Rect, buf: &mut Buffer) {
    let width = area.width.saturating_sub(4).min(96);
    let height = (KEYS.len() as u16 + LEGEND.len() as u16 + 3).min(area.height);
    let popup = Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height };
    Clear.render(popup, buf);
    let block = Block::bordered().border_type(BorderType::Double).title(" keys · any key closes ");
    let inner = block.inner(popup);
    block.render(popup, buf);
    let keyw = KEYS.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0) + 2;
    for (i, (k, what)) in KEYS.iter().enumerate() {
        if i as u16 >= inner.height {
            break;
        }
        let line = Line::from(vec![Span::styled(format!(" {k:<keyw$}"), app.theme.bold), Span::raw(*what)]);
        buf.set_line(inner.x, inner.y + i as u16, &line, inner.width);
    }
    for (i, l) in LEGEND.iter().enumerate() {
        let y = KEYS.len() + 1 + i;
        if y as u16 >= inner.height {
            break;
        }
        buf.set_line(inner.x, inner.y + y as u16, &Line::from(Span::styled(format!(" {l}"), app.theme.dim)), inner.width);
    }
}

/// What the marks mean (shown under the keys).
pub const LEGEND: &[&str] = &[
    "timeline  ▶ position  ● breakpoint  ✗ divergence  └ follower",
    "          ▸ folded / ▾ expanded followers (Enter)  ≈ drift",
    "step      = same  ≠ differs  · no command expected",
    "          - only in history  + only from the code",
];
/// `text` styled, as an owned line; control characters from histories and user code are
/// shown escaped ([`crate::style::escape_terminal`]), never passed to the terminal.
pub fn line(text: impl Into<String>, style: Style) -> Line<'static> {
    Line::from(Span::styled(crate::style::escape_terminal(&text.into()).into_owned(), style))
}
