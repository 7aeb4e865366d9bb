//! Signals and updates in history that the new code has no handler for.

use deja_proto::temporal::api::history::v1::history_event::Attributes as A;

use super::{Cause, CauseKind, Fix, Inputs, at, short};
use crate::trace::Handler;

/// A signal or update history delivered: (event id, "signal" | "update", name).
pub fn delivered(h: &crate::history::LoadedHistory) -> Vec<(i64, &'static str, String)> {
    let mut out = Vec::new();
    for e in h.events() {
        match e.attributes.as_ref() {
            Some(A::WorkflowExecutionSignaledEventAttributes(a)) => out.push((e.event_id, "signal", a.signal_name.clone())),
            Some(A::WorkflowExecutionUpdateAcceptedEventAttributes(a)) => {
                if let Some(name) = a.accepted_request.as_ref().and_then(|r| r.input.as_ref()).map(|i| i.name.clone()) {
                    out.push((e.event_id, "update", name));
                }
            }
            Some(A::WorkflowExecutionUpdateAdmittedEventAttributes(a)) => {
                if let Some(name) = a.request.as_ref().and_then(|r| r.input.as_ref()).map(|i| i.name.clone()) {
                    out.push((e.event_id, "update", name));
                }
            }
            _ => {}
        }
    }
    out
}

/// The handler most likely to be `name` renamed: the closest name by edit distance
/// (normalised, at least 0.4 similar), preferring handlers history never used.
pub fn likely_rename<'a>(name: &str, have: &'a [Handler], used: &[String]) -> Option<&'a Handler> {
    have.iter()
        .filter(|h| h.name != "*" && h.name != name)
        .map(|h| (h, strsim::normalized_levenshtein(name, &h.name) + if used.contains(&h.name) { 0.0 } else { 0.05 }))
        .filter(|(_, s)| *s >= 0.4)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(h, _)| h)
}

pub(crate) fn find(inp: &Inputs<'_>) -> Option<(Cause, Option<Fix>)> {
    let handlers = &inp.outcome.handlers;
    let all = delivered(inp.history);
    let used: Vec<String> = all.iter().map(|(_, _, n)| n.clone()).collect();
    let (event, what, name) = all.iter().find(|(_, what, name)| {
        let have = if *what == "signal" { &handlers.signals } else { &handlers.updates };
        // A workflow with no handlers recorded at all (an older harness) tells nothing.
        let none_recorded = handlers.signals.is_empty() && handlers.updates.is_empty() && handlers.queries.is_empty();
        !none_recorded && !have.iter().any(|h| h.name == *name || h.name == "*")
    })?;
    let have = if *what == "signal" { &handlers.signals } else { &handlers.updates };
    let names: Vec<&str> = have.iter().map(|h| h.name.as_str()).collect();
    let rename = likely_rename(name, have, &used);
    let waiting = super::stacks_at_divergence(inp).and_then(|s| s.first()).and_then(|s| s.last()).cloned();
    let site = rename.and_then(|h| h.site.as_ref()).or(waiting.as_ref()).or(inp.divergence.and_then(|d| d.1));
    let (file, line) = at(site);
    let mut message = format!(
        "history delivers {what} '{name}' (event {event}), but the code has no {what} handler named '{name}'",
    );
    if let Some(r) = rename {
        message.push_str(&format!("; '{}' looks like it renamed", r.name));
        if let Some(s) = &r.site {
            message.push_str(&format!(" ({})", short(s)));
        }
    }
    message.push_str(match *what {
        "signal" => ". The signal is buffered and never handled, so the workflow no longer does what history recorded after it.",
        _ => ". The update is rejected on replay, where history recorded it accepted.",
    });
    let mut details = vec![format!(
        "{what} handlers the code has: {}",
        if names.is_empty() { "none".to_string() } else { names.join(", ") }
    )];
    if let Some(w) = &waiting {
        details.push(format!("the workflow was waiting at {} ({})", short(w), w.code.trim()));
    }
    let fix = match rename {
        Some(r) => {
            let deco = if *what == "signal" { "signal" } else { "update" };
            let diff = r.site.as_ref().and_then(|s| keep_name_diff(s, deco, name));
            Some(Fix {
                text: format!(
                    "Keep the old name registered: declare {} with `@workflow.{deco}(name=\"{name}\")` so histories (and clients) that send '{name}' still reach it — or rename it back.",
                    r.name
                ),
                diff,
            })
        }
        None => Some(Fix { text: format!("Add a {what} handler named '{name}' (or a dynamic one), as the code had when history was recorded."), diff: None }),
    };
    Some((Cause { kind: CauseKind::MissingHandler, file, line, changed_lines: Vec::new(), message, details, hunk: None, baseline: String::new() }, fix))
}

/// A diff that gives the decorator above `def` at `site` `name="old"`.
fn keep_name_diff(site: &crate::trace::Frame, deco: &str, old: &str) -> Option<String> {
    let text = std::fs::read_to_string(&site.file).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let def = site.line as usize;
    let from = def.saturating_sub(6).max(1);
    let prefix = format!("@workflow.{deco}");
    let (n, l) = (from..def).rev().map(|n| (n, lines.get(n - 1).copied().unwrap_or(""))).find(|(_, l)| l.trim_start().starts_with(&prefix))?;
    let indent = &l[..l.len() - l.trim_start().len()];
    let rest = l.trim_start()[prefix.len()..].trim();
    let new = if rest.starts_with('(') && rest.len() > 2 {
        format!("{indent}{prefix}(name=\"{old}\", {}", &rest[1..])
    } else {
        format!("{indent}{prefix}(name=\"{old}\")")
    };
    super::fix::line_diff(&site.file, n as u32, &new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str) -> Handler {
        Handler { name: name.into(), site: None }
    }

    #[test]
    fn likely_rename_by_edit_distance() {
        let have = [h("add_item"), h("check_out")];
        assert_eq!(likely_rename("checkout", &have, &["add_item".into(), "checkout".into()]).map(|h| h.name.as_str()), Some("check_out"));
        let have = [h("add_item"), h("change_address")];
        assert_eq!(likely_rename("set_address", &have, &["set_address".into()]).map(|h| h.name.as_str()), Some("change_address"));
        assert_eq!(likely_rename("zzz", &[h("add_item")], &[]), None);
    }
}
