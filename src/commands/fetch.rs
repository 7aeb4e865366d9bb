//! `deja fetch`: download histories from a Temporal server into files (the server side of
//! `replay`/`debug`/`check` is `crate::source::server`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Result;

use crate::cli::FetchArgs;
use deja_core::exit;
use crate::style::Untrusted;

/// Download progress: an indicatif spinner-bar on a terminal (the total grows as the
/// listing pages arrive), plain lines every 100 histories otherwise.
struct FetchProgress {
    bar: Option<indicatif::ProgressBar>,
    fetched: AtomicUsize,
    listed: AtomicUsize,
}

impl FetchProgress {
    fn new() -> FetchProgress {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} fetching [{bar:30}] {pos}/{len} histories {per_sec} eta {eta} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        FetchProgress { bar, fetched: AtomicUsize::new(0), listed: AtomicUsize::new(0) }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl deja_fetch::Progress for FetchProgress {
    fn listed(&self, _exec: &deja_fetch::ExecutionSummary) {
        let n = self.listed.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = &self.bar {
            bar.set_length(n as u64);
        }
    }
    fn skipped(&self, _exec: &deja_fetch::ExecutionSummary) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }
    fn fetched(&self, run: &deja_fetch::FetchedRun) {
        let n = self.fetched.fetch_add(1, Ordering::Relaxed) + 1;
        match &self.bar {
            Some(bar) => bar.inc(1),
            None if n % 100 == 0 => eprintln!("deja: fetched {n} histories (last: {})", Untrusted(&run.path.display().to_string())),
            None => {}
        }
    }
}

pub fn run(args: FetchArgs) -> Result<u8> {
    let config = args.server.resolve()?;
    let rt = crate::source::server::runtime()?;
    let started = Instant::now();
    match (&args.workflow_id, &args.query) {
        (Some(_), Some(_)) => anyhow::bail!("--workflow-id and --query are exclusive: fetch one workflow, or every run a query matches"),
        (None, None) => anyhow::bail!("nothing to fetch: pass --workflow-id ID (one run) or --query QUERY (many runs)"),
        (Some(id), None) => {
            let (path, fetched) = rt.block_on(async {
                let client = deja_fetch::connect(&config).await?;
                let h = deja_fetch::fetch_history(&client, id, args.run_id.as_deref()).await?;
                let (path, _) = deja_fetch::store::write_history(&args.out, &h).await?;
                Ok::<_, deja_fetch::FetchError>((path, h))
            })?;
            eprintln!(
                "deja: fetched {} ({} events{}) → {}",
                Untrusted(&fetched.workflow_id),
                fetched.event_count(),
                if fetched.is_running() { ", still running: saved as it stands" } else { "" },
                Untrusted(&path.display().to_string())
            );
        }
        (None, Some(query)) => {
            let progress = FetchProgress::new();
            let summary = rt.block_on(async {
                let client = deja_fetch::connect(&config).await?;
                client.check_namespace().await?;
                let runs = deja_fetch::list_executions(&client, query, args.limit, args.sample_per_type);
                let options = deja_fetch::DownloadOptions { concurrency: args.concurrency.max(1) };
                deja_fetch::fetch_to_dir(&client, runs, &args.out, &options, &progress).await
            });
            progress.finish();
            let summary = summary?;
            eprintln!(
                "deja: {} runs matched: {} fetched ({} still running, saved as they stand), {} already on disk, {} gone; {} events, {:.1} MB in {:.1}s ({:.0} histories/s) → {}",
                summary.listed,
                summary.fetched,
                summary.running,
                summary.skipped,
                summary.missing,
                summary.events,
                summary.bytes as f64 / 1e6,
                started.elapsed().as_secs_f64(),
                summary.histories_per_sec(),
                args.out.display()
            );
        }
    }
    Ok(exit::OK)
}
