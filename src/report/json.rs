//! `--json FILE`: the `deja.check/v1` document (described in docs/JSON.md).
//!
//! Written **incrementally**: the header when the run starts, one `results` entry per
//! history as it finishes (completion order), the `summary` at the end — so memory does not
//! grow with the corpus. It is written to a temporary file of its own beside `FILE` and
//! renamed over `FILE` when the run finishes ([`crate::report::files`]), so a reader never
//! sees half a document under the real name, and two runs never share a temporary file.
//!
//! Each entry carries the full `deja.replay/v1` report of that history (what
//! `deja replay -o json` prints) under `report`, or `null` when nothing was replayed
//! (unloadable file, crash, timeout).

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use deja_core::model::events::{CheckEvent, Reporter};
use deja_core::model::result::HistoryResult;
use deja_core::model::summary::Summary;
use deja_core::trace::{Frame, SandboxUse, Verdict};
use super::files::{Kind, ReportFile};

pub const SCHEMA: &str = "deja.check/v1";

/// One `results` entry.
#[derive(Serialize)]
struct Entry<'a> {
    path: &'a str,
    verdict: Verdict,
    error_kind: Option<&'a str>,
    workflow_type: Option<&'a str>,
    workflow_id: Option<&'a str>,
    run_id: Option<&'a str>,
    events: Option<usize>,
    message: &'a str,
    signature: &'a str,
    location: Option<&'a Frame>,
    seconds: f64,
    sandbox: SandboxUse,
    #[serde(skip_serializing_if = "Option::is_none")]
    sandbox_note: Option<&'a str>,
    warnings: &'a [String],
    /// Drift findings (README "Drift"); `drift_failed`: the policy fails the history on them.
    drift: &'a [deja_core::diff::drift::DriftFinding],
    drift_failed: bool,
    report: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker: Option<&'a str>,
}

impl<'a> Entry<'a> {
    fn of(r: &'a HistoryResult) -> Entry<'a> {
        Entry {
            path: &r.path,
            verdict: r.verdict,
            error_kind: r.error_kind.as_deref(),
            workflow_type: r.workflow_type.as_deref(),
            workflow_id: r.workflow_id.as_deref(),
            run_id: r.run_id.as_deref(),
            events: r.events,
            message: &r.message,
            signature: &r.signature,
            location: r.location.as_ref(),
            seconds: r.seconds,
            sandbox: r.sandbox,
            sandbox_note: r.sandbox_note.as_deref(),
            warnings: &r.warnings,
            drift: &r.drift,
            drift_failed: r.drift_failed,
            report: r.report.as_ref(),
            worker: r.worker.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct GroupOut<'a> {
    signature: &'a str,
    verdict: Verdict,
    count: usize,
    example: &'a str,
    message: &'a str,
    location: Option<&'a Frame>,
}

#[derive(Serialize)]
struct SummaryOut<'a> {
    files: usize,
    histories: usize,
    found: usize,
    pass: usize,
    nondeterminism: usize,
    workflow_task_failure: usize,
    error: usize,
    load_errors: usize,
    skipped: usize,
    skipped_paths: &'a [String],
    not_run: usize,
    seconds: f64,
    jobs: usize,
    sdk_version: Option<&'a str>,
    sdk: Option<&'a deja_core::trace::SdkInfo>,
    exit_code: u8,
    sandbox: &'a std::collections::BTreeMap<SandboxUse, usize>,
    sandbox_notes: &'a [String],
    groups: Vec<GroupOut<'a>>,
    drift: DriftSummaryOut<'a>,
    #[serde(skip_serializing_if = "indexmap::IndexMap::is_empty")]
    workers: &'a indexmap::IndexMap<String, deja_core::model::summary::WorkerCounts>,
}

#[derive(Serialize)]
struct DriftGroupOut<'a> {
    signature: &'a str,
    kind: deja_core::diff::drift::DriftKind,
    count: usize,
    histories: usize,
    fails: bool,
    example: &'a str,
    finding: &'a deja_core::diff::drift::DriftFinding,
}

/// `summary.drift`: histories with drift, findings per kind, groups by signature.
#[derive(Serialize)]
struct DriftSummaryOut<'a> {
    histories: usize,
    findings: usize,
    failed: usize,
    kinds: &'a std::collections::BTreeMap<deja_core::diff::drift::DriftKind, usize>,
    groups: Vec<DriftGroupOut<'a>>,
}

