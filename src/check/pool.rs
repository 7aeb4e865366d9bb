//! The parent side of `deja check`: N worker processes fed from one queue.
//!
//! * **Dynamic distribution.** Each worker holds exactly one history at a time; when it
//!   answers, it gets the next one from the shared queue. A static split would leave a
//!   core idle as soon as one half runs out (measured: halves of 1.7 s and 3.1 s).
//! * **Containment.** A worker that dies (any signal, any exit status, a closed pipe) is
//!   reaped, the history it held is reported as an `error` with the cause and the tail of
//!   the worker's stderr (Python's faulthandler prints the stack of a segfault there), and
//!   a fresh worker takes its place. A history over `--timeout` gets its worker killed
//!   (SIGKILL) and replaced the same way. Workers get `PR_SET_PDEATHSIG`, so a killed
//!   `deja check` does not leave them behind.
//! * **Start-up shared, and only when it pays** (`super::fork`): the first worker is
//!   spawned, the others are forked from it once its interpreter is up; without `--jobs`
//!   no more workers start than the histories' bytes justify ([`workers_for`]).
//! * **No wasted start-up.** When the queue drains while a worker is still starting (a
//!   small set: the first worker finished everything), that worker is stopped at once
//!   instead of competing for CPU with the workers replaying the last histories.
//! * **One message for a broken setup.** Every worker imports the same code; the first
//!   `setup_failed` stops the run with that one message instead of one per history.
//!
//! Threads: one reader per worker stdout (frames → a channel) and one per worker stderr
//! (a bounded tail); the calling thread owns all processes, the queue and the deadlines,
//! and is the only one that reports.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, BufWriter, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::fs::File;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::protocol::{FromWorker, Setup, ToWorker, read_frame, write_frame};
use deja_core::model::result::{HistoryResult, WorkerTail, kind};
use deja_core::trace::Frame;

/// Lines of a worker's stderr kept for crash reports (a faulthandler dump of every
/// thread is long; the part worth showing is picked out of it).
const TAIL_LINES: usize = 200;
/// Lines of plain stderr shown in a crash report when there is no faulthandler dump.
const SHOWN_LINES: usize = 15;
/// How long a worker may take to exit after its stdin closes before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// How to run the workers.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub jobs: usize,
    /// `jobs` is the default (one per core), not asked for: start fewer workers when the
    /// histories are too few bytes to pay for another worker's start-up ([`workers_for`]).
    pub adaptive: bool,
    /// Per-history limit (`--timeout`).
    pub timeout: Duration,
    /// Limit for a worker to import the code and report ready.
    pub startup_timeout: Duration,
    pub setup: Setup,
    /// The `deja` binary (this one).
    pub exe: PathBuf,
    /// Copy workers' stderr to ours (`-vv`), prefixed by worker number.
    pub echo_stderr: bool,
}

/// One history to check.
#[derive(Clone, Debug)]
pub struct Job {
    /// The file as reports name it.
    pub path: String,
    /// The file itself (its name need not be UTF-8).
    pub file: PathBuf,
    pub lenient: bool,
    /// Bytes on disk (0 when unknown): how much replay work it is, roughly.
    pub size: u64,
}

/// History bytes that justify one more worker when `--jobs` is not given: small histories
/// replay at very roughly 1 ms per 1–4 KB, so a worker whose share is under ~128 KB would
/// spend about as long starting as replaying (bench/startup.py: 3 small histories ran
/// slower with a second worker, 50 ran faster).
pub const BYTES_PER_WORKER: u64 = 128 * 1024;

/// How many workers a run of these histories starts: `jobs`, at most one per history, and
/// with `adaptive`, at most one per [`BYTES_PER_WORKER`] of history (at least one).
pub fn workers_for(jobs: usize, adaptive: bool, histories: &[Job]) -> usize {
    let mut n = jobs.min(histories.len());
    if adaptive {
        let bytes: u64 = histories.iter().map(|j| j.size).sum();
        n = n.min(usize::try_from(bytes.div_ceil(BYTES_PER_WORKER)).unwrap_or(usize::MAX));
    }
    n.max(1)
}

/// What the pool reports while it runs.
#[derive(Debug)]
pub enum PoolEvent<'a> {
    Ready { sdk: &'a deja_core::trace::SdkInfo, registered: &'a [String] },
    Finished(Box<HistoryResult>),
    Skipped { path: &'a str, reason: &'a str },
}

