//! Sharing one interpreter start-up between a pool's workers (Linux).
//!
//! Most of a worker's start-up is CPython and `import temporalio` (bench/startup.py:
//! ~265 ms of ~330 ms on the dev machine); the user's code and the replayer are the rest.
//! So the pool starts ONE `deja __worker` the usual way and hands it, as inherited file
//! descriptors, the pipes of the other slots it wants filled. That worker, once its
//! interpreter is up and `temporalio` imported — and before the user's code is imported
//! or any temporalio `Runtime` (tokio threads) exists — forks one process per slot and
//! carries on as slot 0. Each fork takes its slot's pipes as its protocol channel and
//! stderr, says `forked {pid}`, imports the code and reports `ready` like any worker.
//!
//! * **Forking is safe only single-threaded**: the worker checks `/proc/self/task` holds
//!   one thread and forks through Python's `os.fork` (Python's own before/after-fork
//!   handling). If it cannot fork, it closes the slots' pipes; the pool sees a slot close
//!   before any `forked` and starts that slot the ordinary way (so does a failure to
//!   start at all: the first worker's own `setup_failed` is the run's one message).
//! * **The pool stays the parent**: the fork is a double fork (the middle process exits at
//!   once) and `deja check` is a child subreaper (`PR_SET_CHILD_SUBREAPER`), so each
//!   forked worker is re-parented to `deja check`, which can `waitpid` it — the crash
//!   report still gets the real signal or exit status — and kill it on `--timeout`. Once
//!   re-parented, the worker sets `PR_SET_PDEATHSIG` like a spawned one.
//! * A slot whose worker dies is refilled by an ordinary spawn (crashes are rare; the
//!   first worker has imported user code by then and must not fork any more).

use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, RawFd};

/// Environment variable naming the slots' inherited fds: `in,out,err;in,out,err;…`.
pub const ENV: &str = "DEJA_FORK_SLOTS";

/// The fds of one slot, as the forked worker sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildFds {
    pub input: RawFd,
    pub output: RawFd,
    pub stderr: RawFd,
}

/// The pool's side of one slot's pipes.
pub struct ParentEnds {
    pub stdin: File,
    pub stdout: File,
    pub stderr: File,
}

fn pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array; checked.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((fds[0], fds[1]))
}

/// Pipes for one slot: the pool's ends, and the child's (close-on-exec until the spawn's
/// `pre_exec` clears it in the child only, see [`inherit`]).
pub fn slot_pipes() -> io::Result<(ParentEnds, ChildFds)> {
    let (to_r, to_w) = pipe()?;
    let (from_r, from_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    // SAFETY: fresh fds from pipe2, each owned by exactly one File or ChildFds.
    let parent = unsafe { ParentEnds { stdin: File::from_raw_fd(to_w), stdout: File::from_raw_fd(from_r), stderr: File::from_raw_fd(err_r) } };
    Ok((parent, ChildFds { input: to_r, output: from_w, stderr: err_w }))
}

/// The [`ENV`] value for these slots.
pub fn env_value(slots: &[ChildFds]) -> String {
    slots.iter().map(|s| format!("{},{},{}", s.input, s.output, s.stderr)).collect::<Vec<_>>().join(";")
}

/// In the spawned child, between fork and exec: keep these fds open across exec.
/// Async-signal-safe (fcntl only).
pub fn inherit(slots: &[ChildFds]) -> io::Result<()> {
    for s in slots {
        for fd in [s.input, s.output, s.stderr] {
            // SAFETY: fcntl on an fd this process holds; checked.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// In the pool, after the spawn: close the child's ends (so a slot's end of file means
/// its worker — or the first worker, before forking — is gone).
pub fn close_child_ends(slots: &[ChildFds]) {
    for s in slots {
        for fd in [s.input, s.output, s.stderr] {
            // SAFETY: the pool's copies of fds only the child uses.
            unsafe { libc::close(fd) };
        }
    }
}

/// Make this process (`deja check`) the reaper of its workers' orphans: forked workers
/// are re-parented here, so they can be waited for like spawned ones.
pub fn become_subreaper() -> bool {
    // SAFETY: a plain prctl on this process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 }
}

fn parse(value: &str) -> Vec<ChildFds> {
    value
        .split(';')
        .filter_map(|s| {
            let v: Vec<RawFd> = s.split(',').filter_map(|x| x.parse().ok()).collect();
            (v.len() == 3).then(|| ChildFds { input: v[0], output: v[1], stderr: v[2] })
        })
        .collect()
}

fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task").map(|d| d.count() == 1).unwrap_or(false)
}

/// In the first worker, after the interpreter is up and before the user's code: fork one
/// worker per slot named in [`ENV`]. Returns `Some((input, output))` in a forked worker —
/// its protocol channel; its stderr is already the slot's — and `None` in the first
/// worker (which has closed every slot's fds by then) or when there are no slots.
pub fn fork_siblings() -> Option<(File, File)> {
    let slots = parse(&std::env::var(ENV).ok()?);
    // SAFETY: getppid cannot fail.
    let pool_pid = unsafe { libc::getppid() };
    let can_fork = single_threaded();
    let mut mine = None;
    for k in 0..slots.len() {
        if !can_fork {
            break;
        }
        match crate::replay::embed::fork_via_python() {
            Ok(0) => {
                // The middle process: fork the worker and leave at once, so the worker is
                // re-parented to the pool (a subreaper).
                match crate::replay::embed::fork_via_python() {
                    Ok(0) => {
                        mine = Some(k);
                        break;
                    }
                    // SAFETY: _exit ends the middle process without running any clean-up.
                    _ => unsafe { libc::_exit(0) },
                }
            }
            Ok(middle) => {
                // SAFETY: reaping our own child.
                unsafe { libc::waitpid(middle, std::ptr::null_mut(), 0) };
            }
            Err(_) => break,
        }
    }
    let Some(k) = mine else {
        close_child_ends(&slots);
        return None;
    };
    for (j, s) in slots.iter().enumerate() {
        if j != k {
            close_child_ends(std::slice::from_ref(s));
        }
    }
    let me = slots[k];
    // SAFETY: fd plumbing on this process's own descriptors, single-threaded (the caller
    // checked before forking; a fork has only the forking thread).
    unsafe {
        libc::dup2(me.stderr, 2);
        libc::dup2(me.stderr, 1);
        libc::close(me.stderr);
        libc::fcntl(me.input, libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(me.output, libc::F_SETFD, libc::FD_CLOEXEC);
        // Wait to be re-parented to the pool, then die with it like a spawned worker.
        for _ in 0..2000 {
            if libc::getppid() == pool_pid {
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != pool_pid {
            libc::_exit(3);
        }
        Some((File::from_raw_fd(me.input), File::from_raw_fd(me.output)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_fds_round_trip_through_the_environment() {
        let s = [ChildFds { input: 5, output: 6, stderr: 7 }, ChildFds { input: 10, output: 11, stderr: 12 }];
        assert_eq!(env_value(&s), "5,6,7;10,11,12");
        assert_eq!(parse(&env_value(&s)), s);
        assert!(parse("").is_empty());
    }
}
