//! `--baseline`: the old code, replayed against the same history, diffed against the new.
//!
//! Both replays record which user lines each activation ran (a line trace limited to user
//! modules). The first activation whose commands differ between the versions bounds what
//! can have caused the divergence; the textual diff between the versions, intersected with
//! the lines that ran up to there (in either version), names the changed lines that ran
//! before the divergence. A changed module- or class-level assignment (a constant) runs at
//! import, not in an activation: it counts when a line that ran reads its name.

use std::collections::HashSet;

use similar::{DiffOp, TextDiff};

use super::fix::{deprecation_path, patched_block, replace_diff, strip_comment, suggest_id};
use super::{Cause, CauseKind, ChangedLine, Fix, Inputs};
use crate::diff::items::CommandReader;
use crate::trace::{ReplayOutcome, Verdict};

/// One workflow source file in both versions.
#[derive(Clone, Debug)]
pub struct FilePair {
    /// The current file (as replayed).
    pub new_file: String,
    /// The baseline copy that was replayed (its path in the baseline's line traces).
    pub old_file: String,
    pub old_text: String,
    pub new_text: String,
}

/// The old code and its replay of the same history.
#[derive(Clone, Debug)]
pub struct Baseline {
    /// What the user passed: `HEAD~1`, `old/workflows.py`.
    pub label: String,
    /// The replay of the history against the old code (with line traces).
    pub outcome: ReplayOutcome,
    pub files: Vec<FilePair>,
}

/// A changed region: 0-based line ranges in the old and the new text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub old: std::ops::Range<usize>,
    pub new: std::ops::Range<usize>,
}

/// The changed regions of a file, without those that change only comments or blank lines.
pub fn changes(old: &str, new: &str) -> Vec<Change> {
    let d = TextDiff::from_lines(old, new);
    let (ol, nl): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let code = |ls: &[&str]| -> Vec<String> { ls.iter().map(|l| strip_comment(l).to_string()).filter(|l| !l.trim().is_empty()).collect() };
    let mut out = Vec::new();
    for op in d.ops() {
        let (o, n) = match *op {
            DiffOp::Equal { .. } => continue,
            DiffOp::Delete { old_index, old_len, new_index } => (old_index..old_index + old_len, new_index..new_index),
            DiffOp::Insert { old_index, new_index, new_len } => (old_index..old_index, new_index..new_index + new_len),
            DiffOp::Replace { old_index, old_len, new_index, new_len } => (old_index..old_index + old_len, new_index..new_index + new_len),
        };
        // A one-for-one replacement is judged line by line (a comment added to one line
        // next to a real change is not part of it).
        let parts: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> =
            if o.len() == n.len() { o.clone().zip(n.clone()).map(|(a, b)| (a..a + 1, b..b + 1)).collect() } else { vec![(o, n)] };
        for (o, n) in parts {
            let (os, ns) = (ol.get(o.clone()).unwrap_or(&[]), nl.get(n.clone()).unwrap_or(&[]));
            if code(os) == code(ns) {
                continue;
            }
            // Adjacent ops (a delete next to an insert) are one change.
            if let Some(last) = out.last_mut() {
                let last: &mut Change = last;
                if last.old.end == o.start && last.new.end == n.start {
                    last.old.end = o.end;
                    last.new.end = n.end;
                    continue;
                }
            }
            out.push(Change { old: o, new: n });
        }
    }
    out
}

/// `NAME` of a module/class-level assignment `NAME = …` / `NAME: T = …`.
fn assigned_name(line: &str) -> Option<&str> {
    let code = strip_comment(line);
    let t = code.trim_start();
    let name_end = t.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    let (name, rest) = t.split_at(name_end);
    let rest = rest.trim_start();
    let is_assign = (rest.starts_with('=') && !rest.starts_with("==")) || (rest.starts_with(':') && rest.contains('='));
    (!name.is_empty() && is_assign && !name.chars().next()?.is_ascii_digit()).then_some(name)
}

