//! The terminal reporter of `deja check`.
//!
//! * **stderr, while running:** a progress bar with rate and ETA when stderr is a terminal
//!   (indicatif, redrawn a few times a second); otherwise a plain progress line every few
//!   seconds, which reads well in CI logs. Each failing history gets one line as it
//!   finishes (the header `deja replay` prints). `--quiet` turns all of this off.
//! * **stdout, at the end:** failures grouped by signature — each group with its count, a
//!   few more paths and ONE example report rendered by `deja replay`'s own renderer — then
//!   the counts. 900 histories failing the same way read as one problem.
//!
//! [`render_summary`] is a pure function of the [`Summary`], so tests render into a `Vec`.

use std::borrow::Cow;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use deja_core::model::events::{CheckEvent, Reporter};
use deja_core::model::result::{HistoryResult, kind};
use deja_core::model::summary::{Group, Summary};
use deja_core::trace::Verdict;
use crate::report::replay_text::verdict_word;
use crate::report::vocab;
use crate::style::{Styles, Untrusted, paint};

/// Groups shown with their example report (the rest get one line each; `-v` shows all).
const EXAMPLES: usize = 10;
/// Plain progress lines (not a terminal) this often.
const LINE_INTERVAL: Duration = Duration::from_secs(5);

/// How the terminal reporter behaves.
#[derive(Clone, Debug, Default)]
pub struct TextOptions {
    pub quiet: bool,
    pub verbose: u8,
    /// Styles for stdout (the summary).
    pub out_styles: Styles,
    /// Styles for stderr (progress and live lines).
    pub err_styles: Styles,
    /// stderr is a terminal: draw a bar.
    pub tty: bool,
    /// `--partition`, for the start line.
    pub partition: Option<String>,
}

enum Progress {
    Off,
    Bar(ProgressBar),
    Lines { next: Instant },
}

/// Progress on stderr, summary on `out`.
pub struct TextReporter<W: Write> {
    opts: TextOptions,
    out: W,
    progress: Progress,
    started: Instant,
    total: usize,
    done: usize,
    failing: usize,
}

impl<W: Write> TextReporter<W> {
    pub fn new(opts: TextOptions, out: W) -> TextReporter<W> {
        TextReporter { opts, out, progress: Progress::Off, started: Instant::now(), total: 0, done: 0, failing: 0 }
    }

    /// A line above the bar (or plainly on stderr).
    fn note(&self, line: &str) {
        match &self.progress {
            Progress::Bar(bar) => bar.println(line),
            _ => eprintln!("{line}"),
        }
    }

    fn start(&mut self, total: usize, found: usize, jobs: usize) {
        self.started = Instant::now();
        self.total = total;
        if self.opts.quiet {
            return;
        }
        let shard = match &self.opts.partition {
            Some(p) => format!(" (shard {p} of {found} found)"),
            None => String::new(),
        };
        let workers = if jobs == 1 { "1 worker".to_string() } else { format!("{jobs} workers") };
        eprintln!("{} {total} histor{}{shard} with {workers}", paint(self.opts.err_styles.bold, "deja check:"), if total == 1 { "y" } else { "ies" });
        self.progress = if self.opts.tty {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr_with_hz(4));
            let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} · {rate} · ETA {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.1}/s", s.per_sec());
                });
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(250));
            Progress::Bar(bar)
        } else {
            Progress::Lines { next: Instant::now() + LINE_INTERVAL }
        };
    }

    fn finished(&mut self, r: &HistoryResult) {
        self.done += 1;
        if !r.passed() {
            self.failing += 1;
        }
        if self.opts.quiet {
            return;
        }
        if !r.passed() || self.opts.verbose > 0 {
            let line = live_line(r, &self.opts.err_styles);
            self.note(&line);
        }
        let failing = self.failing_text();
        match &mut self.progress {
            Progress::Bar(bar) => {
                bar.set_message(failing);
                bar.inc(1);
            }
            Progress::Lines { next } => {
                if Instant::now() >= *next {
                    *next = Instant::now() + LINE_INTERVAL;
                    let line = progress_line(self.done, self.total, self.started.elapsed(), &failing);
                    eprintln!("{line}");
                }
            }
            Progress::Off => {}
        }
    }

    fn failing_text(&self) -> String {
        match self.failing {
            0 => String::new(),
            n => paint(self.opts.err_styles.fail, format!("· {n} failing")),
        }
    }

    fn finish(&mut self, s: &Summary) -> std::io::Result<()> {
        if let Progress::Bar(bar) = std::mem::replace(&mut self.progress, Progress::Off) {
            bar.finish_and_clear();
        }
        render_summary(&mut self.out, s, self.opts.verbose, &self.opts.out_styles)?;
        self.out.flush()
    }
}

