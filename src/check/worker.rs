//! `deja __worker`: one replay process of `deja check`.
//!
//! A worker starts its own embedded interpreter, imports the workflow code once and keeps
//! ONE harness `Session` (one long-lived SDK `Replayer`) for every history it is handed —
//! the SDK's per-worker start-up (interpreter, `temporalio` import, sandbox validation of
//! every workflow) is paid once per process, not once per history. It reads and parses
//! each history file itself, so JSON parsing runs on every core too, and answers with a
//! compact [`HistoryResult`] (see [`super::protocol`] for the wire).
//!
//! Isolation is the point of the process boundary: workflow code that calls `os._exit`,
//! segfaults the interpreter, blocks forever or eats all memory takes down this process
//! only; the parent reports that history and starts a fresh worker. To keep the protocol
//! channel clean the worker moves it off fd 0/1 before Python starts (see `take_stdio`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::FromRawFd;
use std::path::Path;

use anyhow::{Context, Result};

use super::protocol::{FromWorker, Setup, ToWorker, read_frame, write_frame};
use deja_core::model::result::{HistoryResult, kind};
use deja_core::exit;
use deja_core::history::tasks::Timeline;
use deja_core::history::{self, LoadError};
use crate::replay::embed::{EmbedError, Interpreter, Session};
use crate::replay::{self, ReplayError};
use deja_core::model::replay::ReplayReport;

/// How a failed history's report becomes the text the parent shows: `(report, verbose,
/// colour)`. The command layer passes the replay reporter's renderer in, so the runner
/// renders nothing itself yet failures are still rendered in parallel, in the workers.
pub type Render = fn(&ReplayReport, u8, bool) -> String;

/// The worker's main loop. Returns only on a protocol error or when the parent hangs up.
pub fn main(render: Render) -> Result<u8> {
    let (mut input, output) = take_stdio().context("deja __worker: setting up the protocol channel on fds 0/1")?;
    let mut output = BufWriter::new(output);
    let setup = match read_frame::<_, ToWorker>(&mut input).context("deja __worker: reading setup")? {
        Some(ToWorker::Setup(s)) => s,
        None => return Ok(exit::OK),
        Some(other) => anyhow::bail!("deja __worker: expected a setup message first, got {other:?}"),
    };
    let mut trace = StartupTrace::from_env();
    trace.mark("setup_read");
    let interp = match replay::start_interpreter(setup.python_env.as_deref()) {
        Ok(i) => i,
        Err(e) => {
            write_frame(&mut output, &setup_failed(e))?;
            return Ok(exit::ERROR);
        }
    };
    trace.mark("interpreter");
    // The pool's other slots share this start-up: fork them now, before the user's code
    // and any temporalio Runtime exist (see `super::fork`). In a fork, the slot's pipes
    // become this worker's channel (the first worker's are closed by dropping them).
    #[cfg(target_os = "linux")]
    if let Some((i, o)) = super::fork::fork_siblings() {
        input = i;
        output = BufWriter::new(o);
        trace = StartupTrace::from_env();
        trace.mark("forked");
        write_frame(&mut output, &FromWorker::Forked { pid: std::process::id() })?;
    }
    let mut session = match interp.load(&setup.code) {
        Ok(s) => s,
        Err(e) => {
            write_frame(&mut output, &setup_failed(e.into()))?;
            return Ok(exit::ERROR);
        }
    };
    trace.mark("code");
    // --baseline: the old code (resolved again here: the parent checked it), and the
    // causes already explained against it by this worker (one baseline replay per cause).
    let mut baseline = match setup.baseline.as_deref().map(|spec| crate::baseline::resolve(spec, &setup.code)) {
        Some(Ok(old)) => Some(BaselineState { old, seen: std::collections::HashSet::new() }),
        Some(Err(e)) => {
            let failed = FromWorker::SetupFailed { kind: "baseline".into(), message: format!("{e:#}"), detail: String::new() };
            write_frame(&mut output, &failed)?;
            return Ok(exit::ERROR);
        }
        None => None,
    };
    trace.flush();
    write_frame(&mut output, &FromWorker::Ready { sdk: interp.sdk.clone(), registered: session.registered.clone() })?;

    while let Some(msg) = read_frame::<_, ToWorker>(&mut input).context("deja __worker: reading a request")? {
        match msg {
            ToWorker::Replay { id, path, file, lenient } => {
                trace.mark("waiting_for_work");
                replay_one(&interp, &mut session, baseline.as_mut(), &setup, render, id, (&path, &file), lenient, &mut output)?;
                trace.replayed();
            }
            ToWorker::Setup(_) => anyhow::bail!("deja __worker: setup sent twice"),
        }
    }
    output.flush()?;
    // The parent hung up: every answer is delivered. Leave without tearing Python down —
    // a replayer thread still blocked in workflow code (a deadlock the SDK gave up on)
    // must not hold the exit.
    // SAFETY: `_exit` ends the process immediately; nothing after it runs.
    unsafe { libc::_exit(i32::from(exit::OK)) }
}

