//! Patch lifecycle: the patch ids history recorded against the `workflow.patched` /
//! `deprecate_patch` calls the code makes, and where in the three-step removal
//! (patched → deprecate_patch → remove) a history is.

use deja_proto::temporal::api::history::v1::history_event::Attributes as A;

use super::{Cause, CauseKind, Fix, Inputs, at, short};
use crate::history::describe::payload_json;
use crate::trace::PatchCall;

/// A patch marker history recorded: (event id, patch id, deprecated).
pub fn recorded(h: &crate::history::LoadedHistory) -> Vec<(i64, String, bool)> {
    let mut out = Vec::new();
    for e in h.events() {
        if let Some(A::MarkerRecordedEventAttributes(m)) = e.attributes.as_ref() {
            if m.marker_name != "core_patch" {
                continue;
            }
            let data = m.details.get("patch-data").and_then(|p| p.payloads.first()).and_then(payload_json);
            let id = data.as_ref().and_then(|d| d.get("id")).and_then(|v| v.as_str()).unwrap_or("?").to_string();
            let deprecated = data.as_ref().and_then(|d| d.get("deprecated")).and_then(|v| v.as_bool()) == Some(true);
            out.push((e.event_id, id, deprecated));
        }
    }
    out
}

/// Every distinct patch call the code made in the replay, first call first.
pub fn called(inp: &Inputs<'_>) -> Vec<PatchCall> {
    let mut out: Vec<PatchCall> = Vec::new();
    for c in inp.outcome.steps.iter().flat_map(|s| s.patch_calls.iter()) {
        if !out.iter().any(|o| o.id == c.id && o.deprecated == c.deprecated) {
            out.push(c.clone());
        }
    }
    out
}

