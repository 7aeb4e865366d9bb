//! How a `deja check` worker process is started: the one seam between the two ways deja is
//! installed.
//!
//! * The standalone binary starts itself: `<current_exe> __worker`.
//! * The `deja-replay` wheel runs inside the venv's Python, whose `current_exe` is the
//!   *base* interpreter (`/proc/self/exe` resolves the venv's symlink), so a worker is
//!   `sys.executable -m deja __worker`: the same interpreter, the same venv.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

/// A program and the arguments that come before `__worker`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerLaunch {
    pub program: PathBuf,
    pub args_before: Vec<OsString>,
}

impl WorkerLaunch {
    /// How this process starts its workers.
    pub fn current() -> std::io::Result<WorkerLaunch> {
        match crate::replay::host::get() {
            Some(host) => Ok(WorkerLaunch::python(host.executable.clone())),
            None => Ok(WorkerLaunch { program: std::env::current_exe()?, args_before: Vec::new() }),
        }
    }

    /// `PYTHON -m deja`.
    pub fn python(executable: PathBuf) -> WorkerLaunch {
        WorkerLaunch { program: executable, args_before: vec!["-m".into(), "deja".into()] }
    }

    /// A `Command` ready for `.arg("__worker")`.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args_before);
        cmd
    }

    /// For messages: `/venv/bin/python -m deja`.
    pub fn describe(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args_before {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The binary starts itself; the wheel starts `python -m deja` with the venv's own
    /// `sys.executable` (not the resolved base interpreter).
    #[test]
    fn binary_runs_itself_and_the_wheel_runs_python_m_deja() {
        let own = WorkerLaunch::current().unwrap();
        assert_eq!(own.program, std::env::current_exe().unwrap());
        assert!(own.args_before.is_empty());
        let wheel = WorkerLaunch::python(PathBuf::from("/venv/bin/python"));
        let cmd = wheel.command();
        assert_eq!(cmd.get_program(), "/venv/bin/python");
        assert_eq!(cmd.get_args().collect::<Vec<_>>(), ["-m", "deja"]);
        assert_eq!(wheel.describe(), "/venv/bin/python -m deja");
    }
}