fn reads(line: &str, name: &str) -> bool {
    let code = strip_comment(line);
    let mut from = 0;
    while let Some(i) = code[from..].find(name).map(|i| i + from) {
        let before = code[..i].chars().next_back();
        let after = code[i + name.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !word(before) && !word(after) {
            return true;
        }
        from = i + name.len();
    }
    false
}

/// Per activation (evictions skipped): the commands as core compares them.
fn command_keys(o: &ReplayOutcome) -> Vec<Vec<(crate::diff::items::Kind, String)>> {
    use deja_proto::coresdk::workflow_completion::workflow_activation_completion::Status;
    let mut reader = CommandReader::default();
    o.steps
        .iter()
        .filter(|s| !s.is_eviction())
        .map(|s| match s.completion.status.as_ref() {
            Some(Status::Successful(ok)) => ok.commands.iter().filter_map(|c| reader.read(c)).map(|i| (i.kind, i.key)).collect(),
            _ => vec![(crate::diff::items::Kind::FailWorkflow, "activation failed".into())],
        })
        .collect()
}

/// The first activation whose commands differ between two replays.
pub fn first_difference(new: &ReplayOutcome, old: &ReplayOutcome) -> usize {
    let (a, b) = (command_keys(new), command_keys(old));
    (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)).unwrap_or(a.len().max(b.len()))
}

fn ran(o: &ReplayOutcome, upto: usize) -> HashSet<(String, u32)> {
    o.steps.iter().filter(|s| !s.is_eviction()).take(upto + 1).flat_map(|s| s.lines.iter().cloned()).collect()
}

/// Changed lines that ran before the divergence, with the cause line moved into the
/// changed hunk and the fix made from the real old code.
pub(crate) fn apply(inp: &Inputs<'_>, b: &Baseline, found: &mut (Cause, Option<Fix>)) {
    let new = inp.outcome;
    let k = first_difference(new, &b.outcome);
    let (ran_new, ran_old) = (ran(new, k), ran(&b.outcome, k));
    let mut changed: Vec<(usize, Change, ChangedLine)> = Vec::new();
    for (fi, f) in b.files.iter().enumerate() {
        let nl: Vec<&str> = f.new_text.lines().collect();
        let ol: Vec<&str> = f.old_text.lines().collect();
        for c in changes(&f.old_text, &f.new_text) {
            let paired = c.old.len() == c.new.len();
            for (j, n) in c.new.clone().enumerate() {
                let line = n as u32 + 1;
                let text = nl.get(n).copied().unwrap_or("");
                if text.trim().is_empty() {
                    continue;
                }
                let was = if paired { ol.get(c.old.start + j).map(|s| s.to_string()) } else { None };
                let ran_here = ran_new.contains(&(f.new_file.clone(), line));
                let read_at: Vec<u32> = match assigned_name(text) {
                    Some(name) if !ran_here => {
                        let mut at: Vec<u32> = ran_new
                            .iter()
                            .filter(|(file, l)| file == &f.new_file && *l != line && (*l as usize).checked_sub(1).and_then(|i| nl.get(i)).is_some_and(|t| reads(t, name)))
                            .map(|(_, l)| *l)
                            .collect();
                        at.sort();
                        at
                    }
                    _ => Vec::new(),
                };
                if ran_here || !read_at.is_empty() {
                    changed.push((fi, c.clone(), ChangedLine { file: f.new_file.clone(), line, text: text.trim().to_string(), was: was.map(|w| w.trim().to_string()), read_at }));
                }
            }
            // Old lines removed (not replaced one-for-one) that ran in the baseline.
            if !paired {
                for o in c.old.clone() {
                    let text = ol.get(o).copied().unwrap_or("");
                    if !text.trim().is_empty() && ran_old.contains(&(f.old_file.clone(), o as u32 + 1)) {
                        let at = (c.new.start as u32 + 1).min(nl.len() as u32);
                        changed.push((fi, c.clone(), ChangedLine { file: f.new_file.clone(), line: at, text: String::new(), was: Some(text.trim().to_string()), read_at: Vec::new() }));
                    }
                }
            }
        }
    }
    changed.sort_by(|a, b| (&a.2.file, a.2.line).cmp(&(&b.2.file, b.2.line)));
    changed.dedup_by(|a, b| a.2 == b.2);

    let (cause, fix) = found;
    let verdict_note = match b.outcome.verdict {
        Verdict::Pass => format!("baseline {}: replays this history clean", b.label),
        v => format!("baseline {}: does NOT replay this history either ({}: {}) — it is not the code these histories were recorded with", b.label, v.as_str(), b.outcome.message),
    };
    cause.baseline = format!("{verdict_note}; the versions' commands first differ in activation {}", k + 1);
    cause.changed_lines = changed.iter().map(|c| c.2.clone()).collect();
    if changed.is_empty() {
        // Nothing changed ran (a renamed handler is never called): the hunk around the
        // cause line, if the line is in one.
        for f in &b.files {
            if Some(&f.new_file) != cause.file.as_ref() {
                continue;
            }
            if let Some(c) = changes(&f.old_text, &f.new_text)
                .into_iter()
                .find(|c| cause.line.is_some_and(|l| (l as usize) > c.new.start && (l as usize) <= c.new.end))
            {
                cause.hunk = hunk_text(f, &c);
            }
        }
        cause.details.push(format!("no changed line between {} and the current code ran before the divergence", b.label));
        return;
    }
    // The cause line: where the specific finder pointed, if that is a changed line (or in
    // a changed region); else the first changed line that ran.
    let in_change = |file: &Option<String>, line: Option<u32>| {
        changed.iter().position(|(fi, c, _)| {
            Some(&b.files[*fi].new_file) == file.as_ref() && line.is_some_and(|l| (l as usize) > c.new.start && (l as usize) <= c.new.end.max(c.new.start + 1))
        })
    };
    let pick = in_change(&cause.file, cause.line).unwrap_or(0);
    let (fi, change, first) = &changed[pick];
    if in_change(&cause.file, cause.line).is_none() {
        cause.file = Some(first.file.clone());
        cause.line = Some(first.line);
    }
    let f = &b.files[*fi];
    cause.hunk = hunk_text(f, change);
    let list: Vec<String> = changed
        .iter()
        .map(|(_, _, c)| {
            let name = std::path::Path::new(&c.file).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let code = |t: &str| strip_comment(t).trim().to_string();
            let mut s = if c.text.is_empty() {
                format!("{name}:{} removed `{}`", c.line, code(c.was.as_deref().unwrap_or("")))
            } else {
                format!("{name}:{} `{}`", c.line, code(&c.text))
            };
            if let (Some(w), false) = (&c.was, c.text.is_empty()) {
                s.push_str(&format!(" (was `{}`)", code(w)));
            }
            if !c.read_at.is_empty() {
                s.push_str(&format!(", read at {}", c.read_at.iter().map(|l| format!(":{l}")).collect::<Vec<_>>().join(", ")));
            }
            s
        })
        .collect();
    let more = if list.len() > 1 { format!(" (and {} more, below)", list.len() - 1) } else { String::new() };
    cause.message.push_str(&format!(" Changed since {} and ran before the divergence: {}{more}.", b.label, list[pick]));
    // The fix from the real old code, where the finder has no more specific one.
    if matches!(cause.kind, CauseKind::CommandChanged | CauseKind::Waiting | CauseKind::Exception)
        && let Some(p) = patched_fix(inp.history.workflow_type(), f, change, first)
    {
        let keep = fix.as_ref().map(|x| x.text.split("Guard the change").next().unwrap_or("").to_string()).unwrap_or_default();
        *fix = Some(Fix { text: format!("{keep}{}", p.text), diff: p.diff });
    }
}