/// Duplicate fds 0 and 1 for the protocol, then point fd 1 at stderr and fd 0 at
/// `/dev/null`: whatever user code prints lands on stderr, never inside a frame.
fn take_stdio() -> io::Result<(File, File)> {
    // SAFETY: plain fd syscalls on this process's own descriptors, before any other thread
    // (and before Python) exists; each result is checked.
    unsafe {
        let proto_in = libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3);
        let proto_out = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3);
        if proto_in < 0 || proto_out < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::dup2(2, 1) < 0 {
            return Err(io::Error::last_os_error());
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::close(null);
        }
        Ok((File::from_raw_fd(proto_in), File::from_raw_fd(proto_out)))
    }
}

/// Python, the SDK and the user's code, once. A failure here is the user's to fix and the
/// same for every history, so it is sent once as `setup_failed`.
/// `DEJA_STARTUP_TRACE=1` (a diagnostic for `bench/startup.py`, not a user feature): the
/// worker writes where its start-up went to stderr (when ready, then after its first
/// history) —
/// `exec` (spawn to `main`, from `DEJA_SPAWNED_AT_NS` set by the pool), `setup_read`,
/// `interpreter` (Python, site, `temporalio` import, harness), `code` (the user's import
/// and the replayer), `waiting_for_work`, `first_replay`.
struct StartupTrace {
    on: bool,
    last: std::time::Instant,
    parts: Vec<(&'static str, f64)>,
    seen: Vec<&'static str>,
    replays: usize,
}

impl StartupTrace {
    fn from_env() -> StartupTrace {
        let on = std::env::var_os("DEJA_STARTUP_TRACE").is_some_and(|v| v == "1");
        let mut parts = Vec::new();
        if on {
            let spawned = std::env::var("DEJA_SPAWNED_AT_NS").ok().and_then(|v| v.parse::<u128>().ok());
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            if let Some(s) = spawned {
                parts.push(("exec", now.saturating_sub(s) as f64 / 1e6));
            }
        }
        StartupTrace { on, last: std::time::Instant::now(), parts, seen: Vec::new(), replays: 0 }
    }

    fn mark(&mut self, what: &'static str) {
        if self.on && self.replays == 0 && !self.seen.contains(&what) {
            self.seen.push(what);
            let now = std::time::Instant::now();
            self.parts.push((what, (now - self.last).as_secs_f64() * 1e3));
            self.last = now;
        }
    }

    /// Write the parts so far (one line; a crash in the first replay loses nothing).
    fn flush(&mut self) {
        if self.on && !self.parts.is_empty() {
            let parts: Vec<String> = self.parts.drain(..).map(|(w, ms)| format!("{w}={ms:.1}")).collect();
            eprintln!("deja-startup-ms: {}", parts.join(" "));
        }
    }

