//! The state pane: the workflow as it stands once the current task is answered — its
//! fields, the results of `--query` queries, and its pending coroutine stacks. This is the
//! `StepState` the harness recorded after the task's last activation.

use super::{PaneText, line};
use deja_core::display_path;
use crate::tui::model::HistoryModel;
use crate::tui::theme::Theme;
use crate::tui::trace::TraceModel;

/// While the first replay runs.
pub fn pending(th: &Theme) -> PaneText {
    vec![line("… replaying: the workflow state after each task appears here when the replay finishes", th.dim)]
}

pub fn build(hist: &HistoryModel, trace: Option<&TraceModel>, task: usize, th: &Theme) -> PaneText {
    let mut out = PaneText::new();
    let Some(t) = trace else {
        out.push(line("no trace: the replay could not run", th.dim));
        return out;
    };
    if t.steps_of_task.get(task).is_none_or(Vec::is_empty) {
        out.push(line(format!("task {} was not delivered to the code in this replay", task + 1), th.dim));
        return out;
    }
    let Some(state) = t.state_after(task) else {
        out.push(line("no state was recorded for this task", th.dim));
        return out;
    };
    let n = hist.timeline.tasks.len();
    out.push(line(format!("after workflow task {}/{n}", task + 1), th.dim));
    out.push(line("fields", th.bold));
    if state.fields.is_empty() {
        out.push(line("  (none)", th.dim));
    }
    for (k, v) in &state.fields {
        out.push(line(format!("  {k} = {v}"), th.text));
    }
    if !state.queries.is_empty() {
        out.push(line("queries", th.bold));
        for (name, v) in &state.queries {
            let (text, style) = match (v.get("result"), v.get("error")) {
                (Some(r), _) => (value_text(r), th.text),
                (None, Some(e)) => (format!("error: {}", value_text(e)), th.fail),
                _ => (v.to_string(), th.text),
            };
            let mut lines = text.lines();
            out.push(line(format!("  {name} → {}", lines.next().unwrap_or("")), style));
            for l in lines {
                out.push(line(format!("    {l}"), style));
            }
        }
    }
    out.push(line("pending coroutines (innermost call last)", th.bold));
    if state.stacks.is_empty() {
        out.push(line("  (none: the workflow is not waiting on anything)", th.dim));
    }
    for (i, stack) in state.stacks.iter().enumerate() {
        out.push(line(format!("  #{}{}", i + 1, if i == 0 { " main" } else { "" }), th.dim));
        for f in stack {
            out.push(line(format!("    {}:{} in {}", display_path(&f.file), f.line, f.function), th.text));
            if !f.code.is_empty() {
                out.push(line(format!("      {}", f.code.trim()), th.dim));
            }
        }
    }
    out
}

/// A query result: its JSON pretty-printed when it is JSON and long, else as is.
fn value_text(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match serde_json::from_str::<serde_json::Value>(&s) {
        Ok(j) if s.len() > 60 => serde_json::to_string_pretty(&j).unwrap_or(s),
        _ => s,
    }
}
