//! Report files a CI can trust (`deja check --json FILE` / `--junit FILE`).
//!
//! * Each run writes into its **own** temporary file beside `FILE` (`.FILE.XXXXXX.partial`,
//!   created with `tempfile` in the destination directory) and renames it over `FILE` when
//!   the run finishes. Two runs given the same path never share a temporary file; a reader
//!   sees either the old document or the new one, never half of one.
//! * A run that ends in an **error** (exit 2: workflow code that does not import, no
//!   histories, a broken environment…) or is **interrupted** (Ctrl-C, SIGTERM) does not
//!   leave the previous run's report in place: `FILE` is replaced by a report that says
//!   error ([`write_error`]), and the temporary file is removed.
//!
//! Open temporary files are listed in a process-wide registry so that the signal handler
//! ([`clean_up_on_signals`]) can find them.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

/// Which report a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Json,
    Junit,
}

impl Kind {
    pub fn flag(self) -> &'static str {
        match self {
            Kind::Json => "--json",
            Kind::Junit => "--junit",
        }
    }
}

/// Open report files: (temporary path, destination, kind).
static OPEN: Mutex<Vec<(PathBuf, PathBuf, Kind)>> = Mutex::new(Vec::new());

/// A report being written: a unique temporary file beside `dest`, renamed over it by
/// [`ReportFile::commit`]; dropped without a commit, the temporary file is removed.
pub struct ReportFile {
    kind: Kind,
    dest: PathBuf,
    tmp: Option<tempfile::NamedTempFile>,
}

impl ReportFile {
    /// Create the temporary file now, so an unwritable path fails before any replay.
    pub fn create(kind: Kind, dest: &Path) -> Result<ReportFile> {
        let tmp = temp_beside(kind, dest)?;
        if let Ok(mut open) = OPEN.lock() {
            open.push((tmp.path().to_path_buf(), dest.to_path_buf(), kind));
        }
        Ok(ReportFile { kind, dest: dest.to_path_buf(), tmp: Some(tmp) })
    }

    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// The temporary file, to write the document into.
    pub fn file(&self) -> Result<File> {
        let tmp = self.tmp.as_ref().context("report file already committed")?;
        tmp.as_file().try_clone().with_context(|| format!("{} {}: cannot write {}", self.kind.flag(), self.dest.display(), tmp.path().display()))
    }

    /// Rename the finished temporary file over the destination (atomic on one file system).
    pub fn commit(&mut self) -> Result<()> {
        let Some(tmp) = self.tmp.take() else { return Ok(()) };
        let path = tmp.path().to_path_buf();
        tmp.as_file().sync_all().ok();
        // Unregistered only after the rename: a signal in between finds no file to remove
        // rather than leaving one behind.
        let persisted = tmp.persist(&self.dest);
        unregister(&path);
        persisted.map_err(|e| e.error).with_context(|| format!("{}: writing {}", self.kind.flag(), self.dest.display()))?;
        Ok(())
    }
}

impl Drop for ReportFile {
    fn drop(&mut self) {
        if let Some(tmp) = &self.tmp {
            unregister(tmp.path());
        }
        // NamedTempFile removes the file itself.
    }
}

fn unregister(path: &Path) {
    if let Ok(mut open) = OPEN.lock() {
        open.retain(|(p, _, _)| p != path);
    }
}

fn temp_beside(kind: Kind, dest: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = match dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("{} {}: cannot create directory {}", kind.flag(), dest.display(), dir.display()))?;
            dir.to_path_buf()
        }
        None => PathBuf::from("."),
    };
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into());
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .tempfile_in(&dir)
        .with_context(|| format!("{} {}: cannot create a file in {}", kind.flag(), dest.display(), dir.display()))
}

/// Replace `dest` with a report that says the run failed with `message` (atomically, through
/// a temporary file of its own), so a CI never reads an older run's pass.
pub fn write_error(kind: Kind, dest: &Path, message: &str) -> Result<()> {
    let mut tmp = temp_beside(kind, dest)?;
    let doc = match kind {
        Kind::Json => error_json(message),
        Kind::Junit => error_junit(message)?,
    };
    tmp.write_all(doc.as_bytes()).with_context(|| format!("{}: writing {}", kind.flag(), tmp.path().display()))?;
    tmp.persist(dest).map_err(|e| e.error).with_context(|| format!("{}: writing {}", kind.flag(), dest.display()))?;
    Ok(())
}

/// The `deja.check/v1` document of a run that could not check (docs/JSON.md): no results,
/// no summary, `error` set, `exit_code` 2.
pub fn error_json(message: &str) -> String {
    let doc = serde_json::json!({
        "schema": super::json::SCHEMA,
        "deja_version": env!("CARGO_PKG_VERSION"),
        "error": message,
        "exit_code": deja_core::exit::ERROR,
        "results": [],
        "summary": null,
    });
    format!("{doc:#}\n")
}

/// A JUnit report with one errored test case, `deja check`, whose message is `message`.
pub fn error_junit(message: &str) -> Result<String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
    status.set_message(message);
    status.set_type("error: deja check did not run");
    let mut suite = TestSuite::new("deja check");
    suite.add_test_case(TestCase::new("deja check", status));
    let mut report = Report::new("deja check");
    report.add_test_suite(suite);
    report.to_string().context("serialising the JUnit error report")
}

/// Ctrl-C (SIGINT) and SIGTERM while report files are open: remove their temporary files,
/// replace each destination with an error report ("interrupted"), and exit 130 / 143
/// (128 + the signal, the shell convention). Workers die with the parent (PDEATHSIG).
pub fn clean_up_on_signals() -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).context("installing the SIGINT/SIGTERM handler")?;
    std::thread::Builder::new()
        .name("deja-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let name = if sig == SIGINT { "SIGINT (Ctrl-C)" } else { "SIGTERM" };
                let open = OPEN.lock().map(|o| o.clone()).unwrap_or_default();
                for (tmp, dest, kind) in open {
                    let _ = std::fs::remove_file(&tmp);
                    let _ = write_error(kind, &dest, &format!("deja check was interrupted by {name}; no verdicts"));
                }
                eprintln!("\ndeja: interrupted by {name}");
                std::process::exit(128 + sig);
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_writers_of_one_path_do_not_share_a_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out/check.json");
        let mut a = ReportFile::create(Kind::Json, &dest).unwrap();
        let mut b = ReportFile::create(Kind::Json, &dest).unwrap();
        a.file().unwrap().write_all(b"{\"a\":1}").unwrap();
        b.file().unwrap().write_all(b"{\"b\":2}").unwrap();
        a.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "{\"a\":1}");
        b.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "{\"b\":2}");
        let left: Vec<_> = std::fs::read_dir(dest.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, [std::ffi::OsString::from("check.json")]);
        // Dropped without a commit: no temporary file left, destination untouched.
        drop(ReportFile::create(Kind::Junit, &dest).unwrap());
        assert_eq!(std::fs::read_dir(dest.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn error_reports_say_error() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("c.json");
        std::fs::write(&json, "{\"old\": \"pass\"}").unwrap();
        write_error(Kind::Json, &json, "loading workflow code: boom").unwrap();
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!((v["error"].as_str(), v["exit_code"].as_u64()), (Some("loading workflow code: boom"), Some(2)));
        let xml = dir.path().join("j.xml");
        write_error(Kind::Junit, &xml, "boom <&>").unwrap();
        let r = quick_junit::Report::deserialize_from_str(&std::fs::read_to_string(&xml).unwrap()).unwrap();
        assert_eq!((r.tests, r.errors), (1, 1));
    }
}
