//! What the runner tells reporters, in order: one `RunStarted`, then a `HistoryFinished`
//! or `Skipped` per file as workers answer (completion order, not discovery order), then
//! one `RunFinished` with the [`Summary`]. Reporters never see processes or frames.

use anyhow::Result;

use super::result::HistoryResult;
use super::summary::Summary;

/// One thing that happened in a run.
#[derive(Debug)]
pub enum CheckEvent<'a> {
    RunStarted {
        /// Histories this run will check (after `--partition`).
        total: usize,
        /// Files found before `--partition`.
        found: usize,
        jobs: usize,
    },
    /// The first worker is ready: the workflow code imported.
    WorkersReady { sdk: &'a crate::trace::SdkInfo, registered: &'a [String] },
    HistoryFinished(&'a HistoryResult),
    /// A file from a directory walk or glob that is not a history at all.
    Skipped { path: &'a str, reason: &'a str },
    RunFinished(&'a Summary),
}

/// A consumer of check events: the terminal, JUnit, JSON, annotations.
pub trait Reporter {
    fn event(&mut self, ev: &CheckEvent<'_>) -> Result<()>;
}

/// Sends every event to every reporter, in order.
#[derive(Default)]
pub struct Fanout {
    reporters: Vec<Box<dyn Reporter>>,
}

impl Fanout {
    pub fn push(&mut self, r: Box<dyn Reporter>) {
        self.reporters.push(r);
    }
}

impl Reporter for Fanout {
    fn event(&mut self, ev: &CheckEvent<'_>) -> Result<()> {
        for r in &mut self.reporters {
            r.event(ev)?;
        }
        Ok(())
    }
}
