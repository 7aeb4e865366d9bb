//! The careful JSON walk, driven by the protobuf descriptors.
//!
//! Old Web UI and `tctl` exports write enum values in PascalCase (`"WorkflowExecutionStarted"`,
//! `"Normal"`) where proto3 JSON has `EVENT_TYPE_WORKFLOW_EXECUTION_STARTED`. The SDK fixes a
//! hand-kept list of paths (`temporalio/client/_helpers.py`) and turns anything it misses into
//! 0 without a word. Walking with the descriptors instead reaches *every* enum field — in
//! failures, causes, nested attributes — rewrites legacy names the same way the SDK does
//! (prefix + `_WORKFLOW_EXECUTION_STARTED`), and names the field of anything it cannot read.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, EnumDescriptor, Kind, MessageDescriptor};
use serde_json::Value;

/// Why the walk stopped.
#[derive(Debug, PartialEq)]
pub enum WalkError {
    UnknownEnum { field: String, value: String, enum_name: String, expected: String },
    /// A payload whose `data` is not base64 text: a decoded ("readable") export.
    DecodedPayload { field: String },
}

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(deja_proto::FILE_DESCRIPTOR_SET).expect("descriptor set compiled by build.rs decodes")
    })
}

fn history_event() -> &'static MessageDescriptor {
    static EV: OnceLock<MessageDescriptor> = OnceLock::new();
    EV.get_or_init(|| {
        pool().get_message_by_name("temporal.api.history.v1.HistoryEvent").expect("HistoryEvent is in the descriptor set")
    })
}

/// Rewrite legacy enum names in one event (a JSON object) in place. Returns whether
/// anything was rewritten.
pub fn normalize_event(event: &mut Value) -> Result<bool, WalkError> {
    let mut changed = false;
    let mut path = Vec::new();
    walk(history_event(), event, &mut path, &mut changed)?;
    Ok(changed)
}

fn walk(msg: &MessageDescriptor, v: &mut Value, path: &mut Vec<String>, changed: &mut bool) -> Result<(), WalkError> {
    let Value::Object(map) = v else { return Ok(()) };
    if msg.full_name() == "temporal.api.common.v1.Payload" {
        check_payload(map, path)?;
    }
    for (key, val) in map.iter_mut() {
        let Some(field) = msg.get_field_by_json_name(key).or_else(|| msg.get_field_by_name(key)) else { continue };
        path.push(key.clone());
        match field.kind() {
            Kind::Enum(e) => {
                if field.is_list() {
                    if let Value::Array(items) = val {
                        for item in items {
                            fix_enum(&e, item, path, changed)?;
                        }
                    }
                } else {
                    fix_enum(&e, val, path, changed)?;
                }
            }
            Kind::Message(m) if field.is_map() => {
                let value_kind = m.map_entry_value_field().kind();
                if let (Kind::Message(vm), Value::Object(entries)) = (value_kind, &mut *val) {
                    if !is_well_known(&vm) {
                        for (k, item) in entries.iter_mut() {
                            path.push(k.clone());
                            walk(&vm, item, path, changed)?;
                            path.pop();
                        }
                    }
                }
            }
            Kind::Message(m) if !is_well_known(&m) => {
                if let Value::Array(items) = val {
                    for (i, item) in items.iter_mut().enumerate() {
                        path.push(i.to_string());
                        walk(&m, item, path, changed)?;
                        path.pop();
                    }
                } else {
                    walk(&m, val, path, changed)?;
                }
            }
            _ => {}
        }
        path.pop();
    }
    Ok(())
}

fn is_well_known(m: &MessageDescriptor) -> bool {
    m.full_name().starts_with("google.protobuf.")
}

