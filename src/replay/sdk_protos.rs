//! Reading the SDK's activations and completions whatever `temporalio` wrote them.
//!
//! The harness hands back each activation and completion as bytes of the *installed*
//! SDK's `coresdk` protos. Those are core's private lang interface and change between
//! releases without regard for wire compatibility: temporalio 1.32 has
//! `InitializeWorkflow.originating_event_id = 26` (an int64) where 1.35, whose protos deja
//! vendors, has `original_execution_run_id = 26` (a string). Decoding 1.32's bytes with
//! 1.35's types fails, or worse, would read one field as another.
//!
//! So the harness also sends the SDK's own descriptors (a `FileDescriptorSet` of the
//! two roots and their imports) once per process, and [`SdkProtos::new`] compares them
//! with the vendored ones over every message reachable from the two roots:
//!
//! * **Same wire meaning** (every field number the two share has the same name, type and
//!   cardinality) — the common case, and the case on the pinned SDK: bytes are decoded
//!   straight into the vendored prost types, at no extra cost. Fields only one side has
//!   are skipped by prost as usual.
//! * **Different** — each message is decoded with the SDK's descriptors (so every field
//!   is read as what it is) and carried into the vendored types *by field name*; a field
//!   the vendored protos do not have, or have with another type, is dropped (and counted,
//!   for `-v`). What deja reads downstream — jobs, commands, seqs, activity types, ids —
//!   has kept its names across every supported SDK version.
//!
//! Pure Rust: no Python here; the bytes and descriptors come from `embed`.

use std::collections::{HashSet, VecDeque};

use deja_proto::coresdk::workflow_activation::WorkflowActivation;
use deja_proto::coresdk::workflow_completion::WorkflowActivationCompletion;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value};

const ACTIVATION: &str = "coresdk.workflow_activation.WorkflowActivation";
const COMPLETION: &str = "coresdk.workflow_completion.WorkflowActivationCompletion";

/// How this process reads the installed SDK's activation/completion bytes.
#[derive(Debug)]
pub enum SdkProtos {
    /// The SDK's protos mean the same on the wire as the vendored ones.
    Native,
    /// They differ: decode with the SDK's descriptors, carry over by field name.
    Transcode(Box<Transcoder>),
}

#[derive(Debug)]
pub struct Transcoder {
    sdk_activation: MessageDescriptor,
    sdk_completion: MessageDescriptor,
    ours_activation: MessageDescriptor,
    ours_completion: MessageDescriptor,
    /// The first few differences found, for `-v` (`"coresdk.…InitializeWorkflow field 26:
    /// originating_event_id int64 (SDK) vs original_execution_run_id string (deja)"`).
    pub differences: Vec<String>,
}

/// Why the SDK's descriptors could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SdkProtosError {
    #[error("the installed temporalio's activation protos could not be read: {0}")]
    Descriptors(String),
    #[error("the installed temporalio has no message {0}")]
    Missing(&'static str),
}

fn vendored() -> &'static DescriptorPool {
    static POOL: std::sync::OnceLock<DescriptorPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(deja_proto::FILE_DESCRIPTOR_SET).expect("descriptor set compiled by build.rs decodes"))
}

impl SdkProtos {
    /// Compare the SDK's descriptors (a serialized `FileDescriptorSet`) with the vendored ones.
    pub fn new(sdk_descriptor_set: &[u8]) -> Result<SdkProtos, SdkProtosError> {
        let sdk = DescriptorPool::decode(sdk_descriptor_set).map_err(|e| SdkProtosError::Descriptors(e.to_string()))?;
        let ours = vendored();
        let msg = |pool: &DescriptorPool, name: &'static str| pool.get_message_by_name(name).ok_or(SdkProtosError::Missing(name));
        let (sdk_activation, sdk_completion) = (msg(&sdk, ACTIVATION)?, msg(&sdk, COMPLETION)?);
        let (ours_activation, ours_completion) = (msg(ours, ACTIVATION)?, msg(ours, COMPLETION)?);
        let differences = differences(&[sdk_activation.clone(), sdk_completion.clone()], ours, 8);
        if differences.is_empty() {
            return Ok(SdkProtos::Native);
        }
        Ok(SdkProtos::Transcode(Box::new(Transcoder {
            sdk_activation,
            sdk_completion,
            ours_activation,
            ours_completion,
            differences,
        })))
    }

    pub fn is_native(&self) -> bool {
        matches!(self, SdkProtos::Native)
    }

