"""Which temporalio this is and what deja may do with it (``SdkFeatures``), plus
the SDK-specific set-up: a quiet core runtime, the preset build id, and whether
serialization contexts can matter. Everything version-dependent lives here.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import re
from typing import Any

import temporalio
import temporalio.bridge.proto.workflow_activation
import temporalio.bridge.proto.workflow_commands
import temporalio.bridge.proto.workflow_completion
import temporalio.converter
import temporalio.runtime
import temporalio.worker
import temporalio.workflow

from . import sandbox_reuse as deja_sandbox_reuse
from .errors import HarnessError


def sdk_version() -> str:
    """Version of the temporalio SDK the harness runs against."""
    return str(getattr(temporalio, "__version__", "unknown"))


# --------------------------------------------------------------------------
# Which temporalio this is, and what deja may do with it
# --------------------------------------------------------------------------

#: The oldest temporalio deja replays with.
SUPPORTED_MIN = (1, 10)
#: The newest (major, minor) whose internals deja has been checked against (the version
#: matrix in tests/sdk_matrix.rs). Newer releases replay on the plain SDK path.
TESTED_MAX = (1, 35)


def supported_range() -> str:
    return f"{SUPPORTED_MIN[0]}.{SUPPORTED_MIN[1]}.0 to {TESTED_MAX[0]}.{TESTED_MAX[1]}.x"


def _version_tuple(version: str) -> tuple[int, ...] | None:
    m = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", version)
    return tuple(int(g or 0) for g in m.groups()) if m else None


def _has_field(message_cls: Any, name: str) -> bool:
    return name in message_cls.DESCRIPTOR.fields_by_name


@dataclasses.dataclass(frozen=True)
class SdkFeatures:
    """What the installed temporalio offers, found by looking, never by version alone.

    The *verdict* path (``Replayer`` + the public ``WorkflowRunner`` /
    ``WorkflowInstance`` wrappers) is the same on every supported version. The
    optimisations touch SDK internals and are only switched on where the internals
    they rely on are present *and* the version is inside the range the version matrix
    has proven (``SUPPORTED_MIN`` .. ``TESTED_MAX``); anywhere else deja runs the plain
    SDK path, which can cost speed but never changes a verdict.
    """

    version: str
    #: "supported", "newer" (past TESTED_MAX: plain path, with a notice) or "older"
    #: (before SUPPORTED_MIN: refused).
    status: str
    #: ``Runtime(worker_heartbeat_interval=...)`` exists (1.2x+); must be None for replay.
    runtime_heartbeat_option: bool
    #: Command sites and state: the SDK instance's ``_add_command``/``create_task`` hooks.
    command_sites: bool
    #: State/queries after each activation (a query-only activation injected).
    state_queries: bool
    #: Update jobs/commands exist in this SDK's protos.
    updates: bool
    #: Nexus operation commands exist in this SDK's protos.
    nexus: bool
    #: Optimisation: keep a module's sandbox import between histories.
    sandbox_reuse: bool
    #: Optimisation: answer serialization-context lookups without entering the sandbox.
    context_shortcut: bool
    #: Optimisation: preset the worker's default build id instead of hashing every module.
    build_id_preset: bool

    def notice(self) -> str | None:
        if self.status == "newer":
            return (
                f"temporalio {self.version} is newer than deja has been checked against "
                f"({supported_range()}): replaying on the plain SDK path (verdicts are the SDK's; "
                "sandbox reuse and other speed-ups are off). Upgrade deja to get them back."
            )
        return None

    def optimisations(self) -> list[str]:
        names = {"sandbox_reuse": "sandbox reuse", "context_shortcut": "serialization-context shortcut", "build_id_preset": "build-id preset"}
        return [label for key, label in names.items() if getattr(self, key)]

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["optimisations"] = self.optimisations()
        d["notice"] = self.notice()
        d["supported_range"] = supported_range()
        return d


@functools.lru_cache(maxsize=None)
def sdk_features() -> SdkFeatures:
    """Detect (once) what this temporalio offers; see ``SdkFeatures``."""
    import inspect as _inspect

    version = sdk_version()
    vt = _version_tuple(version)
    if vt is None or vt[:2] > TESTED_MAX:
        status = "newer"
    elif vt[:2] < SUPPORTED_MIN:
        status = "older"
    else:
        status = "supported"
    proven = status == "supported"
    try:
        runtime_params = _inspect.signature(temporalio.runtime.Runtime.__init__).parameters
    except (TypeError, ValueError):
        runtime_params = {}
    jobs = temporalio.bridge.proto.workflow_activation.WorkflowActivationJob
    commands = temporalio.bridge.proto.workflow_commands.WorkflowCommand
    impl_cls = getattr(getattr(temporalio.worker, "_workflow_instance", None), "_WorkflowInstanceImpl", None)
    command_sites = impl_cls is not None and all(hasattr(impl_cls, a) for a in ("_add_command", "create_task"))
    return SdkFeatures(
        version=version,
        status=status,
        runtime_heartbeat_option="worker_heartbeat_interval" in runtime_params,
        command_sites=command_sites,
        state_queries=_has_field(jobs, "query_workflow") and _has_field(commands, "respond_to_query"),
        # What workflow code can use on this release: the protos and the Python API.
        updates=_has_field(jobs, "do_update") and _has_field(commands, "update_response") and hasattr(temporalio.workflow, "update"),
        nexus=_has_field(commands, "schedule_nexus_operation") and hasattr(temporalio.workflow, "create_nexus_client"),
        sandbox_reuse=proven and deja_sandbox_reuse.supported(),
        context_shortcut=proven and hasattr(temporalio.worker.WorkflowInstance, "get_serialization_context"),
        build_id_preset=proven and getattr(getattr(temporalio.worker, "_worker", None), "_default_build_id", "missing") is None,
    )


def check_sdk() -> str:
    """The installed SDK's features as JSON; raises for a temporalio deja cannot run."""
    f = sdk_features()
    if f.status == "older":
        lo = f"{SUPPORTED_MIN[0]}.{SUPPORTED_MIN[1]}.0"
        raise HarnessError(
            "unsupported-sdk",
            f"temporalio {f.version} is older than deja supports ({supported_range()}): "
            f"upgrade it in this environment (pip install 'temporalio>={lo}'), or point --python-env at one that has it",
        )
    return json.dumps(f.as_dict())