pub(crate) fn find(inp: &Inputs<'_>) -> Option<(Cause, Option<Fix>)> {
    let hist = recorded(inp.history);
    let calls = called(inp);
    // A non-deprecated marker the code makes no call for: core fails on it.
    let (event, id, _) = hist.iter().find(|(_, id, deprecated)| !deprecated && !calls.iter().any(|c| &c.id == id))?;
    let mut details = vec![
        format!(
            "patch ids in history: {}",
            hist.iter().map(|(e, id, d)| format!("{id}{} (event {e})", if *d { " deprecated" } else { "" })).collect::<Vec<_>>().join(", ")
        ),
        format!(
            "patch calls in the code: {}",
            if calls.is_empty() {
                "none".to_string()
            } else {
                calls
                    .iter()
                    .map(|c| {
                        let f = if c.deprecated { "deprecate_patch" } else { "patched" };
                        format!("workflow.{f}(\"{}\"){}", c.id, c.site.as_ref().map(|s| format!(" at {}", short(s))).unwrap_or_default())
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    ];
    let renamed = calls.iter().find(|c| !c.deprecated && !hist.iter().any(|(_, h, _)| h == &c.id));
    if let Some(new) = renamed {
        let site = new.site.as_ref();
        let (file, line) = at(site);
        details.push("step: this history is at step 1 of 3 (recorded with patched() true)".into());
        let message = format!(
            "the patch id was renamed: history recorded patch '{id}' (event {event}), the code calls workflow.patched(\"{}\"){}. \
             A patch id is part of every history that recorded it; on replay '{}' is not in history (so it is false) and '{id}' has no call.",
            new.id,
            site.map(|s| format!(" at {}", short(s))).unwrap_or_default(),
            new.id
        );
        let diff = site.and_then(|s| {
            let l = s.code_line();
            let from = format!("\"{}\"", new.id);
            l.contains(&from).then(|| l.replacen(&from, &format!("\"{id}\""), 1)).and_then(|n| super::fix::line_diff(&s.file, s.line, &n))
        });
        let fix = Fix {
            text: format!(
                "Keep the recorded id: `workflow.patched(\"{id}\")`. If the new id guards new behaviour of its own, keep both: \
                 `if workflow.patched(\"{}\"): <newest> elif workflow.patched(\"{id}\"): <what '{id}' guarded> else: <oldest>`.",
                new.id
            ),
            diff,
        };
        return Some((Cause { kind: CauseKind::PatchRenamed, file, line, changed_lines: Vec::new(), message, details, hunk: None, baseline: String::new() }, Some(fix)));
    }
    // Removed: point where its branch ran (the divergence site).
    let site = inp.divergence.and_then(|d| d.1).or_else(|| inp.outcome.frames.last());
    let (file, line) = at(site);
    details.push("step: this history is at step 1 of 3 (recorded with patched() true); the code is at step 3 (call removed)".into());
    if let Some((recorded, emitted)) = old_branch_kept(inp, *event) {
        // The code kept the branch for histories *without* the marker: deprecate_patch
        // alone would still diverge on the command after it.
        let message = format!(
            "history recorded patch '{id}' (event {event}) and then took the patched branch ({recorded}), but the code no longer calls \
             workflow.patched(\"{id}\") and runs the other branch ({emitted}): the patched code was removed while workflows that ran it are still open."
        );
        let diff = site.and_then(|s| {
            let lines: Vec<String> = std::fs::read_to_string(&s.file).ok()?.lines().map(str::to_string).collect();
            let (a, b) = super::fix::statement(&lines, s.line as usize);
            let current: Vec<String> = lines.get(a - 1..b)?.to_vec();
            let base = current.first().map(|l| l[..l.len() - l.trim_start().len()].to_string())?;
            let patched = vec![format!("{base}...  # the patched code (it issued {recorded})")];
            super::fix::replace_diff(&s.file, a as u32, b as u32, &super::fix::patched_block(id, &base, &patched, &current))
        });
        let fix = Fix {
            text: format!(
                "Restore `if workflow.patched(\"{id}\"):` with the patched code (it issued {recorded}) and keep the current code under `else:`. \
                 This history took the patched branch, so `deprecate_patch` alone would not replay it. If the patched behaviour is meant to go, \
                 wait until no open workflow has the marker before removing it."
            ),
            diff,
        };
        return Some((Cause { kind: CauseKind::PatchRemoved, file, line, changed_lines: Vec::new(), message, details, hunk: None, baseline: String::new() }, Some(fix)));
    }
    let message = format!(
        "history recorded patch '{id}' (event {event}) but the code no longer calls workflow.patched(\"{id}\"): \
         the call was removed while histories recorded with it are still replayed. Removing a patch takes three deploys: \
         1) `if workflow.patched(\"{id}\"):` (both branches), 2) `workflow.deprecate_patch(\"{id}\")` once every workflow that could take the old branch has closed, \
         3) remove the call once no open workflow has the marker."
    );
    let diff = site.and_then(|s| {
        let l = s.code_line();
        let indent = &l[..l.len() - l.trim_start().len()];
        super::fix::insert_diff(&s.file, s.line, &format!("{indent}workflow.deprecate_patch(\"{id}\")"))
    });
    let fix = Fix {
        text: format!(
            "Go back to step 2: call `workflow.deprecate_patch(\"{id}\")` where the `if workflow.patched(\"{id}\"):` was (keeping only the new branch), \
             or restore the `if workflow.patched(\"{id}\"):` with both branches if workflows that took the old branch may still be open. \
             Remove the call (step 3) only when no open workflow has the marker."
        ),
        diff,
    };
    Some((Cause { kind: CauseKind::PatchRemoved, file, line, changed_lines: Vec::new(), message, details, hunk: None, baseline: String::new() }, Some(fix)))
}

/// When the first command history recorded after the marker `event` is not what the code
/// issues there, the code runs the unpatched branch: (what history recorded, what the code
/// issues instead).
fn old_branch_kept(inp: &Inputs<'_>, event: i64) -> Option<(String, String)> {
    use crate::diff::RowStatus;
    let rows = &inp.alignment.rows;
    let at = rows.iter().position(|r| r.recorded.as_ref().is_some_and(|x| x.event_id == event))?;
    let next = rows[at + 1..].iter().find(|r| r.status != RowStatus::Skipped && r.recorded.is_some())?;
    if next.status == RowStatus::Match {
        return None;
    }
    let rec = next.recorded.as_ref()?;
    let recorded = format!("event {} {} {}", rec.event_id, rec.item.event_type, rec.item.label);
    let emitted = next.emitted.as_ref().map_or_else(|| "nothing".to_string(), |e| format!("{} {}", e.item.command, e.item.label));
    Some((recorded, emitted))
}
