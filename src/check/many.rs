//! Several named workers in one run: a [`pool`](super::pool) per worker, run **at the
//! same time** on a shared budget of `--jobs` processes, so each worker's start-up
//! (interpreter, `temporalio`, its code) overlaps the others' instead of adding up.
//!
//! * Budget: with no more workers than `--jobs`, every worker's pool runs at once with at
//!   least one process, the rest shared out by how many histories each has; with more
//!   workers than `--jobs`, `--jobs` pools of one process run at a time, each taking the
//!   next worker when it finishes (largest first).
//! * Events: each pool runs on a thread of its own; its events travel to the calling
//!   thread (which owns the summary and the reporters) and wait for its `Flow` answer, so
//!   `--fail-fast` and reporter errors stop every pool. A worker whose code does not load
//!   stops the run with that worker named.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};

use super::pool::{self, Flow, Job, PoolConfig, PoolError, PoolEvent, PoolOutcome};
use deja_core::model::result::HistoryResult;
use deja_core::trace::{CodeConfig, SdkInfo};

/// One named worker's share of the run (`worker: None` is the one-worker form).
pub struct Plan {
    pub worker: Option<String>,
    pub code: CodeConfig,
    pub jobs: Vec<Job>,
}

/// Run every plan; `on_event` sees each pool event with the worker it came from.
pub fn run_all(
    base: &PoolConfig,
    plans: Vec<Plan>,
    feed: Option<Receiver<Job>>,
    on_event: &mut dyn FnMut(Option<&str>, PoolEvent<'_>) -> anyhow::Result<Flow>,
) -> Result<PoolOutcome, PoolError> {
    if plans.len() <= 1 {
        let Some(plan) = plans.into_iter().next() else { return Ok(PoolOutcome::default()) };
        let cfg = config_for(base, &plan, base.jobs);
        let name = plan.worker.clone();
        return pool::run(&cfg, plan.jobs, feed, &mut |ev| on_event(name.as_deref(), ev)).map_err(|e| named(e, name.as_deref()));
    }
    let budget = base.jobs.max(1);
    let mut plans = plans;
    plans.sort_by_key(|p| std::cmp::Reverse(p.jobs.len()));
    let shares = shares(&plans.iter().map(|p| p.jobs.len()).collect::<Vec<_>>(), budget);
    let threads = plans.len().min(budget);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Owned>();
    let plans = &plans;
    let shares = &shares;

    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            handles.push(scope.spawn(move || -> Vec<(usize, Result<PoolOutcome, PoolError>)> {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= plans.len() {
                        return done;
                    }
                    if stop.load(Ordering::SeqCst) {
                        done.push((i, Ok(PoolOutcome { not_run: plans[i].jobs.len(), stopped: true })));
                        continue;
                    }
                    let plan = &plans[i];
                    let cfg = config_for(base, plan, shares[i]);
                    let result = pool::run(&cfg, plan.jobs.clone(), None, &mut |ev| forward(&tx, i, ev, stop));
                    if result.as_ref().map_or(true, |o| o.stopped) {
                        stop.store(true, Ordering::SeqCst);
                    }
                    done.push((i, result));
                }
            }));
        }
        drop(tx);
        // The calling thread: the only one that reports.
        let mut report_error = None;
        for msg in rx {
            let flow = if report_error.is_some() || stop.load(Ordering::SeqCst) && !matches!(msg.event, OwnedEvent::Finished(_)) {
                Flow::Stop
            } else {
                let name = plans[msg.plan].worker.as_deref();
                let result = match &msg.event {
                    OwnedEvent::Ready(sdk, registered) => on_event(name, PoolEvent::Ready { sdk, registered }),
                    OwnedEvent::Finished(r) => on_event(name, PoolEvent::Finished(r.clone())),
                    OwnedEvent::Skipped(path, reason) => on_event(name, PoolEvent::Skipped { path, reason }),
                };
                result.unwrap_or_else(|e| {
                    report_error = Some(e);
                    Flow::Stop
                })
            };
            if flow == Flow::Stop {
                stop.store(true, Ordering::SeqCst);
            }
            let _ = msg.reply.send(flow);
        }
        let mut outcome = PoolOutcome::default();
        let mut first_error = None;
        for h in handles {
            for (i, r) in h.join().unwrap_or_default() {
                match r {
                    Ok(o) => {
                        outcome.not_run += o.not_run;
                        outcome.stopped |= o.stopped;
                    }
                    Err(e) => {
                        outcome.not_run += plans[i].jobs.len();
                        first_error.get_or_insert((i, named(e, plans[i].worker.as_deref())));
                    }
                }
            }
        }
        if let Some(e) = report_error {
            return Err(PoolError::Report(e));
        }
        match first_error {
            Some((_, e)) => Err(e),
            None => Ok(outcome),
        }
    })
}

/// `--jobs` shared out: one process each (as far as the budget goes), the rest one at a
/// time to the worker with the most histories per process.
fn shares(histories: &[usize], budget: usize) -> Vec<usize> {
    if histories.len() >= budget {
        return vec![1; histories.len()];
    }
    let mut s = vec![1usize; histories.len()];
    for _ in histories.len()..budget {
        let (i, _) = histories
            .iter()
            .enumerate()
            .max_by(|a, b| (*a.1 as f64 / s[a.0] as f64).total_cmp(&(*b.1 as f64 / s[b.0] as f64)).then(b.0.cmp(&a.0)))
            .unwrap_or((0, &0));
        s[i] += 1;
    }
    s
}

fn config_for(base: &PoolConfig, plan: &Plan, jobs: usize) -> PoolConfig {
    let mut cfg = base.clone();
    cfg.jobs = jobs;
    cfg.setup.code = plan.code.clone();
    cfg
}

fn named(e: PoolError, worker: Option<&str>) -> PoolError {
    match (e, worker) {
        (PoolError::Setup { kind, message, detail }, Some(name)) => PoolError::Setup { kind, message: format!("worker {name}: {message}"), detail },
        (e, _) => e,
    }
}

enum OwnedEvent {
    Ready(SdkInfo, Vec<String>),
    Finished(Box<HistoryResult>),
    Skipped(String, String),
}

struct Owned {
    plan: usize,
    event: OwnedEvent,
    reply: Sender<Flow>,
}

/// A pool thread's event, handed to the reporting thread; its answer comes back.
fn forward(tx: &Sender<Owned>, plan: usize, ev: PoolEvent<'_>, stop: &AtomicBool) -> anyhow::Result<Flow> {
    let event = match ev {
        PoolEvent::Ready { sdk, registered } => OwnedEvent::Ready(sdk.clone(), registered.to_vec()),
        PoolEvent::Finished(r) => OwnedEvent::Finished(r),
        PoolEvent::Skipped { path, reason } => OwnedEvent::Skipped(path.to_string(), reason.to_string()),
    };
    let (reply, answer) = mpsc::channel();
    if tx.send(Owned { plan, event, reply }).is_err() {
        return Ok(Flow::Stop);
    }
    let flow = answer.recv().unwrap_or(Flow::Stop);
    Ok(if stop.load(Ordering::SeqCst) { Flow::Stop } else { flow })
}

#[cfg(test)]
mod tests {
    use super::shares;

    #[test]
    fn jobs_are_shared_by_histories_per_process() {
        assert_eq!(shares(&[40, 10], 2), [1, 1]);
        assert_eq!(shares(&[40, 10], 4), [3, 1]);
        assert_eq!(shares(&[5, 5, 5], 2), [1, 1, 1]);
        assert_eq!(shares(&[30, 30, 1], 8), [4, 3, 1]);
    }
}