impl<'a> SummaryOut<'a> {
    fn of(s: &'a Summary) -> SummaryOut<'a> {
        SummaryOut {
            files: s.total,
            histories: s.done(),
            found: s.found,
            pass: s.pass,
            nondeterminism: s.nondeterminism,
            workflow_task_failure: s.task_failure,
            error: s.error,
            load_errors: s.load_errors,
            skipped: s.skipped,
            skipped_paths: &s.skipped_paths,
            not_run: s.not_run,
            seconds: (s.seconds * 1000.0).round() / 1000.0,
            jobs: s.jobs,
            sdk_version: s.sdk_version.as_deref(),
            sdk: s.sdk.as_ref(),
            exit_code: s.exit_code(),
            sandbox: &s.sandbox,
            sandbox_notes: &s.sandbox_notes,
            workers: &s.workers,
            groups: s
                .groups_by_size()
                .into_iter()
                .map(|g| GroupOut {
                    signature: &g.signature,
                    verdict: g.verdict,
                    count: g.count,
                    example: &g.example.path,
                    message: &g.example.message,
                    location: g.example.location.as_ref(),
                })
                .collect(),
            drift: DriftSummaryOut {
                histories: s.drift_histories,
                findings: s.drift_findings,
                failed: s.drift_failed,
                kinds: &s.drift_kinds,
                groups: s
                    .drift_groups_by_size()
                    .into_iter()
                    .map(|g| DriftGroupOut {
                        signature: &g.signature,
                        kind: g.kind,
                        count: g.count,
                        histories: g.histories,
                        fails: g.fails,
                        example: &g.example_path,
                        finding: &g.example,
                    })
                    .collect(),
            },
        }
    }
}

/// The `--json` reporter (or `-o json`: the same document on stdout).
pub struct JsonReporter {
    /// `--json FILE`: renamed over FILE at the end.
    file: Option<ReportFile>,
    /// `-o json`: the finished document is copied here at the end, so a run that stops
    /// with an error prints only the error document, never half of this one.
    stream: Option<Box<dyn Write + Send>>,
    out: BufWriter<File>,
    first: bool,
}

impl JsonReporter {
    /// Create the temporary file now, so an unwritable path fails before any replay.
    pub fn create(path: &Path) -> Result<JsonReporter> {
        let file = ReportFile::create(Kind::Json, path)?;
        let out = BufWriter::new(file.file()?);
        Ok(JsonReporter { file: Some(file), stream: None, out, first: true })
    }

    /// The document on a stream (`deja check -o json` writes it to stdout), written to an
    /// anonymous temporary file while the run goes (memory stays flat).
    pub fn to_stream(stream: Box<dyn Write + Send>) -> Result<JsonReporter> {
        let buffer = tempfile::tempfile().context("-o json: cannot create a temporary file")?;
        Ok(JsonReporter { file: None, stream: Some(stream), out: BufWriter::new(buffer), first: true })
    }

    fn write(&mut self, ev: &CheckEvent<'_>) -> std::io::Result<()> {
        match ev {
            CheckEvent::RunStarted { .. } => {
                write!(self.out, "{{\"schema\":\"{SCHEMA}\",\"deja_version\":\"{}\",\"results\":[", env!("CARGO_PKG_VERSION"))?;
            }
            CheckEvent::HistoryFinished(r) => {
                self.out.write_all(if self.first { b"\n" } else { b",\n" })?;
                self.first = false;
                serde_json::to_writer(&mut self.out, &Entry::of(r))?;
            }
            CheckEvent::RunFinished(s) => {
                self.out.write_all(b"\n],\n\"summary\":")?;
                serde_json::to_writer_pretty(&mut self.out, &SummaryOut::of(s))?;
                self.out.write_all(b"}\n")?;
                self.out.flush()?;
                if let Some(f) = &mut self.file {
                    f.commit().map_err(std::io::Error::other)?;
                }
                if let Some(stream) = &mut self.stream {
                    let mut doc = self.out.get_ref().try_clone()?;
                    doc.seek(std::io::SeekFrom::Start(0))?;
                    std::io::copy(&mut doc, stream)?;
                    stream.flush()?;
                }
            }
            CheckEvent::WorkersReady { .. } | CheckEvent::Skipped { .. } => {}
        }
        Ok(())
    }
}

impl Reporter for JsonReporter {
    fn event(&mut self, ev: &CheckEvent<'_>) -> Result<()> {
        let what = self.file.as_ref().map_or_else(|| "stdout".to_string(), |f| f.dest().display().to_string());
        self.write(ev).with_context(|| format!("--json: writing {what}"))
    }
}
