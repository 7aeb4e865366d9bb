//! `deja check PATH...`: the CI gate. Resolves flags and `[tool.deja]` into a plan,
//! discovers the histories, runs them through the worker pool and feeds every result to
//! the reporters (see `crate::check` for the design).

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::source::discover::{Candidate, discover};
use deja_core::model::events::{CheckEvent, Fanout, Reporter};
use crate::report::github::GithubReporter;
use crate::report::json::JsonReporter;
use crate::source::partition::Partition;
use crate::check::many;
use crate::check::pool::{self, Flow, Job, PoolConfig, PoolError, PoolEvent};
use crate::check::protocol::Setup;
use deja_core::model::summary::Summary;
use crate::cli::{CheckArgs, OutputFormat};
use crate::replay::pyenv;
use crate::report::check_text::{TextOptions, TextReporter};
use crate::report::files::{self as report_files, Kind};
use crate::report::junit::JunitReporter;
use crate::style::Styles;

/// `deja check --help`: what the flags alone do not say.
pub const AFTER_LONG_HELP: &str = "\
Inputs: a file is checked as named; a directory is searched recursively for .json, .binpb and .pb \
files; a glob (quote it: 'histories/**/*.json') is expanded. In directory walks and glob matches a \
JSON file with no `events` list (manifest.json, package.json) is skipped and listed with -v; a broken \
history is always an error. With no PATH, `histories = [...]` from [tool.deja] is used.

Named workers: with [tool.deja.workers.NAME] tables (and no --workflows), every worker replays \
the histories it claims (by path, recorded task queue or workflow type) with its own code in its own \
processes; one summary, a JUnit testsuite and a JSON `worker` per worker. A history no worker claims, \
or two claim, stops the run with exit 2 naming the files and the choices. --worker NAME runs one.

Containment: every worker is its own process with its own Python. A history whose code crashes \
the interpreter (segfault, os._exit), hangs past --timeout or runs out of memory is reported as an \
error for that history; the worker is replaced and the run goes on.

Output: a progress bar on a terminal (plain lines otherwise) on stderr; failures grouped by cause, \
each with a count and one example diff, then the counts, on stdout (-o json: the --json document on \
stdout, the summary on stderr). --junit and --json write files (docs/JSON.md) through a temporary file \
of their own; a run that ends in exit 2 or is interrupted replaces them with a report that says error. \
With GITHUB_ACTIONS=true, each failure group is also annotated on your source line.

Sharding: --partition K/N keeps the files whose path relative to the PATH argument hashes to shard K, \
so every CI job of a matrix agrees, wherever it checks out the repository.

Exit codes: 0 every history passed · 1 any did not: non-determinism, workflow task failure, or an \
error row (a file that cannot be loaded, a worker crash, a timeout) · 2 usage or environment error: \
bad flags, no histories found, no workflow code, Python environment missing, workflow code that does \
not import (reported once) — and when not one of the histories could be loaded · 130 / 143 \
interrupted by Ctrl-C / SIGTERM (unfinished report files are removed).";

/// Seconds per history when neither `--timeout` nor `[tool.deja] timeout` says.
const DEFAULT_TIMEOUT: f64 = 60.0;
/// A worker must import the code and report ready within this (or `--timeout`, if longer).
const STARTUP_LIMIT: Duration = Duration::from_secs(120);

