//! Loader tests on the real histories in `histories/` (see `histories/manifest.json`).

use std::path::{Path, PathBuf};

use prost::Message;
use serde_json::Value;

use super::load::{LoadError, load_bytes, load_path};
use super::tasks::{Timeline, split};
use super::{Format, Source, WorkflowIdSource, legacy};

fn root() -> PathBuf {
    // crates/deja-core → the repository root, where `histories/` lives.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Sample {
    name: String,
    file: PathBuf,
    cli_file: PathBuf,
    workflow_id: String,
    events: usize,
}

fn samples() -> Vec<Sample> {
    let m: Value = serde_json::from_slice(&std::fs::read(root().join("histories/manifest.json")).unwrap()).unwrap();
    m["histories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Sample {
            name: h["name"].as_str().unwrap().into(),
            file: root().join(h["file"].as_str().unwrap()),
            cli_file: root().join(h["cli_file"].as_str().unwrap()),
            workflow_id: h["workflow_id"].as_str().unwrap().into(),
            events: h["events"].as_u64().unwrap() as usize,
        })
        .collect()
}

fn err_of(bytes: &[u8], name: &str) -> LoadError {
    load_bytes(bytes, Source::File(PathBuf::from(name)), None).expect_err("should not load")
}

#[test]
fn sdk_and_cli_exports_load_to_equal_protos() {
    let all = samples();
    assert!(all.len() >= 12, "manifest lists the sample histories");
    for s in all {
        let sdk = load_path(&s.file, None).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        let cli = load_path(&s.cli_file, None).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        assert_eq!(sdk.history, cli.history, "{}: SDK and CLI exports differ", s.name);
        assert_eq!(sdk.events().len(), s.events, "{}", s.name);
        assert_eq!(sdk.workflow_id, s.workflow_id, "{}", s.name);
        assert_eq!(sdk.workflow_id_source, WorkflowIdSource::StartedEvent);
        assert_eq!(sdk.format, Format::Json);
    }
}

#[test]
fn legacy_dialect_loads_equal() {
    for s in samples() {
        let real = load_path(&s.file, None).unwrap();
        let mut doc: Value = serde_json::from_slice(&std::fs::read(&s.file).unwrap()).unwrap();
        for ev in doc["events"].as_array_mut().unwrap() {
            legacy::to_legacy(ev);
        }
        let text = serde_json::to_vec(&doc).unwrap();
        assert!(String::from_utf8_lossy(&text).contains("\"WorkflowExecutionStarted\""), "{}: conversion ran", s.name);
        let old = load_bytes(&text, Source::File(format!("{}-legacy.json", s.name).into()), None)
            .unwrap_or_else(|e| panic!("{}: {e}", s.name));
        assert_eq!(old.format, Format::LegacyJson, "{}", s.name);
        assert_eq!(old.history, real.history, "{}: legacy dialect must load losslessly", s.name);
    }
}

#[test]
fn binary_and_json_round_trip() {
    for s in samples() {
        let h = load_path(&s.file, None).unwrap();
        let bin = h.encode();
        let back = load_bytes(&bin, Source::File(PathBuf::from("x.binpb")), None).unwrap();
        assert_eq!(back.format, Format::Binary);
        assert_eq!(back.history, h.history, "{}: binary round trip", s.name);
        let json = serde_json::to_vec(&h.history).unwrap();
        let again = load_bytes(&json, Source::File(PathBuf::from("x.json")), None).unwrap();
        assert_eq!(again.history, h.history, "{}: JSON round trip", s.name);
    }
}

#[test]
fn wrappers_and_workflow_id_sources() {
    let s = &samples()[0];
    let doc: Value = serde_json::from_slice(&std::fs::read(&s.file).unwrap()).unwrap();
    let mut events = doc["events"].clone();
    // Servers before 1.21 do not record the id in the started event.
    events[0]["workflowExecutionStartedEventAttributes"].as_object_mut().unwrap().remove("workflowId");
    let wrapped = serde_json::json!({"workflowId": "wf-from-wrapper", "runId": "r1", "events": events});
    let h = load_bytes(&serde_json::to_vec(&wrapped).unwrap(), Source::File("w.json".into()), Some("flag-id")).unwrap();
    assert_eq!((h.workflow_id.as_str(), h.workflow_id_source), ("wf-from-wrapper", WorkflowIdSource::Wrapper));
    assert_eq!(h.run_id.as_deref(), Some("r1"));
    let nested = serde_json::json!({"history": {"events": events}});
    let h = load_bytes(&serde_json::to_vec(&nested).unwrap(), Source::File("n.json".into()), Some("flag-id")).unwrap();
    assert_eq!((h.workflow_id.as_str(), h.workflow_id_source), ("flag-id", WorkflowIdSource::Flag));
    let h = load_bytes(&serde_json::to_vec(&nested).unwrap(), Source::File("dir/order-7.json".into()), None).unwrap();
    assert_eq!((h.workflow_id.as_str(), h.workflow_id_source), ("order-7", WorkflowIdSource::FileName));
}