impl<W: Write> Reporter for TextReporter<W> {
    fn event(&mut self, ev: &CheckEvent<'_>) -> Result<()> {
        match ev {
            CheckEvent::RunStarted { total, found, jobs } => self.start(*total, *found, *jobs),
            CheckEvent::WorkersReady { sdk, registered } => {
                // Rate and ETA count from the first replay, not from interpreter start-up.
                if let Progress::Bar(bar) = &self.progress {
                    bar.reset_eta();
                }
                self.started = Instant::now();
                if let Some(notice) = &sdk.notice {
                    self.note(&format!("note: {}", Untrusted(notice)));
                }
                if self.opts.verbose > 0 && !self.opts.quiet {
                    self.note(&format!("{}; workflows: {}", Untrusted(&sdk.describe()), Untrusted(&registered.join(", "))));
                }
            }
            CheckEvent::HistoryFinished(r) => self.finished(r),
            CheckEvent::Skipped { path, reason } => {
                if self.opts.verbose > 0 && !self.opts.quiet {
                    self.note(&paint(self.opts.err_styles.dim, format!("skipped {}: {}", Untrusted(&deja_core::display_path(path)), Untrusted(reason))));
                }
            }
            CheckEvent::RunFinished(s) => self.finish(s)?,
        }
        Ok(())
    }
}

/// One line per finished history: verdict, workflow, file, and the cause.
pub fn live_line(r: &HistoryResult, st: &Styles) -> String {
    let path = Untrusted(&deja_core::display_path(&r.path)).to_string();
    let mut line = match r.workflow_type {
        Some(_) => format!(
            "{}{} {} · {path}",
            super::drift_text::verdict_word(r.verdict, r.drift_failed, st),
            super::drift_text::header_suffix(&r.drift, r.drift_failed, st),
            paint(st.bold, Untrusted(&r.subject()))
        ),
        None => format!("{} {}", verdict_word(r.verdict, st), paint(st.bold, &path)),
    };
    if !r.passed() && !r.message.is_empty() {
        // Load errors start with the path, which the line already shows.
        let msg = r.message.strip_prefix(&format!("{}: ", r.path)).unwrap_or(&r.message);
        line.push_str(&paint(st.dim, format!(" — {}", deja_core::history::describe::truncate(&Untrusted(msg).to_string(), 160))));
    }
    line
}

/// The example shown for a failure: the replay report the worker rendered or, for a
/// history that took its worker down or ran over time, what the runner saw (the message,
/// the user frame a crash was in, the worker's last words).
pub fn example_text(r: &HistoryResult) -> Option<Cow<'_, str>> {
    match &r.text {
        Some(text) => Some(Cow::Borrowed(text)),
        None => contained_text(r).map(Cow::Owned),
    }
}

/// The report of a history whose worker crashed or timed out (plain text; the worker's
/// stderr, the path and the message are escaped: they can quote the history or the code).
pub fn contained_text(r: &HistoryResult) -> Option<String> {
    if !matches!(r.error_kind.as_deref(), Some(kind::CRASH | kind::TIMEOUT)) {
        return None;
    }
    let mut text = format!("{} {} · {}\n  {}\n", vocab::verdict_word(r.verdict), r.subject(), r.path, r.message);
    if let Some(f) = &r.location {
        text.push_str(&format!("    at {f}\n"));
    }
    if let Some(t) = &r.worker_tail {
        text.push_str(&t.indented());
    }
    Some(crate::style::escape_block(text.trim_end()).into_owned() + "\n")
}

/// `120/543 (22%) · 95.3/s · ETA 4 s · 3 failing`
pub fn progress_line(done: usize, total: usize, elapsed: Duration, failing: &str) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = done as f64 / secs;
    let pct = (done * 100).checked_div(total).unwrap_or(100);
    let eta = if rate > 0.0 { format!("{:.0} s", (total.saturating_sub(done)) as f64 / rate) } else { "?".into() };
    let mut line = format!("deja check: {done}/{total} ({pct}%) · {rate:.1}/s · ETA {eta}");
    if !failing.is_empty() {
        line.push(' ');
        line.push_str(failing);
    }
    line
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn group_heading(g: &Group, st: &Styles) -> String {
    let style = if g.verdict == Verdict::Pass { st.pass } else { st.fail };
    format!("{} {}", paint(style, format!("✗ {} ·", plural(g.count, "history", "histories"))), paint(st.bold, Untrusted(&g.signature)))
}