    pub fn activation(&self, bytes: &[u8]) -> Result<WorkflowActivation, prost::DecodeError> {
        match self {
            SdkProtos::Native => WorkflowActivation::decode(bytes),
            SdkProtos::Transcode(t) => WorkflowActivation::decode(t.carry(bytes, &t.sdk_activation, &t.ours_activation)?.as_slice()),
        }
    }

    pub fn completion(&self, bytes: &[u8]) -> Result<WorkflowActivationCompletion, prost::DecodeError> {
        match self {
            SdkProtos::Native => WorkflowActivationCompletion::decode(bytes),
            SdkProtos::Transcode(t) => {
                WorkflowActivationCompletion::decode(t.carry(bytes, &t.sdk_completion, &t.ours_completion)?.as_slice())
            }
        }
    }
}

impl Transcoder {
    fn carry(&self, bytes: &[u8], from: &MessageDescriptor, to: &MessageDescriptor) -> Result<Vec<u8>, prost::DecodeError> {
        let src = DynamicMessage::decode(from.clone(), bytes)?;
        Ok(carry_message(&src, to).encode_to_vec())
    }
}

/// Every field number both sides define for a message reachable from `roots`, whose name,
/// type or cardinality differs (at most `limit`).
fn differences(roots: &[MessageDescriptor], ours: &DescriptorPool, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut queue: VecDeque<MessageDescriptor> = roots.iter().cloned().collect();
    while let Some(m) = queue.pop_front() {
        if !seen.insert(m.full_name().to_string()) {
            continue;
        }
        let Some(our) = ours.get_message_by_name(m.full_name()) else {
            continue; // reached only through a field that already differs, or new: skipped by prost
        };
        for f in m.fields() {
            if let Kind::Message(sub) = f.kind() {
                queue.push_back(sub);
            }
            let Some(g) = our.get_field(f.number()) else { continue };
            if f.name() != g.name() || shape(&f) != shape(&g) {
                if out.len() < limit {
                    out.push(format!(
                        "{} field {}: {} {} (SDK) vs {} {} (deja)",
                        m.full_name(),
                        f.number(),
                        f.name(),
                        shape(&f),
                        g.name(),
                        shape(&g)
                    ));
                } else {
                    return out;
                }
            }
        }
    }
    out
}

/// A field's wire-relevant type, as text (`repeated int64`, `coresdk.common.Payload`).
fn shape(f: &FieldDescriptor) -> String {
    let kind = match f.kind() {
        Kind::Message(m) => m.full_name().to_string(),
        Kind::Enum(e) => e.full_name().to_string(),
        k => format!("{k:?}").to_lowercase(),
    };
    if f.is_map() {
        format!("map {kind}")
    } else if f.is_list() {
        format!("repeated {kind}")
    } else {
        kind
    }
}

/// `src` rebuilt as a `to` message, field by field, matched by name.
fn carry_message(src: &DynamicMessage, to: &MessageDescriptor) -> DynamicMessage {
    let mut out = DynamicMessage::new(to.clone());
    for (field, value) in src.fields() {
        let Some(target) = to.get_field_by_name(field.name()) else { continue };
        if let Some(v) = carry_field(value, &target) {
            out.set_field(&target, v);
        }
    }
    out
}

fn carry_field(value: &Value, target: &FieldDescriptor) -> Option<Value> {
    match value {
        Value::List(items) if target.is_list() => {
            Some(Value::List(items.iter().filter_map(|v| carry_single(v, &target.kind())).collect()))
        }
        Value::Map(entries) if target.is_map() => {
            let Kind::Message(entry) = target.kind() else { return None };
            let key_kind = entry.map_entry_key_field().kind();
            let value_kind = entry.map_entry_value_field().kind();
            let mut out = std::collections::HashMap::new();
            for (k, v) in entries {
                if !k.is_valid(&key_kind) {
                    return None;
                }
                let k: MapKey = k.clone();
                out.insert(k, carry_single(v, &value_kind)?);
            }
            Some(Value::Map(out))
        }
        Value::List(_) | Value::Map(_) => None,
        _ if target.is_list() || target.is_map() => None,
        v => carry_single(v, &target.kind()),
    }
}