fn hunk_text(f: &FilePair, c: &Change) -> Option<String> {
    let d = TextDiff::from_lines(&f.old_text, &f.new_text);
    let name = crate::display_path(&f.new_file);
    for h in d.unified_diff().context_radius(2).iter_hunks() {
        let r = h.ops().iter().any(|op| {
            let nr = op.new_range();
            let or = op.old_range();
            op.tag() != similar::DiffTag::Equal && (nr.start < c.new.end.max(c.new.start + 1) && c.new.start < nr.end.max(nr.start + 1) || or.start < c.old.end && c.old.start < or.end)
        });
        if r {
            return Some(format!("--- {name} (baseline)\n+++ {name}\n{h}"));
        }
    }
    None
}

/// The changed region as `if workflow.patched(id): new else: old` — or, for a changed
/// constant, the read site choosing between the two values.
fn patched_fix(workflow_type: &str, f: &FilePair, c: &Change, first: &ChangedLine) -> Option<Fix> {
    let nl: Vec<String> = f.new_text.lines().map(str::to_string).collect();
    let ol: Vec<String> = f.old_text.lines().map(str::to_string).collect();
    if let (Some(name), Some(read), Some(was)) = (assigned_name(&first.text), first.read_at.first(), first.was.as_deref()) {
        let old_value = strip_comment(was).split_once('=').map(|(_, v)| v.trim().to_string())?;
        let id = suggest_id(workflow_type, name);
        let line = nl.get((*read as usize).checked_sub(1)?)?;
        let new_line = replace_word(line, name, &format!("({name} if workflow.patched(\"{id}\") else {old_value})"));
        return Some(Fix {
            text: format!(
                "{name} changed; histories recorded before the change ran with {old_value}. Choose the value with a patch where it is read (:{read}), \
                 so old histories keep the old value. {}",
                deprecation_path(&id)
            ),
            diff: super::fix::line_diff(&f.new_file, *read, &new_line),
        });
    }
    // A change inside a call's arguments is guarded as the whole statement: a patched
    // block in the middle of an expression would not parse.
    let c = &Change { new: whole_statements(&nl, c.new.clone()), old: whole_statements(&ol, c.old.clone()) };
    let new: Vec<String> = nl.get(c.new.clone()).unwrap_or(&[]).to_vec();
    let old: Vec<String> = ol.get(c.old.clone()).unwrap_or(&[]).to_vec();
    let base_src = new.iter().chain(old.iter()).find(|l| !l.trim().is_empty())?;
    let base = " ".repeat(base_src.len() - base_src.trim_start().len());
    let salient = new.iter().chain(old.iter()).find(|l| !l.trim().is_empty()).map(|l| strip_comment(l).to_string()).unwrap_or_default();
    let id = suggest_id(workflow_type, &salient);
    let block = patched_block(&id, &base, &new, &old);
    let (from, to) = if c.new.is_empty() { (c.new.start as u32 + 1, c.new.start as u32) } else { (c.new.start as u32 + 1, c.new.end as u32) };
    let diff = if c.new.is_empty() {
        // A pure removal: insert the block where the old lines were.
        let mut with = block.clone();
        if let Some(l) = nl.get(c.new.start) {
            with.push(l.clone());
        }
        replace_diff(&f.new_file, from, from, &with)
    } else {
        replace_diff(&f.new_file, from, to, &block)
    };
    Some(Fix {
        text: format!(
            "Keep the old behaviour for histories recorded before the change: the changed lines under `if workflow.patched(\"{id}\"):`, the old ones under `else:`. {}",
            deprecation_path(&id)
        ),
        diff,
    })
}

