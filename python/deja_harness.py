"""deja's embedded replay harness.

Loaded by the Rust binary from a string (``PyModule::from_code(code,
"deja_harness.py", "deja_harness")``) and placed in ``sys.modules``; it must not
depend on ``__file__`` or on sibling files. Standard library + temporalio only.

API
---
``sdk_version() -> str``
``load(config: dict) -> Session`` raises ``HarnessError(kind, message, detail)``
    kind: "missing-module" | "import-error" | "no-workflows" | "bad-spec" |
    "bad-attr" | "environment". Config keys: workflows, python_path,
    unsandboxed, data_converter, interceptors, queries, record_state,
    debug_mode (see ``load``).
``Session.registered: list[str]`` workflow type names ("*" = dynamic)
``Session.replay(history: bytes, workflow_id: str) -> dict``
    history is a serialized ``temporal.api.history.v1.History``. Result::

        verdict     "pass" | "nondeterminism" | "workflow-task-failure" | "error"
        error_kind  None | "unregistered-type" | "deadlock" | "invalid-history" | "other"
        message     one line (core's message for non-determinism; "Type: msg" for
                    task failures; where it was blocked for deadlocks)
        raw         the SDK's full failure text ("" on pass)
        frames      [{file,line,function,code}] user frames, innermost last
                    (task failures and deadlocks)
        steps       [{activation: bytes, completion: bytes,
                      command_sites: [site | None per command],
                      state: bytes (UTF-8 JSON) | None}]
        warnings    [str] Python warnings raised by the replay   (extension)
        output      str   text the workflow code printed/logged   (extension)

    One step per non-eviction activation the workflow instance handled, in
    order. ``activation`` is the lang ``coresdk.workflow_activation.
    WorkflowActivation`` as the instance got it (payloads already decoded by
    the data converter's codec); ``completion`` is the instance's
    ``WorkflowActivationCompletion`` before payload encoding (no run_id, no
    injected query responses). An activation the SDK's deadlock detector gave
    up on is not a step. ``state`` (record_state only) is
    ``{"stacks": [[site...]...], "fields": {name: repr}, "queries":
    {name: {"result": json-or-repr} | {"error": msg}}}``.
``Session.close()``

How
---
* ``load`` imports the team's workflow modules, builds ONE
  ``temporalio.worker.Replayer`` and runs ONE long-lived
  ``Replayer.workflow_replay_iterator`` on a background thread (own event
  loop). The SDK's worker setup, including sandbox validation of every
  registered workflow (a module re-import per workflow type), is paid once per
  Session instead of once per history (``replay_workflow`` per history was
  ~16x slower on 543 small histories).
* ``replay`` hands the history to that iterator and waits for its
  ``WorkflowReplayResult``; the verdict is the SDK's own ``replay_failure``.
* Both runners (sandboxed and unsandboxed) are wrapped by ``_RecordingRunner``
  (public ``WorkflowRunner``/``WorkflowInstance`` API) whose instances see every
  activation and completion. Command sites come from a per-instance hook on
  the SDK instance's ``_add_command`` that walks the stack to the first user
  frame, with fallbacks for commands issued after user code returned or raised
  (return line / raise line), for tasks spawned by gather/ensure_future (the
  spawning line) and for cancels run from SDK callbacks (the line that started
  what is cancelled). State is read from the instance after each activation;
  user queries run through an injected query-only activation whose
  ``respond_to_query`` commands are dropped (does not change verdicts).
* Noise: core's console logging is off (private ``Runtime`` with
  ``logging=None``: no ``WARN ... Failing workflow task`` lines); the SDK's
  ``temporalio`` log records are captured (they carry the tracebacks) and not
  propagated; warnings and sys.stdout/sys.stderr writes made on replay threads
  go into the result. Nothing reaches fd 1/2 from a replay unless the workflow
  writes to the file descriptors directly.
* A deadlock the SDK cannot interrupt (code blocked in C, e.g. time.sleep(30))
  would block the SDK until the thread wakes; after the SDK has reported the
  deadlock we wait ``_DEADLOCK_GRACE_SECONDS`` more, answer "deadlock"
  ourselves and start a fresh replayer (the stuck threads are daemons).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import importlib
import inspect
import json
import linecache
import logging
import os
import queue
import re
import reprlib
import sys
import sysconfig
import threading
import time
import traceback
import warnings
import weakref
from typing import Any

import temporalio
import temporalio.api.enums.v1
import temporalio.api.history.v1
import temporalio.bridge.proto.workflow_activation
import temporalio.bridge.proto.workflow_commands
import temporalio.bridge.proto.workflow_completion
import temporalio.client
import temporalio.converter
import temporalio.runtime
import temporalio.worker

# deja's second embedded module (registered before this one; a plain import when
# run from python/ by the self-test and the bench).
import deja_sandbox_reuse
import temporalio.workflow

__all__ = ["HarnessError", "Session", "load", "sdk_version"]

_WorkflowActivation = temporalio.bridge.proto.workflow_activation.WorkflowActivation
_SANDBOX_RUNNER = temporalio.worker.workflow_sandbox.SandboxedWorkflowRunner
_EvictionReason = temporalio.bridge.proto.workflow_activation.RemoveFromCache
_LANG_FAIL = int(_EvictionReason.LANG_FAIL)
_HISTORY_REASONS = {
    int(_EvictionReason.FATAL),
    int(_EvictionReason.PAGINATION_OR_HISTORY_FETCH),
    int(_EvictionReason.TASK_NOT_FOUND),
    int(_EvictionReason.UNHANDLED_COMMAND),
    int(_EvictionReason.CACHE_MISS),
}
_STARTED = temporalio.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED

# A deadlock that the SDK cannot interrupt (user code blocked in C, e.g. a
# lock or a long time.sleep) makes the SDK wait forever before it evicts.
# After the deadlock has been reported we wait this long for the SDK's own
# result, then answer "deadlock" ourselves and abandon that replay pipeline.
_DEADLOCK_GRACE_SECONDS = 3.0


# --------------------------------------------------------------------------
# Errors and small helpers
# --------------------------------------------------------------------------


class HarnessError(Exception):
    """A load-time problem the user has to fix (bad spec, import failure...).

    ``kind`` is one of "missing-module", "import-error", "no-workflows",
    "bad-spec", "bad-attr", "environment". ``message`` is one line naming the
    module/file/spec and the fix; ``detail`` is the formatted traceback.
    """

    def __init__(self, kind: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


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


_FEATURES: SdkFeatures | None = None


def sdk_features() -> SdkFeatures:
    """Detect (once) what this temporalio offers; see ``SdkFeatures``."""
    global _FEATURES
    if _FEATURES is not None:
        return _FEATURES
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
    _FEATURES = SdkFeatures(
        version=version,
        status=status,
        runtime_heartbeat_option="worker_heartbeat_interval" in runtime_params,
        command_sites=command_sites,
        state_queries=_has_field(jobs, "query_workflow") and _has_field(commands, "respond_to_query"),
        updates=_has_field(jobs, "do_update") and _has_field(commands, "update_response"),
        nexus=_has_field(commands, "schedule_nexus_operation"),
        sandbox_reuse=proven and deja_sandbox_reuse.supported(),
        context_shortcut=proven and hasattr(temporalio.worker.WorkflowInstance, "get_serialization_context"),
        build_id_preset=proven and getattr(getattr(temporalio.worker, "_worker", None), "_default_build_id", "missing") is None,
    )
    return _FEATURES


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


def _norm(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


# This module's own code objects carry this filename (whatever the loader
# named it: "deja_harness.py" from Rust, a real path when imported normally).
_HARNESS_FILE = (lambda: None).__code__.co_filename
_REUSE_FILE = deja_sandbox_reuse.expand.__code__.co_filename


class _CodeFilter:
    """Decides whether a code file is the user's code.

    Not user code: pseudo files ("<string>", "<frozen ...>"), this harness,
    the temporalio package, the standard library (asyncio, threading,
    concurrent, importlib ...) and site-/dist-packages, unless the file lies
    inside a package that provided workflows (an installed workflow package).
    """

    def __init__(self) -> None:
        self._cache: dict[str, bool] = {}
        self._user_pkgs: list[str] = []
        self._sdk = _norm(os.path.dirname(temporalio.__file__))
        libs = set()
        for key in ("stdlib", "platstdlib", "purelib", "platlib"):
            try:
                p = sysconfig.get_paths().get(key)
            except Exception:
                p = None
            if p:
                libs.add(_norm(p))
        for base in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
            libs.add(_norm(os.path.join(base, "lib")))
        self._libs = sorted(libs)

    def add_user_package(self, path: str) -> None:
        p = _norm(path)
        if p not in self._user_pkgs:
            self._user_pkgs.append(p)
            self._cache.clear()

    def is_user(self, filename: str) -> bool:
        r = self._cache.get(filename)
        if r is None:
            r = self._classify(filename)
            self._cache[filename] = r
        return r

    def _classify(self, filename: str) -> bool:
        if not filename or filename.startswith("<") or filename in (_HARNESS_FILE, _REUSE_FILE):
            return False
        p = _norm(filename)
        if _under(p, self._sdk):
            return False
        if any(_under(p, u) for u in self._user_pkgs):
            return True
        parts = p.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts:
            return False
        if any(_under(p, lib) for lib in self._libs):
            return False
        return True


_FILTER = _CodeFilter()


def _site(filename: str, line: int, function: str) -> dict:
    code = ""
    try:
        code = linecache.getline(filename, line).strip()
    except Exception:
        pass
    return {"file": filename, "line": int(line), "function": function, "code": code}


def _frame_key(frame) -> tuple:
    return (frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)


def _user_frames_from_tb(tb) -> list[tuple]:
    """(file, line, function) of the user frames of a traceback, innermost last."""
    entries = []
    while tb is not None:
        entries.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    # The SDK's deadlock error carries a traceback built innermost-first
    # (worker/_workflow.py _gen_tb_helper); normal tracebacks are outermost
    # first. Detect the order from the frame links.
    if len(entries) >= 2 and entries[0][0].f_back is entries[1][0]:
        entries.reverse()
    return [
        (f.f_code.co_filename, ln, f.f_code.co_name)
        for f, ln in entries
        if _FILTER.is_user(f.f_code.co_filename)
    ]


def _innermost_user_tb_site(exc: BaseException | None):
    while exc is not None:
        frames = _user_frames_from_tb(exc.__traceback__)
        if frames:
            return frames[-1]
        exc = exc.__context__
    return None


_RUST_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_RUST_TYPE = re.compile(r'r#type: "((?:[^"\\]|\\.)*)"')


def _rust_unescape(s: str) -> str:
    def sub(m: re.Match) -> str:
        c = m.group(1)
        if c.startswith("u{"):
            try:
                return chr(int(c[2:-1], 16))
            except ValueError:
                return m.group(0)
        return {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}.get(c, c)

    return re.sub(r"\\(u\{[0-9a-fA-F]+\}|.)", sub, s)


def _core_message(raw: str) -> tuple[str, str]:
    """(message, failure type) out of the core's Rust debug dump."""
    m = _RUST_MESSAGE.search(raw)
    msg = _rust_unescape(m.group(1)) if m else raw
    t = _RUST_TYPE.search(raw)
    typ = _rust_unescape(t.group(1)) if t else ""
    return msg, typ


