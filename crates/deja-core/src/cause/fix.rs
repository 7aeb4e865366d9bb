//! Fixes as code: `workflow.patched("<id>")` versions of a changed hunk, one-line edits,
//! each as a unified diff against the user's current file.

use similar::TextDiff;

use crate::trace::Frame;

/// What to do after the patched version is deployed.
pub fn deprecation_path(id: &str) -> String {
    format!(
        "Then, once every workflow that started before this deploy has closed: replace `if workflow.patched(\"{id}\"):` with \
         `workflow.deprecate_patch(\"{id}\")`, keep only the new branch, and deploy; once no open workflow has the marker, delete the \
         deprecate_patch line."
    )
}

/// `order-charge-card`: the workflow type (without `Workflow`) and the first telling
/// name on the changed line, in kebab case.
pub fn suggest_id(workflow_type: &str, code: &str) -> String {
    let wf = kebab(workflow_type.strip_suffix("Workflow").unwrap_or(workflow_type));
    const SKIP: &[&str] = &[
        "await", "workflow", "execute_activity", "start_activity", "execute_local_activity", "start_to_close_timeout", "timeout", "self",
        "return", "if", "for", "in", "range", "not", "and", "or", "lambda", "async", "def", "str", "int", "len", "true", "false", "none",
        "timedelta", "seconds", "minutes", "hours", "days", "is", "else", "elif", "while", "with", "as", "wait_condition",
    ];
    let word = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty() && !w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .find(|w| !SKIP.contains(&w.to_ascii_lowercase().as_str()))
        .map(kebab)
        .unwrap_or_else(|| "change".into());
    let wf = if wf.is_empty() { "workflow".to_string() } else { wf };
    format!("{wf}-{word}")
}

fn kebab(s: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if c == '_' || c == '-' || c == ' ' {
            if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
            prev_lower = false;
        } else if c.is_uppercase() {
            if prev_lower && !out.ends_with('-') {
                out.push('-');
            }
            out.extend(c.to_lowercase());
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    out.trim_matches('-').to_string()
}

/// A unified diff of `file`'s text against `new` (2 lines of context).
pub fn text_diff(file: &str, old: &str, new: &str) -> Option<String> {
    if old == new {
        return None;
    }
    let name = crate::display_path(file);
    let d = TextDiff::from_lines(old, new);
    Some(d.unified_diff().context_radius(2).header(&format!("a/{name}"), &format!("b/{name}")).to_string())
}

/// Lines of a file (without line ends) and whether it ended with a newline.
fn read_lines(file: &str) -> Option<(Vec<String>, bool)> {
    let text = std::fs::read_to_string(file).ok()?;
    Some((text.lines().map(str::to_string).collect(), text.ends_with('\n')))
}

fn join(lines: &[String], nl: bool) -> String {
    let mut s = lines.join("\n");
    if nl {
        s.push('\n');
    }
    s
}

/// Replace lines `from..=to` (1-based) of `file` by `new`, as a diff.
pub fn replace_diff(file: &str, from: u32, to: u32, new: &[String]) -> Option<String> {
    let (lines, nl) = read_lines(file)?;
    let (a, b) = (from.max(1) as usize - 1, (to as usize).min(lines.len()));
    if a > lines.len() || a > b {
        return None;
    }
    let mut out = lines[..a].to_vec();
    out.extend(new.iter().cloned());
    out.extend(lines[b..].iter().cloned());
    text_diff(file, &join(&lines, nl), &join(&out, nl))
}

/// Line `line` of `file` replaced by `new`, as a diff.
pub fn line_diff(file: &str, line: u32, new: &str) -> Option<String> {
    replace_diff(file, line, line, &[new.to_string()])
}

/// `new` inserted before line `line` of `file`, as a diff.
pub fn insert_diff(file: &str, line: u32, new: &str) -> Option<String> {
    let (lines, _) = read_lines(file)?;
    let cur = lines.get(line.max(1) as usize - 1)?.clone();
    replace_diff(file, line, line, &[new.to_string(), cur])
}

/// The lines of the statement that starts at `line` (1-based): until brackets balance.
pub fn statement(lines: &[String], line: usize) -> (usize, usize) {
    let mut depth: i32 = 0;
    let mut end = line;
    for (i, l) in lines.iter().enumerate().skip(line.saturating_sub(1)) {
        for c in strip_comment(l).chars() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                _ => {}
            }
        }
        end = i + 1;
        if depth <= 0 {
            break;
        }
    }
    (line, end)
}

