//! The source pane: the user's workflow file around the line that matters for the current
//! position, marked `▶`.
//!
//! Which line: for a command event, the line whose call issued the command in this replay
//! (`command_sites`); in the divergent task, the divergence's line; for a failed
//! activation, the failing frame; otherwise where the workflow waits once the task is
//! answered (the top of its main coroutine stack). Files are read once and kept until `r`.

use std::collections::HashMap;
use std::rc::Rc;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::report::vocab::{command_text, short_file};
use super::{note_height, pane_block, scroll_for};
use deja_core::trace::Frame;
use deja_core::display_path;
use crate::tui::action::Pane;
use crate::tui::app::App;
use crate::tui::model::{EventKind, HistoryModel};
use crate::tui::theme::Theme;
use crate::tui::trace::TraceModel;

/// A file with one line marked, or a reason there is none.
#[derive(Clone, Debug, Default)]
pub struct SourceContent {
    /// `workflows.py:225`.
    pub title: String,
    /// Why this line: `issued StartTimer 1 (5m) here`.
    pub label: String,
    pub lines: Option<Rc<Vec<String>>>,
    /// 0-based index of the marked line.
    pub mark: Option<usize>,
    /// 0-based lines of this file that ran in the current task's activations (`•`).
    pub ran: std::collections::HashSet<usize>,
    /// 0-based lines changed against `--baseline` that ran before the divergence (`~`).
    pub changed: std::collections::HashSet<usize>,
}

type Cache = HashMap<String, Option<Rc<Vec<String>>>>;

/// While the first replay runs.
pub fn pending() -> SourceContent {
    empty("… replaying: the code's source lines appear here when the replay finishes")
}

pub fn build(
    hist: &HistoryModel,
    trace: Option<&TraceModel>,
    event: Option<i64>,
    task: usize,
    cache: &mut Cache,
    _th: &Theme,
) -> SourceContent {
    let Some(t) = trace else { return empty("no trace: the replay could not run") };
    match pick(hist, t, event, task) {
        Some((frame, label)) => with_marks(at(&frame, label, cache), t, &frame.file, task),
        None => empty("no source location for this position (no command, no pending coroutine)"),
    }
}

/// The cause line (`w`), with the lines that ran in `task` and the changed lines marked.
pub fn cause(trace: Option<&TraceModel>, task: usize, cache: &mut Cache) -> Option<SourceContent> {
    let t = trace?;
    let c = t.report.cause.as_ref()?;
    let frame = Frame { file: c.file.clone()?, line: c.line?, function: String::new(), code: String::new() };
    let label = format!("cause: {} — {}", c.kind.words(), crate::style::escape_terminal(&c.message));
    Some(with_marks(at(&frame, label, cache), t, &frame.file, task))
}

/// Mark the lines of `file` that ran in `task` and those changed against the baseline.
fn with_marks(mut c: SourceContent, t: &TraceModel, file: &str, task: usize) -> SourceContent {
    if let Some(steps) = t.steps_of_task.get(task) {
        c.ran = steps
            .iter()
            .filter_map(|&i| t.steps.get(i))
            .flat_map(|s| s.lines.iter())
            .filter(|(f, _)| f == file)
            .filter_map(|(_, l)| (*l as usize).checked_sub(1))
            .collect();
    }
    if let Some(cause) = &t.report.cause {
        c.changed = cause.changed_lines.iter().filter(|l| l.file == file).filter_map(|l| (l.line as usize).checked_sub(1)).collect();
    }
    c
}