def _one_line(s: str, limit: int = 600) -> str:
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


# --------------------------------------------------------------------------
# Loading user code
# --------------------------------------------------------------------------

_IDENT_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _split_spec(spec: str, what: str) -> tuple[str, str | None]:
    if not isinstance(spec, str) or not spec.strip():
        raise HarnessError("bad-spec", f"empty {what} spec {spec!r}; expected a module, a file path or 'module:attr'")
    spec = spec.strip()
    if ":" in spec:
        left, right = spec.rsplit(":", 1)
        if _IDENT_PATH.match(right) and left:
            return left, right
        if right == "" or not (right.startswith("\\") or right.startswith("/")):
            raise HarnessError(
                "bad-spec",
                f"bad {what} spec {spec!r}: the part after ':' must be a Python name like 'module:Name'",
            )
    return spec, None


def _looks_like_path(target: str) -> bool:
    return (
        target.endswith(".py")
        or "/" in target
        or os.sep in target
        or (not _IDENT_PATH.match(target) and os.path.exists(target))
    )


def _module_for_file(path: str) -> tuple[str, str]:
    """(sys.path root, dotted module name) for a .py file or a package dir."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "__init__.py")):
            raise HarnessError(
                "missing-module",
                f"'{path}' is a directory without __init__.py; pass the workflow file (e.g. {path}{os.sep}workflows.py) or a module name",
            )
        d, parts = path, []
    else:
        d, base = os.path.split(path)
        name = base[:-3] if base.endswith(".py") else base
        parts = [] if name == "__init__" else [name]
    while os.path.isfile(os.path.join(d, "__init__.py")):
        d, pkg = os.path.split(d)
        parts.insert(0, pkg)
    for p in parts:
        if not _IDENT_PATH.match(p) or "." in p:
            raise HarnessError(
                "bad-spec",
                f"cannot import '{path}': '{p}' is not a valid Python module name; rename it or pass a module name with --python-path",
            )
    return d, ".".join(parts)


_CODE_ROOTS: set[str] = set()


def _purge_modules_under(root: str) -> None:
    for k, m in list(sys.modules.items()):
        f = getattr(m, "__file__", None)
        # only user code: a code root may well contain the virtualenv
        if f and _under(_norm(f), root) and _FILTER.is_user(f) and k != "deja_harness":
            del sys.modules[k]


def _forget_user_modules() -> None:
    """Forget every user module imported by an earlier load() in this process.

    A second load() (``deja debug``'s ``r``: edit the code, replay again) must
    execute the files on disk again. Without this the import returns the cached
    module: unsandboxed workflows would run the old code, and sandboxed ones would
    run new code under the old class definitions.
    """
    for k, m in list(sys.modules.items()):
        f = getattr(m, "__file__", None)
        if f and k != "deja_harness" and _FILTER.is_user(f):
            del sys.modules[k]
    importlib.invalidate_caches()


def _purge_modules(name: str) -> None:
    top = name.split(".")[0]
    for k in list(sys.modules):
        if k == top or k.startswith(top + "."):
            del sys.modules[k]


def _user_location(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    site = _innermost_user_tb_site(exc)
    if site:
        return f"{site[0]}:{site[1]}"
    tb = traceback.extract_tb(exc.__traceback__)
    for fs in reversed(tb):
        if not fs.filename.startswith("<") and fs.filename != _HARNESS_FILE:
            return f"{fs.filename}:{fs.lineno}"
    return ""


def _import_error(target: str, exc: BaseException) -> HarnessError:
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, SyntaxError):
        loc = f"{exc.filename}:{exc.lineno}" if exc.filename else target
        return HarnessError(
            "import-error",
            f"{loc}: {type(exc).__name__}: {exc.msg} (while importing '{target}'); fix the syntax error",
            detail,
        )
    loc = _user_location(exc)
    where = f" at {loc}" if loc else ""
    return HarnessError(
        "import-error",
        f"importing '{target}' failed{where}: {type(exc).__name__}: {_one_line(str(exc), 300)}; fix the error or install what it needs",
        detail,
    )


def _import_target(target: str, what: str) -> Any:
    """Import a dotted module name or a file path; returns the module."""
    if _looks_like_path(target):
        if not os.path.exists(target):
            raise HarnessError(
                "missing-module",
                f"{what} file '{target}' not found (cwd {os.getcwd()}); check the path",
            )
        root, name = _module_for_file(target)
        if not name:
            raise HarnessError("bad-spec", f"cannot derive a module name from '{target}'")
        root_n = _norm(root)
        # The sandbox re-imports the module BY NAME, so its root must come
        # first on sys.path, and modules loaded earlier from another code
        # root (e.g. the previous version of the same code: workflows.py and
        # its sibling activities.py) must be forgotten, or the new code would
        # silently run against the old siblings.
        for other in list(_CODE_ROOTS):
            if other != root_n:
                _purge_modules_under(other)
                _CODE_ROOTS.discard(other)
        _CODE_ROOTS.add(root_n)
        sys.path[:] = [p for p in sys.path if not (p and _norm(p) == root_n)]
        sys.path.insert(0, root)
        importlib.invalidate_caches()
        existing = sys.modules.get(name)
        want = _norm(os.path.abspath(target))
        if existing is not None and not _same_file(existing, want):
            _purge_modules(name)
        module = _import_by_name(name, target, what)
        if not _same_file(module, want):
            got = getattr(module, "__file__", None) or "a built-in module"
            raise HarnessError(
                "import-error",
                f"'{target}' is shadowed: importing it as '{name}' gives {got}; rename the file or package",
            )
        return module
    return _import_by_name(target, target, what)


def _same_file(module: Any, want: str) -> bool:
    f = getattr(module, "__file__", None)
    if not f:
        return False
    f = _norm(f)
    if f == want:
        return True
    # package given as directory: compare against its __init__.py
    return f == os.path.join(want, "__init__.py")


def _import_by_name(name: str, target: str, what: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        parts = name.split(".")
        prefixes = {".".join(parts[: i + 1]) for i in range(len(parts))}
        if missing in prefixes:
            raise HarnessError(
                "missing-module",
                f"{what} module '{name}' not found (no module named '{missing}'); "
                "pass a file path, or add its parent directory with --python-path",
                "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            ) from None
        raise _import_error(target, exc) from None
    except HarnessError:
        raise
    except BaseException as exc:  # noqa: BLE001 - user module code can raise anything
        if isinstance(exc, (KeyboardInterrupt,)):
            raise
        raise _import_error(target, exc) from None


def _resolve_attr(obj: Any, attr: str, spec: str) -> Any:
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise HarnessError(
                "bad-attr",
                f"'{spec}': {getattr(obj, '__name__', obj)!s} has no attribute '{part}'",
            )
        obj = getattr(obj, part)
    return obj


def _workflow_defn(obj: Any):
    if not isinstance(obj, type):
        return None
    try:
        return temporalio.workflow._Definition.from_class(obj)
    except Exception:
        return None


def _load_object(spec: str, what: str) -> Any:
    target, attr = _split_spec(spec, what)
    if attr is None:
        raise HarnessError("bad-spec", f"bad {what} spec {spec!r}: expected 'module:attr' (or 'path/file.py:attr')")
    module = _import_target(target, what)
    return _resolve_attr(module, attr, spec)


def _call_factory(obj: Any, spec: str, what: str) -> Any:
    try:
        return obj()
    except Exception as exc:
        raise HarnessError(
            "bad-attr",
            f"'{spec}': calling it to build the {what} failed: {type(exc).__name__}: {_one_line(str(exc), 200)}",
            traceback.format_exc(),
        ) from None


def _load_instance(spec: str, what: str, cls: type, name: str, accepted: str):
    """`module:attr` naming a `cls` (`name`) instance, or a zero-argument callable returning one."""
    obj = _load_object(spec, what)
    if isinstance(obj, cls):
        return obj
    if callable(obj):
        made = _call_factory(obj, spec, what)
        if isinstance(made, cls):
            return made
        raise HarnessError("bad-attr", f"'{spec}' returned {type(made).__name__}, not a {name}")
    raise HarnessError("bad-attr", f"'{spec}' is a {type(obj).__name__}, not {accepted}")


def _load_data_converter(spec: str | None):
    if not spec:
        return None
    return _load_instance(
        spec,
        "data converter",
        temporalio.converter.DataConverter,
        "temporalio.converter.DataConverter",
        "a DataConverter or a zero-argument function returning one",
    )


def _load_interceptor(spec: str):
    return _load_instance(
        spec,
        "interceptor",
        temporalio.worker.Interceptor,
        "temporalio.worker.Interceptor",
        "a temporalio.worker.Interceptor (instance or class)",
    )


def _note_user_package(module: Any) -> None:
    f = getattr(module, "__file__", None)
    if not f:
        return
    parts = _norm(f).split(os.sep)
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            i = parts.index(marker)
            if i + 1 < len(parts):
                _FILTER.add_user_package(os.sep.join(parts[: i + 2]))


def _collect_workflows(specs: list[str]) -> list[type]:
    classes: list[type] = []
    seen: set[int] = set()
    by_name: dict[str | None, tuple[type, str]] = {}

    def add(cls: type, defn: Any, spec: str) -> None:
        if id(cls) in seen:
            return
        prev = by_name.get(defn.name)
        if prev is not None:
            label = f"workflow type '{defn.name}'" if defn.name else "dynamic workflow"
            raise HarnessError(
                "bad-spec",
                f"{label} is defined twice: {prev[0].__module__}.{prev[0].__qualname__} ({prev[1]}) "
                f"and {cls.__module__}.{cls.__qualname__} ({spec}); pass only one with 'module:Class'",
            )
        seen.add(id(cls))
        by_name[defn.name] = (cls, spec)
        classes.append(cls)

    for spec in specs:
        target, attr = _split_spec(spec, "workflows")
        module = _import_target(target, "workflow")
        _note_user_package(module)
        if attr is not None:
            cls = _resolve_attr(module, attr, spec)
            defn = _workflow_defn(cls)
            if defn is None:
                raise HarnessError(
                    "bad-attr",
                    f"'{spec}' is not a @workflow.defn class",
                )
            add(cls, defn, spec)
            continue
        found = 0
        for value in list(vars(module).values()):
            defn = _workflow_defn(value)
            if defn is not None:
                add(value, defn, spec)
                found += 1
        if not found:
            raise HarnessError(
                "no-workflows",
                f"no @workflow.defn classes in '{target}' ({getattr(module, '__file__', module.__name__)}); "
                "point --workflows at the module that defines (or imports) them",
            )
    if not classes:
        raise HarnessError("no-workflows", "no workflows given; pass --workflows MODULE_OR_FILE")
    return classes


# --------------------------------------------------------------------------
# Log / warning capture
# --------------------------------------------------------------------------


def _thread_gen() -> int | None:
    return getattr(threading.current_thread(), "deja_gen", None)


class _Capture(logging.Handler):
    """Receives the SDK's log records; keeps them for the current replay.

    Only records from the threads of the current pipeline generation are
    kept: an abandoned pipeline (uninterruptible deadlock) may still log when
    its thread finally wakes up, and that must not land in a later replay.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.sink: _Collector | None = None
        self.gen: int | None = None

    def attach(self, sink: "_Collector | None", gen: int | None) -> None:
        self.sink = sink
        self.gen = gen

    def accepts(self) -> "_Collector | None":
        sink = self.sink
        if sink is not None and _thread_gen() == self.gen:
            return sink
        return None

    def emit(self, record: logging.LogRecord) -> None:
        sink = self.accepts()
        if sink is not None:
            sink.records.append(record)


_CAPTURE = _Capture()
_CAPTURE_INSTALLED = False
_ORIG_SHOWWARNING = warnings.showwarning


def _install_capture() -> None:
    global _CAPTURE_INSTALLED
    if _CAPTURE_INSTALLED:
        return
    lg = logging.getLogger("temporalio")
    lg.addHandler(_CAPTURE)
    lg.propagate = False
    if lg.getEffectiveLevel() > logging.WARNING:
        lg.setLevel(logging.WARNING)

    def showwarning(message, category, filename, lineno, file=None, line=None):
        if _thread_gen() is not None:
            # Raised on a replay thread: part of that replay's result (or
            # dropped, for an abandoned pipeline), never printed.
            sink = _CAPTURE.accepts()
            if sink is not None:
                if not _FILTER.is_user(filename):
                    # Raised inside the SDK (its sandbox warns about asyncio.wait()):
                    # point at the user line that made the call.
                    user = _first_user_frame(sys._getframe(1))
                    if user is not None:
                        filename, lineno = user[0], user[1]
                sink.warnings.append(f"{filename}:{lineno}: {category.__name__}: {message}")
            return
        _ORIG_SHOWWARNING(message, category, filename, lineno, file, line)

    warnings.showwarning = showwarning
    if not isinstance(sys.stdout, _ReplayStream) and sys.stdout is not None:
        sys.stdout = _ReplayStream(sys.stdout)
    if not isinstance(sys.stderr, _ReplayStream) and sys.stderr is not None:
        sys.stderr = _ReplayStream(sys.stderr)
    _CAPTURE_INSTALLED = True


class _ReplayStream:
    """sys.stdout / sys.stderr wrapper: text written by a replay thread
    (print() or logging in workflow code) goes into that replay's result
    ("output") instead of the terminal; every other thread writes through."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def write(self, text: str) -> int:
        if _thread_gen() is None:
            return self._real.write(text)
        sink = _CAPTURE.accepts()
        if sink is not None and len(sink.output) < 1000:
            sink.output.append(text)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if _thread_gen() is None:
            self._real.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


_RUNTIME: temporalio.runtime.Runtime | None = None


def _quiet_runtime() -> temporalio.runtime.Runtime:
    """A core runtime that never writes to the console (no WARN lines)."""
    global _RUNTIME
    if _RUNTIME is None:
        kwargs: dict = {"telemetry": temporalio.runtime.TelemetryConfig(logging=None, metrics=None)}
        if sdk_features().runtime_heartbeat_option:
            # Newer SDKs start a worker heartbeat task by default; replay has no server.
            kwargs["worker_heartbeat_interval"] = None
        _RUNTIME = temporalio.runtime.Runtime(**kwargs)
    return _RUNTIME


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


# --------------------------------------------------------------------------
# Recording: runner / instance wrappers
# --------------------------------------------------------------------------


class _Collector:
    """Everything recorded for one replay."""

    __slots__ = ("steps", "records", "warnings", "output", "deadlock")

    def __init__(self) -> None:
        self.steps: list[dict] = []
        self.records: list[logging.LogRecord] = []
        self.warnings: list[str] = []
        self.output: list[str] = []
        self.deadlock = threading.Event()


class _Probe:
    """Per workflow-instance hooks living next to the SDK's instance.

    ``sites`` receives one raw site per ``_add_command`` call while an
    activation runs; ``finished`` maps an asyncio task to the frame of the user
    coroutine it ran (kept alive so that, once the coroutine has returned, its
    ``f_lineno`` is the line of the ``return``).
    """

    __slots__ = ("impl", "sites", "finished", "spawned")

    def __init__(self, impl: Any) -> None:
        self.impl = impl
        self.sites: list | None = None
        self.finished: dict = {}
        # asyncio task -> (file, line, function) of the user code that created
        # it (asyncio.gather / ensure_future / create_task ...)
        self.spawned: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


_pending_probe = threading.local()


def _current_task():
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


def _remember_frame(probe: _Probe, coro: Any) -> None:
    frame = getattr(coro, "cr_frame", None)
    task = _current_task()
    if task is not None and frame is not None and _FILTER.is_user(frame.f_code.co_filename):
        probe.finished[task] = frame


def _def_line(code) -> tuple:
    """(file, line of the 'def', name) for a code object (skips decorators)."""
    line = code.co_firstlineno
    for i in range(line, line + 30):
        text = linecache.getline(code.co_filename, i).lstrip()
        if text.startswith(("def ", "async def ")):
            line = i
            break
    return (code.co_filename, line, code.co_name)


def _site_for_command(probe: _Probe, frame) -> tuple | None:
    """(file, line, function) of the user code that issued a command."""
    f = frame
    is_user = _FILTER.is_user
    sdk_frames = []
    while f is not None:
        if is_user(f.f_code.co_filename):
            return _frame_key(f)
        sdk_frames.append(f)
        f = f.f_back
    # No user frame on the stack: the command is issued by the SDK on behalf
    # of code that already finished (workflow return, exception, update
    # accept/complete).
    for f in sdk_frames:
        name = f.f_code.co_name
        if name in ("_run_top_level_workflow_function", "_set_workflow_failure", "run_update", "activate", "_apply_command"):
            loc = f.f_locals
            err = loc.get("err") or (loc.get("self") if name == "_apply_command" else None)
            if isinstance(err, BaseException):
                site = _innermost_user_tb_site(err)
                if site:
                    return site
    task = _current_task()
    if task is not None:
        done = probe.finished.get(task)
        if done is not None:
            return _frame_key(done)
    for f in sdk_frames:
        if f.f_code.co_name == "run_update":
            job = f.f_locals.get("job")
            try:
                defn = probe.impl._updates.get(job.name) or probe.impl._updates.get(None)
                fn = getattr(defn.fn, "__func__", defn.fn)
                fn = getattr(fn, "__wrapped__", fn)
                return _def_line(fn.__code__)
            except Exception:
                return None
    # A task whose coroutine is SDK code (e.g. asyncio.gather over
    # workflow.execute_activity(...) calls, ensure_future(workflow.sleep(...)),
    # or a cancel processed inside such a task): the line that created it.
    if task is not None:
        return probe.spawned.get(task)
    return None


def _first_user_frame(frame) -> tuple | None:
    is_user = _FILTER.is_user
    while frame is not None:
        if is_user(frame.f_code.co_filename):
            return _frame_key(frame)
        frame = frame.f_back
    return None


def _install_probe(impl: Any) -> _Probe:
    probe = _Probe(impl)
    orig_add = impl._add_command

    def _add_command():
        cmd = orig_add()
        sites = probe.sites
        if sites is not None:
            try:
                sites.append(_site_for_command(probe, sys._getframe(1)))
            except Exception:
                sites.append(None)
        return cmd

    impl._add_command = _add_command

    orig_create_task = impl.create_task

    def create_task(coro, *, name=None, context=None):
        task = orig_create_task(coro, name=name, context=context)
        try:
            site = _first_user_frame(sys._getframe(1))
            if site is None:
                parent = _current_task()
                site = probe.spawned.get(parent) if parent is not None else None
            if site is not None:
                probe.spawned[task] = site
        except Exception:
            pass
        return task

    impl.create_task = create_task

    orig_get_update = getattr(impl, "workflow_get_update_handler", None)
    if orig_get_update is not None:

        def workflow_get_update_handler(name):
            # Only the SDK's own dispatch (root inbound handle_update_handler)
            # gets a recording handler; user code calling
            # workflow.get_update_handler() sees the SDK's own value.
            if sys._getframe(1).f_code.co_name != "handle_update_handler":
                return orig_get_update(name)
            try:
                defn = impl._updates.get(name)
                fn = defn.fn if defn is not None else None
                if fn is None or not inspect.iscoroutinefunction(fn):
                    return orig_get_update(name)
                obj = impl._object
                is_method = defn.is_method
            except Exception:
                return orig_get_update(name)

            async def update_handler(*args):
                # Same call as the SDK's _bind_method, but we see the user's
                # coroutine (and so its frame) directly.
                coro = fn(obj, *args) if is_method else fn(*args)
                _remember_frame(probe, coro)
                return await coro

            return update_handler

        impl.workflow_get_update_handler = workflow_get_update_handler
    return probe


class _ProbeInbound(temporalio.worker.WorkflowInboundInterceptor):
    """Innermost inbound interceptor: hands the SDK instance to the recorder
    and remembers the frame of the workflow's run coroutine."""

    def init(self, outbound: temporalio.worker.WorkflowOutboundInterceptor) -> None:
        self._probe = None
        try:
            impl = temporalio.workflow._Runtime.current()
            if sdk_features().command_sites:
                self._probe = _install_probe(impl)
            _pending_probe.value = self._probe
        except Exception:
            self._probe = None
        super().init(outbound)

    async def execute_workflow(self, input: temporalio.worker.ExecuteWorkflowInput) -> Any:
        probe = self._probe
        if probe is None:
            return await super().execute_workflow(input)
        orig = input.run_fn

        async def run_fn(*args):
            coro = orig(*args)
            _remember_frame(probe, coro)
            return await coro

        return await super().execute_workflow(dataclasses.replace(input, run_fn=run_fn))


class _ProbeInterceptor(temporalio.worker.Interceptor):
    def workflow_interceptor_class(self, input):  # noqa: D401
        return _ProbeInbound


class _RecordingRunner(temporalio.worker.WorkflowRunner):
    def __init__(self, inner: temporalio.worker.WorkflowRunner, owner: "_Recorder") -> None:
        self.inner = inner
        self.owner = owner
        self.instances = 0  # workflow instances made (validation instances are not)

    def prepare_workflow(self, defn) -> None:
        self.inner.prepare_workflow(defn)

    def create_instance(self, det: temporalio.worker.WorkflowInstanceDetails) -> temporalio.worker.WorkflowInstance:
        _pending_probe.value = None
        inner = self.inner.create_instance(det)
        self.instances += 1
        probe = getattr(_pending_probe, "value", None)
        _pending_probe.value = None
        return _RecordingInstance(inner, probe, self.owner)

    def set_worker_level_failure_exception_types(self, types) -> None:
        self.inner.set_worker_level_failure_exception_types(types)


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


class _Recorder:
    """Session-wide recording settings plus the current replay's collector."""

    def __init__(self, record_state: bool, queries: list[str], debug_mode: bool) -> None:
        self.record_state = record_state
        self.queries = list(queries)
        # Mirrors the SDK: 2 s deadlock detection unless debug mode.
        self.deadlock_timeout: float | None = None if debug_mode else 2.0
        self.collector: _Collector | None = None
        # Set by Session: True when serialization contexts cannot matter.
        self.context_free = False


_short_repr = reprlib.Repr()
_short_repr.maxstring = 120
_short_repr.maxother = 120
_short_repr.maxlist = 10
_short_repr.maxdict = 10
_short_repr.maxlevel = 3


# command kind -> (namespace, seq field) for commands that start something ...
_SEQ_STARTS = {
    "start_timer": ("timer", "seq"),
    "schedule_activity": ("activity", "seq"),
    "schedule_local_activity": ("local_activity", "seq"),
    "start_child_workflow_execution": ("child", "seq"),
    "signal_external_workflow_execution": ("signal", "seq"),
    "schedule_nexus_operation": ("nexus", "seq"),
}
# ... and for the commands that cancel it.
_SEQ_CANCELS = {
    "cancel_timer": ("timer", "seq"),
    "request_cancel_activity": ("activity", "seq"),
    "request_cancel_local_activity": ("local_activity", "seq"),
    "cancel_child_workflow_execution": ("child", "child_workflow_seq"),
    "cancel_signal_workflow": ("signal", "seq"),
    "request_cancel_nexus_operation": ("nexus", "seq"),
}


class _RecordingInstance(deja_sandbox_reuse.DelegatingInstance):
    def __init__(self, inner: temporalio.worker.WorkflowInstance, probe: _Probe | None, owner: _Recorder) -> None:
        super().__init__(inner)
        self.probe = probe
        self.owner = owner
        self._qseq = 0
        self._seq_sites: dict = {}

    # -- delegation -------------------------------------------------------
    # The SDK asks for these once per payload, three times over, on every
    # activation and completion (its codec / external-storage visitors). The
    # sandbox answers each by exec-ing into the sandbox, which was ~45% of
    # replaying a payload-heavy history. The answer only ever reaches the
    # data converter's codec and external storage (``with_context`` /
    # ``_with_store_context``); with neither configured those visitors do the
    # same thing whatever the context, so ``None`` (= the context-free
    # converter) is an exact answer and costs nothing. See ``_context_free``.
    def get_serialization_context(self, command_info):
        if self.owner.context_free:
            return None
        return self.inner.get_serialization_context(command_info)

    def get_external_store_context(self, command_info):
        if self.owner.context_free:
            return None
        return self.inner.get_external_store_context(command_info)

    # -- recording --------------------------------------------------------
    def activate(self, act):
        collector = self.owner.collector
        probe = self.probe
        evicting = any(job.HasField("remove_from_cache") for job in act.jobs)
        if collector is None or evicting:
            if probe is not None:
                probe.sites = None
            return self.inner.activate(act)
        act_bytes = act.SerializeToString()
        sites: list = []
        if probe is not None:
            probe.sites = sites
        t0 = time.monotonic()
        try:
            completion = self.inner.activate(act)
        finally:
            if probe is not None:
                probe.sites = None
        elapsed = time.monotonic() - t0
        deadline = self.owner.deadlock_timeout
        if deadline is not None and elapsed >= deadline - 0.05:
            # The SDK's deadlock detector has already given up on this
            # activation (and interrupted it); its completion is never used.
            return completion
        # Recording runs inside the SDK's deadlock window: skip the user
        # queries when the activation itself already used half of it.
        run_queries = deadline is None or elapsed < deadline / 2
        try:
            step = self._step(act, act_bytes, completion, sites, probe, run_queries)
        except Exception:  # recording must never change the replay
            step = {
                "activation": act_bytes,
                "completion": completion.SerializeToString(),
                "command_sites": [],
                "state": None,
            }
        collector.steps.append(step)
        return completion

    def _step(self, act, act_bytes: bytes, completion, sites: list, probe, run_queries: bool) -> dict:
        commands = completion.successful.commands if completion.HasField("successful") else ()
        ncmd = len(commands)
        command_sites: list = []
        if probe is not None and len(sites) == ncmd:
            seq_sites = self._seq_sites
            for cmd, raw in zip(commands, sites):
                kind = cmd.WhichOneof("variant")
                pair = _SEQ_STARTS.get(kind)
                if pair is not None:
                    if raw is not None:
                        seq_sites[(pair[0], getattr(cmd, kind).seq)] = raw
                elif raw is None:
                    pair = _SEQ_CANCELS.get(kind)
                    if pair is not None:
                        # A cancel issued from an SDK callback (e.g. the done
                        # callback of a cancelled workflow.sleep): point at the
                        # code that started what is being cancelled.
                        raw = seq_sites.get((pair[0], getattr(getattr(cmd, kind), pair[1])))
                command_sites.append(_site(*raw) if raw is not None else None)
        else:
            command_sites = [None] * ncmd
        state = None
        if self.owner.record_state and probe is not None:
            state = json.dumps(self._state(act, probe, run_queries), default=str).encode()
        return {
            "activation": act_bytes,
            "completion": completion.SerializeToString(),
            "command_sites": command_sites,
            "state": state,
        }

    def _state(self, act, probe: _Probe, run_queries: bool) -> dict:
        impl = probe.impl
        stacks = []
        try:
            tasks = list(getattr(impl, "_tasks", ()))
            primary = getattr(impl, "_primary_task", None)
            tasks.sort(key=lambda t: (t is not primary, t.get_name()))
            for task in tasks:
                frames = _async_stack(task)
                spawned = probe.spawned.get(task)
                if spawned is not None:
                    frames.insert(0, _site(*spawned))
                if frames:
                    stacks.append(frames)
        except Exception:
            pass
        fields = {}
        obj = getattr(impl, "_object", None)
        if obj is not None:
            try:
                for k, v in vars(obj).items():
                    try:
                        fields[k] = _short_repr.repr(v)
                    except Exception as exc:
                        fields[k] = f"<repr failed: {type(exc).__name__}>"
            except TypeError:
                pass
        queries: dict = {}
        if self.owner.queries:
            if run_queries:
                queries = self._run_queries(act, probe)
            else:
                queries = {q: {"error": "skipped: the activation was too slow to also run queries inside the deadlock window"} for q in self.owner.queries}
        return {"stacks": stacks, "fields": fields, "queries": queries}

    def _run_queries(self, act, probe: _Probe) -> dict:
        qa = _WorkflowActivation()
        qa.run_id = act.run_id
        qa.timestamp.CopyFrom(act.timestamp)
        qa.is_replaying = act.is_replaying
        qa.history_length = act.history_length
        # Copy what this SDK's activation has (fields come and go between releases).
        for name in ("continue_as_new_suggested", "history_size_bytes"):
            if _has_field(type(act), name):
                setattr(qa, name, getattr(act, name))
        if _has_field(type(act), "available_internal_flags"):
            qa.available_internal_flags.extend(act.available_internal_flags)
        if _has_field(type(act), "deployment_version_for_current_task") and act.HasField("deployment_version_for_current_task"):
            qa.deployment_version_for_current_task.CopyFrom(act.deployment_version_for_current_task)
        ids = {}
        for name in self.owner.queries:
            self._qseq += 1
            qid = f"__deja_query_{self._qseq}"
            ids[qid] = name
            job = qa.jobs.add()
            job.query_workflow.query_id = qid
            job.query_workflow.query_type = name
        out: dict = {}
        try:
            completion = self.inner.activate(qa)
        except Exception as exc:
            return {name: {"error": f"query activation failed: {exc}"} for name in self.owner.queries}
        if completion.HasField("failed"):
            msg = completion.failed.failure.message
            return {name: {"error": msg} for name in self.owner.queries}
        for cmd in completion.successful.commands:
            if not cmd.HasField("respond_to_query"):
                continue
            r = cmd.respond_to_query
            name = ids.get(r.query_id)
            if name is None:
                continue
            if r.HasField("failed"):
                out[name] = {"error": r.failed.message}
            else:
                out[name] = {"result": _payload_text(r.succeeded.response, probe.impl)}
        for name in self.owner.queries:
            out.setdefault(name, {"error": "no response"})
        return out


def _payload_text(payload, impl) -> str:
    enc = payload.metadata.get("encoding", b"")
    if enc in (b"json/plain",):
        try:
            return payload.data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if enc == b"binary/null":
        return "null"
    try:
        conv = impl._workflow_context_payload_converter
        value = conv.from_payload(payload)
        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            return _short_repr.repr(value)
    except Exception:
        return f"<{enc.decode('utf-8', 'replace') or 'payload'}: {len(payload.data)} bytes>"


def _async_stack(task) -> list[dict]:
    """User frames of a task's await chain, outermost first (innermost last)."""
    out = []
    coro = task.get_coro()
    depth = 0
    while coro is not None and depth < 200:
        depth += 1
        f = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if f is None:
            break
        if _FILTER.is_user(f.f_code.co_filename):
            out.append(_site(f.f_code.co_filename, f.f_lineno, f.f_code.co_name))
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return out


# --------------------------------------------------------------------------
# A thread pool that never blocks interpreter exit
# --------------------------------------------------------------------------


class _DaemonExecutor(concurrent.futures.Executor):
    """Runs workflow activations on daemon threads.

    The SDK runs each activation on its executor. A workflow deadlocked in C
    code never gives its thread back; with the stdlib ThreadPoolExecutor that
    thread would also block interpreter exit. Threads are created on demand
    and reused.
    """

    def __init__(self, gen: int) -> None:
        self._gen = gen
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()
        self._n = 0

    def submit(self, fn, /, *args, **kwargs):
        fut: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            spawn = self._idle == 0
            if not spawn:
                self._idle -= 1
            else:
                self._n += 1
                n = self._n
        self._work.put((fut, fn, args, kwargs))
        if spawn:
            t = threading.Thread(target=self._loop, name=f"deja_workflow_{self._gen}_{n}", daemon=True)
            t.deja_gen = self._gen  # type: ignore[attr-defined]
            t.start()
        return fut

    def _loop(self) -> None:
        while True:
            fut, fn, args, kwargs = self._work.get()
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # noqa: BLE001 - forwarded to the awaiting task
                    fut.set_exception(exc)
            del fut, fn, args, kwargs
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass


# --------------------------------------------------------------------------
# The replay pipeline (one Replayer iterator on a background thread)
# --------------------------------------------------------------------------


class _Request:
    __slots__ = ("history", "collector", "future")

    def __init__(self, history, collector: _Collector) -> None:
        self.history = history
        self.collector = collector
        self.future: concurrent.futures.Future = concurrent.futures.Future()


class _Pipeline:
    """Feeds histories one at a time to a long-lived workflow_replay_iterator."""

    def __init__(self, replayer: temporalio.worker.Replayer, recorder: "_Recorder", gen: int) -> None:
        self.replayer = replayer
        self.recorder = recorder
        self.gen = gen
        self.ready: concurrent.futures.Future = concurrent.futures.Future()
        self.dead = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._current: _Request | None = None
        self._thread = threading.Thread(target=self._main, name=f"deja_replayer_{gen}", daemon=True)
        self._thread.deja_gen = gen  # type: ignore[attr-defined]
        self._thread.start()

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._run())
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc)
        finally:
            self.dead = True
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            except BaseException:
                pass
            loop.close()

    def _fail(self, exc: BaseException) -> None:
        self.dead = True
        if not self.ready.done():
            self.ready.set_exception(exc)
        cur = self._current
        if cur is not None and not cur.future.done():
            cur.future.set_exception(exc)

    async def _run(self) -> None:
        self._queue = asyncio.Queue()

        async def histories():
            while True:
                req = await self._queue.get()
                if req is None:
                    return
                self._current = req
                yield req.history

        async with self.replayer.workflow_replay_iterator(histories()) as results:
            self.ready.set_result(None)
            async for result in results:
                req = self._current
                self._current = None
                if req is not None and not req.future.done():
                    req.future.set_result(result)
        # iterator finished normally (close requested)

    def submit(self, req: _Request) -> None:
        assert self._loop is not None and self._queue is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, req)

    def close(self, timeout: float = 10.0) -> None:
        if self.dead or self._loop is None or self._queue is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, None)
        except RuntimeError:
            return
        self._thread.join(timeout)