/// `r` (0-based line range) widened to the statements it touches: back to a line that
/// starts outside any bracket, on to a line after which every bracket is closed.
fn whole_statements(lines: &[String], r: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let mut depth_at = Vec::with_capacity(lines.len() + 1);
    let mut depth: i32 = 0;
    for l in lines {
        depth_at.push(depth);
        for ch in strip_comment(l).chars() {
            match ch {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth = (depth - 1).max(0),
                _ => {}
            }
        }
    }
    depth_at.push(0);
    let (mut start, mut end) = (r.start.min(lines.len()), r.end.min(lines.len()));
    if start == end && depth_at[start] == 0 {
        return start..end;
    }
    while start > 0 && depth_at[start] > 0 {
        start -= 1;
    }
    while end < lines.len() && depth_at[end] > 0 {
        end += 1;
    }
    start..end
}

fn replace_word(line: &str, name: &str, with: &str) -> String {
    let mut from = 0;
    while let Some(i) = line[from..].find(name).map(|i| i + from) {
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !word(line[..i].chars().next_back()) && !word(line[i + name.len()..].chars().next()) {
            return format!("{}{with}{}", &line[..i], &line[i + name.len()..]);
        }
        from = i + name.len();
    }
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_argument_is_guarded_as_its_whole_statement() {
        let lines: Vec<String> = "x = 1\ny = await f(\n    a, b\n)\nz = 2\n".lines().map(str::to_string).collect();
        assert_eq!(whole_statements(&lines, 2..3), 1..4);
        assert_eq!(whole_statements(&lines, 0..1), 0..1);
        assert_eq!(whole_statements(&lines, 4..4), 4..4);
    }

    #[test]
    fn comment_only_changes_are_not_changes() {
        let old = "a = 1\nb = 2\nc = 3\n";
        let new = "a = 1\nb = 2  # CAUSE\nc = 4\n";
        let c = changes(old, new);
        assert_eq!(c, vec![Change { old: 2..3, new: 2..3 }]);
    }

    #[test]
    fn assignments_and_reads() {
        assert_eq!(assigned_name("CYCLES_PER_RUN = 2  # x"), Some("CYCLES_PER_RUN"));
        assert_eq!(assigned_name("TIMEOUT: timedelta = timedelta(1)"), Some("TIMEOUT"));
        assert_eq!(assigned_name("if a == b:"), None);
        assert!(reads("for c in range(CYCLES_PER_RUN):", "CYCLES_PER_RUN"));
        assert!(!reads("MY_CYCLES_PER_RUN", "CYCLES_PER_RUN"));
        assert_eq!(replace_word("range(N)", "N", "(N if p else 3)"), "range((N if p else 3))");
    }
}
