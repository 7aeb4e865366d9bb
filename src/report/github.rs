//! GitHub Actions annotations (`GITHUB_ACTIONS=true`): one `::error` workflow command per
//! failure group on stdout, pointing at the user's workflow source line (the divergence
//! site or the failing frame), so the pull request shows the problem on the line that
//! causes it.
//!
//! One per *group*, not per history: GitHub shows at most 10 error annotations per step,
//! and 900 copies of one problem would bury the others anyway. Paths are made relative to
//! `GITHUB_WORKSPACE` (the checkout) when inside it, else to the current directory — GitHub
//! only places annotations whose path is relative to the repository root.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use deja_core::model::events::{CheckEvent, Reporter};
use deja_core::model::summary::{Group, Summary};

/// Writes annotations to a stream (stdout in real runs).
pub struct GithubReporter<W: Write> {
    out: W,
    workspace: Option<String>,
}

impl<W: Write> GithubReporter<W> {
    pub fn new(out: W, workspace: Option<String>) -> GithubReporter<W> {
        GithubReporter { out, workspace }
    }

    fn relative(&self, path: &str) -> String {
        let p = Path::new(path);
        if let Some(ws) = &self.workspace {
            let abs = if p.is_absolute() {
                p.to_path_buf()
            } else {
                std::env::current_dir().map(|c| c.join(p)).unwrap_or_else(|_| p.to_path_buf())
            };
            if let Ok(rel) = abs.strip_prefix(ws) {
                return rel.display().to_string();
            }
        }
        deja_core::display_path(path)
    }

    /// The annotation for one group.
    pub fn annotation(&self, g: &Group) -> String {
        let ex = &g.example;
        let (file, line) = match &ex.location {
            Some(f) => (self.relative(&f.file), Some(f.line)),
            None => (self.relative(&ex.path), None),
        };
        let what = match ex.verdict {
            deja_core::trace::Verdict::Pass if ex.drift_failed => "drift",
            deja_core::trace::Verdict::Nondeterminism => "non-determinism",
            deja_core::trace::Verdict::WorkflowTaskFailure => "workflow task failure",
            deja_core::trace::Verdict::Error => "replay error",
            deja_core::trace::Verdict::Pass => "pass",
        };
        let wf = ex.workflow_type.as_deref().unwrap_or("history");
        let n = if g.count == 1 { "1 history".to_string() } else { format!("{} histories", g.count) };
        let title = format!("deja: {what} in {wf} ({n})");
        let mut message = ex.message.clone();
        if let Some(cause) = &ex.cause {
            message.push('\n');
            message.push_str(cause);
        }
        message.push_str(&format!("\nExample: {} (run `deja replay {} ...` for the full diff)", self.relative(&ex.path), self.relative(&ex.path)));
        let mut props = format!("file={}", escape_property(&file));
        if let Some(l) = line {
            props.push_str(&format!(",line={l}"));
        }
        props.push_str(&format!(",title={}", escape_property(&title)));
        format!("::error {props}::{}", escape_data(&message))
    }

    /// `::warning file=…,line=…,title=deja: drift activity-input in Order (3 histories)::…`
    pub fn drift_annotation(&self, g: &deja_core::model::summary::DriftGroup) -> String {
        let f = &g.example;
        let file = self.relative(f.file.as_deref().unwrap_or(&g.example_path));
        let mut props = format!("file={}", escape_property(&file));
        if let (Some(l), Some(_)) = (f.line, &f.file) {
            props.push_str(&format!(",line={l}"));
        }
        let wf = g.signature.split(" drift ").next().unwrap_or("");
        let n = if g.histories == 1 { "1 history".to_string() } else { format!("{} histories", g.histories) };
        props.push_str(&format!(",title={}", escape_property(&format!("deja: drift {} in {wf} ({n})", f.kind))));
        let message = format!("{}\n{}\nExample: {}", f.one_line(), f.message, self.relative(&g.example_path));
        format!("::warning {props}::{}", escape_data(&message))
    }