fn small() -> Vec<u8> {
    std::fs::read(&samples().into_iter().find(|s| s.name == "order_fulfillment").unwrap().file).unwrap()
}

#[test]
fn malformed_and_truncated_json_name_the_position() {
    let text = small();
    let cut = &text[..text.len() / 2];
    match err_of(cut, "cut.json") {
        LoadError::Truncated { path, line, .. } => assert!(path == "cut.json" && line > 1),
        e => panic!("expected Truncated, got {e}"),
    }
    let mut bad = text.clone();
    let i = bad.iter().position(|b| *b == b':').unwrap();
    bad[i] = b'=';
    let line = bad[..i].iter().filter(|b| **b == b'\n').count() + 1;
    let e = err_of(&bad, "bad.json");
    assert!(matches!(e, LoadError::Syntax { line: l, .. } if l == line), "{e}");
    assert!(e.to_string().starts_with(&format!("bad.json:{line}:")), "{e}");
}

#[test]
fn unknown_enum_names_event_and_field() {
    let mut doc: Value = serde_json::from_slice(&small()).unwrap();
    doc["events"][2]["eventType"] = Value::String("EVENT_TYPE_WORKFLOW_TASK_TELEPORTED".into());
    match err_of(&serde_json::to_vec(&doc).unwrap(), "e.json") {
        LoadError::UnknownEnum { event_id, field, enum_name, .. } => {
            assert_eq!((event_id.as_str(), field.as_str()), ("3", "eventType"));
            assert_eq!(enum_name, "temporal.api.enums.v1.EventType");
        }
        e => panic!("expected UnknownEnum, got {e}"),
    }
}

