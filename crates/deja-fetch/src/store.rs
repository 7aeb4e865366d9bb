//! History files on disk: `OUT/<WorkflowType>/<workflowId>__<runId>.json`.
//!
//! Each file is one JSON object:
//!
//! ```json
//! {"workflowId":"order-17","runId":"0199…","workflowType":"OrderWorkflow",
//!  "status":"WORKFLOW_EXECUTION_STATUS_COMPLETED","events":[{"eventId":"1",…},…]}
//! ```
//!
//! `events` is the proto3 JSON of `temporal.api.history.v1.History.events` — the same
//! shape `temporal workflow show -o json` writes — so the file loads with the Python
//! SDK's `WorkflowHistory.from_json(workflow_id, json)` (which ignores the other keys)
//! and with [`read_history_file`]. The keys before `events` let deja check a file
//! without parsing its events: [`read_header`] reads only the first few KiB.
//!
//! Files are written to a temporary name and renamed into place, so a file under its
//! final name is always complete; a run that was still open when fetched is marked by
//! its status and fetched again next time.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use deja_proto::temporal::api::enums::v1::WorkflowExecutionStatus;
use deja_proto::temporal::api::history::v1::{History, HistoryEvent};
use serde::{Deserialize, Serialize};

use crate::error::FetchError;
use crate::history::FetchedHistory;

/// Longest file-name component we produce; most filesystems allow 255 bytes, and a
/// margin leaves room for the temporary-file prefix and suffix.
const MAX_NAME: usize = 200;

/// Where a run's history goes under `out_dir`.
pub fn history_path(
    out_dir: &Path,
    workflow_type: &str,
    workflow_id: &str,
    run_id: &str,
) -> PathBuf {
    let ty = if workflow_type.is_empty() {
        "_unknown_type".to_string()
    } else {
        sanitize(workflow_type, MAX_NAME)
    };
    let run = sanitize(run_id, 64);
    let id_budget = MAX_NAME - run.len() - "__.json".len();
    out_dir
        .join(ty)
        .join(format!("{}__{run}.json", sanitize(workflow_id, id_budget)))
}

/// Makes a string safe as one file-name component on Linux, macOS and Windows while
/// keeping ordinary IDs readable: letters, digits, `-`, `_`, `.` (not leading) and a
/// few others pass; every other byte becomes `%XX`, so distinct IDs stay distinct.
/// Names longer than `max` are cut and suffixed with a hash of the whole string.
pub fn sanitize(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, b) in s.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'+' | b'=' | b',' | b'@')
            || (b == b'.' && i > 0);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push('_');
    }
    if out.len() > max {
        let hash = format!("~{:016x}", fnv1a(s.as_bytes()));
        let mut cut = max.saturating_sub(hash.len());
        // Don't split a %XX escape.
        while cut > 0 && out.as_bytes()[cut - 1] == b'%'
            || cut > 1 && out.as_bytes()[cut - 2] == b'%'
        {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str(&hash);
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileOut<'a> {
    workflow_id: &'a str,
    run_id: &'a str,
    workflow_type: &'a str,
    status: &'a str,
    events: &'a [HistoryEvent],
}

/// The keys of a history file before `events`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileHeader {
    pub workflow_id: String,
    pub run_id: String,
    #[serde(default)]
    pub workflow_type: String,
    #[serde(default)]
    pub status: String,
}

impl FileHeader {
    /// Whether the run had closed when the file was written (its history is final).
    pub fn is_final(&self) -> bool {
        WorkflowExecutionStatus::from_str_name(&self.status).is_some_and(|s| {
            !matches!(
                s,
                WorkflowExecutionStatus::Running
                    | WorkflowExecutionStatus::Unspecified
                    | WorkflowExecutionStatus::Paused
            )
        })
    }
}

/// A whole history file (also accepts `temporal workflow show -o json` output, which
/// has only `events`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryFile {
    #[serde(default)]
    pub workflow_id: Option<String>,
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub workflow_type: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    pub events: Vec<HistoryEvent>,
}

impl HistoryFile {
    pub fn into_history(self) -> History {
        History {
            events: self.events,
        }
    }
}

/// Serialises a history in the file format (see the module docs).
pub fn to_json(h: &FetchedHistory) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&FileOut {
        workflow_id: &h.workflow_id,
        run_id: &h.run_id,
        workflow_type: &h.workflow_type,
        status: h.status.as_str_name(),
        events: &h.history.events,
    })
}

/// Writes `h` to its place under `out_dir` (atomically) and returns the path and size.
pub async fn write_history(
    out_dir: &Path,
    h: &FetchedHistory,
) -> Result<(PathBuf, u64), FetchError> {
    let path = history_path(out_dir, &h.workflow_type, &h.workflow_id, &h.run_id);
    let bytes = to_json(h).map_err(|e| {
        FetchError::Internal(format!(
            "cannot serialise history of `{}`: {e}",
            h.workflow_id
        ))
    })?;
    write_atomic(&path, &bytes).await?;
    Ok((path, bytes.len() as u64))
}