# --------------------------------------------------------------------------
# Session
# --------------------------------------------------------------------------


def _verdict(verdict: str, error_kind: str | None, message: str, raw: str = "") -> dict:
    return {
        "verdict": verdict,
        "error_kind": error_kind,
        "message": message,
        "raw": raw,
        "frames": [],
        "steps": [],
        "warnings": [],
        "output": "",
    }


_GENERATION = 0
# Log capture is process-wide, so replays are serialised process-wide too
# (the SDK replays strictly one history at a time anyway).
_REPLAY_LOCK = threading.RLock()


class Session:
    """A loaded set of workflows plus one long-lived replayer."""

    def __init__(self, classes: list[type], replayer_kwargs: dict, record_state: bool, queries: list[str]) -> None:
        self._classes = classes
        self.registered: list[str] = []
        # workflow type ("*" = dynamic) -> its query names ("*" = a dynamic query handler)
        self.queries: dict[str, list[str]] = {}
        self._modules: dict[str, str] = {}  # workflow type -> the module its sandbox imports
        for cls in classes:
            defn = temporalio.workflow._Definition.from_class(cls)
            self.registered.append(defn.name if defn.name else "*")
            self.queries[defn.name if defn.name else "*"] = sorted(q if q else "*" for q in defn.queries)
            self._modules[defn.name if defn.name else "*"] = deja_sandbox_reuse.module_of(cls)
        self._kwargs = replayer_kwargs
        self._debug = bool(replayer_kwargs.get("debug_mode")) or bool(os.environ.get("TEMPORAL_DEBUG"))
        self._record_state = record_state
        self._queries = list(queries)
        self._closed = False
        self._sandbox_runners: list = []
        self._sandboxed_recorders: list[_RecordingRunner] = []
        self._pipeline: _Pipeline | None = None
        self._pipeline = self._start_pipeline()

    def _sandbox_counts(self) -> tuple[int, int]:
        """(kept sandboxes handed out, sandboxed instances made) so far."""
        return (
            sum(r.stats.reused for r in self._sandbox_runners),
            sum(r.instances for r in self._sandboxed_recorders),
        )

    def _sandbox_use(self, before: tuple[int, int]) -> str:
        """How this replay's workflow was sandboxed: "reused" (a kept, verified
        sandbox import), "fresh" (imported for this history) or "none"
        (unsandboxed, or no workflow instance was made)."""
        reused, fresh = self._sandbox_counts()
        if reused > before[0]:
            return "reused"
        if fresh > before[1]:
            return "fresh"
        return "none"

    def _not_reusable(self, wf_type: str) -> str | None:
        """Why `wf_type`'s module is re-imported for every history, if it is."""
        module = self._modules.get(wf_type) or self._modules.get("*")
        for runner in self._sandbox_runners:
            why = runner.stats.not_reusable.get(module) if module else None
            if why:
                return f"{module}: {why}"
        return None

    def sandbox_stats(self) -> dict:
        """What sandbox reuse did in this session (summed over replayer restarts)."""
        total: dict = {}
        for runner in self._sandbox_runners:
            for k, v in runner.stats.as_dict().items():
                if isinstance(v, dict):
                    total.setdefault(k, {}).update(v)
                elif isinstance(v, list):
                    total.setdefault(k, []).extend(v)
                else:
                    total[k] = total.get(k, 0) + v
        return total

    # -- pipeline management ----------------------------------------------
    def _make_replayer(self, recorder: _Recorder, gen: int) -> temporalio.worker.Replayer:
        kw = dict(self._kwargs)
        recorder.context_free = sdk_features().context_shortcut and _context_free(kw.get("data_converter"))
        interceptors = list(kw.pop("interceptors", []))
        interceptors.append(_ProbeInterceptor())  # last = innermost
        sandboxed = kw.pop("workflow_runner")
        unsandboxed = kw.pop("unsandboxed_workflow_runner")
        if isinstance(sandboxed, deja_sandbox_reuse.ReusingSandboxedWorkflowRunner):
            # A new pool per replayer: a replayer restarted after a deadlock must
            # not inherit sandboxes its stuck thread may still be changing.
            sandboxed = dataclasses.replace(sandboxed)
            self._sandbox_runners.append(sandboxed)
        recording = _RecordingRunner(sandboxed, recorder)
        if isinstance(sandboxed, _SANDBOX_RUNNER):
            self._sandboxed_recorders.append(recording)
        return temporalio.worker.Replayer(
            workflows=self._classes,
            workflow_runner=recording,
            unsandboxed_workflow_runner=_RecordingRunner(unsandboxed, recorder),
            interceptors=interceptors,
            workflow_task_executor=_DaemonExecutor(gen),  # type: ignore[arg-type]
            runtime=_quiet_runtime(),
            **kw,
        )

    def _start_pipeline(self) -> _Pipeline:
        global _GENERATION
        _GENERATION += 1
        gen = _GENERATION
        collector = _Collector()
        recorder = _Recorder(self._record_state, self._queries, self._debug)
        _CAPTURE.attach(collector, gen)
        try:
            pipeline = _Pipeline(self._make_replayer(recorder, gen), recorder, gen)
            pipeline.ready.result()
        except BaseException as exc:  # noqa: BLE001
            raise _startup_error(exc, collector) from None
        finally:
            _CAPTURE.attach(None, None)
        return pipeline

    # -- public API ---------------------------------------------------------
    def replay(self, history: bytes, workflow_id: str) -> dict:
        """Replay one binary History; see module docs for the result shape."""
        with _REPLAY_LOCK:
            if self._closed:
                raise HarnessError("environment", "replay() called on a closed Session")
            try:
                proto = temporalio.api.history.v1.History.FromString(bytes(history))
            except Exception as exc:
                return _verdict("error", "invalid-history", f"history is not a valid binary temporal.api.history.v1.History: {exc}")
            events = proto.events
            if len(events) == 0:
                return _verdict("error", "invalid-history", "history has no events")
            first = events[0]
            if first.event_type != _STARTED or not first.HasField("workflow_execution_started_event_attributes"):
                return _verdict(
                    "error",
                    "invalid-history",
                    f"first event (id {first.event_id}) is not WorkflowExecutionStarted; the history is truncated or not a workflow history",
                )
            attrs = first.workflow_execution_started_event_attributes
            wf_type = attrs.workflow_type.name
            # The id matters (workflow.info().workflow_id, derived child ids);
            # servers >= 1.21 record it in the started event.
            workflow_id = str(workflow_id or attrs.workflow_id or "deja-replay")
            wh = temporalio.client.WorkflowHistory(workflow_id, events)
            if self._pipeline is None or self._pipeline.dead:
                try:
                    self._pipeline = self._start_pipeline()
                except HarnessError as exc:
                    out = _verdict("error", "other", f"could not restart the replayer: {exc.message}", exc.detail)
                    return out
            pipeline = self._pipeline
            sandbox_before = self._sandbox_counts()
            collector = _Collector()
            req = _Request(wh, collector)
            pipeline.recorder.collector = collector
            _CAPTURE.attach(collector, pipeline.gen)
            try:
                pipeline.submit(req)
                result, failure = self._wait(req, collector)
            finally:
                pipeline.recorder.collector = None
                _CAPTURE.attach(None, None)
            out = self._classify(result, failure, collector, wf_type)
            out["sandbox"] = self._sandbox_use(sandbox_before)
            if out["sandbox"] == "fresh":
                note = self._not_reusable(wf_type)
                if note:
                    out["sandbox_note"] = note
            out["steps"] = collector.steps
            out["warnings"] = collector.warnings
            out["output"] = "".join(collector.output)
            return out

    def close(self) -> None:
        with _REPLAY_LOCK:
            if self._closed:
                return
            self._closed = True
            if self._pipeline is not None:
                self._pipeline.close()
                self._pipeline = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals ----------------------------------------------------------
    def _wait(self, req: _Request, collector: _Collector):
        """(WorkflowReplayResult | None, pipeline exception | None)."""
        fut = req.future
        while True:
            timeout = _DEADLOCK_GRACE_SECONDS if collector.deadlock.is_set() else 0.5
            try:
                return fut.result(timeout=timeout), None
            except concurrent.futures.TimeoutError:
                # deja debug sets on_progress(steps so far) to fill its UI in as the
                # replay goes; called on this (the caller's) thread, never fatal.
                progress = getattr(self, "on_progress", None)
                if progress is not None:
                    try:
                        progress(collector.steps)
                    except Exception:  # noqa: BLE001
                        self.on_progress = None
                if collector.deadlock.is_set() and not fut.done():
                    if not self._deadlock_reported(collector):
                        continue
                    # The SDK waits forever for a deadlocked activation that
                    # cannot be interrupted before it evicts; give up on this
                    # pipeline (its threads are daemons) and answer ourselves.
                    if self._pipeline is not None:
                        self._pipeline.dead = True
                    self._pipeline = None
                    return None, None
                if not collector.deadlock.is_set() and self._deadlock_reported(collector):
                    collector.deadlock.set()
                if self._pipeline is not None and self._pipeline.dead and not fut.done():
                    return None, RuntimeError("replay worker stopped unexpectedly")
            except BaseException as exc:  # noqa: BLE001 - pipeline died
                return None, exc

    @staticmethod
    def _deadlock_reported(collector: _Collector) -> bool:
        for rec in collector.records:
            if rec.exc_info and type(rec.exc_info[1]).__name__ == "_DeadlockError":
                return True
        return False

    def _failure_record(self, collector: _Collector):
        """The exception the SDK logged for the failing activation, if any."""
        for rec in collector.records:
            if rec.exc_info and rec.exc_info[1] is not None:
                if type(rec.exc_info[1]).__name__ in ("_InterruptDeadlockError",):
                    continue
                return rec.exc_info[1]
        return None

    def _classify(self, result, failure_exc, collector: _Collector, wf_type: str) -> dict:
        if result is None:
            exc = self._failure_record(collector)
            if exc is not None and type(exc).__name__ == "_DeadlockError":
                out = _verdict("error", "deadlock", "", str(exc))
                self._deadlock_details(out, exc)
                out["message"] += " (the workflow thread could not be interrupted; this replayer was restarted)"
                return out
            raw = "".join(traceback.format_exception(type(failure_exc), failure_exc, failure_exc.__traceback__)) if failure_exc else ""
            text = _one_line(str(failure_exc)) if failure_exc else "no result"
            if failure_exc is not None and failure_exc.__cause__ is not None:
                text += f": {_one_line(str(failure_exc.__cause__))}"
            return _verdict("error", "other", f"replay failed: {text}", raw)

        failure = result.replay_failure
        if failure is None:
            return _verdict("pass", None, "")
        raw = str(failure)
        if isinstance(failure, temporalio.workflow.NondeterminismError):
            msg, _ = _core_message(raw)
            return _verdict("nondeterminism", None, _one_line(msg, 2000), raw)
        if isinstance(failure, RuntimeError):
            m = re.match(r"^(\d+): (.*)$", raw, re.S)
            reason = int(m.group(1)) if m else -1
            body = m.group(2) if m else raw
            msg, typ = _core_message(body)
            if reason == _LANG_FAIL:
                if "is not registered on this worker" in msg:
                    names = ", ".join(sorted(self.registered)) or "(none)"
                    return _verdict(
                        "error",
                        "unregistered-type",
                        f"workflow type '{wf_type}' is not registered; registered: {names}",
                        raw,
                    )
                exc = self._failure_record(collector)
                if "[TMPRL1101]" in msg or (exc is not None and type(exc).__name__ == "_DeadlockError"):
                    out = _verdict("error", "deadlock", "", raw)
                    self._deadlock_details(out, exc, msg)
                    return out
                out = _verdict("workflow-task-failure", None, "", raw)
                if typ and typ not in msg.split(":")[0]:
                    text = f"{typ}: {msg}"
                else:
                    text = msg
                out["message"] = _one_line(text, 2000)
                if exc is not None:
                    out["frames"] = [_site(*fr) for fr in _user_frames_from_tb(exc.__traceback__)]
                return out
            kind = "invalid-history" if reason in _HISTORY_REASONS else "other"
            try:
                rname = _EvictionReason.EvictionReason.Name(reason)
            except Exception:
                rname = str(reason)
            return _verdict("error", kind, _one_line(f"{msg} (eviction reason {rname})", 2000), raw)
        return _verdict("error", "other", _one_line(f"{type(failure).__name__}: {raw}", 2000), raw)

    @staticmethod
    def _deadlock_details(out: dict, exc, msg: str | None = None) -> None:
        frames = []
        if exc is not None:
            frames = [_site(*fr) for fr in _user_frames_from_tb(exc.__traceback__)]
        out["frames"] = frames
        base = msg or (str(exc) if exc is not None else "[TMPRL1101] Potential deadlock detected")
        if frames:
            f = frames[-1]
            where = f"{f['file']}:{f['line']} in {f['function']}"
            if f["code"]:
                where += f": {f['code']}"
            base = f"{base} Blocked at {where}"
        else:
            base = f"{base} (no user frame was running; blocked outside workflow code)"
        out["message"] = _one_line(base, 2000)