/// The report files and documents of this run: replaced by an error report when the run
/// ends in an error (exit 2) or is interrupted, so a CI never reads a previous run's pass.
pub fn run(args: CheckArgs, verbose: u8, st: &Styles) -> Result<u8> {
    let mut files = Vec::new();
    if let Some(p) = &args.json {
        files.push((Kind::Json, p.clone()));
    }
    if let Some(p) = &args.junit {
        files.push((Kind::Junit, p.clone()));
    }
    let json_stdout = args.output == OutputFormat::Json;
    report_files::clean_up_on_signals()?;
    match run_checked(args, verbose, st) {
        Ok(code) => Ok(code),
        // stdout closed early (`| head`): the report files were finished before stdout was
        // written to, and main treats this as success.
        Err(e) if is_broken_pipe(&e) => Err(e),
        Err(e) => {
            let message = format!("{e:#}");
            for (kind, dest) in &files {
                if let Err(w) = report_files::write_error(*kind, dest, &message) {
                    eprintln!("deja: warning: {}", crate::style::escape_block(&format!("{w:#}")));
                }
            }
            if json_stdout {
                print!("{}", report_files::error_json(&message));
            }
            Err(e)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

fn run_checked(args: CheckArgs, verbose: u8, st: &Styles) -> Result<u8> {
    if args.query.is_none() && (args.limit.is_some() || args.sample_per_type.is_some() || args.save.is_some()) {
        anyhow::bail!("--limit, --sample-per-type and --save go with --query (histories fetched from the server)");
    }
    if args.query.is_some() && !args.paths.is_empty() {
        anyhow::bail!("pass either history paths or --query, not both");
    }
    // `[tool.deja.workers.*]` without --workflows: every named worker, each on its own
    // histories (see commands::workers); otherwise the one worker of flags + [tool.deja].
    let loaded = crate::config::load(args.code.config.as_deref())?;
    let named = super::workers::in_use(&loaded, &args.code.workflows);
    let mut setup = if named { super::workers::setup(loaded, &args.code)? } else { super::resolve_code(&args.code, &[], false)? };
    if named && args.query.is_some() && args.code.worker.is_none() {
        anyhow::bail!("--query with named workers in [tool.deja.workers]: pass --worker NAME to say whose code replays the fetched histories");
    }
    // State recording and queries cost a query per activation; check only needs verdicts
    // and diffs.
    setup.code.queries.clear();
    setup.code.record_state = false;
    let cfg = setup.config.config.clone();
    // A bad --baseline is a usage error, found before any worker starts (each worker
    // makes its own copy of the old code).
    if let Some(spec) = &args.code.baseline {
        crate::baseline::resolve(spec, &setup.code)?;
    }

    let jobs = args.jobs.or(cfg.jobs).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let adaptive = args.jobs.or(cfg.jobs).is_none();
    if jobs == 0 {
        anyhow::bail!("--jobs 0: need at least one worker process (or leave it out for one per core)");
    }
    // `[tool.deja] timeout` is range-checked where the file is read (naming the key); the
    // flag here, so that its error also replaces stale --json/--junit reports.
    let timeout = args.timeout.or(cfg.timeout).unwrap_or(DEFAULT_TIMEOUT);
    if let Some(problem) = crate::config::timeout_problem(timeout) {
        let shown = if timeout.abs() >= 1e6 { format!("{timeout:e}") } else { timeout.to_string() };
        anyhow::bail!("--timeout {shown}: {problem}");
    }
    // The environment is checked here, once, before any worker starts.
    pyenv::resolve(setup.python_env.as_deref())?;
    let partition = args.partition.map(|(k, n)| Partition { k, n });

    // Histories come from files, or stream in from the server (--query): each downloaded
    // file is handed to a free worker as soon as it is written.
    let mut download = None;
    let (jobs_list, mut total, found_count) = if let Some(query) = &args.query {
        let (dir, temporary) = match &args.save {
            Some(d) => (d.clone(), false),
            None => {
                let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
                (std::env::temp_dir().join(format!("deja-check-{}-{nanos}", std::process::id())), true)
            }
        };
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let handle = crate::source::server::download_streaming(&args.server, query, args.limit, args.sample_per_type, dir.clone(), move |path| {
            let _ = tx.send(Job { path: path.display().to_string(), file: path.to_path_buf(), lenient: false, size: 0 });
        })?;
        download = Some((handle, rx, dir, temporary));
        (Vec::new(), args.limit.unwrap_or(0), args.limit.unwrap_or(0))
    } else {
        let paths: Vec<std::path::PathBuf> = if !args.paths.is_empty() {
            args.paths.clone()
        } else if named {
            super::workers::default_paths(&setup.config)
        } else {
            cfg.histories.iter().map(|h| setup.config.resolve(Path::new(h))).collect()
        };
        if paths.is_empty() {
            anyhow::bail!(
                "no histories given: pass history files, directories or globs (e.g. `deja check histories/`), \
                 or set `histories = [\"histories/\"]` under [tool.deja] in pyproject.toml, or fetch them with --query"
            );
        }
        let found = discover(&paths, partition)?;
        if found.found == 0 {
            anyhow::bail!(
                "no history files found in {}: directories are searched for .json, .binpb and .pb files",
                paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        let list = schedule(found.files);
        let total = list.len();
        (list, total, found.found)
    };
    let plans: Vec<(Option<String>, deja_core::trace::CodeConfig, Vec<Job>)> = if named && args.query.is_none() {
        let plans = super::workers::plan(&setup.config, args.code.worker.as_deref(), !args.paths.is_empty(), jobs_list)?;
        let plans: Vec<_> = plans.into_iter().map(|p| (Some(p.name), super::workers::with_flags(p.code, &args.code), p.jobs)).collect();
        // `--worker NAME` keeps that worker's share: the run is that many histories.
        total = plans.iter().map(|(_, _, j)| j.len()).sum();
        if total == 0 {
            let name = args.code.worker.as_deref().unwrap_or_default();
            anyhow::bail!("--worker {name}: none of the {found_count} histories found is this worker's (by its histories, task-queues or workflow-types)");
        }
        plans
    } else {
        vec![(args.code.worker.clone().filter(|_| named), super::workers::with_flags(setup.code.clone(), &args.code), jobs_list)]
    };

    let color = st.bold != anstyle::Style::new();
    let err_tty = std::io::stderr().is_terminal();
    let mut fanout = Fanout::default();
    // Report files first: when the run finishes they are complete before anything is
    // written to stdout, which may be a pipe closed early (`deja check … | head`).
    if let Some(p) = &args.junit {
        fanout.push(Box::new(JunitReporter::create(p)?));
    }
    if let Some(p) = &args.json {
        fanout.push(Box::new(JsonReporter::create(p)?));
    }
    let json_stdout = args.output == OutputFormat::Json;
    let text_options = TextOptions {
        quiet: args.quiet,
        verbose,
        out_styles: if json_stdout { Styles::default() } else { *st },
        err_styles: if color && err_tty { *st } else { Styles::default() },
        tty: err_tty,
        partition: partition.map(|p| p.to_string()),
    };
    // With `-o json` stdout carries the document alone; the human summary goes to stderr.
    if json_stdout {
        fanout.push(Box::new(TextReporter::new(text_options, std::io::stderr())));
        fanout.push(Box::new(JsonReporter::to_stream(Box::new(std::io::stdout()))?));
    } else {
        fanout.push(Box::new(TextReporter::new(text_options, std::io::stdout())));
    }
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        let workspace = std::env::var("GITHUB_WORKSPACE").ok();
        if json_stdout {
            fanout.push(Box::new(GithubReporter::new(std::io::stderr(), workspace)));
        } else {
            fanout.push(Box::new(GithubReporter::new(std::io::stdout(), workspace)));
        }
    }

    let exe = std::env::current_exe().context("cannot find the deja binary to start workers from")?;
    let pool_cfg = PoolConfig {
        jobs,
        adaptive,
        timeout: Duration::from_secs_f64(timeout),
        startup_timeout: STARTUP_LIMIT.max(Duration::from_secs_f64(timeout)),
        setup: Setup {
            code: setup.code.clone(),
            python_env: setup.python_env.clone(),
            verbose,
            color,
            plain_text: color && args.junit.is_some(),
            report_json: args.json.is_some() || json_stdout,
            drift: setup.drift.clone(),
            baseline: args.code.baseline.clone(),
        },
        exe,
        echo_stderr: verbose >= 2,
    };

    let started = Instant::now();
    let workers = match (&args.query, plans.as_slice()) {
        (Some(_), _) => jobs,
        (None, [(_, _, list)]) => pool::workers_for(jobs, adaptive, list),
        (None, _) => jobs.min(total).max(1),
    };
    let mut summary = Summary::new(total, found_count, workers);
    fanout.event(&CheckEvent::RunStarted { total, found: found_count, jobs: workers })?;
    let fail_fast = args.fail_fast;
    let (feed, fetch) = match download {
        Some((handle, rx, dir, temporary)) => (Some(rx), Some((handle, dir, temporary))),
        None => (None, None),
    };
    let mut ready_seen = false;
    for (worker, _, _) in &plans {
        if let Some(name) = worker {
            summary.workers.entry(name.clone()).or_default(); // listed in name order
        }
    }
    // Named workers' pools run at the same time on the --jobs budget (check::many).
    let plans = plans
        .into_iter()
        .map(|(worker, mut code, jobs)| {
            code.queries.clear();
            code.record_state = false;
            many::Plan { worker, code, jobs }
        })
        .collect();
    let outcome = many::run_all(&pool_cfg, plans, feed, &mut |worker, ev| {
        on_worker_event(ev, worker, &mut ready_seen, &mut summary, &mut fanout, fail_fast)
    });
    if let Some((handle, dir, temporary)) = fetch {
        let fetched = handle.join().map_err(|_| anyhow::anyhow!("the download thread panicked"))?;
        if temporary {
            let _ = std::fs::remove_dir_all(&dir);
        }
        match fetched {
            Ok(n) => {
                summary.total = n;
                summary.found = n;
            }
            Err(e) => {
                drop(fanout);
                return Err(e.context("fetching histories for --query"));
            }
        }
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(PoolError::Setup { message, detail, .. }) => {
            drop(fanout); // clears the progress bar before the message
            if verbose > 0 && !detail.is_empty() {
                eprintln!("{}", crate::style::escape_block(detail.trim_end()));
            }
            anyhow::bail!("loading workflow code: {message}");
        }
        Err(e) => {
            drop(fanout);
            return Err(e.into());
        }
    };
    summary.not_run = outcome.not_run;
    summary.stopped_early = outcome.stopped;
    summary.seconds = started.elapsed().as_secs_f64();
    fanout.event(&CheckEvent::RunFinished(&summary))?;
    let code = summary.exit_code();
    if code == deja_core::exit::ERROR {
        eprintln!(
            "deja: error: none of the {} files could be checked: each failed to load (see above) or is not a history",
            summary.total
        );
    }
    Ok(code)
}

/// Largest files first: a big history started last would keep one core busy alone at the
/// end (longest-processing-time-first scheduling). Equal sizes keep discovery order.
fn schedule(mut files: Vec<Candidate>) -> Vec<Job> {
    files.sort_by_key(|c| std::cmp::Reverse(c.size));
    files.into_iter().map(|c| Job { path: c.path.display().to_string(), file: c.path, lenient: c.lenient, size: c.size }).collect()
}

/// [`on_pool_event`] for one named worker's pool: its results carry the worker's name
/// (and their failure groups are the worker's own), and only the first pool's `Ready`
/// reaches the reporters.
fn on_worker_event(
    ev: PoolEvent<'_>,
    worker: Option<&str>,
    ready_seen: &mut bool,
    summary: &mut Summary,
    fanout: &mut Fanout,
    fail_fast: bool,
) -> Result<Flow> {
    match (ev, worker) {
        (PoolEvent::Ready { .. }, _) if *ready_seen => Ok(Flow::Continue),
        (ev @ PoolEvent::Ready { .. }, _) => {
            *ready_seen = true;
            on_pool_event(ev, summary, fanout, fail_fast)
        }
        (PoolEvent::Finished(mut r), Some(name)) => {
            r.signature = format!("{name}: {}", r.signature);
            r.worker = Some(name.to_string());
            on_pool_event(PoolEvent::Finished(r), summary, fanout, fail_fast)
        }
        (ev, _) => on_pool_event(ev, summary, fanout, fail_fast),
    }
}

fn on_pool_event(ev: PoolEvent<'_>, summary: &mut Summary, fanout: &mut Fanout, fail_fast: bool) -> Result<Flow> {
    match ev {
        PoolEvent::Ready { sdk, registered } => {
            summary.sdk_version = Some(sdk.version.clone());
            summary.sdk = Some(sdk.clone());
            fanout.event(&CheckEvent::WorkersReady { sdk, registered })?;
            Ok(Flow::Continue)
        }
        PoolEvent::Finished(r) => {
            summary.record(&r);
            fanout.event(&CheckEvent::HistoryFinished(&r))?;
            Ok(if fail_fast && !r.passed() { Flow::Stop } else { Flow::Continue })
        }
        PoolEvent::Skipped { path, reason } => {
            summary.skip(path);
            fanout.event(&CheckEvent::Skipped { path, reason })?;
            Ok(Flow::Continue)
        }
    }
}

/// `deja __worker`: a replay worker process of `deja check`.
pub fn worker() -> Result<u8> {
    crate::check::worker::main(crate::report::replay_text::render)
}