fn fix_enum(e: &EnumDescriptor, v: &mut Value, path: &[String], changed: &mut bool) -> Result<(), WalkError> {
    if let Value::Number(n) = v {
        // proto3 JSON also allows an enum's number; one this build does not know is named
        // here (serde's own message would list every value of the enum).
        if n.as_i64().and_then(|i| i32::try_from(i).ok()).is_some_and(|i| e.get_value(i).is_some()) {
            return Ok(());
        }
        let max = e.values().map(|v| v.number()).max().unwrap_or(0);
        return Err(WalkError::UnknownEnum {
            field: path.join("."),
            value: n.to_string(),
            enum_name: e.full_name().to_string(),
            expected: format!("a number from 0 to {max}, or a name such as {}", e.values().nth(1).map_or_else(|| "…".to_string(), |v| v.name().to_string())),
        });
    }
    let Value::String(s) = v else { return Ok(()) };
    if e.get_value_by_name(s).is_some() {
        return Ok(());
    }
    let prefix = enum_prefix(e);
    let candidate = format!("{prefix}{}", screaming_snake(s));
    if e.get_value_by_name(&candidate).is_some() {
        *v = Value::String(candidate);
        *changed = true;
        return Ok(());
    }
    let expected: Vec<String> = e.values().take(6).map(|v| v.name().to_string()).collect();
    Err(WalkError::UnknownEnum {
        field: path.join("."),
        value: format!("{s:?}"),
        enum_name: e.full_name().to_string(),
        expected: format!("one of {}{}", expected.join(", "), if e.values().len() > 6 { ", …" } else { "" }),
    })
}

/// `EVENT_TYPE_` for `temporal.api.enums.v1.EventType`: every Temporal enum names its zero
/// value `<PREFIX>_UNSPECIFIED`.
fn enum_prefix(e: &EnumDescriptor) -> String {
    e.values()
        .find(|v| v.number() == 0)
        .and_then(|v| v.name().strip_suffix("UNSPECIFIED").map(str::to_owned))
        .unwrap_or_default()
}

/// `WorkflowExecutionStarted` → `WORKFLOW_EXECUTION_STARTED`; like the SDK's
/// `re.sub("([A-Z]+)", r"_\1", s).upper()` with the leading underscore dropped.
fn screaming_snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut prev_upper = true;
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            if !prev_upper {
                out.push('_');
            }
            prev_upper = true;
        } else {
            prev_upper = false;
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Encodings the SDK writes into `metadata.encoding`. In proto3 JSON they appear base64
/// encoded (`anNvbi9wbGFpbg==`); seen as plain text, the export was decoded for reading.
const PLAIN_ENCODINGS: &[&str] =
    &["json/plain", "binary/null", "binary/plain", "json/protobuf", "binary/protobuf", "binary/encrypted"];

fn check_payload(map: &serde_json::Map<String, Value>, path: &[String]) -> Result<(), WalkError> {
    let decoded = |field: &str| WalkError::DecodedPayload { field: format!("{}.{field}", path.join(".")) };
    match map.get("data") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if is_base64(s) => {}
        Some(_) => return Err(decoded("data")),
    }
    if let Some(Value::Object(meta)) = map.get("metadata") {
        for (k, v) in meta {
            match v {
                Value::String(s) if PLAIN_ENCODINGS.contains(&s.as_str()) || !is_base64(s) => {
                    return Err(decoded(&format!("metadata.{k}")));
                }
                Value::String(_) => {}
                _ => return Err(decoded(&format!("metadata.{k}"))),
            }
        }
    }
    // A payload that is neither `{metadata, data}` nor empty is payload shorthand
    // (`"payloads": [{"orderId": 1}]`), as decoded exports write it.
    if map.keys().any(|k| !matches!(k.as_str(), "metadata" | "data" | "externalPayloads")) {
        return Err(decoded("data"));
    }
    Ok(())
}