fn carry_single(value: &Value, kind: &Kind) -> Option<Value> {
    match (value, kind) {
        (Value::Message(m), Kind::Message(to)) => Some(Value::Message(carry_message(m, to))),
        (Value::EnumNumber(n), Kind::Enum(_)) => Some(Value::EnumNumber(*n)),
        (v, k) if v.is_valid(k) => Some(v.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deja_proto::coresdk::workflow_activation::{InitializeWorkflow, WorkflowActivationJob, workflow_activation_job};
    use prost_reflect::prost_types::{FileDescriptorProto, FileDescriptorSet};

    /// The vendored descriptor set itself: what the pinned SDK sends.
    fn vendored_set() -> Vec<u8> {
        deja_proto::FILE_DESCRIPTOR_SET.to_vec()
    }

    /// The vendored set with `InitializeWorkflow` changed the way temporalio 1.32's differs:
    /// field 26 is `originating_event_id` (int64), `original_execution_run_id` is 27.
    fn like_1_32() -> Vec<u8> {
        let mut set = FileDescriptorSet::decode(deja_proto::FILE_DESCRIPTOR_SET).unwrap();
        let file: &mut FileDescriptorProto = set
            .file
            .iter_mut()
            .find(|f| f.package() == "coresdk.workflow_activation")
            .expect("activation file");
        let init = file.message_type.iter_mut().find(|m| m.name() == "InitializeWorkflow").unwrap();
        let f26 = init.field.iter_mut().find(|f| f.number() == 26).unwrap();
        assert_eq!(f26.name(), "original_execution_run_id");
        let mut moved = f26.clone();
        f26.name = Some("originating_event_id".into());
        f26.json_name = Some("originatingEventId".into());
        f26.r#type = Some(prost_reflect::prost_types::field_descriptor_proto::Type::Int64 as i32);
        moved.number = Some(27);
        init.field.push(moved);
        set.encode_to_vec()
    }

    fn activation(run: &str) -> WorkflowActivation {
        WorkflowActivation {
            run_id: "r".into(),
            jobs: vec![WorkflowActivationJob {
                variant: Some(workflow_activation_job::Variant::InitializeWorkflow(InitializeWorkflow {
                    workflow_type: "W".into(),
                    workflow_id: "w".into(),
                    original_execution_run_id: run.into(),
                    ..Default::default()
                })),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn the_pinned_sdk_is_decoded_natively() {
        let p = SdkProtos::new(&vendored_set()).unwrap();
        assert!(p.is_native());
        let a = activation("orig");
        assert_eq!(p.activation(&a.encode_to_vec()).unwrap(), a);
    }

    #[test]
    fn a_renumbered_field_is_carried_by_name() {
        let p = SdkProtos::new(&like_1_32()).unwrap();
        let SdkProtos::Transcode(t) = &p else { panic!("expected transcoding") };
        assert!(t.differences[0].contains("field 26: originating_event_id int64 (SDK) vs original_execution_run_id string (deja)"), "{:?}", t.differences);
        // Bytes as 1.32 writes them: field 27 holds the run id, field 26 an event id.
        let sdk = DescriptorPool::decode(like_1_32().as_slice()).unwrap();
        let act = sdk.get_message_by_name(ACTIVATION).unwrap();
        let mut m = DynamicMessage::new(act.clone());
        m.set_field_by_name("run_id", Value::String("r".into()));
        let job_desc = sdk.get_message_by_name("coresdk.workflow_activation.WorkflowActivationJob").unwrap();
        let init_desc = sdk.get_message_by_name("coresdk.workflow_activation.InitializeWorkflow").unwrap();
        let mut init = DynamicMessage::new(init_desc);
        init.set_field_by_name("workflow_type", Value::String("W".into()));
        init.set_field_by_name("workflow_id", Value::String("w".into()));
        init.set_field_by_name("original_execution_run_id", Value::String("orig".into()));
        init.set_field_by_name("originating_event_id", Value::I64(7));
        let mut job = DynamicMessage::new(job_desc);
        job.set_field_by_name("initialize_workflow", Value::Message(init));
        m.set_field_by_name("jobs", Value::List(vec![Value::Message(job)]));
        let bytes = m.encode_to_vec();
        // Decoded natively these bytes would fail (varint where a string is expected) …
        assert!(WorkflowActivation::decode(bytes.as_slice()).is_err());
        // … carried by name they read as what they are.
        assert_eq!(p.activation(&bytes).unwrap(), activation("orig"));
    }

    #[test]
    fn garbage_descriptors_are_an_error_not_a_panic() {
        assert!(matches!(SdkProtos::new(b"\xff\xff"), Err(SdkProtosError::Descriptors(_))));
    }
}
