//! `deja debug` through the real binary in a real terminal (tmux): open the divergent
//! shopping-cart history, jump to the divergence, step back, quit, and check the terminal
//! came back (alternate screen left, cooked mode, the shell prompt).
//!
//! Needs tmux (`make test` installs it). Each run uses its own tmux server
//! (`-L deja-test-<pid>`), killed at the end even when an assertion fails.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const PROMPT: &str = "deja-test$ ";

/// One private tmux server; killed on drop.
struct Tmux {
    socket: String,
    /// The socket file, removed on drop (tmux 3.3 leaves it behind after kill-server).
    socket_path: Option<String>,
}

impl Tmux {
    fn start(width: u16, height: u16, dir: &Path) -> Option<Tmux> {
        // Not skipped when tmux is missing: `make test` installs it (scripts/install-test-deps.sh).
        assert!(
            Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()),
            "tmux is not installed: run `bash scripts/install-test-deps.sh` (make test does)"
        );
        // One server per test (tests run in parallel threads of one process).
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut t = Tmux { socket: format!("deja-test-{}-{n}", std::process::id()), socket_path: None };
        let out = t.cmd(&[
            "new-session",
            "-d",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "-c",
            &dir.display().to_string(),
            "-e",
            &format!("PS1={PROMPT}"),
            "-e",
            "TERM=xterm-256color",
            "env",
            "-u",
            "NO_COLOR",
            "-u",
            "PYTHONPATH",
            "bash",
            "--norc",
            "--noprofile",
        ]);
        assert!(out.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&out.stderr));
        let path = String::from_utf8_lossy(&t.cmd(&["display-message", "-p", "#{socket_path}"]).stdout).trim().to_string();
        t.socket_path = (!path.is_empty()).then_some(path);
        Some(t)
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("run tmux")
    }

    fn send_line(&self, line: &str) {
        self.cmd(&["send-keys", "-t", "0", "-l", line]);
        self.cmd(&["send-keys", "-t", "0", "Enter"]);
    }

    fn keys(&self, keys: &str) {
        self.cmd(&["send-keys", "-t", "0", "-l", keys]);
    }

    /// A key by tmux name (`C-c`), not literal text.
    fn key(&self, name: &str) {
        self.cmd(&["send-keys", "-t", "0", name]);
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "0"]).stdout).into_owned()
    }

    fn alternate_on(&self) -> bool {
        String::from_utf8_lossy(&self.cmd(&["display-message", "-p", "-t", "0", "#{alternate_on}"]).stdout).trim() == "1"
    }

    /// Wait until the screen satisfies `ok`; the last screen either way.
    fn wait_for(&self, what: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            if started.elapsed() > timeout {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
        if let Some(p) = &self.socket_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[test]
fn debug_divergence_step_back_quit_restores_terminal() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(t) = Tmux::start(120, 40, repo) else { return };
    t.wait_for("the shell prompt", Duration::from_secs(10), |s| s.contains(PROMPT.trim_end()));
    let bin = env!("CARGO_BIN_EXE_deja");
    t.send_line(&format!(
        "{bin} debug histories/shopping_cart.json --workflows histories/code_v2/workflows.py; echo deja-exit=$?"
    ));
    t.wait_for("the debugger", Duration::from_secs(60), |s| s.contains("q quit"));
    assert!(t.alternate_on(), "the UI runs on the alternate screen");
    // The UI opens at once; the verdict arrives when the replay (on its own thread) ends.
    t.wait_for("the verdict", Duration::from_secs(60), |s| s.contains("nondeterminism"));

    // From the start, d jumps to the divergence: event 23, both sides of the diff.
    t.keys("g");
    t.wait_for("the start", Duration::from_secs(5), |s| s.contains(" task 1/7 "));
    t.keys("d");
    let s = t.wait_for("the divergence", Duration::from_secs(5), |s| s.contains("first divergence: event 23"));
    assert!(s.contains("event 23/35 ActivityTaskScheduled"), "status line names the event:\n{s}");
    assert!(s.contains("23 ActivityTaskScheduled price_cart #1"), "recorded side:\n{s}");
    assert!(s.contains("StartTimer 1 (5m)"), "emitted side:\n{s}");
    assert!(s.contains("workflows.py:225"), "source line:\n{s}");

    // One step back: the checkout signal.
    t.keys("k");
    let s = t.wait_for("one step back", Duration::from_secs(5), |s| s.contains("event 19/35"));
    assert!(s.contains("signal checkout"), "{s}");

    // Quit: the shell is back, on the normal screen, in cooked mode.
    t.keys("q");
    let s = t.wait_for("the shell", Duration::from_secs(10), |s| s.contains("deja-exit=0"));
    assert!(!t.alternate_on(), "alternate screen left");
    assert!(!s.contains("q quit"), "the UI is gone:\n{s}");
    // `-icanon` in `stty -a` means raw mode was left on. (The output is built by sed so
    // the typed command line itself cannot match.)
    t.send_line("stty -a | grep -c -- -icanon | sed s/^/raw-flags=/");
    let s = t.wait_for("stty and the prompt after it", Duration::from_secs(5), |s| {
        (s.contains("raw-flags=0") || s.contains("raw-flags=1")) && s.trim_end().ends_with(PROMPT.trim_end())
    });
    assert!(s.contains("raw-flags=0"), "raw mode left on:\n{s}");
}

/// The UI opens while the replay runs (the timeline needs only the history); `q` and
/// Ctrl-C quit at once even though Python is busy replaying 11,684 events, and the
/// terminal comes back.
#[test]
fn q_and_ctrl_c_quit_while_the_big_history_is_still_replaying() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(t) = Tmux::start(120, 40, repo) else { return };
    t.wait_for("the shell prompt", Duration::from_secs(10), |s| s.contains(PROMPT.trim_end()));
    let bin = env!("CARGO_BIN_EXE_deja");
    let command = format!("{bin} debug histories/catalog_reindex_large.json --workflows histories/code/workflows.py; echo deja-exit=$?");

    // Left alone, the steps fill in as the replay goes, then the verdict arrives.
    t.send_line(&command);
    t.wait_for("progress", Duration::from_secs(30), |s| s.contains("activations so far"));
    t.wait_for("the verdict", Duration::from_secs(120), |s| s.contains("✓ pass") && s.contains("every command matched history"));
    t.keys("q");
    t.wait_for("the shell", Duration::from_secs(10), |s| s.lines().any(|l| l.starts_with("deja-exit=0")));

    for (quit, label) in [("q", "q"), ("C-c", "Ctrl-C")] {
        t.cmd(&["send-keys", "-t", "0", "clear", "Enter"]);
        t.send_line(&command);
        let s = t.wait_for("the debugger, still replaying", Duration::from_secs(30), |s| s.contains("q quit"));
        assert!(s.contains("… replaying") && s.contains("replaying 11684 events"), "{label}: the UI opened before the replay ended:\n{s}");
        // The timeline works meanwhile.
        t.keys("j");
        t.wait_for("a step on the timeline", Duration::from_secs(5), |s| s.contains("event 1/11684"));
        let s = t.screen();
        assert!(s.contains("… replaying"), "{label}: still replaying when the key is pressed:\n{s}");
        let pressed = Instant::now();
        if quit == "q" {
            t.keys("q");
        } else {
            t.key(quit);
        }
        // (The typed command line contains "deja-exit=" too: wait for echo's own line.)
        let s = t.wait_for("the shell", Duration::from_secs(10), |s| s.lines().any(|l| l.starts_with("deja-exit=")));
        assert!(pressed.elapsed() < Duration::from_secs(3), "{label}: quitting took {:?}", pressed.elapsed());
        assert!(s.contains("deja-exit=0"), "{label}: exit status:\n{s}");
        assert!(!s.contains("KeyboardInterrupt") && !s.contains("importing temporalio failed"), "{label}:\n{s}");
        assert!(!t.alternate_on(), "{label}: alternate screen left");
        t.send_line("stty -a | grep -c -- -icanon | sed s/^/raw-flags=/");
        let s = t.wait_for("stty", Duration::from_secs(5), |s| s.contains("raw-flags=0") || s.contains("raw-flags=1"));
        assert!(s.contains("raw-flags=0"), "{label}: raw mode left on:\n{s}");
    }
}
