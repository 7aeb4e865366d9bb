"""Recording a replay through the SDK's public runner/instance API: every
activation and completion, the user line behind each command (a probe on the SDK
instance), and the workflow's state and query results after each activation.
"""
from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import linecache
import reprlib
import sys
import threading
import time
import weakref
from typing import Any

import temporalio
import temporalio.bridge.proto.workflow_activation
import temporalio.worker
import temporalio.workflow

from . import sandbox_reuse as deja_sandbox_reuse
from .capture import _Collector
from .compat import _has_field, sdk_features
from .userfilter import _FILTER, _first_user_frame, _frame_key, _innermost_user_tb_site, _site


_WorkflowActivation = temporalio.bridge.proto.workflow_activation.WorkflowActivation




class _Probe:
    """Per workflow-instance hooks living next to the SDK's instance.

    ``sites`` receives one raw site per ``_add_command`` call while an
    activation runs; ``finished`` maps an asyncio task to the frame of the user
    coroutine it ran (kept alive so that, once the coroutine has returned, its
    ``f_lineno`` is the line of the ``return``).
    """

    __slots__ = ("impl", "sites", "finished", "spawned", "patch_calls")

    def __init__(self, impl: Any) -> None:
        self.impl = impl
        self.sites: list | None = None
        # workflow.patched / deprecate_patch calls of the running activation:
        # {"id", "deprecated", "site"} (the user line that made the call)
        self.patch_calls: list | None = None
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

    orig_patch = getattr(impl, "workflow_patch", None)
    if orig_patch is not None:

        def workflow_patch(id, *args, **kwargs):
            calls = probe.patch_calls
            if calls is not None:
                try:
                    site = _first_user_frame(sys._getframe(1))
                    calls.append({
                        "id": str(id),
                        "deprecated": bool(kwargs.get("deprecated", False)),
                        "site": _site(*site) if site is not None else None,
                    })
                except Exception:
                    pass
            return orig_patch(id, *args, **kwargs)

        impl.workflow_patch = workflow_patch

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
        # Set by Session.replay(explain=True) for one replay: record the user lines
        # each activation ran (a line trace limited to user code) and the pending
        # coroutine stacks after it, to explain a failure.
        self.explain = False


def _line_tracer(lines: dict):
    """A sys.settrace function that records (file, line) of user code only: frames
    of other code (the SDK, the standard library) get no local tracer at all."""
    is_user = _FILTER.is_user

    def local(frame, event, arg):
        if event == "line" and frame.f_lineno:
            lines.setdefault((frame.f_code.co_filename, frame.f_lineno), None)
        return local

    def on_call(frame, event, arg):
        code = frame.f_code
        if is_user(code.co_filename):
            # The function (its def line) ran, even when no body line is new.
            lines.setdefault((code.co_filename, code.co_firstlineno), None)
            return local
        return None

    return on_call


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


def _validate_replayed_updates(act, probe: _Probe, collector: _Collector) -> None:
    """Run the code's update validator on each update history accepted, as a worker
    would have when the update arrived.

    On replay core delivers an accepted update with ``run_validator`` false, so the SDK
    never calls the validator: a stricter validator in new code passes replay although
    the recorded update would now be rejected. This calls the same bound validator the
    SDK would (``workflow_get_update_validator``) on the same decoded arguments, read-only,
    on the instance's state as the activation finds it, before the activation runs. A
    raise is recorded (with the user line that raised); nothing else changes.
    """
    impl = probe.impl
    for job in act.jobs:
        if not _has_field(job, "do_update"):
            continue
        du = job.do_update
        if du.run_validator:
            continue  # the SDK runs it itself
        get_validator = getattr(impl, "workflow_get_update_validator", None)
        validator = get_validator(du.name) if get_validator is not None else None
        if validator is None:
            continue
        defn = impl._updates.get(du.name) or getattr(impl, "_dynamic_update", None)
        if defn is None:
            continue
        try:
            args = impl._process_handler_args(du.name, du.input, defn.name, defn.arg_types, defn.dynamic_vararg)
        except Exception:
            continue  # arguments the code cannot decode: the replay itself will say so
        try:
            read_only = impl._as_read_only(in_query_or_validator=True)
        except TypeError:  # older SDKs
            read_only = impl._as_read_only()
        previous_loop = asyncio._get_running_loop()
        asyncio._set_running_loop(impl)  # workflow.* calls in the validator find the workflow
        try:
            with read_only:
                validator(*args)
        except Exception as e:  # noqa: BLE001 - any raise is a rejection, as in the SDK
            site = _innermost_user_tb_site(e)
            collector.update_rejections.append(
                {
                    "update_id": du.id,
                    "name": du.name,
                    "message": f"{type(e).__name__}: {e}",
                    "file": site[0] if site else None,
                    "line": site[1] if site else None,
                }
            )
        finally:
            asyncio._set_running_loop(previous_loop)


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
        if probe is not None:
            try:
                _validate_replayed_updates(act, probe, collector)
            except Exception:  # checking must never change the replay
                pass
        sites: list = []
        patch_calls: list = []
        if probe is not None:
            probe.sites = sites
            probe.patch_calls = patch_calls
        explain = self.owner.explain
        lines: dict = {}
        # A tracer already set on this thread (a debugger, coverage) is put back after.
        previous_trace = sys.gettrace() if explain else None
        t0 = time.monotonic()
        try:
            if explain:
                sys.settrace(_line_tracer(lines))
            completion = self.inner.activate(act)
        finally:
            if explain:
                sys.settrace(previous_trace)
            if probe is not None:
                probe.sites = None
                probe.patch_calls = None
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
        step["patch_calls"] = patch_calls
        step["lines"] = list(lines) if explain else []
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
        if (self.owner.record_state or self.owner.explain) and probe is not None:
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