/// Whether to go on after an event (`--fail-fast` says stop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Why a run could not go on at all.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The workflow code or the Python environment is broken (same for every history).
    #[error("{message}")]
    Setup { kind: String, message: String, detail: String },
    #[error("cannot start a worker process ({exe} __worker): {error}")]
    Spawn { exe: String, error: std::io::Error },
    #[error("a worker process died while loading the workflow code: {status}{tail}")]
    StartupCrash { status: String, tail: String },
    #[error(
        "worker processes keep dying between histories (last one: {status}); does the workflow code \
         exit or crash from a background thread or at import?{tail}"
    )]
    WorkersDying { status: String, tail: String },
    #[error(
        "no worker finished loading the workflow code within {secs} s; does importing it hang \
         (network calls or blocking work at import time)? `deja replay` on one history shows the same with a traceback"
    )]
    StartupTimeout { secs: u64 },
    /// A reporter failed (e.g. writing the JSON file).
    #[error(transparent)]
    Report(#[from] anyhow::Error),
}

/// How a run ended.
#[derive(Debug, Default)]
pub struct PoolOutcome {
    /// Histories never started, or stopped in flight (fail-fast).
    pub not_run: usize,
    /// The run was stopped early by the event handler (fail-fast).
    pub stopped: bool,
}

struct Started {
    workflow_type: String,
    workflow_id: String,
    events: usize,
}

enum State {
    Starting { since: Instant },
    Idle,
    Busy { id: u64, job: Job, since: Instant, started: Option<Started> },
    Gone,
}

struct Worker {
    epoch: u64,
    child: Proc,
    stdin: Option<BufWriter<File>>,
    state: State,
    tail: Arc<Mutex<VecDeque<String>>>,
}

/// A worker process: spawned by the pool, or forked from the first worker (`super::fork`)
/// and re-parented to the pool — its pid arrives in its first frame.
enum Proc {
    Spawned(Child),
    Forked { pid: Option<i32>, status: Option<ExitStatus> },
}

impl Proc {
    fn kill(&mut self) -> std::io::Result<()> {
        match self {
            Proc::Spawned(c) => c.kill(),
            Proc::Forked { pid: Some(pid), status: None } => {
                // SAFETY: a signal to our own, not yet reaped child (so the pid is not reused).
                unsafe { libc::kill(*pid, libc::SIGKILL) };
                Ok(())
            }
            Proc::Forked { .. } => Ok(()),
        }
    }

    fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        match self {
            Proc::Spawned(c) => c.try_wait(),
            Proc::Forked { status: Some(s), .. } => Ok(Some(*s)),
            Proc::Forked { pid: Some(pid), status } => {
                let mut raw = 0;
                // SAFETY: waitpid on our own child (a subreaper's re-parented one).
                match unsafe { libc::waitpid(*pid, &mut raw, libc::WNOHANG) } {
                    0 => Ok(None),
                    r if r == *pid => {
                        *status = Some(ExitStatus::from_raw(raw));
                        Ok(*status)
                    }
                    _ => Err(std::io::Error::last_os_error()),
                }
            }
            Proc::Forked { pid: None, .. } => Err(std::io::Error::other("a forked worker that never said its pid")),
        }
    }

    fn wait(&mut self) -> std::io::Result<ExitStatus> {
        if let Proc::Spawned(c) = self {
            return c.wait();
        }
        loop {
            match self.try_wait()? {
                Some(s) => return Ok(s),
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    }

    /// A forked worker whose pid never came: the fork did not happen (or the first worker
    /// died before it), so nothing ran in this slot.
    fn never_forked(&self) -> bool {
        matches!(self, Proc::Forked { pid: None, .. })
    }
}

struct Msg {
    slot: usize,
    epoch: u64,
    body: Body,
}

enum Body {
    Frame(FromWorker),
    /// The worker's stdout ended (it exited or died), with a read error if any.
    Closed(Option<String>),
}

/// Run every job through the workers; `on_event` sees each result as it arrives.
///
/// `feed`, when given, streams more jobs while the pool runs (histories arriving from a
/// server download); the run ends when the feed's sender is dropped and all is done.
pub fn run(
    cfg: &PoolConfig,
    jobs: Vec<Job>,
    feed: Option<Receiver<Job>>,
    on_event: &mut dyn FnMut(PoolEvent<'_>) -> anyhow::Result<Flow>,
) -> Result<PoolOutcome, PoolError> {
    let mut pool = Pool::new(cfg);
    let result = pool.drive(jobs, feed, on_event);
    pool.shutdown();
    result
}

struct Pool<'c> {
    cfg: &'c PoolConfig,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    workers: Vec<Worker>,
    next_epoch: u64,
    /// Workers that died without holding a history; a few are bad luck, many mean they
    /// cannot live at all (e.g. code that exits from a background thread) — then stop.
    idle_deaths: usize,
}

impl<'c> Pool<'c> {
    fn new(cfg: &'c PoolConfig) -> Pool<'c> {
        let (tx, rx) = mpsc::channel();
        Pool { cfg, tx, rx, workers: Vec::new(), next_epoch: 0, idle_deaths: 0 }
    }

    fn drive(
        &mut self,
        jobs: Vec<Job>,
        mut feed: Option<Receiver<Job>>,
        on_event: &mut dyn FnMut(PoolEvent<'_>) -> anyhow::Result<Flow>,
    ) -> Result<PoolOutcome, PoolError> {
        let planned = workers_for(self.cfg.jobs, self.cfg.adaptive, &jobs);
        let mut queue: VecDeque<(u64, Job)> = jobs.into_iter().enumerate().map(|(i, j)| (i as u64, j)).collect();
        let mut next_id = queue.len() as u64;
        if queue.is_empty() && feed.is_none() {
            return Ok(PoolOutcome::default());
        }
        let workers = if feed.is_some() { self.cfg.jobs.max(1) } else { planned };
        // The first worker is spawned; the others are forked from it once its interpreter
        // is up (`super::fork`), unless forking is off or unavailable.
        let forks: Vec<usize> = if fork_enabled() { (1..workers).collect() } else { Vec::new() };
        let (first, forked) = self.spawn_with(0, &forks)?;
        self.workers.push(first);
        self.workers.extend(forked);
        for slot in self.workers.len()..workers {
            let w = self.spawn(slot)?;
            self.workers.push(w);
        }
        let mut ready_seen = false;
        loop {
            if let Some(rx) = &feed {
                loop {
                    match rx.try_recv() {
                        Ok(job) => {
                            queue.push_back((next_id, job));
                            next_id += 1;
                        }
                        Err(std::sync::mpsc::TryRecvError::Empty) => break,
                        Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                            feed = None;
                            break;
                        }
                    }
                }
            }
            self.dispatch(&mut queue);
            if queue.is_empty() && feed.is_none() {
                self.retire_starting();
            }
            let busy = self.workers.iter().filter(|w| matches!(w.state, State::Busy { .. })).count();
            if busy == 0 && queue.is_empty() && feed.is_none() {
                return Ok(PoolOutcome::default());
            }
            let cap = if feed.is_some() { Duration::from_millis(50) } else { Duration::from_secs(1) };
            let wait = self.next_deadline(!queue.is_empty()).map_or(cap, |d| d.saturating_duration_since(Instant::now()).min(cap));
            let mut flow = Flow::Continue;
            match self.rx.recv_timeout(wait) {
                Ok(msg) => flow = self.handle(msg, &mut queue, &mut ready_seen, on_event)?,
                // The pool holds a sender for its whole life, so the channel cannot
                // disconnect; a timeout just means "check the deadlines".
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
            if flow == Flow::Continue {
                flow = self.enforce_deadlines(&mut queue, on_event)?;
            }
            if flow == Flow::Stop {
                // In-flight histories will not be reported: stop their workers now.
                let killed = self.kill_busy();
                return Ok(PoolOutcome { not_run: queue.len() + killed, stopped: true });
            }
        }
    }

    /// Give every idle worker the next history.
    fn dispatch(&mut self, queue: &mut VecDeque<(u64, Job)>) {
        for slot in 0..self.workers.len() {
            if !matches!(self.workers[slot].state, State::Idle) {
                continue;
            }
            let Some((id, job)) = queue.pop_front() else { return };
            let msg = ToWorker::Replay { id, path: job.path.clone(), file: job.file.clone(), lenient: job.lenient };
            let w = &mut self.workers[slot];
            let sent = match w.stdin.as_mut() {
                Some(stdin) => write_frame(stdin, &msg).is_ok(),
                None => false,
            };
            if sent {
                w.state = State::Busy { id, job, since: Instant::now(), started: None };
            } else {
                // The worker is gone (its exit is on its way through the channel); the job
                // goes back to the front and the exit is handled as an idle death.
                queue.push_front((id, job));
                w.stdin = None;
                return;
            }
        }
    }

    /// The earliest moment something times out.
    fn next_deadline(&self, work_left: bool) -> Option<Instant> {
        self.workers
            .iter()
            .filter_map(|w| match &w.state {
                State::Busy { since, .. } => Some(*since + self.cfg.timeout),
                State::Starting { since } if work_left => Some(*since + self.cfg.startup_timeout),
                _ => None,
            })
            .min()
    }

    fn handle(
        &mut self,
        msg: Msg,
        queue: &mut VecDeque<(u64, Job)>,
        ready_seen: &mut bool,
        on_event: &mut dyn FnMut(PoolEvent<'_>) -> anyhow::Result<Flow>,
    ) -> Result<Flow, PoolError> {
        let Some(w) = self.workers.get_mut(msg.slot) else { return Ok(Flow::Continue) };
        if w.epoch != msg.epoch {
            return Ok(Flow::Continue); // a replaced worker's last words
        }
        match msg.body {
            Body::Frame(FromWorker::Forked { pid }) => {
                if let Proc::Forked { pid: p @ None, .. } = &mut w.child {
                    *p = i32::try_from(pid).ok();
                }
                Ok(Flow::Continue)
            }
            Body::Frame(FromWorker::Ready { sdk, registered }) => {
                w.state = State::Idle;
                if !*ready_seen {
                    *ready_seen = true;
                    return Ok(on_event(PoolEvent::Ready { sdk: &sdk, registered: &registered })?);
                }
                Ok(Flow::Continue)
            }
            Body::Frame(FromWorker::SetupFailed { kind, message, detail }) => Err(PoolError::Setup { kind, message, detail }),
            Body::Frame(FromWorker::Started { id, workflow_type, workflow_id, events }) => {
                if let State::Busy { id: busy_id, started, .. } = &mut w.state
                    && *busy_id == id
                {
                    *started = Some(Started { workflow_type, workflow_id, events });
                }
                Ok(Flow::Continue)
            }
            Body::Frame(FromWorker::Done { id, result }) => {
                if !matches!(w.state, State::Busy { id: busy_id, .. } if busy_id == id) {
                    return Ok(Flow::Continue);
                }
                w.state = State::Idle;
                Ok(on_event(PoolEvent::Finished(result))?)
            }
            Body::Frame(FromWorker::Skipped { id, reason }) => {
                let State::Busy { id: busy_id, job, .. } = std::mem::replace(&mut w.state, State::Idle) else {
                    return Ok(Flow::Continue);
                };
                if busy_id != id {
                    return Ok(Flow::Continue);
                }
                Ok(on_event(PoolEvent::Skipped { path: &job.path, reason: &reason })?)
            }
            Body::Closed(_) if w.child.never_forked() => {
                // Nothing ran in this slot (the first worker did not fork it): start it the
                // ordinary way if there is work for it.
                w.state = State::Gone;
                w.stdin = None;
                if !queue.is_empty() {
                    self.respawn(msg.slot)?;
                }
                Ok(Flow::Continue)
            }
            Body::Closed(read_error) => {
                let status = reap(&mut w.child);
                let tail = take_tail(&w.tail);
                let state = std::mem::replace(&mut w.state, State::Gone);
                w.stdin = None;
                match state {
                    State::Busy { job, started, .. } => {
                        let result = crash_result(&job, started.as_ref(), &status, read_error.as_deref(), &tail);
                        let flow = on_event(PoolEvent::Finished(Box::new(result)))?;
                        if flow == Flow::Continue && !queue.is_empty() {
                            self.respawn(msg.slot)?;
                        }
                        Ok(flow)
                    }
                    State::Starting { .. } => Err(PoolError::StartupCrash { status: describe_status(&status), tail: worker_tail(&tail).map(|t| t.indented()).unwrap_or_default() }),
                    State::Idle | State::Gone => {
                        self.idle_deaths += 1;
                        if self.idle_deaths > 3 * self.cfg.jobs.max(1) {
                            return Err(PoolError::WorkersDying { status: describe_status(&status), tail: worker_tail(&tail).map(|t| t.indented()).unwrap_or_default() });
                        }
                        if !queue.is_empty() {
                            self.respawn(msg.slot)?;
                        }
                        Ok(Flow::Continue)
                    }
                }
            }
        }
    }

    /// Kill workers whose history ran over `--timeout`; fail when none starts in time.
    fn enforce_deadlines(
        &mut self,
        queue: &mut VecDeque<(u64, Job)>,
        on_event: &mut dyn FnMut(PoolEvent<'_>) -> anyhow::Result<Flow>,
    ) -> Result<Flow, PoolError> {
        let now = Instant::now();
        for slot in 0..self.workers.len() {
            let over = match &self.workers[slot].state {
                State::Busy { since, .. } => now.duration_since(*since) >= self.cfg.timeout,
                State::Starting { since } => {
                    if !queue.is_empty() && now.duration_since(*since) >= self.cfg.startup_timeout {
                        return Err(PoolError::StartupTimeout { secs: self.cfg.startup_timeout.as_secs() });
                    }
                    false
                }
                _ => false,
            };
            if !over {
                continue;
            }
            let w = &mut self.workers[slot];
            let _ = w.child.kill();
            let _ = w.child.wait();
            w.stdin = None;
            let State::Busy { job, started, .. } = std::mem::replace(&mut w.state, State::Gone) else { continue };
            let result = timeout_result(&job, started.as_ref(), self.cfg.timeout);
            if on_event(PoolEvent::Finished(Box::new(result)))? == Flow::Stop {
                return Ok(Flow::Stop);
            }
            if !queue.is_empty() {
                self.respawn(slot)?;
            }
        }
        Ok(Flow::Continue)
    }

    fn spawn(&mut self, slot: usize) -> Result<Worker, PoolError> {
        Ok(self.spawn_with(slot, &[])?.0)
    }

    /// Spawn a worker for `slot`; with `forks`, also hand it the pipes of those slots to
    /// fork workers into (`super::fork`) and return their (still starting) workers.
    fn spawn_with(&mut self, slot: usize, forks: &[usize]) -> Result<(Worker, Vec<Worker>), PoolError> {
        self.next_epoch += 1;
        let epoch = self.next_epoch;
        let launch = super::launch::WorkerLaunch::current()
            .map_err(|error| PoolError::Spawn { exe: self.cfg.exe.display().to_string(), error })?;
        let exe = launch.describe();
        let spawn_err = |error| PoolError::Spawn { exe: exe.clone(), error };
        #[cfg(target_os = "linux")]
        let (fork_parents, fork_fds) = {
            let mut parents = Vec::new();
            let mut fds = Vec::new();
            if !forks.is_empty() && super::fork::become_subreaper() {
                for _ in forks {
                    let (p, c) = super::fork::slot_pipes().map_err(spawn_err)?;
                    parents.push(p);
                    fds.push(c);
                }
            }
            (parents, fds)
        };
        let mut cmd = launch.command();
        cmd.arg("__worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A segfault then prints the Python stack of every thread to stderr, which
            // ends up in the crash report.
            .env("PYTHONFAULTHANDLER", "1");
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            cmd.env("DEJA_SPAWNED_AT_NS", t.as_nanos().to_string()); // for DEJA_STARTUP_TRACE
        }
        #[cfg(target_os = "linux")]
        {
            cmd.env_remove(super::fork::ENV);
            if !fork_fds.is_empty() {
                cmd.env(super::fork::ENV, super::fork::env_value(&fork_fds));
            }
            let keep = fork_fds.clone();
            // SAFETY: prctl and fcntl are async-signal-safe; this runs in the child between
            // fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    super::fork::inherit(&keep)
                });
            }
        }
        let spawned = cmd.spawn();
        #[cfg(target_os = "linux")]
        super::fork::close_child_ends(&fork_fds);
        let mut child = spawned.map_err(spawn_err)?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            return Err(spawn_err(std::io::Error::other("stdio pipes missing")));
        };
        let mut stdin = BufWriter::new(File::from(std::os::fd::OwnedFd::from(stdin)));
        if let Err(e) = write_frame(&mut stdin, &ToWorker::Setup(self.cfg.setup.clone())) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(spawn_err(e));
        }
        let first = self.watch(slot, epoch, Proc::Spawned(child), stdin, stdout, stderr).map_err(spawn_err)?;
        let mut forked = Vec::new();
        #[cfg(target_os = "linux")]
        for (p, &fslot) in fork_parents.into_iter().zip(forks) {
            self.next_epoch += 1;
            let e = self.next_epoch;
            let w = self.watch(fslot, e, Proc::Forked { pid: None, status: None }, BufWriter::new(p.stdin), p.stdout, p.stderr).map_err(spawn_err)?;
            forked.push(w);
        }
        Ok((first, forked))
    }

    /// Reader threads for a worker's stdout (frames) and stderr (the tail).
    fn watch(
        &self,
        slot: usize,
        epoch: u64,
        child: Proc,
        stdin: BufWriter<File>,
        stdout: impl Read + Send + 'static,
        stderr: impl Read + Send + 'static,
    ) -> std::io::Result<Worker> {
        let tx = self.tx.clone();
        std::thread::Builder::new().name(format!("deja-worker-{slot}-out")).spawn(move || read_frames(stdout, slot, epoch, tx))?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail2 = Arc::clone(&tail);
        let echo = self.cfg.echo_stderr;
        std::thread::Builder::new().name(format!("deja-worker-{slot}-err")).spawn(move || read_stderr(stderr, slot, echo, tail2))?;
        Ok(Worker { epoch, child, stdin: Some(stdin), state: State::Starting { since: Instant::now() }, tail })
    }

    /// The queue has drained: a worker still starting would never get a history, and its
    /// start-up only takes CPU from the workers finishing the last ones — stop it now.
    fn retire_starting(&mut self) {
        for w in &mut self.workers {
            if matches!(w.state, State::Starting { .. }) {
                let _ = w.child.kill();
                let _ = w.child.wait();
                w.stdin = None;
                w.state = State::Gone;
                w.epoch = 0; // its reader's `Closed` is not a worker death
            }
        }
    }

    fn respawn(&mut self, slot: usize) -> Result<(), PoolError> {
        let w = self.spawn(slot)?;
        self.workers[slot] = w;
        Ok(())
    }

    /// Kill the workers holding a history; returns how many histories that drops.
    fn kill_busy(&mut self) -> usize {
        let mut n = 0;
        for w in &mut self.workers {
            if matches!(w.state, State::Busy { .. }) {
                let _ = w.child.kill();
                let _ = w.child.wait();
                w.state = State::Gone;
                w.stdin = None;
                n += 1;
            }
        }
        n
    }

    /// Close every worker's stdin (idle ones exit on their own), kill the rest: nothing
    /// they hold will be reported any more.
    fn shutdown(&mut self) {
        for w in &mut self.workers {
            w.stdin = None;
            if !matches!(w.state, State::Idle) {
                let _ = w.child.kill();
            }
        }
        let deadline = Instant::now() + EXIT_GRACE;
        for w in &mut self.workers {
            loop {
                match w.child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                    Ok(None) => {
                        let _ = w.child.kill();
                        let _ = w.child.wait();
                        break;
                    }
                }
            }
        }
    }
}

