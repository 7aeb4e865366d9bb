//! `--baseline REF|PATH`: the old version of the user's workflow code, to replay the same
//! history against and diff with (see `deja_core::cause::baseline`).
//!
//! * `REF` (a git revision: `main`, `HEAD~1`): the workflow files — and the Python files
//!   beside them, which they import — as they were at REF, written with `git show` into a
//!   temporary directory **outside** the user's tree (nothing is written into it).
//! * `PATH`: a file (the old workflow file) or a directory holding the old code; each
//!   workflow file is matched by its path relative to the current directory, else by its
//!   file name. Workflows are then registered by type name, as the replayer always does.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use deja_core::cause::FilePair;
use deja_core::trace::CodeConfig;

/// The old code, ready to load.
pub struct OldCode {
    /// What the user passed.
    pub label: String,
    /// How to load it (the new config with workflow files and paths mapped).
    pub code: CodeConfig,
    /// Each workflow file in both versions.
    pub files: Vec<FilePair>,
    /// The temporary checkout (`REF`), removed when dropped.
    _dir: Option<tempfile::TempDir>,
}

/// `(path, ":Class" suffix)` of a `--workflows` spec that names a file.
fn split_class(spec: &str) -> (&str, &str) {
    if let Some((left, right)) = spec.rsplit_once(':')
        && !right.is_empty()
        && right.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        && !left.is_empty()
    {
        return (left, &spec[left.len()..]);
    }
    (spec, "")
}

/// The source file of a `--workflows` spec (a file, or a module found on the python path).
fn workflow_file(spec: &str, code: &CodeConfig) -> Result<PathBuf> {
    let (target, _) = split_class(spec);
    let p = Path::new(target);
    if target.ends_with(".py") || target.contains('/') || p.exists() {
        let p = if p.is_dir() { p.join("__init__.py") } else { p.to_path_buf() };
        return p.canonicalize().with_context(|| format!("--baseline: cannot read the workflow file {target}"));
    }
    let rel = target.replace('.', "/");
    let mut roots: Vec<PathBuf> = code.python_path.iter().map(PathBuf::from).collect();
    roots.push(std::env::current_dir()?);
    for r in roots {
        for cand in [r.join(format!("{rel}.py")), r.join(&rel).join("__init__.py")] {
            if cand.is_file() {
                return Ok(cand.canonicalize()?);
            }
        }
    }
    bail!("--baseline: cannot find the source file of workflow module {target} (on --python-path or the current directory); pass --workflows as a file path")
}

fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output> {
    Command::new("git").arg("-C").arg(dir).args(args).output().with_context(|| "--baseline REF needs git on PATH")
}

/// Resolve `--baseline SPEC` against the code being replayed.
pub fn resolve(spec: &str, code: &CodeConfig) -> Result<OldCode> {
    let files: Vec<PathBuf> = code.workflows.iter().map(|w| workflow_file(w, code)).collect::<Result<_>>()?;
    if Path::new(spec).exists() {
        return from_path(spec, code, &files);
    }
    from_git(spec, code, &files)
}

fn from_path(spec: &str, code: &CodeConfig, files: &[PathBuf]) -> Result<OldCode> {
    let base = Path::new(spec).canonicalize()?;
    let cwd = std::env::current_dir()?;
    let mut pairs = Vec::new();
    let mut mapped = code.clone();
    let mut extra_path = Vec::new();
    for (i, new) in files.iter().enumerate() {
        let old = if base.is_file() {
            if files.len() > 1 {
                bail!("--baseline {spec}: a single file, but {} workflow files are replayed; pass a directory holding the old code", files.len());
            }
            base.clone()
        } else {
            let by_rel = new.strip_prefix(&cwd).ok().map(|r| base.join(r)).filter(|p| p.is_file());
            let name = new.file_name().unwrap_or_default();
            let by_name = || find_named(&base, name, 4);
            by_rel.or_else(by_name).with_context(|| {
                format!("--baseline {spec}: no old version of {} in it (looked for the same relative path, then the file name)", new.display())
            })?
        };
        pairs.push(pair(new, &old, std::fs::read_to_string(&old).with_context(|| format!("--baseline: reading {}", old.display()))?)?);
        let (_, class) = split_class(&code.workflows[i]);
        mapped.workflows[i] = format!("{}{class}", old.display());
        if let Some(d) = old.parent() {
            extra_path.push(d.display().to_string());
        }
    }
    extra_path.append(&mut mapped.python_path);
    mapped.python_path = extra_path;
    Ok(OldCode { label: spec.to_string(), code: mapped, files: pairs, _dir: None })
}

fn find_named(dir: &Path, name: &std::ffi::OsStr, depth: u32) -> Option<PathBuf> {
    let direct = dir.join(name);
    if direct.is_file() {
        return Some(direct);
    }
    if depth == 0 {
        return None;
    }
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir).ok()?.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    subdirs.sort();
    subdirs.into_iter().find_map(|d| find_named(&d, name, depth - 1))
}