    fn replayed(&mut self) {
        self.mark("first_replay");
        self.flush();
        self.replays += 1;
    }
}

fn setup_failed(e: ReplayError) -> FromWorker {
    let kind = match &e {
        ReplayError::Env(_) => "environment".into(),
        ReplayError::Embed(EmbedError::Harness { kind, .. }) => kind.as_str().into(),
        ReplayError::Embed(EmbedError::MissingSdk { .. }) => "missing-sdk".into(),
        ReplayError::Embed(EmbedError::Python { .. }) => "python".into(),
    };
    FromWorker::SetupFailed { kind, message: e.to_string(), detail: e.detail().to_string() }
}

/// The old code of `--baseline`, and the signatures this worker explained with it.
struct BaselineState {
    old: crate::baseline::OldCode,
    seen: std::collections::HashSet<String>,
}

#[allow(clippy::too_many_arguments)]
fn replay_one(
    interp: &Interpreter,
    session: &mut Session,
    baseline: Option<&mut BaselineState>,
    setup: &Setup,
    render: Render,
    id: u64,
    (path, file): (&str, &Path),
    lenient: bool,
    out: &mut impl Write,
) -> io::Result<()> {
    let h = match history::load_path(file, None) {
        Ok(h) => h,
        Err(e) if lenient && e.is_not_a_history() => {
            return write_frame(out, &FromWorker::Skipped { id, reason: e.to_string() });
        }
        Err(e) => {
            let sig = format!("invalid history: {}", load_error_kind(&e));
            let result = HistoryResult::error(path, kind::LOAD, e.to_string(), sig);
            return write_frame(out, &FromWorker::Done { id, result: Box::new(result) });
        }
    };
    write_frame(
        out,
        &FromWorker::Started {
            id,
            workflow_type: h.workflow_type().to_string(),
            workflow_id: h.workflow_id.clone(),
            events: h.events().len(),
        },
    )?;
    let result = match session.replay_explaining_failures(&h.encode(), &h.workflow_id) {
        Ok(outcome) => {
            let tl = Timeline::new(h.events());
            let mut report = ReplayReport::build(&h, &tl, &outcome);
            // Grouping is by the cause found without the baseline, so every history of a
            // group has the same signature whether or not it was explained against it.
            let signature = report.signature();
            if let Some(b) = baseline.filter(|_| report.verdict != deja_core::trace::Verdict::Pass)
                && b.seen.insert(signature.clone())
            {
                // The old code runs in a session of its own; the current code is imported
                // again afterwards (one user module of a name at a time).
                session.close();
                let base = crate::baseline::replay(interp, &b.old, (&h.encode(), &h.workflow_id), 0);
                *session = interp.load(&setup.code).map_err(|e| io::Error::other(format!("re-loading the workflow code after --baseline: {e}")))?;
                match base {
                    Ok(base) => report = ReplayReport::build_with(&h, &tl, &outcome, Some(&base)),
                    Err(e) => {
                        if let Some(c) = report.cause.as_mut() {
                            c.baseline = format!("baseline {}: could not be replayed: {e:#}", b.old.label);
                        }
                    }
                }
            }
            let mut result = result_of(path, &mut report, signature, &setup.drift);
            if !result.passed() {
                result.text = Some(render(&report, setup.verbose, setup.color));
                if setup.color && setup.plain_text {
                    result.plain = Some(render(&report, setup.verbose, false));
                }
            }
            if setup.report_json {
                result.report = serde_json::to_value(&report).ok();
            }
            result
        }
        Err(e) => harness_failed(path, &h, &e),
    };
    write_frame(out, &FromWorker::Done { id, result: Box::new(result) })
}

/// The compact result of a replayed history, after the drift policy: grouped under
/// `signature` (the cause found without a baseline) unless replay passed, when a history
/// failed by drift keeps its drift signature. Shared with `deja shadow`'s replay activity.
pub fn result_of(path: &str, report: &mut ReplayReport, signature: String, drift: &deja_core::diff::drift::DriftPolicy) -> HistoryResult {
    report.apply_drift_policy(drift);
    let mut result = HistoryResult::from_report(path, report);
    if report.verdict != deja_core::trace::Verdict::Pass {
        result.signature = signature;
    }
    result
}

/// The result for a history the harness itself failed on (a deja bug or an SDK surprise).
pub fn harness_failed(path: &str, h: &deja_core::history::LoadedHistory, e: &EmbedError) -> HistoryResult {
    let sig = format!("{} error harness", h.workflow_type());
    let mut r = HistoryResult::error(path, kind::HARNESS, format!("deja's replay harness failed: {e}"), sig);
    r.workflow_type = Some(h.workflow_type().to_string());
    r.workflow_id = Some(h.workflow_id.clone());
    r.events = Some(h.events().len());
    r
}

/// A short name per load problem, so 300 truncated files read as one group.
fn load_error_kind(e: &LoadError) -> &'static str {
    match e {
        LoadError::Io { .. } => "unreadable file",
        LoadError::Syntax { .. } => "malformed JSON",
        LoadError::Truncated { .. } => "truncated JSON",
        LoadError::UnknownEnum { .. } => "unknown enum value",
        LoadError::DecodedExport { .. } => "decoded (readable) export",
        LoadError::NotAHistory { .. } | LoadError::BrokenHistory { .. } => "not a workflow history",
        LoadError::Empty { .. } => "no events",
        LoadError::EmptyFile { .. } => "empty file",
        LoadError::OutOfOrder { .. } => "events out of order",
        LoadError::BadEvent { .. } => "bad event",
        LoadError::BadBinary { .. } => "bad binary protobuf",
    }
}