/// Whether the pool may fork workers from the first one (`DEJA_WORKER_FORK=0` turns it
/// off: every worker is spawned and starts its own interpreter).
fn fork_enabled() -> bool {
    cfg!(target_os = "linux") && std::env::var_os("DEJA_WORKER_FORK").is_none_or(|v| v != "0")
}

fn read_frames(stdout: impl Read, slot: usize, epoch: u64, tx: Sender<Msg>) {
    let mut r = BufReader::new(stdout);
    loop {
        let body = match read_frame::<_, FromWorker>(&mut r) {
            Ok(Some(f)) => Body::Frame(f),
            Ok(None) => Body::Closed(None),
            Err(e) => Body::Closed(Some(e.to_string())),
        };
        let last = matches!(body, Body::Closed(_));
        if tx.send(Msg { slot, epoch, body }).is_err() || last {
            return;
        }
    }
}

fn read_stderr(stderr: impl Read, slot: usize, echo: bool, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut r = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf).trim_end().to_string();
        if echo {
            eprintln!("[worker {}] {}", slot + 1, crate::style::Untrusted(&line));
        }
        if let Ok(mut t) = tail.lock() {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(line.chars().take(400).collect());
        }
    }
}

/// Wait for a worker whose stdout closed; kill it if it lingers.
fn reap(child: &mut Proc) -> Option<ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                return child.wait().ok();
            }
            Err(_) => return None,
        }
    }
}

