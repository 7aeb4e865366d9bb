//! Which named worker (`[tool.deja.workers.NAME]`) owns a history.
//!
//! A worker claims histories three ways: by **path** (`histories`: files, directories or
//! globs), by the **task queue** recorded in the history's start event (`task-queues`), or
//! by **workflow type** (`workflow-types`). The rules, in order:
//!
//! 1. Paths first: if the file matches the `histories` of exactly one worker, it is that
//!    worker's (nothing is read); of several, it is ambiguous.
//! 2. Otherwise the history's start event is read: the workers whose `task-queues` or
//!    `workflow-types` name it. Exactly one: that worker; none: no worker; several:
//!    ambiguous.
//!
//! No match and ambiguity are the caller's to report (`deja check` stops with exit 2,
//! naming each file and the choices); a file that cannot be read to decide is left to the
//! worker pool's own load error (`Route::Unreadable`).

use std::path::{Path, PathBuf};

/// How one worker recognises its histories.
#[derive(Clone, Debug)]
pub struct Selector {
    pub name: String,
    paths: Vec<PathMatch>,
    pub task_queues: Vec<String>,
    pub workflow_types: Vec<String>,
    /// The `histories` entries as written (for messages).
    pub path_specs: Vec<String>,
}

#[derive(Clone, Debug)]
enum PathMatch {
    /// An existing directory: everything under it.
    Dir(PathBuf),
    /// An existing file.
    File(PathBuf),
    /// A glob over absolute paths (`*` stays within one directory, `**` crosses them).
    Glob(glob::Pattern),
}

const GLOB_OPTIONS: glob::MatchOptions = glob::MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: true };

impl Selector {
    /// `paths`: the `histories` entries already made relative to the pyproject's
    /// directory (absolute or relative to the current directory); `specs` as written.
    pub fn new(name: &str, paths: &[PathBuf], specs: &[String], task_queues: &[String], workflow_types: &[String]) -> Result<Selector, String> {
        let mut matches = Vec::new();
        for (p, spec) in paths.iter().zip(specs) {
            let abs = absolute(p);
            if abs.is_dir() {
                matches.push(PathMatch::Dir(canonical(&abs)));
            } else if abs.is_file() {
                matches.push(PathMatch::File(canonical(&abs)));
            } else {
                let text = abs.to_str().ok_or_else(|| format!("workers.{name}: histories entry `{spec}` is not valid UTF-8"))?;
                let pattern = glob::Pattern::new(&canonical_prefix(text))
                    .map_err(|e| format!("workers.{name}: histories entry `{spec}` is not a valid glob: {e}"))?;
                matches.push(PathMatch::Glob(pattern));
            }
        }
        Ok(Selector {
            name: name.to_string(),
            paths: matches,
            task_queues: task_queues.to_vec(),
            workflow_types: workflow_types.to_vec(),
            path_specs: specs.to_vec(),
        })
    }

    fn owns_path(&self, file: &Path) -> bool {
        self.paths.iter().any(|m| match m {
            PathMatch::Dir(d) => file.starts_with(d),
            PathMatch::File(f) => file == f,
            PathMatch::Glob(g) => g.matches_path_with(file, GLOB_OPTIONS),
        })
    }

    /// What this worker claims, for messages: `histories histories/billing/*.json; task queues billing-tq`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.path_specs.is_empty() {
            parts.push(format!("histories {}", self.path_specs.join(", ")));
        }
        if !self.task_queues.is_empty() {
            parts.push(format!("task queues {}", self.task_queues.join(", ")));
        }
        if !self.workflow_types.is_empty() {
            parts.push(format!("workflow types {}", self.workflow_types.join(", ")));
        }
        parts.join("; ")
    }
}

/// Where one history goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// To this worker (index into the selectors).
    To(usize),
    /// No worker claims it.
    NoWorker { task_queue: String, workflow_type: String },
    /// Several claim it, and how.
    Ambiguous { workers: Vec<usize>, by: &'static str },
    /// Not decided by path and not readable as a history: the pool reports the load error.
    Unreadable,
}

