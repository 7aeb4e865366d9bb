//! `PATH...` → the history files to check.
//!
//! * a **file** is checked as named, whatever its extension;
//! * a **directory** is walked recursively for `.json`, `.binpb` and `.pb` files (sorted,
//!   hidden directories and symlinked directories skipped);
//! * anything with `*`, `?` or `[` that is not an existing file is a **glob**
//!   (`histories/**/*.json`); a directory it matches is walked.
//!
//! Only paths and sizes are kept (never contents): workers read the files themselves, so
//! parsing is parallel and the parent's memory does not grow with the corpus. The size is
//! the scheduling hint (largest first, so one big history does not start last and leave
//! every other core idle at the end).
//!
//! Each file gets a partition key: its path relative to the argument's root (the directory
//! itself, the glob's literal prefix, or the file's own directory), with `/` separators.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use super::partition::Partition;

/// One file to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    /// Partition key: the path relative to the argument it came from.
    pub key: String,
    /// Bytes on disk (scheduling hint).
    pub size: u64,
    /// Found by a walk or a glob (not named one by one): a JSON file there that is plainly
    /// not a history (no `events` list) is skipped rather than reported as an error.
    pub lenient: bool,
}

/// What discovery found.
#[derive(Debug, Default)]
pub struct Discovered {
    /// This shard's files, in discovery order.
    pub files: Vec<Candidate>,
    /// Files found before `--partition` was applied.
    pub found: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("{arg}: no such file or directory")]
    NotFound { arg: String },
    #[error("{arg}: invalid glob pattern: {msg}")]
    BadGlob { arg: String, msg: String },
    #[error("{path}: cannot read: {error}")]
    Io { path: String, error: std::io::Error },
}

/// Expand the arguments (in order, duplicates dropped) and keep this shard's files.
/// Arguments are paths (not necessarily UTF-8); a glob pattern must be UTF-8 text.
pub fn discover<P: AsRef<Path>>(args: &[P], partition: Option<Partition>) -> Result<Discovered, DiscoverError> {
    let mut all = Vec::new();
    for arg in args {
        expand_arg(arg.as_ref(), &mut all)?;
    }
    let mut seen = HashSet::new();
    all.retain(|c: &Candidate| seen.insert(std::fs::canonicalize(&c.path).unwrap_or_else(|_| c.path.clone())));
    let found = all.len();
    if let Some(p) = partition {
        all.retain(|c| p.contains(&c.key));
    }
    Ok(Discovered { files: all, found })
}

fn is_glob(arg: &str) -> bool {
    arg.contains(['*', '?', '['])
}

fn expand_arg(path: &Path, out: &mut Vec<Candidate>) -> Result<(), DiscoverError> {
    if path.is_dir() {
        return walk(path, path, out);
    }
    if path.is_file() {
        let root = path.parent().unwrap_or(Path::new(""));
        out.push(candidate(path, root, false)?);
        return Ok(());
    }
    let Some(arg) = path.to_str().filter(|a| is_glob(a)) else {
        return Err(DiscoverError::NotFound { arg: path.display().to_string() });
    };
    let root = glob_root(arg);
    // Like a shell: `*` does not match a leading dot (hidden files and directories).
    let opts = glob::MatchOptions { require_literal_leading_dot: true, ..glob::MatchOptions::new() };
    let paths = glob::glob_with(arg, opts).map_err(|e| DiscoverError::BadGlob { arg: arg.to_string(), msg: e.to_string() })?;
    for entry in paths {
        let p = entry.map_err(|e| DiscoverError::Io { path: e.path().display().to_string(), error: e.into() })?;
        if p.is_dir() {
            walk(&p, &root, out)?;
        } else if p.is_file() {
            out.push(candidate(&p, &root, true)?);
        }
    }
    Ok(())
}

/// The literal directory a glob starts from: `histories/**/*.json` → `histories`.
fn glob_root(pattern: &str) -> PathBuf {
    let mut root = PathBuf::new();
    for comp in Path::new(pattern).components() {
        if is_glob(&comp.as_os_str().to_string_lossy()) {
            break;
        }
        root.push(comp);
    }
    // The last literal component may be the file itself (no wildcard at all is handled
    // earlier), so the root is always a directory prefix here.
    root
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<Candidate>) -> Result<(), DiscoverError> {
    let io = |error| DiscoverError::Io { path: dir.display().to_string(), error };
    let mut entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir).map_err(io)?.collect::<Result<_, _>>().map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let ft = e.file_type().map_err(io)?;
        if ft.is_dir() {
            if !e.file_name().to_string_lossy().starts_with('.') {
                walk(&p, root, out)?;
            }
        } else if is_history_ext(&p) && p.is_file() {
            out.push(candidate(&p, root, true)?);
        }
    }
    Ok(())
}

fn is_history_ext(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(), Some("json" | "binpb" | "pb"))
}

fn candidate(path: &Path, root: &Path, lenient: bool) -> Result<Candidate, DiscoverError> {
    let size = std::fs::metadata(path).map_err(|error| DiscoverError::Io { path: path.display().to_string(), error })?.len();
    Ok(Candidate { path: path.to_path_buf(), key: key_of(path, root), size, lenient })
}

/// `path` relative to `root`, `/`-separated, without `.` components.
fn key_of(path: &Path, root: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".to_string()),
            _ => None,
        })
        .collect();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("deja-discover-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        for f in ["a.json", "b.binpb", "notes.txt", "sub/c.json", ".hidden/d.json", "sub/deeper/e.pb"] {
            let p = d.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "{}").unwrap();
        }
        d
    }

    #[test]
    fn walks_globs_files_and_keys_are_root_relative() {
        let d = tree("walk");
        let ds = d.display().to_string();
        let got = discover(std::slice::from_ref(&ds), None).unwrap();
        let keys: Vec<&str> = got.files.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["a.json", "b.binpb", "sub/c.json", "sub/deeper/e.pb"]);
        assert!(got.files.iter().all(|c| c.lenient));

        let got = discover(&[format!("{ds}/**/*.json")], None).unwrap();
        let keys: Vec<&str> = got.files.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["a.json", "sub/c.json"]);

        // A named file is strict, and naming it twice checks it once.
        let f = format!("{ds}/notes.txt");
        let got = discover(&[f.clone(), f, ds.clone()], None).unwrap();
        assert_eq!(got.files[0].key, "notes.txt");
        assert!(!got.files[0].lenient);
        assert_eq!(got.files.len(), 5);

        assert!(matches!(discover(&[format!("{ds}/missing.json")], None), Err(DiscoverError::NotFound { .. })));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn partition_keeps_a_share_and_counts_all() {
        let d = tree("partition");
        let ds = d.display().to_string();
        let mut total = 0;
        for k in 1..=3 {
            let got = discover(std::slice::from_ref(&ds), Some(Partition { k, n: 3 })).unwrap();
            assert_eq!(got.found, 4);
            total += got.files.len();
        }
        assert_eq!(total, 4);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn glob_roots() {
        assert_eq!(glob_root("histories/**/*.json"), PathBuf::from("histories"));
        assert_eq!(glob_root("*.json"), PathBuf::new());
        assert_eq!(glob_root("a/b?/c.json"), PathBuf::from("a"));
    }
}