fn take_tail(tail: &Arc<Mutex<VecDeque<String>>>) -> Vec<String> {
    // The stderr reader may still be draining the pipe; give it a moment.
    std::thread::sleep(Duration::from_millis(20));
    tail.lock().map(|t| t.iter().cloned().collect()).unwrap_or_default()
}

/// The part of a dead worker's stderr worth showing: from a faulthandler dump, the fatal
/// error line and the crashing thread's innermost frame plus the user's frames; otherwise
/// the last lines.
fn worker_tail(tail: &[String]) -> Option<WorkerTail> {
    let (title, lines): (&str, Vec<&str>) = match current_thread(tail) {
        Some((fatal, block)) => {
            let mut lines = vec![fatal];
            for (i, l) in block.iter().enumerate() {
                if i == 0 || parse_file_line(l).is_some_and(|f| is_user_file(&f.file)) {
                    lines.push(l.trim());
                }
            }
            ("Python's faulthandler (innermost call first):", lines)
        }
        None => ("last lines the worker wrote to stderr:", tail.iter().rev().take(SHOWN_LINES).rev().map(String::as_str).collect()),
    };
    if lines.is_empty() {
        return None;
    }
    Some(WorkerTail { title: title.to_string(), lines: lines.into_iter().map(str::to_string).collect() })
}

