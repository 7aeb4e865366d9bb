//! Sandbox-refused and non-deterministic calls, mapped to what workflow code uses instead.
//!
//! The SDK's sandbox says "Cannot access datetime.datetime.now from inside a workflow. …
//! mark the import as pass through." For these calls passing through is the wrong fix:
//! it silences the sandbox and keeps the non-determinism. deja names the call, its line
//! and the workflow-safe replacement.

use super::{Cause, CauseKind, Fix, Inputs, at, short};

/// What to use instead of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replacement {
    /// Shown to the user: `workflow.now()`.
    pub instead: &'static str,
    /// Why, in a few words.
    pub why: &'static str,
    /// Text to put in place of `<call>(` in the source line, when a one-line edit does it.
    pub edit: Option<&'static str>,
}

/// The replacement for a qualified call name (`datetime.datetime.now`, `random.randint`…).
pub fn replacement(name: &str) -> Replacement {
    let name = name.trim_end_matches(".__call__");
    let last = name.rsplit('.').next().unwrap_or(name);
    let top = name.split('.').next().unwrap_or(name);
    let r = |instead, why, edit| Replacement { instead, why, edit };
    match (top, last) {
        ("datetime", "now" | "utcnow" | "today") => r("workflow.now()", "the wall clock differs on every replay; workflow.now() is the time history recorded", Some("workflow.now(")),
        ("time", "time" | "monotonic" | "perf_counter") => r("workflow.time()", "the wall clock differs on every replay", Some("workflow.time(")),
        ("time", "time_ns" | "monotonic_ns" | "perf_counter_ns") => r("workflow.time_ns()", "the wall clock differs on every replay", Some("workflow.time_ns(")),
        ("time", "sleep") => r("await workflow.sleep(…) (or asyncio.sleep)", "a blocking sleep stalls the workflow thread and records no timer", None),
        ("random", _) => r("workflow.random() (a random.Random seeded by history)", "unseeded randomness differs on every replay", None),
        ("uuid", _) => r("workflow.uuid4()", "a fresh UUID differs on every replay; workflow.uuid4() is seeded by history", Some("workflow.uuid4(")),
        ("os", "urandom") | ("secrets", _) => r("workflow.random()", "OS randomness differs on every replay", None),
        ("os", "getenv" | "environ") => r("a workflow input, or an activity that reads it", "the environment differs between workers", None),
        ("threading" | "_thread" | "concurrent" | "multiprocessing" | "subprocess", _) => r(
            "an activity (or asyncio tasks with workflow.wait / asyncio.gather)",
            "threads and processes run outside the workflow's deterministic event loop",
            None,
        ),
        ("asyncio", "wait") => r("workflow.wait()", "asyncio.wait returns its sets in a non-deterministic order", Some("workflow.wait(")),
        ("asyncio", "as_completed") => r("workflow.as_completed()", "completion order is not deterministic", Some("workflow.as_completed(")),
        _ => r(
            "an activity (workflow.execute_activity) for I/O, the network, files or the environment",
            "workflow code must only decide from history; side effects and outside state belong in activities",
            None,
        ),
    }
}

/// The call named in a sandbox message: `Cannot access random.randint.__call__ from …`.
pub fn restricted_name(message: &str) -> Option<String> {
    let rest = &message[message.find("Cannot access ")? + "Cannot access ".len()..];
    let name = rest.split(" from inside a workflow").next()?.trim();
    (!name.is_empty()).then(|| name.trim_end_matches(".__call__").to_string())
}

/// A non-deterministic call the SDK warned about without failing (`asyncio.wait()`…).
fn warned_name(warning: &str) -> Option<&'static str> {
    if warning.contains("asyncio.wait()") {
        Some("asyncio.wait")
    } else if warning.contains("asyncio.as_completed()") {
        Some("asyncio.as_completed")
    } else {
        None
    }
}

