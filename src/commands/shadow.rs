//! `deja shadow worker | start | status | stop`: replay production continuously on the
//! team's own Temporal cluster (see `crate::shadow` and `python/deja_harness/shadow.py`).
//!
//! `worker` is the only one that starts Python; `start`, `status` and `stop` talk to the
//! server from Rust (`deja_fetch::control`) and read the aggregate the workflow returns
//! from its `status` query or its result.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use deja_core::exit;
use deja_fetch::control;
use deja_proto::temporal::api::enums::v1::WorkflowExecutionStatus;

use crate::cli::{ShadowArgs, ShadowCommand, ShadowStartArgs, ShadowStatusArgs, ShadowStopArgs, ShadowWorkerArgs};
use crate::shadow::model::Aggregate;
use crate::shadow::{Analysis, analyse};
use crate::style::{ColorChoice, Styles, Untrusted};

/// The shadow workflow's type and query, as `python/deja_harness/shadow.py` names them.
const WORKFLOW_TYPE: &str = "deja-shadow";
const STATUS_QUERY: &str = "status";

pub const AFTER_LONG_HELP: &str = "\
A fleet of `deja shadow worker` processes (your workflow code, your venv) shares a task
queue; `deja shadow start` starts one shadow workflow that lists runs with a visibility
query, samples them and hands batches to the fleet as replay activities. Temporal does
the scheduling, retries (a dead worker's batch resumes elsewhere) and persistence.

  deja shadow worker --task-queue shadow -w app.workflows --address temporal:7233
  deja shadow start --task-queue shadow --query \"CloseTime > '2026-11-01T00:00:00Z'\" \\
       --sample-rate 0.1 --concurrency 8 --wait --junit shadow.xml
  deja shadow status deja-shadow-20261204T101500Z
  deja shadow stop deja-shadow-20261204T101500Z

Exit codes (start --wait, status): 0 every replayed run passed · 1 non-determinism or a
replay failure · 2 usage, server or environment error, or the run itself failed.
README: \"Shadowing production\".";

pub fn run(args: ShadowArgs, verbose: u8, color: ColorChoice) -> Result<u8> {
    match args.command {
        ShadowCommand::Worker(a) => worker(a, verbose),
        ShadowCommand::Start(a) => start(a, color),
        ShadowCommand::Status(a) => status(a, verbose, color),
        ShadowCommand::Stop(a) => stop(a, color),
    }
}

// ---------------------------------------------------------------------------------------
// worker
// ---------------------------------------------------------------------------------------

fn worker(args: ShadowWorkerArgs, verbose: u8) -> Result<u8> {
    if let Some(b) = &args.code.baseline {
        bail!(
            "--baseline {b}: shadow workers do not replay against a baseline; fetch a failing run \
             (`deja fetch --workflow-id ID`) and run `deja replay FILE --baseline {b}` on it"
        );
    }
    let setup = super::resolve_code(&args.code, &[], false)?;
    let conn = args.server.resolve()?;
    if conn.tls.as_ref().is_some_and(|t| t.disable_host_verification) {
        bail!("--tls-disable-host-verification: the Python SDK's client (which the shadow worker polls with) cannot skip verification; pass the server's CA with --tls-ca-path instead");
    }
    let connection = connection_json(&conn)?;
    // Reach the server (and the namespace) before Python starts, for deja's own clear
    // errors; the runtime is gone before any Python runs.
    let rt = crate::source::server::runtime()?;
    rt.block_on(async {
        let c = deja_fetch::connect(&conn).await?;
        c.check_namespace().await
    })?;
    drop(rt);
    let (interp, session) = super::start_python(&setup, verbose)?;
    let how = Analysis { namespace: conn.namespace.clone(), drift: setup.drift.clone(), render: crate::report::replay_text::render, verbose };
    let analyse = move |bytes: &[u8], wid: &str, rid: &str| {
        let result = analyse(&session, &how, bytes, wid, rid);
        serde_json::to_string(&result).unwrap_or_else(|e| serde_json::json!({"verdict": "error", "error_kind": "harness", "message": e.to_string()}).to_string())
    };
    let tq = args.task_queue.clone();
    let (address, namespace) = (conn.address.clone(), conn.namespace.clone());
    let ready = move |_info: &str| {
        eprintln!(
            "deja shadow worker: polling {} and {}-replay on {} (namespace {}); Ctrl-C or SIGTERM stops it",
            Untrusted(&tq),
            Untrusted(&tq),
            Untrusted(&address),
            Untrusted(&namespace)
        );
    };
    let options = serde_json::json!({"task_queue": args.task_queue, "connection": connection});
    interp.serve_shadow(&options.to_string(), analyse, ready).map_err(|e| super::explain(e, verbose))?;
    eprintln!("deja shadow worker: stopped");
    Ok(exit::OK)
}

/// The resolved connection for the Python SDK's `Client.connect` (PEM files read here, so
/// a missing file is named by its flag).
fn connection_json(conn: &deja_fetch::ConnectionConfig) -> Result<serde_json::Value> {
    let pem = |p: &Option<deja_fetch::PemSource>| -> Result<Option<String>> {
        Ok(match p {
            None => None,
            Some(src) => Some(String::from_utf8_lossy(&src.read()?).into_owned()),
        })
    };
    let tls = match &conn.tls {
        None => serde_json::Value::Null,
        Some(t) => serde_json::json!({
            "server_ca_cert": pem(&t.server_ca_cert)?,
            "client_cert": pem(&t.client_cert)?,
            "client_key": pem(&t.client_key)?,
            "server_name": t.server_name,
        }),
    };
    Ok(serde_json::json!({
        "address": conn.address,
        "namespace": conn.namespace,
        "api_key": conn.api_key.as_ref().map(|k| k.expose().to_string()),
        "tls": tls,
        "grpc_meta": conn.grpc_meta,
    }))
}

// ---------------------------------------------------------------------------------------
// start / status / stop
// ---------------------------------------------------------------------------------------

fn connect(server: &deja_fetch::ConnectionArgs) -> Result<(tokio::runtime::Runtime, deja_fetch::Client)> {
    let conn = server.resolve()?;
    let rt = crate::source::server::runtime()?;
    let client = rt.block_on(deja_fetch::connect(&conn))?;
    Ok((rt, client))
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

fn start(args: ShadowStartArgs, color: ColorChoice) -> Result<u8> {
    if !(0.0..=1.0).contains(&args.sample_rate) {
        bail!("--sample-rate {}: must be between 0 and 1 (0.1 replays one run in ten)", args.sample_rate);
    }
    for (flag, v) in [("--concurrency", args.concurrency), ("--batch-size", args.batch_size), ("--page-size", args.page_size)] {
        if v == 0 {
            bail!("{flag} 0: must be at least 1");
        }
    }
    if args.max == Some(0) {
        bail!("--max 0: must be at least 1 (leave it out for no limit)");
    }
    let (rt, client) = connect(&args.server)?;
    // A query the server refuses fails here, not inside the workflow.
    rt.block_on(control::check_query(&client, &args.query))?;
    let id = args.id.clone().unwrap_or_else(|| {
        let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        format!("deja-shadow-{}", t.replace(['-', ':'], ""))
    });
    let params = serde_json::json!({
        "query": args.query,
        "sample_rate": args.sample_rate,
        "concurrency": args.concurrency,
        "batch_size": args.batch_size,
        "page_size": args.page_size,
        "max": args.max,
        "expire_seconds": args.expire.map(|d| d.as_secs_f64()),
        "continuous": args.continuous,
        "interval_seconds": args.interval.as_secs_f64(),
        "seed": id,
        "heartbeat_seconds": args.heartbeat_timeout.as_secs_f64().max(1.0),
        "replay_timeout_seconds": 3600,
        "attempts": 5,
        "continue_as_new_after": args.continue_as_new_after,
    });
    let body = serde_json::to_vec(&params)?;
    rt.block_on(control::start_workflow(&client, &id, WORKFLOW_TYPE, &args.task_queue, body))?;
    println!("{id}");
    eprintln!(
        "deja shadow: started {} on task queue {}; follow it with `deja shadow status {}`",
        Untrusted(&id),
        Untrusted(&args.task_queue),
        Untrusted(&id)
    );
    if !args.wait {
        return Ok(exit::OK);
    }
    let a = follow(&rt, &client, &id, &args.task_queue)?;
    let styles = Styles::for_choice(color, true);
    print!("{}", crate::report::shadow::text(&id, &a, now(), true, &styles));
    if let Some(p) = &args.json {
        crate::report::shadow::write_json(p, &id, &a)?;
    }
    if let Some(p) = &args.junit {
        crate::report::shadow::write_junit(p, &id, &a)?;
    }
    Ok(a.exit_code())
}

/// Poll the run about once a second with a progress bar (on a terminal) until it closes.
fn follow(rt: &tokio::runtime::Runtime, client: &deja_fetch::Client, id: &str, task_queue: &str) -> Result<Aggregate> {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} shadow {bar:30} {pos}/{len} replayed · {msg} · {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    loop {
        match rt.block_on(fetch_status(client, id)) {
            Ok(a) if a.is_closed() => {
                bar.finish_and_clear();
                return Ok(a);
            }
            Ok(a) => {
                bar.set_length(a.sampled.max(a.replayed));
                bar.set_position(a.replayed);
                bar.set_message(format!("{} failed · {} in flight", a.failed(), a.in_flight));
            }
            Err(e) => {
                // Ended some other way (terminated, timed out…): nothing more will come.
                let ended = rt.block_on(control::describe(client, id)).is_ok_and(|(st, _, _)| {
                    !matches!(st, WorkflowExecutionStatus::Running | WorkflowExecutionStatus::ContinuedAsNew | WorkflowExecutionStatus::Completed)
                });
                if ended {
                    bar.finish_and_clear();
                    return Err(e);
                }
                if started.elapsed() > Duration::from_secs(5) {
                    bar.set_message(format!("waiting for a shadow worker on {task_queue} ({e:#})"));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
}

/// The aggregate of the run's latest run: its `status` query while it runs, its result
/// once it completed.
async fn fetch_status(client: &deja_fetch::Client, id: &str) -> Result<Aggregate> {
    for _ in 0..5 {
        let (st, run_id, tq) = control::describe(client, id).await?;
        let bytes = match st {
            WorkflowExecutionStatus::Running => {
                if control::workflow_pollers(client, &tq).await? == 0 {
                    bail!("shadow run {id} is running, but no `deja shadow worker --task-queue {tq}` has polled its task queue recently: start one (it answers the status query)");
                }
                control::query_json(client, id, STATUS_QUERY, Duration::from_secs(15))
                    .await
                    .with_context(|| format!("reading the status of {id}: is a `deja shadow worker --task-queue {tq}` running?"))?
            }
            WorkflowExecutionStatus::Completed => match control::completed_result(client, id, &run_id).await? {
                Some(b) => b,
                None => bail!("shadow run {id} completed without a result"),
            },
            // The chain moved on between the two calls: look again.
            WorkflowExecutionStatus::ContinuedAsNew => continue,
            other => bail!(
                "shadow run {id} is {} (not by `deja shadow stop`); see `temporal workflow show --workflow-id {id}`",
                other.as_str_name().trim_start_matches("WORKFLOW_EXECUTION_STATUS_").to_ascii_lowercase()
            ),
        };
        return serde_json::from_slice(&bytes).with_context(|| format!("shadow run {id}: its status is not a deja.shadow/v1 document"));
    }
    bail!("shadow run {id}: kept continuing as new while being read; try again")
}

fn status(args: ShadowStatusArgs, verbose: u8, color: ColorChoice) -> Result<u8> {
    let (rt, client) = connect(&args.server)?;
    let a = rt.block_on(fetch_status(&client, &args.id))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&crate::report::shadow::json(&args.id, &a))?);
    } else {
        // -v: each cause's example report in full, as `--wait` prints it.
        print!("{}", crate::report::shadow::text(&args.id, &a, now(), verbose > 0, &Styles::for_choice(color, true)));
    }
    Ok(a.exit_code())
}

fn stop(args: ShadowStopArgs, color: ColorChoice) -> Result<u8> {
    let (rt, client) = connect(&args.server)?;
    let (st, _, _) = rt.block_on(control::describe(&client, &args.id))?;
    if st == WorkflowExecutionStatus::Running {
        rt.block_on(control::request_cancel(&client, &args.id, "deja shadow stop"))?;
    } else {
        eprintln!("deja shadow: {} had already ended", Untrusted(&args.id));
    }
    // The workflow cancels its replays and returns its totals; wait briefly for that.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match rt.block_on(fetch_status(&client, &args.id)) {
            Ok(a) if a.is_closed() => {
                print!("{}", crate::report::shadow::text(&args.id, &a, now(), false, &Styles::for_choice(color, true)));
                return Ok(exit::OK);
            }
            Ok(_) | Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(500)),
            Ok(_) => bail!("{}: cancellation requested, but the run has not stopped within 30 s (no shadow worker running?)", args.id),
            Err(e) => return Err(e),
        }
    }
}