/// `("Fatal Python error: …", frames of the crashing thread)` from a faulthandler dump.
fn current_thread(tail: &[String]) -> Option<(&str, &[String])> {
    let fatal = tail.iter().rposition(|l| l.starts_with("Fatal Python error"))?;
    let rest = &tail[fatal..];
    let start = rest
        .iter()
        .position(|l| l.starts_with("Current thread"))
        .or_else(|| rest.iter().position(|l| l.starts_with("Thread 0x")))?
        + 1;
    let len = rest[start..].iter().position(|l| l.trim().is_empty()).unwrap_or(rest.len() - start);
    Some((tail[fatal].as_str(), &rest[start..start + len]))
}

/// `signal 11 (SIGSEGV)`, `exit status 3`.
pub fn describe_status(status: &Option<ExitStatus>) -> String {
    let Some(status) = status else { return "it vanished (exit status unknown)".into() };
    if let Some(sig) = status.signal() {
        let name = match sig {
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGBUS => "SIGBUS",
            libc::SIGABRT => "SIGABRT",
            libc::SIGILL => "SIGILL",
            libc::SIGFPE => "SIGFPE",
            libc::SIGKILL => "SIGKILL; the kernel's out-of-memory killer sends this",
            libc::SIGTERM => "SIGTERM",
            libc::SIGINT => "SIGINT",
            _ => "",
        };
        return if name.is_empty() { format!("signal {sig}") } else { format!("signal {sig} ({name})") };
    }
    match status.code() {
        Some(c) => format!("exit status {c}"),
        None => "it stopped".into(),
    }
}

