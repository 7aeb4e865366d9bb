#!/usr/bin/env python3
"""Plain-SDK replay: the oracle and baseline for deja's tests and benchmarks.

No deja code is involved: this reads JSON histories with
``WorkflowHistory.from_json`` and replays them with ``temporalio.worker.Replayer``.

    python scripts/sdk_replay.py --workflows PATH_OR_MODULE [--workflows ...]
        [--unsandboxed] [--batch] [--python-path DIR] FILE_OR_DIR...

Prints one JSON line per history:
    {"file": ..., "workflow_id": ..., "verdict": "pass"|"nondeterminism"|"workflow-task-failure"|"error",
     "error_kind": null|"unregistered-type"|"deadlock"|"invalid-history"|"other", "message": ...}
and finally
    {"summary": {"histories": N, "seconds": T, "load_seconds": ..., "replay_seconds": ...,
                 "verdicts": {...}}}

``load_seconds`` is reading + ``from_json`` of every history; ``replay_seconds`` is
the Replayer alone (``--batch``: one ``replay_workflows`` call over all histories;
otherwise one ``replay_workflow`` call per history). ``seconds`` is the whole run
after imports (workflow module import + load + replay).

Classification (same rules as deja's harness): ``replay_failure`` is
NondeterminismError -> "nondeterminism"; RuntimeError("<reason>: ...") with reason
LANG_FAIL (4) -> "workflow-task-failure", except an unregistered workflow type or a
deadlock ("[TMPRL1101]"), which are "error"; any other reason or exception -> "error".
A history that is empty or does not start with WorkflowExecutionStarted is reported
as error/invalid-history without replaying it (the SDK hangs on those).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import logging
import os
import re
import sys
import time

_T0 = time.perf_counter()

import temporalio.api.enums.v1  # noqa: E402
import temporalio.bridge.proto.workflow_activation  # noqa: E402
import temporalio.client  # noqa: E402
import temporalio.runtime  # noqa: E402
import temporalio.worker  # noqa: E402
import temporalio.workflow  # noqa: E402

_REASON = temporalio.bridge.proto.workflow_activation.RemoveFromCache
_HISTORY_REASONS = {
    int(_REASON.FATAL),
    int(_REASON.PAGINATION_OR_HISTORY_FETCH),
    int(_REASON.TASK_NOT_FOUND),
    int(_REASON.UNHANDLED_COMMAND),
    int(_REASON.CACHE_MISS),
}
_STARTED = temporalio.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
_MSG = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_TYPE = re.compile(r'r#type: "((?:[^"\\]|\\.)*)"')


def _unescape(s: str) -> str:
    return re.sub(
        r"\\(u\{[0-9a-fA-F]+\}|.)",
        lambda m: chr(int(m.group(1)[2:-1], 16))
        if m.group(1).startswith("u{")
        else {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}.get(m.group(1), m.group(1)),
        s,
    )


def classify(failure: BaseException | None) -> tuple[str, str | None, str]:
    """(verdict, error_kind, message) for a WorkflowReplayResult.replay_failure."""
    if failure is None:
        return "pass", None, ""
    raw = str(failure)
    m = _MSG.search(raw)
    msg = " ".join(_unescape(m.group(1)).split()) if m else " ".join(raw.split())
    if isinstance(failure, temporalio.workflow.NondeterminismError):
        return "nondeterminism", None, msg
    if isinstance(failure, RuntimeError):
        rm = re.match(r"^(\d+): ", raw)
        reason = int(rm.group(1)) if rm else -1
        if reason == int(_REASON.LANG_FAIL):
            if "is not registered on this worker" in msg:
                return "error", "unregistered-type", msg
            if "[TMPRL1101]" in msg:
                return "error", "deadlock", msg
            t = _TYPE.search(raw)
            typ = _unescape(t.group(1)) if t else ""
            if typ and typ not in msg.split(":")[0]:
                msg = f"{typ}: {msg}"  # e.g. "KeyError: 'SKU-001'"
            return "workflow-task-failure", None, msg
        return "error", ("invalid-history" if reason in _HISTORY_REASONS else "other"), msg
    return "error", "other", f"{type(failure).__name__}: {msg}"


def _import_workflows(specs: list[str]) -> list[type]:
    classes: list[type] = []
    for spec in specs:
        target, _, attr = spec.partition(":") if not os.path.exists(spec) else (spec, "", "")
        if target.endswith(".py") or os.sep in target or os.path.isdir(target):
            path = os.path.abspath(target)
            d, base = os.path.split(path)
            parts = [] if base == "__init__.py" else [base[:-3] if base.endswith(".py") else base]
            while os.path.isfile(os.path.join(d, "__init__.py")):
                d, pkg = os.path.split(d)
                parts.insert(0, pkg)
            # the sandbox re-imports by module name: the directory goes on sys.path
            sys.path.insert(0, d)
            module = importlib.import_module(".".join(parts))
        else:
            module = importlib.import_module(target)
        if attr:
            classes.append(getattr(module, attr))
            continue
        for v in vars(module).values():
            if isinstance(v, type) and temporalio.workflow._Definition.from_class(v) and v not in classes:
                classes.append(v)
    if not classes:
        sys.exit(f"sdk_replay: no @workflow.defn classes in {specs}")
    return classes


def _files(paths: list[str]) -> list[str]:
    out = []
    for p in paths:
        if os.path.isdir(p):
            out.extend(
                os.path.join(p, f)
                for f in sorted(os.listdir(p))
                if f.endswith(".json") and f != "manifest.json"
            )
        else:
            out.append(p)
    return out


def _workflow_id(doc: dict, path: str) -> str:
    try:
        ev = doc["events"][0]
        attrs = ev.get("workflowExecutionStartedEventAttributes") or ev.get(
            "workflow_execution_started_event_attributes"
        )
        wid = attrs.get("workflowId") or attrs.get("workflow_id")
        if wid:
            return wid
    except (KeyError, IndexError, AttributeError, TypeError):
        pass
    return os.path.splitext(os.path.basename(path))[0]


def _valid(h: temporalio.client.WorkflowHistory) -> str | None:
    if not h.events:
        return "history has no events"
    first = h.events[0]
    if first.event_type != _STARTED or not first.HasField("workflow_execution_started_event_attributes"):
        return f"first event (id {first.event_id}) is not WorkflowExecutionStarted"
    return None


async def replay_all(replayer, todo: list, batch: bool) -> dict[str, tuple[str, str | None, str]]:
    """Classified verdict per file of `(file, WorkflowHistory)` pairs: one
    `workflow_replay_iterator` over all of them (`batch`, as `replay_workflows` does), or
    one `replay_workflow` call each."""
    results: dict[str, tuple[str, str | None, str]] = {}
    if batch:
        by_hist = {id(h): f for f, h in todo}

        async def gen():
            for _, h in todo:
                yield h

        async with replayer.workflow_replay_iterator(gen()) as it:
            async for r in it:
                results[by_hist[id(r.history)]] = classify(r.replay_failure)
    else:
        for f, h in todo:
            try:
                r = await replayer.replay_workflow(h, raise_on_replay_failure=False)
                results[f] = classify(r.replay_failure)
            except Exception as exc:  # noqa: BLE001
                results[f] = ("error", "other", f"{type(exc).__name__}: {exc}")
    return results


async def main(leave_when_done: bool = False) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workflows", action="append", required=True, help="module, file path or module:Class")
    ap.add_argument("--python-path", action="append", default=[])
    ap.add_argument("--unsandboxed", action="store_true", help="UnsandboxedWorkflowRunner for all workflows")
    ap.add_argument("--batch", action="store_true", help="one replay_workflows call for all histories")
    ap.add_argument("--show-core-logs", action="store_true", help="leave the core's console logging on")
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()

    for p in reversed(args.python_path):
        sys.path.insert(0, os.path.abspath(p))
    # Python-side SDK logs (tracebacks of failing activations) are not output.
    logging.getLogger("temporalio").addHandler(logging.NullHandler())
    logging.getLogger("temporalio").propagate = False

    t_start = time.perf_counter()
    classes = _import_workflows(args.workflows)
    kwargs: dict = {"workflows": classes}
    if args.unsandboxed:
        kwargs["workflow_runner"] = temporalio.worker.UnsandboxedWorkflowRunner()
    if not args.show_core_logs:
        runtime_kwargs: dict = {"telemetry": temporalio.runtime.TelemetryConfig(logging=None, metrics=None)}
        # Newer SDKs (1.2x+) start a worker heartbeat by default; older ones have no such option.
        if "worker_heartbeat_interval" in inspect.signature(temporalio.runtime.Runtime.__init__).parameters:
            runtime_kwargs["worker_heartbeat_interval"] = None
        kwargs["runtime"] = temporalio.runtime.Runtime(**runtime_kwargs)
    replayer = temporalio.worker.Replayer(**kwargs)

    files = _files(args.paths)
    t_load = time.perf_counter()
    loaded: list[tuple[str, temporalio.client.WorkflowHistory | None, str | None]] = []
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                doc = json.load(fh)
            h = temporalio.client.WorkflowHistory.from_json(_workflow_id(doc, f), doc)
            loaded.append((f, h, _valid(h)))
        except Exception as exc:  # noqa: BLE001
            loaded.append((f, None, f"cannot read history: {type(exc).__name__}: {exc}"))
    load_seconds = time.perf_counter() - t_load

    results: dict[str, tuple[str, str | None, str]] = {}
    for f, h, problem in loaded:
        if problem is not None:
            results[f] = ("error", "invalid-history", problem)
    todo = [(f, h) for f, h, problem in loaded if problem is None]

    t_replay = time.perf_counter()
    results.update(await replay_all(replayer, todo, args.batch))
    replay_seconds = time.perf_counter() - t_replay
    total = time.perf_counter() - t_start

    counts: dict[str, int] = {}
    for f, h, _ in loaded:
        verdict, kind, msg = results[f]
        counts[verdict] = counts.get(verdict, 0) + 1
        print(
            json.dumps(
                {
                    "file": f,
                    "workflow_id": h.workflow_id if h is not None else None,
                    "verdict": verdict,
                    "error_kind": kind,
                    "message": msg,
                }
            )
        )
    print(
        json.dumps(
            {
                "summary": {
                    "histories": len(loaded),
                    "seconds": round(total, 4),
                    "load_seconds": round(load_seconds, 4),
                    "replay_seconds": round(replay_seconds, 4),
                    "startup_seconds": round(t_start - _T0, 4),
                    "mode": "batch" if args.batch else "each",
                    "sandboxed": not args.unsandboxed,
                    "verdicts": counts,
                }
            }
        )
    )
    if leave_when_done:
        # Leave now, before the event loop runs what the SDK scheduled behind us: some
        # releases' worker shutdown never finishes after a replay (temporalio 1.10 blocks
        # in a loop callback; asyncio.run's executor shutdown waits forever on 1.19).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    try:
        code = asyncio.new_event_loop().run_until_complete(main(leave_when_done=True))
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # e.g. piped into `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    # Skip interpreter finalization: the SDK core's native threads can still call into a
    # finalizing interpreter and abort it (after every verdict was printed).
    os._exit(code or 0)
