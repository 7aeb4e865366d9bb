//! Per-worker parts of `deja check`'s reports when `[tool.deja.workers.*]` are in use
//! (each called from one line in its reporter): the text summary's line per worker and
//! the JUnit suite a history is filed under. The JSON reporter writes the `worker` of each
//! result and the summary's `workers` counts straight from the model.

use deja_core::model::result::HistoryResult;
use deja_core::model::summary::Summary;

use crate::style::{Styles, Untrusted, paint};

/// `  billing: 2 histories · 2 pass` per named worker (nothing in the single-worker form).
pub fn text_lines(s: &Summary, st: &Styles) -> Vec<String> {
    s.workers
        .iter()
        .map(|(name, c)| {
            let mut parts = vec![format!("{} pass", c.pass)];
            for (n, what) in [(c.nondeterminism, "nondeterminism"), (c.workflow_task_failure, "workflow task failure"), (c.error, "error")] {
                if n > 0 {
                    parts.push(format!("{n} {what}"));
                }
            }
            let failed = c.histories > c.pass;
            let head = paint(if failed { st.fail } else { st.pass }, format!("{}:", Untrusted(name)));
            let n = if c.histories == 1 { "1 history".to_string() } else { format!("{} histories", c.histories) };
            format!("  worker {head} {n} · {}", parts.join(" · "))
        })
        .collect()
}

/// The JUnit testsuite of a result: its named worker, when there is one.
pub fn junit_suite(r: &HistoryResult) -> Option<String> {
    r.worker.clone()
}