def _startup_error(exc: BaseException, collector: _Collector) -> HarnessError:
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, HarnessError):
        return exc
    # temporalio 1.10's replayer loses the real error when its worker cannot be built
    # (an UnboundLocalError from its own cleanup, raised while handling it): look at
    # the exceptions this one was raised from, too.
    chain = exc
    for _ in range(5):
        if chain is None or re.match(r"Failed validating workflow ", str(chain)):
            break
        chain = chain.__cause__ or chain.__context__
    if chain is not None and chain is not exc:
        exc = chain
    text = str(exc)
    m = re.match(r"Failed validating workflow (.*)", text)
    if m:
        cause = exc.__cause__ or exc.__context__
        loc = _user_location(cause) if cause is not None else ""
        ctext = f"{type(cause).__name__}: {_one_line(str(cause), 300)}" if cause is not None else text
        where = f" at {loc}" if loc else ""
        return HarnessError(
            "import-error",
            f"workflow {m.group(1)} failed sandbox validation{where}: {ctext}; "
            "pass the import through with workflow.unsafe.imports_passed_through() or use --unsandboxed",
            detail,
        )
    if isinstance(exc, ValueError) and "More than one workflow named" in text:
        return HarnessError("bad-spec", f"{text}; pass only one of them with 'module:Class'", detail)
    return HarnessError("environment", f"could not start the replayer: {type(exc).__name__}: {_one_line(text, 300)}", detail)


