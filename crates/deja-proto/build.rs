//! Compiles the vendored `.proto` files (see `protos/SOURCE.md`) without `protoc`:
//! `protox` parses them into a `FileDescriptorSet` in pure Rust, `tonic-prost-build`
//! turns that into prost messages plus the `WorkflowService` client, and `pbjson-build`
//! adds proto3-JSON serde impls. `btree_map` makes encoding of map fields ordered, so
//! the binary deja hands to the SDK is byte-identical to Python's deterministic output.
use std::{env, path::PathBuf};

use prost::Message;

const ROOTS: &[&str] = &[
    "protos/temporal/api/workflowservice/v1/service.proto",
    "protos/temporal/sdk/core/workflow_activation/workflow_activation.proto",
    "protos/temporal/sdk/core/workflow_commands/workflow_commands.proto",
    "protos/temporal/sdk/core/workflow_completion/workflow_completion.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=protos");
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let fds = protox::compile(ROOTS, ["protos"])?;
    let descriptor_path = out.join("descriptors.bin");
    std::fs::write(&descriptor_path, fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_server(false)
        .build_transport(true)
        .compile_well_known_types(true)
        .btree_map(".")
        .extern_path(".google.protobuf", "::pbjson_types")
        // A history event's attributes are a oneof of ~50 messages; inline, every event is
        // as large as the largest one and is copied whole at each step of decoding. Boxed,
        // an event is small and loading a history is markedly faster.
        .boxed(".temporal.api.history.v1.HistoryEvent.attributes")
        .compile_fds(fds.clone())?;

    write_module_tree(&out, &fds)?;

    let descriptors = std::fs::read(&descriptor_path)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptors)?
        .btree_map(["."])
        // Like the SDK's `json_format.ParseDict(..., ignore_unknown_fields=True)`: a history
        // written by a newer server than the vendored protos still loads.
        .ignore_unknown_fields()
        .build(&[".temporal", ".coresdk", ".google.api", ".google.rpc", ".grpc", ".nexusannotations"])?;
    Ok(())
}

/// Writes `packages.rs`: one nested `pub mod` per proto package, each including the
/// prost output (`<pkg>.rs`) and the pbjson serde impls (`<pkg>.serde.rs`).
fn write_module_tree(
    out: &std::path::Path,
    fds: &prost_types::FileDescriptorSet,
) -> std::io::Result<()> {
    use std::collections::BTreeMap;
    #[derive(Default)]
    struct Node {
        children: BTreeMap<String, Node>,
        package: Option<String>,
    }
    let mut root = Node::default();
    for file in &fds.file {
        let pkg = file.package().to_string();
        if pkg.is_empty() || pkg.starts_with("google.protobuf") {
            continue;
        }
        let mut node = &mut root;
        for part in pkg.split('.') {
            node = node.children.entry(part.to_string()).or_default();
        }
        node.package = Some(pkg);
    }
    fn emit(node: &Node, depth: usize, text: &mut String) {
        let pad = "    ".repeat(depth);
        if let Some(pkg) = &node.package {
            text.push_str(&format!(
                "{pad}include!(concat!(env!(\"OUT_DIR\"), \"/{pkg}.rs\"));\n\
                 {pad}include!(concat!(env!(\"OUT_DIR\"), \"/{pkg}.serde.rs\"));\n"
            ));
        }
        for (name, child) in &node.children {
            text.push_str(&format!("{pad}pub mod {name} {{\n"));
            emit(child, depth + 1, text);
            text.push_str(&format!("{pad}}}\n"));
        }
    }
    let mut text = String::new();
    emit(&root, 0, &mut text);
    std::fs::write(out.join("packages.rs"), text)
}