/// Route one file (see the module docs for the rules).
pub fn route(selectors: &[Selector], file: &Path) -> Route {
    let abs = canonical(&absolute(file));
    let by_path: Vec<usize> = (0..selectors.len()).filter(|&i| selectors[i].owns_path(&abs)).collect();
    match by_path.len() {
        1 => return Route::To(by_path[0]),
        0 => {}
        _ => return Route::Ambiguous { workers: by_path, by: "histories (path)" },
    }
    if selectors.iter().all(|s| s.task_queues.is_empty() && s.workflow_types.is_empty()) {
        return Route::NoWorker { task_queue: String::new(), workflow_type: String::new() };
    }
    let Ok(h) = deja_core::history::load_path(file, None) else { return Route::Unreadable };
    let (tq, ty) = (h.task_queue(), h.workflow_type());
    let by_content: Vec<usize> = (0..selectors.len())
        .filter(|&i| selectors[i].task_queues.iter().any(|q| q == tq) || selectors[i].workflow_types.iter().any(|t| t == ty))
        .collect();
    match by_content.len() {
        1 => Route::To(by_content[0]),
        0 => Route::NoWorker { task_queue: tq.to_string(), workflow_type: ty.to_string() },
        _ => Route::Ambiguous { workers: by_content, by: "task queue / workflow type" },
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Symlinks and `..` resolved when the path exists (both sides of a comparison go
/// through this, so `./h/../h/a.json` and `h/a.json` agree).
fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A glob with its longest existing literal directory prefix canonicalised.
fn canonical_prefix(pattern: &str) -> String {
    let cut = pattern.find(['*', '?', '[']).unwrap_or(pattern.len());
    let Some(slash) = pattern[..cut].rfind('/') else { return pattern.to_string() };
    let dir = &pattern[..slash];
    match std::fs::canonicalize(if dir.is_empty() { "/" } else { dir }) {
        Ok(c) => format!("{}{}", glob::Pattern::escape(&c.display().to_string()), &pattern[slash..]),
        Err(_) => pattern.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/multi_worker")
    }

    fn sel(name: &str, paths: &[&str], tqs: &[&str], types: &[&str]) -> Selector {
        let specs: Vec<String> = paths.iter().map(|s| s.to_string()).collect();
        let resolved: Vec<PathBuf> = paths.iter().map(|p| fixture().join(p)).collect();
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Selector::new(name, &resolved, &specs, &v(tqs), &v(types)).unwrap()
    }

    #[test]
    fn routes_by_path_then_task_queue_then_type() {
        let s = [
            sel("billing", &["histories/billing/*.json"], &[], &[]),
            sel("shipping", &[], &["shipping-tq"], &[]),
            sel("audit", &[], &[], &["AuditWorkflow"]),
        ];
        let f = fixture();
        assert_eq!(route(&s, &f.join("histories/billing/process_inv-1001.json")), Route::To(0));
        assert_eq!(route(&s, &f.join("histories/shipping/process_parcel-7.json")), Route::To(1));
        assert_eq!(route(&s, &f.join("histories/misc/process_parcel-8.json")), Route::To(1));
        assert_eq!(route(&s, &f.join("histories/misc/audit_q3-ledger.json")), Route::To(2));
        // `..` in the argument does not hide the path from the glob.
        assert_eq!(route(&s, &f.join("histories/misc/../billing/process_inv-1002.json")), Route::To(0));
        assert_eq!(
            route(&s, &f.join("unrouted/process_legacy.json")),
            Route::NoWorker { task_queue: "legacy-tq".into(), workflow_type: "ProcessWorkflow".into() }
        );
        assert_eq!(route(&s, &f.join("pyproject.toml")), Route::Unreadable);
    }

    #[test]
    fn overlapping_claims_are_ambiguous() {
        let f = fixture();
        let s = [sel("a", &["histories"], &[], &[]), sel("b", &["histories/billing/process_inv-1001.json"], &[], &[])];
        assert_eq!(route(&s, &f.join("histories/billing/process_inv-1001.json")), Route::Ambiguous { workers: vec![0, 1], by: "histories (path)" });
        assert_eq!(route(&s, &f.join("histories/billing/process_inv-1002.json")), Route::To(0));
        let s = [sel("a", &[], &["shipping-tq"], &[]), sel("b", &[], &[], &["ProcessWorkflow"])];
        assert_eq!(route(&s, &f.join("histories/misc/process_parcel-8.json")), Route::Ambiguous { workers: vec![0, 1], by: "task queue / workflow type" });
        // `*` does not cross directories; `**` does.
        let s = [sel("a", &["*.json"], &[], &[]), sel("b", &["histories/**/*.json"], &[], &[])];
        assert_eq!(route(&s, &f.join("histories/misc/audit_q3-ledger.json")), Route::To(1));
    }
}
