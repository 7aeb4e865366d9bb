//! The words and marks every human-facing output uses — the replay and check reports and
//! the debugger — so a verdict, a diff row or a command reads the same everywhere. Plain
//! strings: each renderer adds its own colours (`style::Styles` for text, `tui::theme` for
//! the debugger).

use deja_core::diff::RowStatus;
use deja_core::trace::Verdict;

pub use deja_core::display_path;
pub use deja_core::history::describe::payload_list_text;

/// The verdict with its mark: `✓ pass`, `✗ nondeterminism`, …
pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✓ pass",
        Verdict::Nondeterminism => "✗ nondeterminism",
        Verdict::WorkflowTaskFailure => "✗ workflow task failure",
        Verdict::Error => "✗ error",
    }
}

/// The mark of a diff row: `=` same, `≠` differs, `-` only in history, `+` only from the
/// code, `·` no command expected, blank where the replay never got.
pub fn row_mark(status: RowStatus) -> &'static str {
    match status {
        RowStatus::Match => "=",
        RowStatus::Differs => "≠",
        RowStatus::OnlyHistory => "-",
        RowStatus::OnlyCode => "+",
        RowStatus::Skipped => "·",
        RowStatus::NotReached => " ",
    }
}

/// A source file by its name alone (`workflows.py`), for a diff row's call site.
pub fn short_file(f: &str) -> String {
    std::path::Path::new(f).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| f.to_string())
}

/// A lang command with its label: `ScheduleActivity charge #1`.
pub fn command_text(command: &str, label: &str) -> String {
    if label.is_empty() { command.to_string() } else { format!("{command} {label}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_marks() {
        assert_eq!(verdict_word(Verdict::WorkflowTaskFailure), "✗ workflow task failure");
        assert_eq!(row_mark(RowStatus::Differs), "≠");
        assert_eq!(short_file("/app/src/workflows.py"), "workflows.py");
        assert_eq!(command_text("CompleteWorkflowExecution", ""), "CompleteWorkflowExecution");
        assert_eq!(command_text("StartTimer", "1 (5s)"), "StartTimer 1 (5s)");
    }
}