pub(crate) fn find(inp: &Inputs<'_>) -> Option<(Cause, Option<Fix>)> {
    let name = restricted_name(&inp.outcome.message)?;
    let rep = replacement(&name);
    let site = inp.outcome.frames.last();
    let (file, line) = at(site);
    let where_ = site.map(|s| format!(" at {}", short(s))).unwrap_or_default();
    let message = format!(
        "`{name}` is called from workflow code{where_}: {}. Use {} instead. \
         The SDK's advice to mark the import as pass through does not apply here: that only silences the sandbox and keeps the non-determinism.",
        rep.why, rep.instead
    );
    let mut details = Vec::new();
    for w in &inp.outcome.warnings {
        if let Some(n) = warned_name(w) {
            details.push(format!("also: {n} → {} ({w})", replacement(n).instead));
        }
    }
    let fix = site.map(|s| {
        let new_line = rep.edit.and_then(|e| edit_line(&s.code_line(), &name, e));
        let diff = new_line.as_ref().and_then(|n| super::fix::line_diff(&s.file, s.line, n));
        Fix { text: format!("Replace `{name}` with {} at {}.", rep.instead, short(s)), diff }
    });
    Some((Cause { kind: CauseKind::RestrictedCall, file, line, changed_lines: Vec::new(), message, details, hunk: None, baseline: String::new() }, fix))
}