fn what(job: &Job, started: Option<&Started>) -> String {
    match started {
        Some(s) => format!("{} {} ({} events, {})", s.workflow_type, s.workflow_id, s.events, job.path),
        None => format!("{} (while loading it)", job.path),
    }
}

fn base_result(job: &Job, started: Option<&Started>, kind: &str, message: String, signature: String) -> HistoryResult {
    let mut r = HistoryResult::error(&job.path, kind, message, signature);
    if let Some(s) = started {
        r.workflow_type = Some(s.workflow_type.clone());
        r.workflow_id = Some(s.workflow_id.clone());
        r.events = Some(s.events);
    }
    r
}

fn crash_result(job: &Job, started: Option<&Started>, status: &Option<ExitStatus>, read_error: Option<&str>, tail: &[String]) -> HistoryResult {
    let how = describe_status(status);
    let hint = match status.and_then(|s| s.code()) {
        Some(_) => "; workflow code called os._exit() or the interpreter exited",
        None if status.and_then(|s| s.signal()) == Some(libc::SIGKILL) => "; out of memory?",
        None => "; workflow code (or a C extension it calls) crashed the Python interpreter",
    };
    let mut message = format!("worker crashed: {how} while replaying {}{hint}", what(job, started));
    if let Some(e) = read_error {
        message.push_str(&format!(" (protocol: {e})"));
    }
    let location = faulthandler_frame(tail);
    let wf = started.map(|s| s.workflow_type.as_str()).unwrap_or("(unloaded)");
    let mut signature = format!("{wf} error crash: {}", how.split(';').next().unwrap_or(&how));
    if let Some(f) = &location {
        signature.push_str(&format!(" at {}:{}", deja_core::display_path(&f.file), f.line));
    }
    let mut r = base_result(job, started, kind::CRASH, message, signature);
    r.location = location;
    r.worker_tail = worker_tail(tail);
    r
}

