//! Loaders: every history format users have on disk, into one validated [`LoadedHistory`].
//!
//! JSON takes a fast path first: serde_json straight into the pbjson-generated prost types,
//! with no intermediate tree (that is where deja's speed over the SDK's `from_json` comes
//! from). Only when that fails on *data* — a legacy enum name, a decoded export, a bad field
//! — do we parse into a `serde_json::Value` and walk it with the descriptors
//! ([`super::legacy`]), which either fixes the dialect or names the event and field at fault.

use std::path::Path;

use deja_proto::temporal::api::history::v1::{History, HistoryEvent, history_event::Attributes};
use prost::Message;
use serde::Deserialize;
use serde_json::Value;

use super::{EventType, Format, LoadedHistory, Source, WorkflowIdSource, event_type, event_type_name, legacy};

/// Everything that can be wrong with a history file. Each message names the file and,
/// where it can, the event and field, and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read the file: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}:{line}:{column}: malformed JSON: {msg}")]
    Syntax { path: String, line: usize, column: usize, msg: String },
    #[error(
        "{path}: truncated JSON: the file ends at line {line}, column {column}, in the middle of a value; \
         was the download or copy cut short? Export it again (`deja fetch` or `temporal workflow show -w ID -o json`)"
    )]
    Truncated { path: String, line: usize, column: usize },
    #[error(
        "{path}: event {event_id}, field `{field}`: unknown enum value {value} for {enum_name}; \
         the SDK would silently read it as 0 (expected {expected}). \
         A history from a newer Temporal server than this deja knows? Upgrade deja; otherwise fix the value in the file"
    )]
    UnknownEnum { path: String, event_id: String, field: String, value: String, enum_name: String, expected: String },
    #[error(
        "{path}: event {event_id}, field `{field}`: this is a decoded (\"readable\") export: payload data is \
         shown as text, not base64, so it cannot be replayed. Download the encoded history instead: \
         `temporal workflow show -w WORKFLOW_ID -o json > history.json`, `deja fetch --workflow-id WORKFLOW_ID`, \
         or the Web UI's JSON download without decoding"
    )]
    DecodedExport { path: String, event_id: String, field: String },
    /// A JSON document with no `events` list at all (a manifest, a `package.json`): not a
    /// history, as opposed to a broken one. A directory walk skips these.
    #[error("{path}: not a Temporal history: {why}")]
    NotAHistory { path: String, why: String },
    /// Events, but not a history the SDK can replay from the start (the first event is not
    /// `WorkflowExecutionStarted`, or no event could be read).
    #[error("{path}: not a Temporal history: {why}")]
    BrokenHistory { path: String, why: String },
    #[error("{path}: empty history: the file has no events")]
    Empty { path: String },
    #[error(
        "{path}: the file is empty ({bytes} bytes{blank}): not a history. Export it again \
         (`deja fetch --workflow-id ID` or `temporal workflow show -w ID -o json > FILE`)",
        blank = if *bytes > 0 { ", all whitespace" } else { "" }
    )]
    EmptyFile { path: String, bytes: usize },
    #[error(
        "{path}: events out of order or missing: position {position} holds event id {found}, expected {expected}; \
         a history must hold every event from 1 on, in order"
    )]
    OutOfOrder { path: String, position: usize, found: i64, expected: i64 },
    #[error("{path}: event {event_id}: {msg}")]
    BadEvent { path: String, event_id: String, msg: String },
    #[error("{path}: not a binary protobuf History ({msg}); JSON histories must start with `{{`")]
    BadBinary { path: String, msg: String },
}

impl LoadError {
    /// The file is not a history at all (no `events` list), as opposed to a broken one.
    pub fn is_not_a_history(&self) -> bool {
        matches!(self, LoadError::NotAHistory { .. })
    }
}

/// Load a history file: JSON (any dialect, bare or wrapped) or binary protobuf.
///
/// `workflow_id_flag` is the user's `--workflow-id`, used when the history itself does not
/// say (histories from servers before 1.21 and bare event lists).
pub fn load_path(path: &Path, workflow_id_flag: Option<&str>) -> Result<LoadedHistory, LoadError> {
    let bytes = std::fs::read(path).map_err(|error| LoadError::Io { path: path.display().to_string(), error })?;
    load_bytes(&bytes, Source::File(path.to_path_buf()), workflow_id_flag)
}

