//! `deja show`: a history grouped by workflow task, one line per event group.

use std::io::Write;

use deja_core::history::describe::{group_line, truncate};
use deja_core::history::tasks::{Timeline, is_task_bookkeeping};
use deja_core::history::{EventType, LoadedHistory, event_type, event_type_name};
use crate::style::{Styles, Untrusted, escape_terminal, paint};

/// Options of `deja show`.
pub struct ShowOptions {
    /// Inclusive event id range to print.
    pub range: (i64, i64),
    /// Longest payload text printed; 0 hides payloads.
    pub max_payload: usize,
}

/// One event group in the JSON model.
#[derive(serde::Serialize)]
pub struct GroupJson {
    pub event_id: i64,
    pub event_type: String,
    pub line: String,
    pub followers: Vec<i64>,
}

/// One workflow task in the JSON model.
#[derive(serde::Serialize)]
pub struct TaskJson {
    #[serde(flatten)]
    pub task: deja_core::history::tasks::WorkflowTask,
    pub groups: Vec<GroupJson>,
}

/// The grouped model `deja show --output json` prints (schema: docs/JSON.md).
#[derive(serde::Serialize)]
pub struct ShowJson {
    pub schema: &'static str,
    pub source: String,
    pub format: deja_core::history::Format,
    pub workflow_type: String,
    pub workflow_id: String,
    pub workflow_id_source: deja_core::history::WorkflowIdSource,
    pub run_id: Option<String>,
    pub events: usize,
    pub tasks: Vec<TaskJson>,
}

/// Lines to show for a task: heads and standalone events, followers folded into heads,
/// bookkeeping hidden except failed/timed-out task attempts (those matter).
pub fn task_groups(h: &LoadedHistory, tl: &Timeline, task: usize, opts: &ShowOptions) -> Vec<GroupJson> {
    let t = &tl.tasks[task];
    let mut out = Vec::new();
    for id in t.first_event_id..=t.last_event_id {
        if id < opts.range.0 || id > opts.range.1 {
            continue;
        }
        let Some(e) = h.event(id) else { continue };
        let ty = event_type(e);
        let idx = (id - 1) as usize;
        let failed_attempt = matches!(ty, EventType::WorkflowTaskFailed | EventType::WorkflowTaskTimedOut);
        if (is_task_bookkeeping(ty) && !failed_attempt) || tl.head[idx].is_some() && !failed_attempt {
            continue;
        }
        let followers: Vec<i64> = tl.followers[idx].clone();
        let follower_events: Vec<_> = followers.iter().filter_map(|f| h.event(*f)).collect();
        out.push(GroupJson {
            event_id: id,
            event_type: event_type_name(ty),
            line: group_line(e, &follower_events, opts.max_payload),
            followers,
        });
    }
    out
}

pub fn show_json(h: &LoadedHistory, opts: &ShowOptions) -> ShowJson {
    show_json_with(h, &Timeline::new(h.events()), opts)
}

/// The model from a timeline the caller already built (the split is not free on large
/// histories; the text printer needs it too).
fn show_json_with(h: &LoadedHistory, tl: &Timeline, opts: &ShowOptions) -> ShowJson {
    let tasks = (0..tl.tasks.len())
        .filter(|i| {
            let t = &tl.tasks[*i];
            t.last_event_id >= opts.range.0 && t.first_event_id <= opts.range.1
        })
        .map(|i| TaskJson { task: tl.tasks[i].clone(), groups: task_groups(h, tl, i, opts) })
        .collect();
    ShowJson {
        schema: "deja.show/v1",
        source: h.source.to_string(),
        format: h.format,
        workflow_type: h.workflow_type().to_string(),
        workflow_id: h.workflow_id.clone(),
        workflow_id_source: h.workflow_id_source,
        run_id: h.run_id.clone(),
        events: h.events().len(),
        tasks,
    }
}

pub fn print_text(w: &mut dyn Write, h: &LoadedHistory, opts: &ShowOptions, st: &Styles) -> std::io::Result<()> {
    let tl = Timeline::new(h.events());
    let model = show_json_with(h, &tl, opts);
    let fmt = match h.format {
        deja_core::history::Format::Json => "proto3 JSON",
        deja_core::history::Format::LegacyJson => "legacy JSON (PascalCase enums)",
        deja_core::history::Format::Binary => "binary protobuf",
    };
    let total_tasks = tl.tasks.len();
    writeln!(
        w,
        "{} {}  {} events, {} workflow tasks, {}",
        paint(st.bold, Untrusted(&model.workflow_type)),
        paint(st.dim, format!("id={}", Untrusted(&model.workflow_id))),
        model.events,
        total_tasks,
        fmt
    )?;
    for t in &model.tasks {
        let task = &t.task;
        let mut head = format!("task {} · events {}–{}", task.index + 1, task.first_event_id, task.last_event_id);
        if task.started_event_id.is_none() {
            head.push_str(" · not run yet");
        }
        if task.failed_attempts > 0 {
            head.push_str(&format!(" · {} failed attempt{}", task.failed_attempts, if task.failed_attempts == 1 { "" } else { "s" }));
        }
        writeln!(w, "{}", paint(st.accent, head))?;
        for g in &t.groups {
            let followers = if g.followers.is_empty() {
                String::new()
            } else {
                let ids: Vec<String> = g.followers.iter().map(|f| f.to_string()).collect();
                paint(st.dim, format!("  [{}]", ids.join(" ")))
            };
            let line_style = if g.event_type == "WorkflowTaskFailed" || g.event_type == "WorkflowExecutionFailed" {
                st.fail
            } else {
                anstyle::Style::new()
            };
            writeln!(w, "  {:>5}  {}{}", g.event_id, paint(line_style, truncate(&escape_terminal(&g.line), 200)), followers)?;
        }
    }
    Ok(())
}
