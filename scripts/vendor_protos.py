"""Copy the .proto files deja compiles from the pinned temporalio wheel.

The wheel bundles the SDK core's protos under
``temporalio/bridge/sdk-core/crates/protos/protos/``. We take the import closure of
``temporal/api/workflowservice/v1/service.proto`` (the gRPC API deja's `fetch` uses)
plus the core's lang protos (``coresdk.*``: activations, commands, completions), and
flatten them into one include root, so ``build.rs`` needs no protoc and no network.

Run via ``make protos`` (uses the venv's temporalio); writes crates/deja-proto/protos/.
"""
from __future__ import annotations

import pathlib
import re
import shutil
import sys

import temporalio

SRC = pathlib.Path(temporalio.__file__).parent / "bridge/sdk-core/crates/protos/protos"
ROOTS = [SRC / "api_upstream", SRC / "local", SRC]
OUT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "crates/deja-proto/protos")
START = [
    "temporal/api/workflowservice/v1/service.proto",
    "temporal/sdk/core/workflow_activation/workflow_activation.proto",
    "temporal/sdk/core/workflow_commands/workflow_commands.proto",
    "temporal/sdk/core/workflow_completion/workflow_completion.proto",
]
# protox ships these itself; pbjson maps them to pbjson-types.
BUILTIN = re.compile(r"^google/protobuf/")
IMPORT = re.compile(r'^\s*import\s+(?:public\s+)?"([^"]+)"\s*;', re.M)


def find(rel: str) -> pathlib.Path:
    for root in ROOTS:
        if (root / rel).is_file():
            return root / rel
    raise SystemExit(f"vendor_protos: {rel} not found under {SRC}")


def main() -> None:
    seen: dict[str, pathlib.Path] = {}
    todo = list(START)
    while todo:
        rel = todo.pop()
        if rel in seen or BUILTIN.match(rel):
            continue
        path = find(rel)
        seen[rel] = path
        todo.extend(IMPORT.findall(path.read_text()))
    if OUT.exists():
        shutil.rmtree(OUT)
    for rel, path in sorted(seen.items()):
        dest = OUT / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    shutil.copyfile(SRC / "api_upstream/LICENSE", OUT / "LICENSE")
    version = temporalio.__version__
    (OUT / "SOURCE.md").write_text(
        f"Copied by scripts/vendor_protos.py from the temporalio {version} wheel\n"
        f"(temporalio/bridge/sdk-core/crates/protos/protos/). {len(seen)} files.\n"
        "temporal/api/** is temporalio/api (MIT, LICENSE here); temporal/sdk/core/** is\n"
        "the Temporal SDK core's lang interface (MIT).\n"
    )
    print(f"vendored {len(seen)} proto files from temporalio {version} into {OUT}")


if __name__ == "__main__":
    main()