/// The end of a run: failure groups (largest first), then the counts.
pub fn render_summary(w: &mut dyn Write, s: &Summary, verbose: u8, st: &Styles) -> std::io::Result<()> {
    let groups = s.groups_by_size();
    let shown = if verbose > 0 { groups.len() } else { EXAMPLES.min(groups.len()) };
    for g in &groups[..shown] {
        writeln!(w, "{}", group_heading(g, st))?;
        if !g.more.is_empty() {
            let mut also: Vec<String> = g.more.iter().map(|p| Untrusted(&deja_core::display_path(p)).to_string()).collect();
            let rest = g.count - 1 - g.more.len();
            if rest > 0 {
                also.push(format!("and {rest} more"));
            }
            writeln!(w, "  {}", paint(st.dim, format!("also: {}", also.join(", "))))?;
        }
        match example_text(&g.example) {
            Some(text) => {
                writeln!(w, "  {}", paint(st.dim, "example:"))?;
                write!(w, "{text}")?;
                if !text.ends_with('\n') {
                    writeln!(w)?;
                }
            }
            None => writeln!(w, "  {}", Untrusted(&g.example.message))?,
        }
        writeln!(w)?;
    }
    if shown < groups.len() {
        writeln!(w, "{}", paint(st.bold, format!("{} more failure groups (-v shows their examples):", groups.len() - shown)))?;
        for g in &groups[shown..] {
            writeln!(w, "  {}", group_heading(g, st))?;
        }
        writeln!(w)?;
    }
    super::drift_text::render_groups(w, s, verbose, st)?;
    for line in super::workers::text_lines(s, st) {
        writeln!(w, "{line}")?;
    }
    writeln!(w, "{}", counts_line(s, st))?;
    if verbose > 0 {
        let counts: Vec<String> = s.sandbox.iter().map(|(k, n)| format!("{n} {}", k.as_str())).collect();
        if !counts.is_empty() {
            writeln!(w, "{}", paint(st.dim, format!("sandbox: {}", counts.join(" · "))))?;
        }
        for note in &s.sandbox_notes {
            writeln!(w, "{}", paint(st.dim, format!("  re-imported for every history: {}", Untrusted(note))))?;
        }
    } else if !s.sandbox_notes.is_empty() {
        let n = s.sandbox_notes.len();
        writeln!(
            w,
            "{}",
            paint(st.dim, format!("note: {} re-imported for every history (slower; -v says why)", plural(n, "workflow module is", "workflow modules are")))
        )?;
    }
    Ok(())
}