/// `line` with the call to `name` (any qualified suffix of it, `datetime.now(`,
/// `now(`) replaced by `edit`; `None` when the call is not found on the line.
pub fn edit_line(line: &str, name: &str, edit: &str) -> Option<String> {
    let parts: Vec<&str> = name.split('.').collect();
    for k in 0..parts.len() {
        let call = format!("{}(", parts[k..].join("."));
        let mut from = 0;
        while let Some(i) = line[from..].find(&call).map(|i| i + from) {
            let before = line[..i].chars().next_back();
            if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.')) {
                return Some(format!("{}{edit}{}", &line[..i], &line[i + call.len()..]));
            }
            from = i + call.len();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_replacements() {
        let m = "Cannot access datetime.datetime.now.__call__ from inside a workflow. If this is code … mark the import as pass through.";
        assert_eq!(restricted_name(m).as_deref(), Some("datetime.datetime.now"));
        assert_eq!(replacement("datetime.datetime.now").instead, "workflow.now()");
        assert_eq!(replacement("uuid.uuid4").instead, "workflow.uuid4()");
        assert!(replacement("random.randint").instead.starts_with("workflow.random()"));
        assert!(replacement("threading.Thread").instead.contains("activity"));
        assert!(replacement("builtins.open").instead.contains("activity"));
        for n in ["datetime.datetime.now", "random.randint", "uuid.uuid4", "time.time", "builtins.open", "threading.Thread"] {
            assert!(!replacement(n).instead.contains("pass"), "{n}");
        }
    }

    #[test]
    fn edits_the_call_on_the_line() {
        assert_eq!(edit_line("    stamp = datetime.now().isoformat()", "datetime.datetime.now", "workflow.now(").as_deref(), Some("    stamp = workflow.now().isoformat()"));
        assert_eq!(edit_line("    x = str(uuid.uuid4())", "uuid.uuid4", "workflow.uuid4(").as_deref(), Some("    x = str(workflow.uuid4())"));
        assert_eq!(edit_line("    x = myuuid4()", "uuid.uuid4", "workflow.uuid4("), None);
    }
}

/// Call patterns that are non-deterministic in workflow code, and the name they stand for.
const RAN_PATTERNS: &[(&str, &str)] = &[
    ("datetime.now(", "datetime.datetime.now"),
    ("datetime.utcnow(", "datetime.datetime.utcnow"),
    ("datetime.today(", "datetime.datetime.today"),
    ("date.today(", "datetime.date.today"),
    ("time.time(", "time.time"),
    ("time.time_ns(", "time.time_ns"),
    ("time.monotonic(", "time.monotonic"),
    ("time.perf_counter(", "time.perf_counter"),
    ("time.sleep(", "time.sleep"),
    ("uuid.uuid4(", "uuid.uuid4"),
    ("uuid.uuid1(", "uuid.uuid1"),
    ("uuid4(", "uuid.uuid4"),
    ("os.urandom(", "os.urandom"),
    ("secrets.", "secrets"),
    ("random.", "random"),
    ("threading.Thread(", "threading.Thread"),
    ("asyncio.wait(", "asyncio.wait"),
    ("asyncio.as_completed(", "asyncio.as_completed"),
    ("os.getenv(", "os.getenv"),
    ("os.environ", "os.environ"),
];

/// A non-deterministic call on a line that ran: (qualified name, file, line, code).
pub type RanCall = (String, String, u32, String);

/// The non-deterministic calls on `code` (comments ignored), as qualified names.
pub fn calls_on_line(code: &str) -> Vec<String> {
    let code = super::fix::strip_comment(code);
    let mut out = Vec::new();
    for (pat, name) in RAN_PATTERNS {
        let mut from = 0;
        while let Some(i) = code[from..].find(pat).map(|i| i + from) {
            let before = code[..i].chars().next_back();
            from = i + pat.len();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                continue;
            }
            let name = if pat.ends_with('.') {
                // `random.randint` → the function's name.
                let rest: String = code[from..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if rest.is_empty() {
                    continue;
                }
                format!("{name}.{rest}")
            } else {
                name.to_string()
            };
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// Non-deterministic calls on the user lines that ran before the divergence (the line
/// trace of an explaining replay), first run first.
pub(crate) fn ran_calls(inp: &Inputs<'_>) -> Vec<RanCall> {
    let upto = inp
        .divergence
        .and_then(|(row, _)| inp.timeline.tasks.get(row.task))
        .and_then(|t| t.started_event_id)
        .unwrap_or(i64::MAX);
    let mut files: std::collections::HashMap<String, Option<Vec<String>>> = std::collections::HashMap::new();
    let mut out: Vec<RanCall> = Vec::new();
    for s in inp.outcome.steps.iter().filter(|s| !s.is_eviction() && i64::from(s.activation.history_length) <= upto) {
        for (file, line) in &s.lines {
            let lines = files.entry(file.clone()).or_insert_with(|| std::fs::read_to_string(file).ok().map(|t| t.lines().map(str::to_string).collect()));
            let Some(code) = lines.as_ref().and_then(|l| l.get((*line as usize).saturating_sub(1))) else { continue };
            for name in calls_on_line(code) {
                if !out.iter().any(|(n, f, l, _)| n == &name && f == file && l == line) {
                    out.push((name, file.clone(), *line, code.trim().to_string()));
                }
            }
        }
    }
    out
}

/// A divergence in unsandboxed code after a non-deterministic call ran: that call is the
/// likely cause (nothing refused it). In sandboxed code (where a passed-through module could
/// still make such a call) it is added as a detail.
pub(crate) fn blame_ran_calls(inp: &Inputs<'_>, found: &mut (Cause, Option<Fix>)) {
    if !matches!(found.0.kind, CauseKind::CommandChanged | CauseKind::Waiting) {
        return;
    }
    let calls = ran_calls(inp);
    let Some((name, file, line, code)) = calls.first().cloned() else { return };
    let unsandboxed = inp.outcome.sandbox == crate::trace::SandboxUse::None;
    if !unsandboxed {
        for (name, file, line, _) in &calls {
            let f = crate::trace::Frame { file: file.clone(), line: *line, ..Default::default() };
            found.0.details.push(format!("ran before the divergence: `{name}` at {} — non-deterministic; use {}", short(&f), replacement(name).instead));
        }
        return;
    }
    let rep = replacement(&name);
    let site = crate::trace::Frame { file: file.clone(), line, function: String::new(), code: code.clone() };
    let (cause, fix) = found;
    let before = std::mem::take(&mut cause.message);
    cause.details.insert(0, format!("the divergence: {before}"));
    cause.kind = CauseKind::RestrictedCall;
    cause.file = Some(file);
    cause.line = Some(line);
    cause.message = format!(
        "`{name}` ran in workflow code at {} before the divergence, and this workflow runs unsandboxed, so nothing refused it: {}. \
         Its value differs on replay, so the code takes another path than history recorded. Use {} instead.",
        short(&site),
        rep.why,
        rep.instead
    );
    let new_line = rep.edit.and_then(|e| edit_line(&site.code_line(), &name, e));
    *fix = Some(Fix {
        text: format!("Replace `{name}` with {} at {}.", rep.instead, short(&site)),
        diff: new_line.as_ref().and_then(|n| super::fix::line_diff(&site.file, site.line, n)),
    });
}

#[cfg(test)]
mod ran_tests {
    use super::*;

    #[test]
    fn calls_on_a_line() {
        assert_eq!(calls_on_line("if datetime.now().year > 2000:  # CAUSE"), vec!["datetime.datetime.now"]);
        assert_eq!(calls_on_line("x = random.randint(1, 2)"), vec!["random.randint"]);
        assert!(calls_on_line("x = workflow.random().randint(1, 2); y = workflow.uuid4(); z = workflow.now()").is_empty());
        assert!(calls_on_line("# datetime.now() in a comment").is_empty());
    }
}