/// The code part of a line: without a trailing `# comment` (outside quotes) and
/// trailing blanks.
pub fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q && prev != '\\' => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' => return line[..i].trim_end(),
            None => {}
        }
        prev = c;
    }
    line.trim_end()
}

fn indent_of(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

/// `if workflow.patched(id):` new `else:` old, at `base` indentation.
pub fn patched_block(id: &str, base: &str, new: &[String], old: &[String]) -> Vec<String> {
    let strip = |ls: &[String]| -> Vec<String> {
        let min = ls.iter().filter(|l| !l.trim().is_empty()).map(|l| indent_of(l)).min().unwrap_or(0);
        ls.iter().map(|l| if l.trim().is_empty() { String::new() } else { format!("{base}    {}", &l[min.min(indent_of(l))..]) }).collect()
    };
    let mut out = Vec::new();
    if new.iter().all(|l| l.trim().is_empty()) {
        out.push(format!("{base}if not workflow.patched(\"{id}\"):"));
        out.extend(strip(old));
        return out;
    }
    out.push(format!("{base}if workflow.patched(\"{id}\"):"));
    out.extend(strip(new));
    if !old.iter().all(|l| l.trim().is_empty()) {
        out.push(format!("{base}else:"));
        out.extend(strip(old));
    }
    out
}

/// Without a baseline: the statement at `site` in a patched block, the old branch left
/// for the user (deja does not know the old code without `--baseline`).
pub fn patched_for_line(workflow_type: &str, site: &Frame, prefix: &str, recorded: &str) -> super::Fix {
    let id = suggest_id(workflow_type, &site.code);
    let mut text = prefix.to_string();
    text.push_str(&format!(
        "Guard the change with a patch so histories recorded before it keep the old commands: \
         `if workflow.patched(\"{id}\"):` the new code, `else:` the old code (which issued {recorded}; --baseline fills it in). "
    ));
    text.push_str(&deprecation_path(&id));
    let diff = read_lines(&site.file).and_then(|(lines, _)| {
        let (a, b) = statement(&lines, site.line as usize);
        let new: Vec<String> = lines.get(a - 1..b)?.to_vec();
        let base = " ".repeat(indent_of(new.first()?));
        let old = vec![format!("{base}...  # the code before this change (it issued {recorded})")];
        replace_diff(&site.file, a as u32, b as u32, &patched_block(&id, &base, &new, &old))
    });
    super::Fix { text, diff }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_comments() {
        assert_eq!(suggest_id("OrderWorkflow", "await workflow.execute_activity(charge_card, order_id)"), "order-charge-card");
        assert_eq!(suggest_id("ShoppingCartWorkflow", "await workflow.sleep(timedelta(minutes=5))"), "shopping-cart-sleep");
        assert_eq!(strip_comment("x = '#a'  # CAUSE"), "x = '#a'");
        assert_eq!(strip_comment("    y = 1"), "    y = 1");
    }

    #[test]
    fn patched_block_keeps_both_branches() {
        let b = patched_block("p", "    ", &["        a()".into()], &["        b()".into()]);
        assert_eq!(b, vec!["    if workflow.patched(\"p\"):", "        a()", "    else:", "        b()"]);
        let only_old = patched_block("p", "", &[], &["b()".into()]);
        assert_eq!(only_old, vec!["if not workflow.patched(\"p\"):", "    b()"]);
    }
}