# --------------------------------------------------------------------------
# load()
# --------------------------------------------------------------------------


def load(config: dict) -> Session:
    """Import the user's workflows and start a replay Session.

    Config keys: workflows (list[str]), python_path (list[str]), unsandboxed
    (bool), data_converter ("module:attr" | None), interceptors
    (list["module:attr"]), queries (list[str]), record_state (bool),
    debug_mode (bool), fresh_sandbox (bool).
    """
    if not isinstance(config, dict):
        raise HarnessError("bad-spec", f"config must be a dict, got {type(config).__name__}")
    workflows = config.get("workflows") or []
    if isinstance(workflows, str):
        workflows = [workflows]
    python_path = config.get("python_path") or []
    if isinstance(python_path, str):
        python_path = [python_path]
    for p in reversed(list(python_path)):
        ap = os.path.abspath(p)
        if not os.path.isdir(ap):
            raise HarnessError("bad-spec", f"python path entry '{p}' is not a directory")
        if ap in sys.path:
            sys.path.remove(ap)
        sys.path.insert(0, ap)
    importlib.invalidate_caches()
    _install_capture()
    _preset_build_id()

    if not workflows:
        raise HarnessError("no-workflows", "no workflows given; pass --workflows MODULE_OR_FILE")
    _forget_user_modules()
    classes = _collect_workflows(list(workflows))
    data_converter = _load_data_converter(config.get("data_converter"))
    interceptors = [_load_interceptor(s) for s in (config.get("interceptors") or [])]
    debug_mode = bool(config.get("debug_mode", False))
    unsandboxed = bool(config.get("unsandboxed", False))

    plain = temporalio.worker.UnsandboxedWorkflowRunner()
    if unsandboxed:
        sandboxed_runner: temporalio.worker.WorkflowRunner = plain
    else:
        # The SDK's SandboxedWorkflowRunner, keeping a module's sandbox import
        # between histories only while it is provably pristine (see
        # deja_sandbox_reuse); fresh_sandbox re-imports for every history.
        if sdk_features().sandbox_reuse:
            sandboxed_runner = deja_sandbox_reuse.ReusingSandboxedWorkflowRunner(
                reuse=not bool(config.get("fresh_sandbox", False))
            )
        else:
            # The plain SDK path: this temporalio's own runner, untouched.
            sandboxed_runner = _SANDBOX_RUNNER()
        if debug_mode or os.environ.get("TEMPORAL_DEBUG"):
            # What the SDK does itself in debug mode for a sandboxed runner
            # (we wrap the runner, so its isinstance check would miss it).
            try:
                sandboxed_runner = dataclasses.replace(
                    sandboxed_runner,
                    restrictions=sandboxed_runner.restrictions.with_passthrough_modules("_pydevd_bundle"),
                )
                from temporalio.worker._debugger import _relax_sandbox_for_debugger

                sandboxed_runner = _relax_sandbox_for_debugger(sandboxed_runner)
            except Exception:
                pass

    kwargs: dict = {
        "workflow_runner": sandboxed_runner,
        "unsandboxed_workflow_runner": plain,
        "interceptors": interceptors,
        "debug_mode": debug_mode,
    }
    if data_converter is not None:
        kwargs["data_converter"] = data_converter
    queries = [str(q) for q in (config.get("queries") or [])]
    return Session(classes, kwargs, bool(config.get("record_state", False)), queries)
