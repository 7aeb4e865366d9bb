//! The wire between `deja check` and its `deja __worker` processes.
//!
//! ## Framing
//! Both directions carry **frames**: a 4-byte big-endian unsigned length `N`, then `N`
//! bytes of UTF-8 JSON holding one message object with a `"type"` field. Nothing else is
//! ever written to the channel, so a reader can always resynchronise on the next length;
//! a frame over [`MAX_FRAME`] bytes is refused as corrupt.
//!
//! The worker's channel is **not** its fd 1: the worker duplicates fd 1 and fd 0 for the
//! protocol first thing, then points fd 1 at fd 2 and fd 0 at `/dev/null`, so a `print()`
//! in workflow code (or the SDK writing to stdout) lands on stderr and cannot corrupt a
//! frame, and workflow code reading stdin cannot eat one.
//!
//! ## Conversation
//! ```text
//! parent                                   worker
//!   setup {code, python_env, …}  ───────▶
//!                                ◀───────  forked {pid}  (only a worker forked from the first, check::fork)
//!                                ◀───────  ready {sdk_version, registered}
//!                                          | setup_failed {kind, message, detail}  (then exits 2)
//!   replay {id, path, lenient}   ───────▶
//!                                ◀───────  started {id, workflow_type, workflow_id, events}
//!                                ◀───────  done {id, result}  | skipped {id, reason}
//!   …one replay at a time…
//!   (closes stdin)               ───────▶  exits 0
//! ```
//! `started` is sent after the file loaded and before the SDK runs, so when a worker dies
//! the parent can say which workflow it was replaying. The parent sends the next `replay`
//! only after `done`/`skipped`: exactly one history is in flight per worker, so a crash or
//! a timeout is attributed to exactly that history.
//!
//! JSON rather than protobuf: the messages are small and few (a few per history), the full
//! replay report inside `done` is JSON anyway (`--json`), and serde gives both ends for free.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use deja_core::model::result::HistoryResult;
use deja_core::trace::CodeConfig;

/// Largest frame accepted (a full report of a very large history fits many times over).
pub const MAX_FRAME: usize = 512 << 20;

/// What the worker needs to know before its first history.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Setup {
    pub code: CodeConfig,
    /// `--python-env` / `[tool.deja] python-env`; the worker resolves it the same way
    /// `deja replay` does (same cwd and environment as the parent).
    pub python_env: Option<PathBuf>,
    /// Detail of the rendered failure text (`-v` adds every task and the SDK's raw text).
    pub verbose: u8,
    /// Render failure text in colour for the terminal.
    pub color: bool,
    /// Also render plain text when `color` is on (JUnit needs it).
    pub plain_text: bool,
    /// Send the full `deja.replay/v1` report (for `--json`).
    pub report_json: bool,
    /// Which drift fails a history.
    #[serde(default)]
    pub drift: deja_core::diff::drift::DriftPolicy,
    /// `--baseline REF|PATH`: explain the first failure of each cause against the old code.
    #[serde(default)]
    pub baseline: Option<String>,
}

/// Parent → worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    Setup(Setup),
    Replay {
        id: u64,
        /// The file as reports name it (lossy when the name is not UTF-8).
        path: String,
        /// The file itself, byte for byte (file names need not be UTF-8).
        #[serde(with = "os_path")]
        file: PathBuf,
        /// Skip (rather than fail) a JSON file that is plainly not a history.
        lenient: bool,
    },
}

/// Worker → parent.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromWorker {
    /// First frame of a worker forked from the first one (`super::fork`): its pid, so the
    /// pool can wait for it and kill it like a worker it spawned.
    Forked {
        pid: u32,
    },
    Ready {
        sdk: deja_core::trace::SdkInfo,
        registered: Vec<String>,
    },
    /// The environment or the workflow code is broken: nothing can be replayed.
    SetupFailed {
        kind: String,
        message: String,
        #[serde(default)]
        detail: String,
    },
    Started {
        id: u64,
        workflow_type: String,
        workflow_id: String,
        events: usize,
    },
    Done {
        id: u64,
        result: Box<HistoryResult>,
    },
    Skipped {
        id: u64,
        reason: String,
    },
}

/// A path as its raw bytes (a JSON array of numbers), so a name that is not UTF-8 reaches
/// the worker intact.
mod os_path {
    use std::ffi::OsString;
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    use std::path::{Path, PathBuf};

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(p.as_os_str().as_bytes())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        Ok(PathBuf::from(OsString::from_vec(Vec::<u8>::deserialize(d)?)))
    }
}

/// Write one frame and flush it.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let len = u32::try_from(body.len()).ok().filter(|&n| n as usize <= MAX_FRAME).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, format!("frame of {} bytes is over the limit", body.len()))
    })?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&body)?;
    w.flush()
}

/// Read one frame; `Ok(None)` on a clean end of stream (between frames).
pub fn read_frame<R: Read, T: DeserializeOwned>(r: &mut R) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "stream ended inside a frame header")),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame length {n} is over the limit (corrupt stream?)")));
    }
    let mut body = vec![0u8; n];
    r.read_exact(&mut body)?;
    serde_json::from_slice(&body).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad frame: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_eof_is_clean() {
        let mut buf = Vec::new();
        let odd = PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(b"h/\xff.json".to_vec()));
        write_frame(&mut buf, &ToWorker::Replay { id: 7, path: "a.json".into(), file: odd.clone(), lenient: true }).unwrap();
        write_frame(&mut buf, &FromWorker::Skipped { id: 7, reason: "x".into() }).unwrap();
        let mut r = &buf[..];
        match read_frame::<_, ToWorker>(&mut r).unwrap() {
            Some(ToWorker::Replay { id, path, file, lenient }) => assert_eq!((id, path.as_str(), file, lenient), (7, "a.json", odd, true)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(read_frame::<_, FromWorker>(&mut r).unwrap(), Some(FromWorker::Skipped { id: 7, .. })));
        assert!(read_frame::<_, FromWorker>(&mut r).unwrap().is_none());
    }

    #[test]
    fn truncated_and_oversized_frames_are_errors() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &ToWorker::Replay { id: 1, path: "p".into(), file: "p".into(), lenient: false }).unwrap();
        let mut r = &buf[..buf.len() - 1];
        assert!(read_frame::<_, ToWorker>(&mut r).is_err());
        let mut r = &buf[..2];
        assert!(read_frame::<_, ToWorker>(&mut r).is_err());
        let big = (MAX_FRAME as u32 + 1).to_be_bytes();
        let mut r = &big[..];
        assert!(read_frame::<_, ToWorker>(&mut r).is_err());
    }
}