/// Load from bytes already in memory (files, server downloads, tests).
pub fn load_bytes(bytes: &[u8], source: Source, workflow_id_flag: Option<&str>) -> Result<LoadedHistory, LoadError> {
    let path = source.to_string();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(LoadError::EmptyFile { path, bytes: bytes.len() });
    }
    // Editors on Windows save JSON with a UTF-8 byte order mark; JSON parsers do not take it.
    let bytes = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) if !has_binary_extension(&source) => rest,
        _ => bytes,
    };
    let parsed = if looks_binary(&source, bytes) { parse_binary(bytes, &path)? } else { parse_json(bytes, &path)? };
    validate(&parsed.history, &path)?;
    let (workflow_id, workflow_id_source) = pick_workflow_id(&parsed, &source, workflow_id_flag);
    Ok(LoadedHistory {
        history: parsed.history,
        source,
        format: parsed.format,
        workflow_id,
        workflow_id_source,
        run_id: parsed.run_id,
    })
}

/// What a parser found before validation.
struct Parsed {
    history: History,
    format: Format,
    wrapper_workflow_id: Option<String>,
    run_id: Option<String>,
}

fn has_binary_extension(source: &Source) -> bool {
    let Source::File(p) = source else { return false };
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("binpb") || e.eq_ignore_ascii_case("pb"))
}

fn looks_binary(source: &Source, bytes: &[u8]) -> bool {
    if let Source::File(p) = source {
        if let Some(ext) = p.extension().and_then(|e| e.to_str()) {
            if ext.eq_ignore_ascii_case("binpb") || ext.eq_ignore_ascii_case("pb") {
                return true;
            }
            if ext.eq_ignore_ascii_case("json") {
                return false;
            }
        }
    }
    !matches!(bytes.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{') | Some(b'[') | None)
}

fn parse_binary(bytes: &[u8], path: &str) -> Result<Parsed, LoadError> {
    let history = History::decode(bytes).map_err(|e| LoadError::BadBinary { path: path.into(), msg: e.to_string() })?;
    if history.events.is_empty() && !bytes.is_empty() {
        return Err(LoadError::BadBinary { path: path.into(), msg: "it decodes, but holds no events".into() });
    }
    Ok(Parsed { history, format: Format::Binary, wrapper_workflow_id: None, run_id: None })
}

/// The same shapes with each event left as raw JSON text, so events can be decoded on
/// several threads (scanning for event boundaries is cheap next to decoding them).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDoc<'a> {
    #[serde(default, borrow)]
    events: Option<RawEvents<'a>>,
    #[serde(default, borrow)]
    history: Option<RawHistory<'a>>,
    #[serde(default)]
    workflow_id: Option<String>,
    #[serde(default)]
    run_id: Option<String>,
}

#[derive(Deserialize)]
struct RawHistory<'a> {
    #[serde(default, borrow)]
    events: Option<RawEvents<'a>>,
}

/// An events list, each event kept as raw text. An element that is not a JSON object
/// stops the scan right there: a 200 MB array of numbers is refused at its first element,
/// not after building a list of 50 million values and a full `Value` tree.
struct RawEvents<'a>(Vec<&'a serde_json::value::RawValue>);

/// Starts the message of the error [`RawEvents`] stops with.
const NOT_AN_EVENT: &str = "deja: element is not an event: ";

impl<'de: 'a, 'a> Deserialize<'de> for RawEvents<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = RawEvents<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of events")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawEvents<'a>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(raw) = seq.next_element::<&'de serde_json::value::RawValue>()? {
                    if !raw.get().starts_with('{') {
                        let kind = raw_kind(raw.get());
                        return Err(serde::de::Error::custom(format!("{NOT_AN_EVENT}element {} of the events list is {kind}", out.len() + 1)));
                    }
                    out.push(raw);
                }
                Ok(RawEvents(out))
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

/// `a number`, `a string`… for raw JSON text.
fn raw_kind(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'[') => "a list",
        Some(b'{') => "an object",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// Below this many events one thread is quicker than starting more.
const PARALLEL_MIN_EVENTS: usize = 512;

