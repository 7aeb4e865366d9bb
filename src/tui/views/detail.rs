//! The detail pane: the selected event's full attributes as pretty JSON, with every
//! payload decoded in place — JSON payloads as their JSON, anything else as size, encoding
//! and a base64 prefix (the words of `history::describe::payload_text`).
//!
//! The JSON is the event's proto3 JSON from the pbjson serde impls, so field names are the
//! ones in Temporal's docs and in `temporal workflow show -o json`.

use deja_proto::temporal::api::common::v1::Payload;
use serde_json::Value;

use super::{PaneText, line};
use deja_core::history::describe::{payload_json, payload_text};
use deja_core::history::{HistoryEvent, event_type, event_type_name};
use crate::tui::app::Pos;
use crate::tui::model::HistoryModel;
use crate::tui::theme::Theme;

pub fn build(hist: &HistoryModel, pos: Pos, th: &Theme) -> PaneText {
    let mut out = PaneText::new();
    let id = match pos {
        Pos::Event(id) => id,
        Pos::Task(t) => {
            let Some(task) = hist.timeline.tasks.get(t) else { return out };
            out.push(line(format!("workflow task {} · events {}–{}", t + 1, task.first_event_id, task.last_event_id), th.bold));
            let ids = |v: &[i64]| if v.is_empty() { "—".to_string() } else { v.iter().map(i64::to_string).collect::<Vec<_>>().join(" ") };
            out.push(line(format!("  delivered events: {}", ids(&task.delivered)), th.text));
            out.push(line(format!("  command events:   {}", ids(&task.commands)), th.text));
            if task.failed_attempts > 0 {
                out.push(line(format!("  failed attempts:  {}", task.failed_attempts), th.fail));
            }
            if task.heartbeats > 0 {
                out.push(line(format!("  heartbeats:       {}", task.heartbeats), th.text));
            }
            match task.completed_event_id.or(task.started_event_id) {
                Some(id) => id,
                None => return out,
            }
        }
    };
    let Some(e) = hist.event(id) else { return out };
    out.push(line(format!("event {id} · {}", event_type_name(event_type(e))), th.bold));
    for l in event_json(e).lines() {
        out.push(line(l.to_string(), th.text));
    }
    let followers = hist.followers(id);
    if !followers.is_empty() && matches!(pos, Pos::Event(_)) {
        out.push(line("followers (Enter on the timeline expands them)", th.bold));
        for f in followers {
            let text = hist.info(*f).map(|i| i.text.as_str()).unwrap_or("");
            out.push(line(format!("  {f} {text}"), th.text));
        }
    }
    out
}

/// The event as pretty JSON with payloads decoded.
pub fn event_json(e: &HistoryEvent) -> String {
    let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
    decode_payloads(&mut v);
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// Replace every payload object (`{"metadata": {…base64…}, "data": "…base64…"}`) by what
/// it holds.
fn decode_payloads(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if looks_like_payload(map)
                && let Ok(p) = serde_json::from_value::<Payload>(Value::Object(map.clone()))
            {
                *v = match payload_json(&p) {
                    Some(j) => j,
                    None => Value::String(payload_text(&p, 0)),
                };
                return;
            }
            for (_, child) in map.iter_mut() {
                decode_payloads(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(decode_payloads),
        _ => {}
    }
}

fn looks_like_payload(map: &serde_json::Map<String, Value>) -> bool {
    map.get("metadata").is_some_and(Value::is_object)
        && map.keys().all(|k| matches!(k.as_str(), "metadata" | "data" | "externalPayloads"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn payloads_are_decoded_in_place() {
        let json = Payload { metadata: HashMap::from([("encoding".to_string(), b"json/plain".to_vec())]).into_iter().collect(), data: br#"{"sku":"A"}"#.to_vec(), ..Default::default() };
        let bin = Payload { metadata: HashMap::from([("encoding".to_string(), b"binary/plain".to_vec())]).into_iter().collect(), data: vec![1, 2, 3], ..Default::default() };
        let mut v = serde_json::json!({ "input": { "payloads": [serde_json::to_value(&json).unwrap(), serde_json::to_value(&bin).unwrap()] } });
        decode_payloads(&mut v);
        assert_eq!(v["input"]["payloads"][0], serde_json::json!({"sku": "A"}));
        assert_eq!(v["input"]["payloads"][1], serde_json::json!("<3 bytes binary/plain: AQID…>"));
    }
}