/// `deja check: 543 histories in 4.8 s (113.1/s, 2 workers): 417 pass · 126 nondeterminism · …`
pub fn counts_line(s: &Summary, st: &Styles) -> String {
    let done = s.done();
    let rate = if s.seconds > 0.0 { done as f64 / s.seconds } else { 0.0 };
    let mut parts = vec![paint(if s.pass > 0 { st.pass } else { st.dim }, format!("{} pass", s.pass))];
    for (n, what) in [(s.nondeterminism, "nondeterminism"), (s.task_failure, "workflow task failure"), (s.error, "error")] {
        parts.push(if n > 0 { paint(st.fail, format!("{n} {what}")) } else { format!("{n} {what}") });
    }
    let mut line = format!(
        "{} {} in {:.1} s ({rate:.1}/s, {}): {}",
        paint(st.bold, "deja check:"),
        plural(done, "history", "histories"),
        s.seconds,
        plural(s.jobs, "worker", "workers"),
        parts.join(" · ")
    );
    if s.load_errors > 0 {
        line.push_str(&format!(" ({} could not be loaded)", s.load_errors));
    }
    line.push_str(&super::drift_text::counts_suffix(s, st));
    if s.skipped > 0 {
        line.push_str(&paint(st.dim, format!(" · {} skipped (not histories; -v lists them)", s.skipped)));
    }
    if s.not_run > 0 {
        line.push_str(&paint(st.warn, format!(" · {} not run (--fail-fast)", s.not_run)));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use deja_core::trace::SandboxUse;

    fn failing(path: &str, sig: &str) -> HistoryResult {
        let mut r = HistoryResult::error(path, "x", "Activity type mismatch".into(), sig.into());
        r.verdict = Verdict::Nondeterminism;
        r.workflow_type = Some("Order".into());
        r.workflow_id = Some("order-1".into());
        r.text = Some("✗ nondeterminism Order order-1 · h.json\n  diff here\n".into());
        r
    }

    #[test]
    fn groups_print_once_with_count_and_one_example() {
        let mut s = Summary::new(903, 903, 2);
        for i in 0..900 {
            s.record(&failing(&format!("h{i}.json"), "Order nondeterminism at wf.py:90"));
        }
        let mut pass = failing("ok.json", "");
        pass.verdict = Verdict::Pass;
        for _ in 0..3 {
            s.record(&pass);
        }
        s.seconds = 2.0;
        let mut out = Vec::new();
        render_summary(&mut out, &s, 0, &Styles::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("diff here").count(), 1, "{text}");
        assert!(text.contains("✗ 900 histories · Order nondeterminism at wf.py:90"), "{text}");
        assert!(text.contains("and 894 more"), "{text}");
        assert!(text.contains("903 histories in 2.0 s (451.5/s, 2 workers): 3 pass · 900 nondeterminism · 0 workflow task failure · 0 error"), "{text}");
    }

    #[test]
    fn modules_that_are_not_reused_are_noted_and_explained_with_v() {
        let mut s = Summary::new(3, 3, 1);
        let note = Some("app.wf: a run changed the module's state 2 times");
        for (sandbox, note) in [(SandboxUse::Reused, None), (SandboxUse::Fresh, note), (SandboxUse::Fresh, note)] {
            let mut r = failing("h.json", "");
            r.verdict = Verdict::Pass;
            r.sandbox = sandbox;
            r.sandbox_note = note.map(String::from);
            s.record(&r);
        }
        let render = |verbose| {
            let mut out = Vec::new();
            render_summary(&mut out, &s, verbose, &Styles::default()).unwrap();
            String::from_utf8(out).unwrap()
        };
        let quiet = render(0);
        assert!(quiet.ends_with("note: 1 workflow module is re-imported for every history (slower; -v says why)\n"), "{quiet}");
        let verbose = render(1);
        assert!(verbose.contains("sandbox: 2 fresh · 1 reused\n  re-imported for every history: app.wf: a run changed the module's state 2 times\n"), "{verbose}");
    }

    /// A crashed or timed-out history has no rendered report from a worker; the runner
    /// records what it saw and this reporter writes it as the group's example.
    #[test]
    fn crashed_and_timed_out_histories_read_as_an_example() {
        use deja_core::model::result::WorkerTail;
        use deja_core::trace::Frame;
        let mut crash = HistoryResult::error("h/a.json", kind::CRASH, "worker crashed: signal 11 (SIGSEGV) while replaying Order o-1".into(), "sig".into());
        crash.workflow_type = Some("Order".into());
        crash.workflow_id = Some("o-1".into());
        crash.location = Some(Frame { file: "/nonexistent/wf.py".into(), line: 27, function: "run".into(), code: String::new() });
        crash.worker_tail = Some(WorkerTail {
            title: "Python's faulthandler (innermost call first):".into(),
            lines: vec!["Fatal Python error: Segmentation fault".into(), "File \"/nonexistent/wf.py\", line 27 in run".into()],
        });
        assert_eq!(
            example_text(&crash).unwrap(),
            "✗ error Order o-1 · h/a.json\n  worker crashed: signal 11 (SIGSEGV) while replaying Order o-1\n    at /nonexistent/wf.py:27 in run\n\n  \
             Python's faulthandler (innermost call first):\n    Fatal Python error: Segmentation fault\n    File \"/nonexistent/wf.py\", line 27 in run\n"
        );
        let timeout = HistoryResult::error("h/b.json", kind::TIMEOUT, "timed out after 3 s".into(), "sig".into());
        assert_eq!(example_text(&timeout).unwrap(), "✗ error h/b.json · h/b.json\n  timed out after 3 s\n");
        let load = HistoryResult::error("h/c.json", kind::LOAD, "h/c.json: truncated JSON".into(), "sig".into());
        assert!(example_text(&load).is_none(), "a load error shows its message, not an example");
        let mut s = Summary::new(1, 1, 1);
        s.record(&crash);
        let mut out = Vec::new();
        render_summary(&mut out, &s, 0, &Styles::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("  example:\n✗ error Order o-1 · h/a.json\n"), "{text}");
        assert!(text.contains("    Fatal Python error: Segmentation fault\n"), "{text}");
    }

    #[test]
    fn progress_lines_have_rate_and_eta() {
        let l = progress_line(100, 500, Duration::from_secs(2), "· 3 failing");
        assert_eq!(l, "deja check: 100/500 (20%) · 50.0/s · ETA 8 s · 3 failing");
    }
}