fn timeout_result(job: &Job, started: Option<&Started>, limit: Duration) -> HistoryResult {
    let secs = limit.as_secs_f64();
    let message = format!(
        "timed out after {secs} s replaying {} (--timeout {secs}); the worker was killed and replaced. \
         Blocking workflow code? `deja replay` on this history shows where it blocks",
        what(job, started)
    );
    let wf = started.map(|s| s.workflow_type.as_str()).unwrap_or("(unloaded)");
    let signature = format!("{wf} error timeout");
    base_result(job, started, kind::TIMEOUT, message, signature)
}

/// The innermost user frame of the crashing thread in a faulthandler dump.
fn faulthandler_frame(tail: &[String]) -> Option<Frame> {
    let (_, block) = current_thread(tail)?;
    let mut f = block.iter().filter_map(|l| parse_file_line(l)).find(|f| is_user_file(&f.file))?;
    if let Ok(text) = std::fs::read_to_string(&f.file) {
        f.code = text.lines().nth(f.line.saturating_sub(1) as usize).unwrap_or("").trim().to_string();
    }
    Some(f)
}

/// `  File "x.py", line 27 in run` (faulthandler's format).
fn parse_file_line(line: &str) -> Option<Frame> {
    let rest = line.trim().strip_prefix("File \"")?;
    let (file, rest) = rest.split_once("\", line ")?;
    let (num, func) = rest.split_once(" in ").unwrap_or((rest, ""));
    let line_no = num.trim().parse::<u32>().ok()?;
    Some(Frame { file: file.to_string(), line: line_no, function: func.trim().to_string(), code: String::new() })
}

/// Not the SDK, the standard library, site-packages, deja's harness or generated code.
fn is_user_file(file: &str) -> bool {
    !(file.starts_with('<')
        || file.starts_with("deja_harness/")
        || file == "deja_bootstrap.py"
        || file.contains("/site-packages/")
        || file.contains("/dist-packages/")
        || file.contains("/lib/python3"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_small_histories_get_one_worker_unless_jobs_is_given() {
        let job = |size| Job { path: "h.json".into(), file: "h.json".into(), lenient: false, size };
        let three: Vec<Job> = (0..3).map(|_| job(12_000)).collect();
        assert_eq!(workers_for(2, true, &three), 1);
        assert_eq!(workers_for(2, false, &three), 2, "an explicit --jobs is kept");
        let fifty: Vec<Job> = (0..50).map(|_| job(12_000)).collect();
        assert_eq!(workers_for(2, true, &fifty), 2);
        assert_eq!(workers_for(8, true, &fifty), 5);
        assert_eq!(workers_for(4, true, &[job(8_000_000)]), 1);
        assert_eq!(workers_for(4, true, &[]), 1);
    }

    #[test]
    fn finds_the_user_frame_in_a_faulthandler_dump() {
        let tail: Vec<String> = [
            "Fatal Python error: Segmentation fault",
            "",
            "Current thread 0x00007f (most recent call first):",
            "  File \"/usr/lib/python3.11/ctypes/__init__.py\", line 519 in string_at",
            "  File \"/repo/tests/fixtures/code/hazards/segfault_workflow.py\", line 27 in run",
            "  File \"/repo/.venv/lib/python3.11/site-packages/temporalio/worker/_workflow_instance.py\", line 9 in x",
        ]
        .map(String::from)
        .to_vec();
        let f = faulthandler_frame(&tail).unwrap();
        assert_eq!((f.file.as_str(), f.line, f.function.as_str()), ("/repo/tests/fixtures/code/hazards/segfault_workflow.py", 27, "run"));
        assert!(faulthandler_frame(&tail[..4]).is_none());
        let shown = worker_tail(&tail).map(|t| t.lines.join("\n")).unwrap_or_default();
        assert!(shown.contains("string_at") && shown.contains("segfault_workflow.py") && !shown.contains("temporalio"), "{shown}");
    }

    #[test]
    fn exit_statuses_read_well() {
        assert_eq!(describe_status(&Some(ExitStatus::from_raw(11))), "signal 11 (SIGSEGV)");
        assert_eq!(describe_status(&Some(ExitStatus::from_raw(3 << 8))), "exit status 3");
        assert!(describe_status(&None).contains("unknown"));
    }
}