fn pick(hist: &HistoryModel, t: &TraceModel, event: Option<i64>, task: usize) -> Option<(Frame, String)> {
    // 1. The command this event records (a follower stands for its head's command).
    if let Some(id) = event {
        let cmd_id = match hist.info(id).map(|i| i.kind) {
            Some(EventKind::Follower { head }) => head,
            _ => id,
        };
        if let Some(row) = t.row_of_event.get(&cmd_id).and_then(|&ri| t.report.alignment.rows.get(ri))
            && let Some(e) = &row.emitted
            && let Some(site) = &e.site
        {
            return Some((site.clone(), format!("issued {} here", command_text(e.item.command, &e.item.label))));
        }
    }
    // 2. The divergence, in its task.
    if let Some(d) = &t.report.divergence
        && d.task.index == task
        && let Some(site) = &d.site
    {
        let what = match &d.row.emitted {
            Some(e) => format!("the divergent command {} was issued here", command_text(e.item.command, &e.item.label)),
            None => "the code's last command before the divergence was issued here".into(),
        };
        return Some((site.clone(), what));
    }
    // 3. The failing frame of a failed activation.
    if t.problem_task == Some(task)
        && let Some(f) = t.report.frames.last()
    {
        return Some((f.clone(), "the code failed here".into()));
    }
    // 4. Where the workflow waits after answering this task.
    if let Some(state) = t.state_after(task)
        && let Some(top) = state.stacks.iter().find_map(|s| s.last())
    {
        return Some((top.clone(), format!("after task {} the workflow waits here", task + 1)));
    }
    // 5. Any command of the task.
    t.rows_of_task.get(task)?.iter().filter_map(|&ri| t.report.alignment.rows.get(ri)?.emitted.as_ref()).find_map(|e| {
        e.site.as_ref().map(|s| (s.clone(), format!("issued {} here", command_text(e.item.command, &e.item.label))))
    })
}

fn empty(why: &str) -> SourceContent {
    SourceContent { title: String::new(), label: why.to_string(), lines: None, mark: None, ..SourceContent::default() }
}

fn at(frame: &Frame, label: String, cache: &mut Cache) -> SourceContent {
    let lines = cache
        .entry(frame.file.clone())
        .or_insert_with(|| std::fs::read_to_string(&frame.file).ok().map(|t| Rc::new(t.lines().map(|l| l.replace('\t', "    ")).collect())))
        .clone();
    // The short name keeps the line number visible in a narrow title; the label and
    // the State pane give the full path.
    let short = short_file(&frame.file);
    let title = format!("{short}:{}", frame.line);
    match lines {
        Some(l) => SourceContent { title, label, lines: Some(l), mark: (frame.line as usize).checked_sub(1), ..SourceContent::default() },
        None => SourceContent {
            title,
            label: format!("{label} (cannot read {})", display_path(&frame.file)),
            lines: None,
            mark: None,
            ..SourceContent::default()
        },
    }
}

pub fn render(app: &App, tabs: &[Pane], area: Rect, buf: &mut Buffer) {
    let th = &app.theme;
    let c = &app.inspect.source;
    let block = pane_block(app, Pane::Source, tabs, c.title.clone());
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.height == 0 {
        return;
    }
    buf.set_line(inner.x, inner.y, &Line::from(Span::styled(c.label.as_str(), th.dim)), inner.width);
    let body = Rect { y: inner.y + 1, height: inner.height - 1, ..inner };
    note_height(app, Pane::Source, body.height);
    let Some(lines) = &c.lines else { return };
    let numw = lines.len().to_string().len();
    let off = scroll_for(app, Pane::Source, lines.len(), body.height as usize);
    for (i, text) in lines.iter().enumerate().skip(off).take(body.height as usize) {
        let y = body.y + (i - off) as u16;
        let marked = c.mark == Some(i);
        let (m, style) = if marked { ("▶", th.marked) } else { (" ", th.text) };
        // Which lines ran in this task (•) and which changed against --baseline (~).
        let (flag, flag_style) = if c.changed.contains(&i) {
            ("~", th.added)
        } else if c.ran.contains(&i) {
            ("•", th.pass)
        } else {
            (" ", th.dim)
        };
        let line = Line::from(vec![
            Span::styled(flag, if marked { th.marked } else { flag_style }),
            Span::styled(format!("{m}{:>numw$} │ ", i + 1), if marked { th.marked } else { th.dim }),
            Span::styled(crate::style::escape_terminal(text), style),
        ]);
        buf.set_line(body.x, y, &line, body.width);
    }
}
