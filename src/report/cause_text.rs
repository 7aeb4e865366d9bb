//! The "cause" and "fix" blocks of a replay report (text): what `deja_core::cause` named,
//! under the diff. Every string from histories or user code is escaped here.

use std::io::Write;

use deja_core::model::replay::ReplayReport;

use super::vocab::display_path;
use crate::style::{Styles, Untrusted, escape_block, escape_terminal, paint};

/// Print the cause and fix blocks (nothing when the report has no cause).
pub fn print_cause(w: &mut dyn Write, r: &ReplayReport, st: &Styles) -> std::io::Result<()> {
    let Some(c) = &r.cause else { return Ok(()) };
    writeln!(w)?;
    let at = match (&c.file, c.line) {
        (Some(f), Some(l)) => format!(" · {}:{l}", Untrusted(&display_path(f))),
        _ => String::new(),
    };
    writeln!(w, "  {} {}{at}", paint(st.bold, "cause:"), paint(st.fail, c.kind.words()))?;
    print_wrapped(w, &c.message)?;
    for d in &c.details {
        writeln!(w, "    {}", paint(st.dim, safe(d)))?;
    }
    if !c.changed_lines.is_empty() {
        writeln!(w, "    {}", paint(st.bold, "changed lines that ran before the divergence:"))?;
        for cl in &c.changed_lines {
            let text = if cl.text.is_empty() { format!("(removed) {}", cl.was.as_deref().unwrap_or("")) } else { cl.text.clone() };
            let mut line = format!("{}:{}  {}", display_path(&cl.file), cl.line, text);
            if let (Some(was), false) = (&cl.was, cl.text.is_empty()) {
                line.push_str(&format!("  (was {was})"));
            }
            if !cl.read_at.is_empty() {
                line.push_str(&format!("  read at {}", cl.read_at.iter().map(|l| format!(":{l}")).collect::<Vec<_>>().join(", ")));
            }
            writeln!(w, "      {}", safe(&line))?;
        }
    }
    if let Some(h) = &c.hunk {
        print_diff(w, h, st)?;
    }
    if !c.baseline.is_empty() {
        writeln!(w, "    {}", paint(st.dim, safe(&c.baseline)))?;
    }
    if let Some(f) = &r.fix {
        writeln!(w)?;
        writeln!(w, "  {}", paint(st.bold, "fix:"))?;
        print_wrapped(w, &f.text)?;
        if let Some(d) = &f.diff {
            print_diff(w, d, st)?;
        }
    }
    Ok(())
}

/// One line of untrusted text: control characters (line breaks too) escaped, and a line
/// GitHub would read as a workflow command (`::…` after the indent) defused.
fn safe(s: &str) -> String {
    escape_block(&escape_terminal(s)).into_owned()
}

/// Untrusted text in lines of 100 columns, each paragraph (line of `text`) escaped alone so
/// its line breaks stay line breaks.
fn print_wrapped(w: &mut dyn Write, text: &str) -> std::io::Result<()> {
    for para in text.split('\n') {
        for l in wrap(&escape_terminal(para), 100) {
            writeln!(w, "    {}", escape_block(&l))?;
        }
    }
    Ok(())
}

fn print_diff(w: &mut dyn Write, d: &str, st: &Styles) -> std::io::Result<()> {
    for l in d.lines() {
        let text = safe(l);
        let style = if l.starts_with("+++") || l.starts_with("---") || l.starts_with("@@") {
            st.dim
        } else if l.starts_with('+') {
            st.added
        } else if l.starts_with('-') {
            st.removed
        } else {
            anstyle::Style::new()
        };
        writeln!(w, "    {}", paint(style, text))?;
    }
    Ok(())
}

/// Words of `s` in lines of at most `width` characters (a longer word gets its own line).
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    for para in s.split('\n') {
        let mut line = String::new();
        for word in para.split(' ') {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                out.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_is_escaped_and_keeps_its_line_breaks() {
        let mut out = Vec::new();
        print_wrapped(&mut out, "signal 'a\x1b]0;x\x07' here\nsecond").unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out, "    signal 'a\\x1b]0;x\\x07' here\n    second\n");
    }

    #[test]
    fn a_line_github_would_read_as_a_command_is_defused() {
        // A signal name with "\r\n::error::" in it: the paragraph after the break, a
        // wrapped line and a diff line must not start with `::`.
        let mut out = Vec::new();
        print_wrapped(&mut out, "no handler named 'sig-\r\n::error::x' here").unwrap();
        print_wrapped(&mut out, &format!("{} ::warning::y", "w".repeat(99))).unwrap();
        print_diff(&mut out, " ::error::z\n+::add-mask::s", &Styles::default()).unwrap();
        let out = String::from_utf8(out).unwrap();
        for l in out.lines() {
            assert!(!l.trim_start().starts_with("::"), "{l:?} in\n{out}");
        }
        assert!(out.contains("\\x3a:error::x"), "{out}");
    }

    #[test]
    fn wraps_on_words() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(wrap("a\nb", 10), vec!["a", "b"]);
    }
}
