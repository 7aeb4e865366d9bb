"""``load`` and ``Session``: a loaded set of workflows and its replayer; replays a
history and classifies the SDK's result into deja's verdict words.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import importlib
import itertools
import json
import os
import re
import sys
import threading
import traceback

import temporalio
import temporalio.api.enums.v1
import temporalio.api.history.v1
import temporalio.bridge.proto.workflow_activation
import temporalio.client
import temporalio.worker
import temporalio.workflow

from . import sandbox_reuse as deja_sandbox_reuse
from .capture import _CAPTURE, _Collector, _install_capture
from .compat import _context_free, _preset_build_id, _quiet_runtime, sdk_features
from .config import Config
from .errors import HarnessError, _core_message, _one_line
from .loading import _collect_workflows, _forget_user_modules, _load_data_converter, _load_interceptor, _user_location
from .pipeline import _DaemonExecutor, _Pipeline, _Request
from .recording import _ProbeInterceptor, _Recorder, _RecordingRunner
from .userfilter import _site, _user_frames_from_tb


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


# Each replayer (pipeline) gets a generation number; its threads carry it so that
# an abandoned replayer's late log records and output are dropped.
_GENERATIONS = itertools.count(1)
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
        # workflow type -> {"signals"|"updates"|"queries": [{"name", "site"}]} ("*" = dynamic)
        self.handlers: dict[str, dict] = {}
        self._modules: dict[str, str] = {}  # workflow type -> the module its sandbox imports
        for cls in classes:
            defn = temporalio.workflow._Definition.from_class(cls)
            self.registered.append(defn.name if defn.name else "*")
            self.queries[defn.name if defn.name else "*"] = sorted(q if q else "*" for q in defn.queries)
            self._modules[defn.name if defn.name else "*"] = deja_sandbox_reuse.module_of(cls)
            self.handlers[defn.name if defn.name else "*"] = _handlers_of(defn)
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
        gen = next(_GENERATIONS)
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
    def replay(self, history: bytes, workflow_id: str, explain: bool = False) -> dict:
        """Replay one binary History; see module docs for the result shape.

        ``explain``: also record, per activation, the user lines that ran (a line
        trace limited to user modules) and the pending coroutine stacks; costs
        time, so deja asks for it only to explain a failure."""
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
            pipeline.recorder.explain = bool(explain)
            _CAPTURE.attach(collector, pipeline.gen)
            try:
                pipeline.submit(req)
                result, failure = self._wait(req, collector)
            finally:
                pipeline.recorder.collector = None
                pipeline.recorder.explain = False
                _CAPTURE.attach(None, None)
            out = self._classify(result, failure, collector, wf_type)
            out["sandbox"] = self._sandbox_use(sandbox_before)
            if out["sandbox"] == "fresh":
                note = self._not_reusable(wf_type)
                if note:
                    out["sandbox_note"] = note
            out["steps"] = collector.steps
            out["handlers"] = self.handlers.get(wf_type) or self.handlers.get("*") or {}
            out["warnings"] = collector.warnings
            out["update_rejections"] = json.dumps(collector.update_rejections)
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


def _handlers_of(defn) -> dict:
    """Signal, update and query handler names of a workflow definition, each with the
    line of its ``def`` ("*" for a dynamic handler)."""
    from .recording import _def_line

    def entries(table: dict) -> list:
        out = []
        for name, d in table.items():
            site = None
            try:
                fn = getattr(d.fn, "__func__", d.fn)
                fn = getattr(fn, "__wrapped__", fn)
                site = _site(*_def_line(fn.__code__))
            except Exception:
                pass
            out.append({"name": name if name else "*", "site": site})
        return sorted(out, key=lambda e: e["name"])

    return {"signals": entries(defn.signals), "updates": entries(getattr(defn, "updates", {}) or {}), "queries": entries(defn.queries)}


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


def load_json(config: str) -> Session:
    """``load`` for the Rust side: the config is its ``CodeConfig`` as JSON."""
    return load(Config.from_json(config))


def load(config: Config | dict) -> Session:
    """Import the user's workflows and start a replay Session (see ``Config``)."""
    config = Config.from_dict(config)
    workflows = config.workflows
    for p in reversed(config.python_path):
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
    data_converter = _load_data_converter(config.data_converter)
    interceptors = [_load_interceptor(s) for s in config.interceptors]
    debug_mode = config.debug_mode
    unsandboxed = config.unsandboxed

    plain = temporalio.worker.UnsandboxedWorkflowRunner()
    if unsandboxed:
        sandboxed_runner: temporalio.worker.WorkflowRunner = plain
    else:
        # The SDK's SandboxedWorkflowRunner, keeping a module's sandbox import
        # between histories only while it is provably pristine (see
        # deja_sandbox_reuse); fresh_sandbox re-imports for every history.
        if sdk_features().sandbox_reuse:
            sandboxed_runner = deja_sandbox_reuse.ReusingSandboxedWorkflowRunner(
                reuse=not config.fresh_sandbox
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
    return Session(classes, kwargs, config.record_state, list(config.queries))
