//! Generated protobuf types deja works with.
//!
//! * `temporal::api::*` — the Temporal API (histories, payloads, failures, enums and the
//!   `WorkflowService` gRPC client used by `deja fetch`).
//! * `coresdk::*` — the SDK core's lang interface: activations (what core sends the
//!   workflow code), commands and completions (what the code answers). The Python
//!   harness sends these across as bytes; deja decodes them here.
//!
//! Every message has prost (binary) and pbjson (proto3 JSON) implementations. The
//! `.proto` sources are vendored from the pinned `temporalio` wheel (`protos/SOURCE.md`);
//! this crate is separate so edits to the app never recompile its ~5 MB of generated code.
#![allow(clippy::all, rustdoc::all, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/packages.rs"));

pub use pbjson_types;
pub use prost;

/// The compiled `FileDescriptorSet` of every vendored proto, for reflection (deja uses it
/// to read the legacy PascalCase JSON dialect and to name fields in error messages).
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));