/// Decode raw events into prost events, split across the machine's cores.
fn decode_events(raw: &[&serde_json::value::RawValue]) -> Result<Vec<HistoryEvent>, serde_json::Error> {
    // DEJA_LOAD_THREADS caps the threads (benchmarks compare 1 against all cores).
    let threads = std::env::var("DEJA_LOAD_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
        .clamp(1, 8);
    // A HistoryEvent is large (its attributes are an inline enum of every event type), so
    // vectors are sized exactly: growing them would copy every event again and again.
    fn decode(part: &[&serde_json::value::RawValue]) -> Result<Vec<HistoryEvent>, serde_json::Error> {
        let mut out = Vec::with_capacity(part.len());
        for r in part {
            out.push(serde_json::from_str::<HistoryEvent>(r.get())?);
        }
        Ok(out)
    }
    if threads == 1 || raw.len() < PARALLEL_MIN_EVENTS {
        return decode(raw);
    }
    let chunk = raw.len().div_ceil(threads);
    std::thread::scope(|scope| {
        // The first chunk is decoded on this thread; the others on their own.
        let mut parts = raw.chunks(chunk);
        let first = parts.next().unwrap_or(&[]);
        let handles: Vec<_> = parts.map(|part| scope.spawn(move || decode(part))).collect();
        let mut out = decode(first)?;
        out.reserve_exact(raw.len() - out.len());
        for h in handles {
            out.extend(h.join().expect("event decoding thread does not panic")?);
        }
        Ok(out)
    })
}

fn parse_json(bytes: &[u8], path: &str) -> Result<Parsed, LoadError> {
    // Pass 1 checks the syntax of the whole document and finds the events; pass 2 decodes
    // them (in parallel). Any *data* problem sends us to the careful path, which names it.
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
            return Err(LoadError::Syntax { path: path.into(), line, column: 0, msg: "the file is not UTF-8 text".into() });
        }
    };
    // The top-level shape first: a history is an object (or a bare list of event objects).
    let first = text.trim_start().chars().next();
    if !matches!(first, Some('{' | '[')) {
        let kind = raw_kind(text.trim_start());
        return Err(LoadError::NotAHistory { path: path.into(), why: format!("the file holds {kind}, not a JSON object with an `events` list") });
    }
    let bare_array = first == Some('[');
    let scanned = if bare_array {
        serde_json::from_str::<RawEvents>(text).map(|events| RawDoc { events: Some(events), history: None, workflow_id: None, run_id: None })
    } else {
        serde_json::from_str::<RawDoc>(text)
    };
    let doc = match scanned {
        Ok(doc) => doc,
        Err(e) if e.is_data() && e.to_string().starts_with(NOT_AN_EVENT) => {
            let why = strip_position(&e.to_string()).trim_start_matches(NOT_AN_EVENT).to_string();
            // It has an events list, so it is a broken history (an error row in `deja
            // check`), not a file a directory walk may skip.
            return Err(LoadError::BrokenHistory { path: path.into(), why: format!("{why}, not an event object; is this a Temporal history export?") });
        }
        Err(e) if e.is_eof() => return Err(LoadError::Truncated { path: path.into(), line: e.line(), column: e.column() }),
        Err(e) if e.is_syntax() => {
            return Err(LoadError::Syntax { path: path.into(), line: e.line(), column: e.column(), msg: strip_position(&e.to_string()) });
        }
        Err(e) => return parse_json_slow(bytes, path, e),
    };
    let raw = match (doc.events, doc.history.and_then(|h| h.events)) {
        (Some(RawEvents(events)), _) | (None, Some(RawEvents(events))) => events,
        (None, None) => {
            return Err(LoadError::NotAHistory {
                path: path.into(),
                why: "the JSON object has no `events` list (nor `history.events`)".into(),
            });
        }
    };
    match decode_events(&raw) {
        Ok(events) => Ok(Parsed {
            history: History { events },
            format: Format::Json,
            wrapper_workflow_id: doc.workflow_id,
            run_id: doc.run_id,
        }),
        Err(e) => parse_json_slow(bytes, path, e),
    }
}

