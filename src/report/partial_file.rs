//! A report file (`--json`, `--junit`) written as `FILE.partial` and renamed over `FILE`
//! when the run finishes: a reader never sees half a report under the real name, and a
//! run that stops early (workflow code that does not import, Ctrl-C) leaves none behind.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub struct PartialFile {
    pub path: PathBuf,
    pub partial: PathBuf,
    finished: bool,
}

impl PartialFile {
    /// Create `FILE.partial` (and its directory) now, so an unwritable path fails before
    /// any replay. `flag` names the option in messages (`--json`).
    pub fn create(flag: &str, path: &Path) -> Result<(PartialFile, File)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("{flag} {}: cannot create directory {}", path.display(), dir.display()))?;
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial).with_context(|| format!("{flag} {}: cannot create {}", path.display(), partial.display()))?;
        Ok((PartialFile { path: path.to_path_buf(), partial, finished: false }, file))
    }

    /// The report is complete: give it its real name.
    pub fn finish(&mut self) -> std::io::Result<()> {
        std::fs::rename(&self.partial, &self.path)?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