#[test]
fn out_of_order_gaps_empty_and_not_a_history() {
    let doc: Value = serde_json::from_slice(&small()).unwrap();
    let mut gap = doc.clone();
    gap["events"].as_array_mut().unwrap().remove(4);
    assert!(matches!(err_of(&serde_json::to_vec(&gap).unwrap(), "g.json"), LoadError::OutOfOrder { position: 5, found: 6, expected: 5, .. }));
    let mut swapped = doc.clone();
    swapped["events"].as_array_mut().unwrap().swap(1, 2);
    assert!(matches!(err_of(&serde_json::to_vec(&swapped).unwrap(), "s.json"), LoadError::OutOfOrder { position: 2, .. }));
    assert!(matches!(err_of(br#"{"events": []}"#, "e.json"), LoadError::Empty { .. }));
    let e = err_of(br#"{"name": "my-app", "version": "1.0"}"#, "package.json");
    assert!(matches!(e, LoadError::NotAHistory { .. }), "{e}");
    assert!(e.to_string().contains("events"), "{e}");
    let partial: Value = serde_json::json!({"events": doc["events"].as_array().unwrap()[3..].to_vec()});
    assert!(matches!(err_of(&serde_json::to_vec(&partial).unwrap(), "p.json"), LoadError::OutOfOrder { .. }));
    assert!(matches!(err_of(b"\x08\x96\x01garbage\xff\xff", "x.binpb"), LoadError::BadBinary { .. }));
}

/// `deja check` skips a file from a directory walk only when the loader says it is not a
/// history at all (no `events` list); a history that is broken stays an error. The kind is
/// the loader's, typed — never read out of the message.
#[test]
fn not_a_history_is_a_kind_of_its_own() {
    for (doc, name) in [(&br#"{"name": "my-app", "version": "1.0"}"#[..], "package.json"), (br#""a string""#, "string.json"), (br#"{"history": {}}"#, "h.json")] {
        let e = err_of(doc, name);
        assert!(e.is_not_a_history(), "{name}: {e:?}");
    }
    let doc: Value = serde_json::from_slice(&small()).unwrap();
    let headless: Value = serde_json::json!({"events": doc["events"].as_array().unwrap()[1..].iter().enumerate().map(|(i, ev)| {
        let mut ev = ev.clone();
        ev["eventId"] = Value::String((i + 1).to_string());
        ev
    }).collect::<Vec<_>>()});
    let e = err_of(&serde_json::to_vec(&headless).unwrap(), "headless.json");
    assert!(matches!(e, LoadError::BrokenHistory { .. }), "{e:?}");
    assert!(!e.is_not_a_history(), "{e:?}");
    assert!(e.to_string().contains("starts with WorkflowExecutionStarted"), "{e}");
    // An events list whose elements are not event objects is refused early, and is a
    // broken history too (it has an events list), never skipped.
    for (doc, name) in [(&b"[1, 2, 3]"[..], "numbers.json"), (br#"{"events": ["a", "b"]}"#, "strings.json")] {
        let e = err_of(doc, name);
        assert!(matches!(e, LoadError::BrokenHistory { .. }), "{name}: {e:?}");
        assert!(e.to_string().contains("element 1 of the events list is a"), "{name}: {e}");
    }
}

#[test]
fn decoded_ui_export_is_recognised() {
    let mut doc: Value = serde_json::from_slice(&small()).unwrap();
    let payload = &mut doc["events"][0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0];
    *payload = serde_json::json!({"metadata": {"encoding": "json/plain"}, "data": {"order_id": "A-1"}});
    let e = err_of(&serde_json::to_vec(&doc).unwrap(), "decoded.json");
    assert!(matches!(e, LoadError::DecodedExport { .. }), "{e}");
    assert!(e.to_string().contains("temporal workflow show"), "says how to get the encoded one: {e}");
}

#[test]
fn workflow_tasks_follow_core() {
    // Every sample: tasks cover all events, command events sit right after their completion.
    for s in samples() {
        let h = load_path(&s.file, None).unwrap();
        let tasks = split(h.events());
        assert_eq!(tasks.first().unwrap().first_event_id, 1);
        assert_eq!(tasks.last().unwrap().last_event_id, h.events().len() as i64, "{}", s.name);
        for w in tasks.windows(2) {
            assert_eq!(w[0].last_event_id + 1, w[1].first_event_id, "{}: tasks are contiguous", s.name);
        }
        let tl = Timeline::new(h.events());
        for t in &tl.tasks {
            if let (Some(c), Some(first)) = (t.completed_event_id, t.commands.first()) {
                assert_eq!(*first, c + 1, "{}", s.name);
            }
        }
    }
}

#[test]
fn until_cuts_at_the_end_of_the_task() {
    let s = samples().into_iter().find(|s| s.name == "order_fulfillment").unwrap();
    let h = load_path(&s.file, None).unwrap();
    let tl = Timeline::new(h.events());
    let t = &tl.tasks[1];
    let cut = h.truncated_to_task_of(t.first_event_id);
    assert_eq!(cut.events().len() as i64, t.last_event_id);
}

#[test]
fn legacy_paths_exist() {
    assert!(Path::new(&root().join("histories")).is_dir());
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]
        /// The JSON loader never panics, whatever bytes it is given: mutations of a real
        /// history (flipped, deleted, inserted bytes) and arbitrary input.
        #[test]
        fn json_loader_never_panics(edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8)) {
            let mut bytes = small();
            for (pos, byte, op) in edits {
                if bytes.is_empty() { break; }
                let i = pos % bytes.len();
                match op { 0 => bytes[i] = byte, 1 => { bytes.remove(i); }, _ => bytes.insert(i, byte) }
            }
            let _ = load_bytes(&bytes, Source::File("fuzz.json".into()), None);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = load_bytes(&bytes, Source::File("fuzz.json".into()), None);
            let _ = load_bytes(&bytes, Source::File("fuzz.binpb".into()), None);
        }
    }

    #[test]
    fn encoded_history_with_garbage_tail() {
        let h = load_path(&samples()[0].file, None).unwrap();
        let mut bin = h.history.encode_to_vec();
        bin.extend_from_slice(&[0xff, 0xff, 0xff]);
        assert!(load_bytes(&bin, Source::File("t.binpb".into()), None).is_err());
    }
}