/// The careful path: a `Value` tree, the legacy dialect rewritten, every problem named.
fn parse_json_slow(bytes: &[u8], path: &str, fast_err: serde_json::Error) -> Result<Parsed, LoadError> {
    let mut root: Value = serde_json::from_slice(bytes)
        .map_err(|e| LoadError::Syntax { path: path.into(), line: e.line(), column: e.column(), msg: e.to_string() })?;
    let (wrapper_workflow_id, run_id) = match &root {
        Value::Object(m) => (
            m.get("workflowId").and_then(Value::as_str).map(str::to_owned),
            m.get("runId").and_then(Value::as_str).map(str::to_owned),
        ),
        _ => (None, None),
    };
    let shape = describe_shape(&root);
    let events = events_of(&mut root).ok_or_else(|| LoadError::NotAHistory { path: path.into(), why: shape })?;
    let mut legacy_used = false;
    let mut out = Vec::with_capacity(events.len());
    for (index, ev) in events.iter_mut().enumerate() {
        let event_id = match ev.get("eventId") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => format!("at position {}", index + 1),
        };
        match legacy::normalize_event(ev) {
            Ok(changed) => legacy_used |= changed,
            Err(legacy::WalkError::UnknownEnum { field, value, enum_name, expected }) => {
                return Err(LoadError::UnknownEnum { path: path.into(), event_id, field, value, enum_name, expected });
            }
            Err(legacy::WalkError::DecodedPayload { field }) => {
                return Err(LoadError::DecodedExport { path: path.into(), event_id, field });
            }
        }
        let event = HistoryEvent::deserialize(&*ev)
            .map_err(|e| LoadError::BadEvent { path: path.into(), event_id: event_id.clone(), msg: e.to_string() })?;
        out.push(event);
    }
    if !legacy_used && out.is_empty() {
        // Nothing to blame on an event: report what the fast parser said.
        return Err(LoadError::BrokenHistory { path: path.into(), why: fast_err.to_string() });
    }
    let format = if legacy_used { Format::LegacyJson } else { Format::Json };
    Ok(Parsed { history: History { events: out }, format, wrapper_workflow_id, run_id })
}

fn events_of(root: &mut Value) -> Option<&mut Vec<Value>> {
    match root {
        Value::Array(a) => Some(a),
        Value::Object(m) => {
            if matches!(m.get("events"), Some(Value::Array(_))) {
                return m.get_mut("events").and_then(Value::as_array_mut);
            }
            m.get_mut("history").and_then(|h| h.get_mut("events")).and_then(Value::as_array_mut)
        }
        _ => None,
    }
}

fn describe_shape(root: &Value) -> String {
    match root {
        Value::Object(m) => {
            let keys: Vec<&str> = m.keys().take(8).map(String::as_str).collect();
            format!("expected an object with an `events` list; found keys {keys:?}")
        }
        other => format!("expected a JSON object with an `events` list; found {}", json_kind(other)),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Checks that make replay meaningful; the SDK would otherwise fail obscurely or guess.
fn validate(h: &History, path: &str) -> Result<(), LoadError> {
    if h.events.is_empty() {
        return Err(LoadError::Empty { path: path.into() });
    }
    for (i, e) in h.events.iter().enumerate() {
        let expected = i as i64 + 1;
        if e.event_id != expected {
            return Err(LoadError::OutOfOrder { path: path.into(), position: i + 1, found: e.event_id, expected });
        }
        let t = event_type(e);
        if t == EventType::Unspecified {
            return Err(LoadError::BadEvent {
                path: path.into(),
                event_id: e.event_id.to_string(),
                msg: format!("event type {} is missing or unknown to this build", e.event_type),
            });
        }
        if e.attributes.is_none() {
            return Err(LoadError::BadEvent {
                path: path.into(),
                event_id: e.event_id.to_string(),
                msg: format!("{} event has no attributes", event_type_name(t)),
            });
        }
    }
    let first = &h.events[0];
    if event_type(first) != EventType::WorkflowExecutionStarted {
        return Err(LoadError::BrokenHistory {
            path: path.into(),
            why: format!(
                "the first event is {}, but a workflow history starts with WorkflowExecutionStarted; deja needs the whole history from event 1",
                event_type_name(event_type(first))
            ),
        });
    }
    Ok(())
}

fn pick_workflow_id(p: &Parsed, source: &Source, flag: Option<&str>) -> (String, WorkflowIdSource) {
    if let Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) = p.history.events[0].attributes.as_ref() {
        if !a.workflow_id.is_empty() {
            return (a.workflow_id.clone(), WorkflowIdSource::StartedEvent);
        }
    }
    if let Some(id) = p.wrapper_workflow_id.as_ref().filter(|s| !s.is_empty()) {
        return (id.clone(), WorkflowIdSource::Wrapper);
    }
    if let Some(id) = flag {
        return (id.to_string(), WorkflowIdSource::Flag);
    }
    let stem = match source {
        Source::File(p) => p.file_stem().map(|s| s.to_string_lossy().into_owned()),
        Source::Server(_) => None,
    };
    (stem.unwrap_or_else(|| "replay".into()), WorkflowIdSource::FileName)
}