/// Writes to a hidden temporary file in the same directory, then renames it over
/// `path`: readers see the old file or the new one, never half of one.
pub async fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let werr = |p: &Path| {
        let p = p.to_path_buf();
        move |error| FetchError::Write { path: p, error }
    };
    tokio::fs::create_dir_all(dir).await.map_err(werr(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}-{}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    if let Err(e) = tokio::fs::write(&tmp, bytes).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(werr(&tmp)(e));
    }
    if let Err(e) = tokio::fs::rename(&tmp, path).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(werr(path)(e));
    }
    Ok(())
}

/// Reads the keys before `events` from the first 64 KiB of a file, without parsing the
/// events. `None` if the file is missing or not in this format.
pub async fn read_header(path: &Path) -> Option<FileHeader> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await.ok()?;
    let mut head = Vec::with_capacity(8192);
    file.take(64 * 1024).read_to_end(&mut head).await.ok()?;
    parse_header(&head)
}

/// Inside a JSON string every `"` is escaped, so the byte sequence `"events":` can only
/// be the key itself; what precedes it plus `"events":[]}` is a complete object.
fn parse_header(head: &[u8]) -> Option<FileHeader> {
    let key = b"\"events\":";
    let at = head.windows(key.len()).position(|w| w == key)?;
    let mut doc = head[..at].to_vec();
    doc.extend_from_slice(b"\"events\":[]}");
    serde_json::from_slice(&doc).ok()
}

/// Whether `path` holds the final history of a closed run, so it needn't be fetched.
pub async fn is_complete(path: &Path) -> bool {
    read_header(path).await.is_some_and(|h| h.is_final())
}

/// Reads a whole history file.
pub fn read_history_file(path: &Path) -> Result<HistoryFile, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&text)
        .map_err(|e| format!("{} is not a history file: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deja_proto::temporal::api::enums::v1::EventType;

    #[test]
    fn ordinary_names_stay_readable() {
        assert_eq!(sanitize("order-17_a.b", 200), "order-17_a.b");
        assert_eq!(
            history_path(Path::new("out"), "OrderWorkflow", "order-17", "0199aa"),
            PathBuf::from("out/OrderWorkflow/order-17__0199aa.json")
        );
    }

    #[test]
    fn unsafe_bytes_are_escaped_and_distinct() {
        assert_eq!(sanitize("a/b", 200), "a%2Fb");
        assert_eq!(sanitize("a\\b:c*?", 200), "a%5Cb%3Ac%2A%3F");
        assert_ne!(sanitize("a/b", 200), sanitize("a_b", 200));
        assert_ne!(sanitize("a%2Fb", 200), sanitize("a/b", 200));
        assert_eq!(sanitize("..", 200), "%2E.");
        assert_eq!(sanitize(".hidden", 200), "%2Ehidden");
        assert_eq!(sanitize("", 200), "_");
        assert_eq!(sanitize("ü", 200), "%C3%BC");
    }

    #[test]
    fn long_names_are_cut_with_a_hash() {
        let long = "x".repeat(1000);
        let a = sanitize(&long, 100);
        assert_eq!(a.len(), 100);
        let mut other = long.clone();
        other.push('y');
        assert_ne!(a, sanitize(&other, 100));
        // Cutting never leaves a broken escape.
        let s = sanitize(&"/".repeat(100), 50);
        assert!(s.len() <= 50, "{s}");
        let before_hash = s.split('~').next().unwrap();
        assert_eq!(before_hash.len() % 3, 0, "{s}");
        let p = history_path(Path::new("o"), "T", &long, "run");
        assert!(p.file_name().unwrap().len() <= MAX_NAME);
    }

    fn sample(status: WorkflowExecutionStatus) -> FetchedHistory {
        FetchedHistory {
            workflow_id: "wf \"\"events\": tricky".into(),
            run_id: "r1".into(),
            workflow_type: "T".into(),
            history: History {
                events: vec![HistoryEvent {
                    event_id: 1,
                    event_type: EventType::WorkflowExecutionStarted as i32,
                    ..Default::default()
                }],
            },
            status,
            last_event_type: EventType::WorkflowExecutionStarted,
        }
    }

    #[test]
    fn header_parses_without_events_even_with_tricky_ids() {
        let bytes = to_json(&sample(WorkflowExecutionStatus::Completed)).unwrap();
        let h = parse_header(&bytes).unwrap();
        assert_eq!(h.workflow_id, "wf \"\"events\": tricky");
        assert!(h.is_final());
        let h = parse_header(&to_json(&sample(WorkflowExecutionStatus::Running)).unwrap()).unwrap();
        assert!(!h.is_final());
        assert!(parse_header(b"{\"events\":[").is_none()); // CLI output: no ids
        assert!(parse_header(b"garbage").is_none());
    }

    #[test]
    fn file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let h = sample(WorkflowExecutionStatus::Failed);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (path, n) = rt.block_on(write_history(dir.path(), &h)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), n);
        assert!(rt.block_on(is_complete(&path)));
        let f = read_history_file(&path).unwrap();
        assert_eq!(f.workflow_id.as_deref(), Some(h.workflow_id.as_str()));
        assert_eq!(f.into_history(), h.history);
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn reads_cli_json() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cli.json");
        std::fs::write(
            &p,
            r#"{"events":[{"eventId":"1","eventType":"EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"}]}"#,
        )
        .unwrap();
        let f = read_history_file(&p).unwrap();
        assert_eq!(f.workflow_id, None);
        assert_eq!(f.events.len(), 1);
    }
}