def coresdk_descriptor_set() -> bytes:
    """This SDK's activation and completion protos (and their imports) as a serialized
    ``FileDescriptorSet``: core's lang protos change between releases, so deja reads the
    bytes it is given with the descriptors of the SDK that wrote them."""
    from google.protobuf import descriptor_pb2

    out = descriptor_pb2.FileDescriptorSet()
    seen: set = set()

    def add(fd) -> None:
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dep in fd.dependencies:
            add(dep)
        fd.CopyToProto(out.file.add())

    add(temporalio.bridge.proto.workflow_activation.WorkflowActivation.DESCRIPTOR.file)
    add(temporalio.bridge.proto.workflow_completion.WorkflowActivationCompletion.DESCRIPTOR.file)
    return out.SerializeToString()


@functools.lru_cache(maxsize=None)
def _quiet_runtime() -> temporalio.runtime.Runtime:
    """A core runtime (one per process) that never writes to the console (no WARN lines)."""
    kwargs: dict = {"telemetry": temporalio.runtime.TelemetryConfig(logging=None, metrics=None)}
    if sdk_features().runtime_heartbeat_option:
        # Newer SDKs start a worker heartbeat task by default; replay has no server.
        kwargs["worker_heartbeat_interval"] = None
    return temporalio.runtime.Runtime(**kwargs)


def _preset_build_id() -> None:
    """Give the SDK's default worker build id a fixed value before a Replayer asks.

    ``Replayer`` fills its worker's build id from ``load_default_build_id()``,
    an md5 over the bytecode of every loaded module — it reads and sometimes
    compiles every module on ``sys.modules``: ~0.15 s, a third of a worker's
    start-up. That value depends on whatever the process happened to import
    (deja's own modules included), so it was never the SDK replayer's value to
    begin with; workflow code can only see it as ``get_current_build_id()`` of a
    task that is not in the history. A fixed value is as faithful and free. The
    task queue (``replay-<configured build id>``) is untouched.
    """
    if not sdk_features().build_id_preset:
        return
    worker_mod = getattr(temporalio.worker, "_worker", None)
    if worker_mod is not None and getattr(worker_mod, "_default_build_id", "") is None:
        worker_mod._default_build_id = f"deja-replay-{sdk_version()}"


def _context_free(data_converter) -> bool:
    """Whether serialization / store contexts can change nothing for this converter.

    The SDK uses those contexts only to give the payload codec and external
    storage per-command context while it visits an activation's or a
    completion's payloads. With no codec and no external storage, every one
    of those visits returns its payloads unchanged (or raises on an external
    reference, which does not depend on the context), so skipping the
    context lookup is exact. An unknown converter shape keeps the lookups.
    """
    dc = data_converter if data_converter is not None else temporalio.converter.DataConverter.default
    try:
        return dc.payload_codec is None and getattr(dc, "external_storage", None) is None
    except Exception:  # noqa: BLE001 - a user converter with odd attributes
        return False