    fn finish(&mut self, s: &Summary) -> std::io::Result<()> {
        for g in s.groups_by_size() {
            let line = self.annotation(g);
            writeln!(self.out, "{line}")?;
        }
        // Drift that does not fail a history: a warning on the line that issued it.
        for g in s.drift_groups_by_size().into_iter().filter(|g| !g.fails) {
            let line = self.drift_annotation(g);
            writeln!(self.out, "{line}")?;
        }
        self.out.flush()
    }
}

impl<W: Write> Reporter for GithubReporter<W> {
    fn event(&mut self, ev: &CheckEvent<'_>) -> Result<()> {
        if let CheckEvent::RunFinished(s) = ev {
            self.finish(s)?;
        }
        Ok(())
    }
}

/// Escaping of a workflow command's message: the text comes from histories and user code,
/// so other control characters (ESC, BEL, NUL…) are made visible first
/// ([`crate::style::escape_block`]), then GitHub's `escapeData` turns line breaks into
/// `%0A`: the whole annotation stays on one line, so nothing in it can start a command.
fn escape_data(s: &str) -> String {
    crate::style::escape_block(s).replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escaping of a workflow command's property value (GitHub's `escapeProperty`).
fn escape_property(s: &str) -> String {
    escape_data(&crate::style::escape_terminal(s)).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use deja_core::model::result::HistoryResult;
    use deja_core::trace::{Frame, Verdict};

    #[test]
    fn annotation_points_at_the_source_line_and_escapes() {
        let mut ex = HistoryResult::error("histories/a.json", "x", "Activity type: 'a', not 'b'\n100%".into(), "sig".into());
        ex.verdict = Verdict::Nondeterminism;
        ex.workflow_type = Some("Order".into());
        ex.location = Some(Frame { file: "/ws/app/wf.py".into(), line: 90, function: "run".into(), code: String::new() });
        let g = Group { signature: "sig".into(), verdict: Verdict::Nondeterminism, count: 3, example: ex, more: vec![] };
        let r = GithubReporter::new(Vec::new(), Some("/ws".into()));
        let a = r.annotation(&g);
        assert!(a.starts_with("::error file=app/wf.py,line=90,title=deja%3A non-determinism in Order (3 histories)::"), "{a}");
        assert!(a.contains("Activity type: 'a', not 'b'%0A100%25"), "{a}");
    }

    #[test]
    fn annotation_carries_the_cause_escaped() {
        let mut ex = HistoryResult::error("h.json", "x", "msg".into(), "sig".into());
        ex.verdict = Verdict::Nondeterminism;
        ex.location = Some(Frame { file: "/ws/app/wf.py".into(), line: 18, function: String::new(), code: String::new() });
        ex.cause = Some("cause (command-changed): CYCLES = 2\x1b[31m\n::error::x".into());
        let g = Group { signature: "sig".into(), verdict: Verdict::Nondeterminism, count: 1, example: ex, more: vec![] };
        let a = GithubReporter::new(Vec::new(), Some("/ws".into())).annotation(&g);
        assert!(a.starts_with("::error file=app/wf.py,line=18,"), "{a}");
        assert!(a.contains("msg%0Acause (command-changed): CYCLES = 2"), "{a}");
        assert!(!a.chars().any(char::is_control), "{a:?}");
    }

    #[test]
    fn untrusted_text_cannot_start_a_command_or_reach_the_terminal_raw() {
        let evil = "\x1b]0;pwned\x07\r\n::error::x\0";
        let mut ex = HistoryResult::error(evil, "x", format!("boom {evil}"), "sig".into());
        ex.verdict = Verdict::Error;
        ex.workflow_type = Some(evil.into());
        let g = Group { signature: "sig".into(), verdict: Verdict::Error, count: 1, example: ex, more: vec![] };
        let a = GithubReporter::new(Vec::new(), None).annotation(&g);
        assert!(!a.chars().any(char::is_control), "{a:?}");
        assert!(a.starts_with("::error file=\\x1b]0;pwned\\x07\\r\\n%3A%3Aerror%3A%3Ax\\0,title=deja%3A replay error in "), "{a}");
        assert!(a.contains("::boom \\x1b]0;pwned\\x07\\r%0A\\x3a:error::x\\0%0AExample: "), "{a}");
    }
}