fn is_base64(s: &str) -> bool {
    use base64::Engine;
    let t = s.trim_end_matches('=');
    t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
        && (base64::engine::general_purpose::STANDARD.decode(s).is_ok()
            || base64::engine::general_purpose::STANDARD_NO_PAD.decode(t).is_ok()
            || base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pascal_case_to_screaming_snake() {
        assert_eq!(screaming_snake("WorkflowExecutionStarted"), "WORKFLOW_EXECUTION_STARTED");
        assert_eq!(screaming_snake("Normal"), "NORMAL");
        assert_eq!(screaming_snake("StartToClose"), "START_TO_CLOSE");
    }

    #[test]
    fn rewrites_nested_enums_including_failure_causes() {
        let mut ev = json!({
            "eventId": "5", "eventType": "ActivityTaskFailed",
            "activityTaskFailedEventAttributes": {
                "failure": {"message": "x", "cause": {"message": "y", "timeoutFailureInfo": {"timeoutType": "StartToClose"}}},
                "retryState": "MaximumAttemptsReached"
            }
        });
        assert_eq!(normalize_event(&mut ev), Ok(true));
        assert_eq!(ev["eventType"], "EVENT_TYPE_ACTIVITY_TASK_FAILED");
        assert_eq!(ev["activityTaskFailedEventAttributes"]["retryState"], "RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED");
        assert_eq!(
            ev["activityTaskFailedEventAttributes"]["failure"]["cause"]["timeoutFailureInfo"]["timeoutType"],
            "TIMEOUT_TYPE_START_TO_CLOSE"
        );
    }

    #[test]
    fn unknown_enum_names_the_field() {
        let mut ev = json!({"eventId": "3", "eventType": "EVENT_TYPE_WORKFLOW_TASK_STARTED",
            "workflowTaskFailedEventAttributes": {"cause": "Bogus"}});
        match normalize_event(&mut ev) {
            Err(WalkError::UnknownEnum { field, value, enum_name, .. }) => {
                assert_eq!(field, "workflowTaskFailedEventAttributes.cause");
                assert_eq!(value, "\"Bogus\"");
                assert_eq!(enum_name, "temporal.api.enums.v1.WorkflowTaskFailedCause");
            }
            other => panic!("expected UnknownEnum, got {other:?}"),
        }
    }

    #[test]
    fn decoded_payload_is_recognised() {
        let mut ev = json!({"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
            "workflowExecutionStartedEventAttributes": {"input": {"payloads": [
                {"metadata": {"encoding": "json/plain"}, "data": {"orderId": 7}}]}}});
        assert!(matches!(normalize_event(&mut ev), Err(WalkError::DecodedPayload { .. })));
        let mut shorthand = json!({"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
            "workflowExecutionStartedEventAttributes": {"input": {"payloads": [{"orderId": 7}]}}});
        assert!(matches!(normalize_event(&mut shorthand), Err(WalkError::DecodedPayload { .. })));
    }
}

/// The reverse of [`normalize_event`]: proto3 enum names to the legacy PascalCase dialect,
/// as old UI/tctl exports wrote them. Used by tests to make legacy files from real ones.
#[cfg(test)]
pub fn to_legacy(event: &mut Value) {
    fn pascal(name: &str, prefix: &str) -> String {
        name.strip_prefix(prefix)
            .unwrap_or(name)
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_string() + &c.as_str().to_lowercase()).unwrap_or_default()
            })
            .collect()
    }
    fn go(msg: &MessageDescriptor, v: &mut Value) {
        let Value::Object(map) = v else { return };
        for (key, val) in map.iter_mut() {
            let Some(field) = msg.get_field_by_json_name(key) else { continue };
            match field.kind() {
                Kind::Enum(e) => {
                    let prefix = enum_prefix(&e);
                    if let Value::String(s) = val {
                        *s = pascal(s, &prefix);
                    }
                }
                Kind::Message(m) if field.is_map() => {
                    if let (Kind::Message(vm), Value::Object(entries)) = (m.map_entry_value_field().kind(), &mut *val) {
                        if !is_well_known(&vm) {
                            entries.values_mut().for_each(|item| go(&vm, item));
                        }
                    }
                }
                Kind::Message(m) if !is_well_known(&m) => match val {
                    Value::Array(items) => items.iter_mut().for_each(|item| go(&m, item)),
                    other => go(&m, other),
                },
                _ => {}
            }
        }
    }
    go(history_event(), event);
}