fn pair(new: &Path, old: &Path, old_text: String) -> Result<FilePair> {
    Ok(FilePair {
        new_file: new.display().to_string(),
        old_file: old.display().to_string(),
        old_text,
        new_text: std::fs::read_to_string(new).with_context(|| format!("--baseline: reading {}", new.display()))?,
    })
}

fn from_git(spec: &str, code: &CodeConfig, files: &[PathBuf]) -> Result<OldCode> {
    let first = files.first().context("--baseline: no workflow code")?;
    let dir = first.parent().unwrap_or(Path::new("."));
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if !top.status.success() {
        bail!("--baseline {spec}: not a file or folder, and {} is not in a git repository (for a revision)", dir.display());
    }
    let root = PathBuf::from(String::from_utf8_lossy(&top.stdout).trim()).canonicalize()?;
    let rev = git(&root, &["rev-parse", "--verify", "--quiet", &format!("{spec}^{{commit}}")])?;
    if !rev.status.success() {
        bail!("--baseline {spec}: not a file, a folder or a git revision of {}", root.display());
    }
    let commit = String::from_utf8_lossy(&rev.stdout).trim().to_string();
    let tmp = tempfile::Builder::new().prefix("deja-baseline-").tempdir().context("--baseline: cannot create a temporary directory")?;
    let mut pairs = Vec::new();
    let mut mapped = code.clone();
    let mut extra_path = Vec::new();
    let mut exported = std::collections::BTreeSet::new();
    for (i, new) in files.iter().enumerate() {
        let rel = new.strip_prefix(&root).with_context(|| format!("--baseline {spec}: {} is outside the repository {}", new.display(), root.display()))?;
        let rel_dir = rel.parent().unwrap_or(Path::new(""));
        // The workflow file's folder as it was (the modules it imports live there).
        let listing = git(&root, &["ls-tree", "--name-only", &commit, &format!("{}/", rel_dir.display())])?;
        let mut wanted: Vec<String> = String::from_utf8_lossy(&listing.stdout).lines().filter(|l| l.ends_with(".py")).map(str::to_string).collect();
        let rel_s = rel.display().to_string();
        if !wanted.contains(&rel_s) {
            wanted.push(rel_s.clone());
        }
        for path in wanted {
            if !exported.insert(path.clone()) {
                continue;
            }
            let shown = git(&root, &["show", &format!("{commit}:{path}")])?;
            if !shown.status.success() {
                if path == rel_s {
                    bail!("--baseline {spec}: {rel_s} does not exist at {spec}");
                }
                continue;
            }
            let dest = tmp.path().join(&path);
            if let Some(d) = dest.parent() {
                std::fs::create_dir_all(d)?;
            }
            std::fs::write(&dest, &shown.stdout)?;
        }
        let old = tmp.path().join(rel);
        pairs.push(pair(new, &old, std::fs::read_to_string(&old)?)?);
        let (_, class) = split_class(&code.workflows[i]);
        mapped.workflows[i] = format!("{}{class}", old.display());
        extra_path.push(old.parent().unwrap_or(tmp.path()).display().to_string());
    }
    extra_path.append(&mut mapped.python_path);
    mapped.python_path = extra_path;
    Ok(OldCode { label: spec.to_string(), code: mapped, files: pairs, _dir: Some(tmp) })
}

/// Replay `history` against the old code with line traces, in a session of its own
/// (closed afterwards). With `-v`, Python's traceback of a failure is printed.
pub fn replay(
    interp: &crate::replay::embed::Interpreter,
    old: &OldCode,
    (history, workflow_id): (&[u8], &str),
    verbose: u8,
) -> Result<deja_core::cause::Baseline> {
    let detail = |e: &crate::replay::embed::EmbedError| {
        if verbose > 0 && !e.detail().is_empty() {
            eprintln!("{}", crate::style::escape_block(e.detail().trim_end()));
        }
    };
    let session = interp.load(&old.code).map_err(|e| {
        detail(&e);
        anyhow::anyhow!("--baseline {}: loading the old code: {e}", old.label)
    })?;
    let outcome = session.replay_as(history, workflow_id, true);
    session.close();
    let outcome = outcome.map_err(|e| {
        detail(&e);
        anyhow::anyhow!("--baseline {}: replaying against the old code: {e}", old.label)
    })?;
    Ok(deja_core::cause::Baseline { label: old.label.clone(), outcome, files: old.files.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_suffixes() {
        assert_eq!(split_class("app/wf.py:Order"), ("app/wf.py", ":Order"));
        assert_eq!(split_class("app/wf.py"), ("app/wf.py", ""));
        assert_eq!(split_class("app.workflows"), ("app.workflows", ""));
    }
}
