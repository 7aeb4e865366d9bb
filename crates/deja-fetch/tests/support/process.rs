//! Child processes that never outlive the test binary.
//!
//! Each daemon runs in its own process group. It is stopped when its [`Daemon`] is
//! dropped, when the test process exits normally (an `atexit` hook — statics are never
//! dropped), and when the test process dies in any other way: the child is given
//! `PR_SET_PDEATHSIG`, which the kernel delivers when the *thread* that spawned it
//! ends, so it is spawned from a thread that lives as long as the process.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// Process groups to kill at exit.
static AT_EXIT: Mutex<Vec<i32>> = Mutex::new(Vec::new());

extern "C" fn kill_all_at_exit() {
    let groups = std::mem::take(&mut *AT_EXIT.lock().unwrap_or_else(|e| e.into_inner()));
    for pgid in groups {
        kill_group(pgid);
    }
}

/// A running child process group.
pub struct Daemon {
    pub pgid: i32,
}

impl Daemon {
    /// Starts `cmd` (stdio already set up by the caller) as a daemon.
    pub fn spawn(name: &str, mut cmd: Command) -> Result<Daemon, String> {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| unsafe {
            libc::atexit(kill_all_at_exit);
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("daemon-{name}"))
            .spawn(move || {
                unsafe {
                    cmd.pre_exec(|| {
                        libc::setpgid(0, 0);
                        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                        Ok(())
                    });
                }
                let _ = tx.send(
                    cmd.spawn()
                        .map(|c| c.id() as i32)
                        .map_err(|e| e.to_string()),
                );
                // PR_SET_PDEATHSIG fires when this thread ends: never end.
                loop {
                    std::thread::park();
                }
            })
            .unwrap();
        let pgid = rx
            .recv()
            .unwrap()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        AT_EXIT.lock().unwrap().push(pgid);
        Ok(Daemon { pgid })
    }

    /// Whether the process is still there (reaping it if it has exited).
    pub fn is_alive(&self) -> bool {
        unsafe {
            libc::waitpid(self.pgid, std::ptr::null_mut(), libc::WNOHANG);
            libc::killpg(self.pgid, 0) == 0
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        AT_EXIT
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| *p != self.pgid);
        kill_group(self.pgid);
    }
}

/// SIGTERM, up to 3 s of grace, then SIGKILL; reaps the leader.
fn kill_group(pgid: i32) {
    unsafe {
        libc::killpg(pgid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        unsafe {
            libc::waitpid(pgid, std::ptr::null_mut(), libc::WNOHANG);
            if libc::killpg(pgid, 0) != 0 {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
        libc::waitpid(pgid, std::ptr::null_mut(), 0);
    }
}
