"""`histories/generate.py drift`: record the drift fixtures (tests/fixtures/drift/).

One small workflow per drift kind (tests/fixtures/drift/code/drift_workflows.py) runs
on a throw-away dev server; each history is exported with the SDK
(`WorkflowHistory.to_json()`) to `<out>/<name>.json`. Every history is then replayed
with the SDK's own Replayer against the recording code and against the next deploy
(`code_v2/`): both must pass — that is the point, the SDK cannot see these changes —
and `<out>/manifest.json` records what deja must report for each: the drift kind,
field, event id (the first event of the named type), the values, and the source line
(`# drift:<marker>` in code_v2).

Writes only into <out>; does not touch histories/.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import time
from dataclasses import dataclass

from pathlib import Path

import nexusrpc
import nexusrpc.handler
from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.nexus.v1 import EndpointSpec, EndpointTarget
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, CreateNexusEndpointRequest
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer, Worker

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "tests/fixtures/drift"
TASK_QUEUE = "deja-drift"


@nexusrpc.service(name="DriftQuoteService")
class QuoteService:
    quote: nexusrpc.Operation[str, str]


@nexusrpc.handler.service_handler(service=QuoteService)
class QuoteHandler:
    """The Nexus operation NexusInputWorkflow calls (endpoint `deja-drift-endpoint`)."""

    @nexusrpc.handler.sync_operation
    async def quote(self, ctx: nexusrpc.handler.StartOperationContext, sku: str) -> str:
        return f"quote for {sku}"


def load_module(path: Path, name: str):
    """Import `path` as module `name`, its directory first on `sys.path` (the sandbox
    re-imports the module by name) and no other copy's directory there."""
    for other in [DEFAULT_OUT / "code", DEFAULT_OUT / "code_v2", path.parent]:
        while str(other) in sys.path:
            sys.path.remove(str(other))
    sys.path.insert(0, str(path.parent))
    sys.modules.pop(name, None)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@dataclass
class Fixture:
    name: str
    workflow_type: str
    workflow_id: str
    kind: str
    field: str
    # The recorded event the finding names: the first event of this type, the last for a
    # tail finding (None: no event).
    event_type: str | None
    recorded: str
    emitted: str
    marker: str
    running: bool = False
    unverifiable: bool = False
    run_id: str = ""


async def wait_for_idle(client: Client, wid: str, run_id: str, activities: int = 1, failed: bool = False) -> None:
    """Until a running workflow has completed the task after its activities (history ends
    with WorkflowTaskCompleted and no work pending) or, with `failed`, failed it."""
    for _ in range(300):
        hist = await client.get_workflow_handle(wid, run_id=run_id).fetch_history()
        types = [e.event_type for e in hist.events]
        done = types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) >= activities
        if done and not failed and types[-1] == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return
        if done and failed and EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED in types:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{wid} did not go idle")


async def record(client: Client, m) -> list[Fixture]:
    tq = TASK_QUEUE

    async def run(wf, *args, id: str):
        h = await client.start_workflow(wf, args=list(args), id=id, task_queue=tq)
        await h.result()
        return h

    fx: list[Fixture] = []

    async def plain(name, wf, args, kind, field, event_type, recorded, emitted, marker):
        wid = f"drift-{name.replace('_', '-')}"
        h = await run(wf, *args, id=wid)
        fx.append(Fixture(name, wf.__qualname__.split(".")[0], wid, kind, field, event_type, recorded, emitted, marker,
                          run_id=h.first_execution_run_id or h.result_run_id))  # fmt: skip

    A = "EVENT_TYPE_"
    await asyncio.gather(
        plain("activity_input", m.ActivityInputWorkflow.run, ["o-1"], "activity-input", "input",
              A + "ACTIVITY_TASK_SCHEDULED", '["o-1", 100]', '["o-1", 110]', "activity-input"),
        plain("activity_options", m.ActivityOptionsWorkflow.run, ["sku-1"], "activity-options", "start_to_close_timeout",
              A + "ACTIVITY_TASK_SCHEDULED", "10s", "30s", "activity-options"),
        plain("timer_duration", m.TimerDurationWorkflow.run, [], "timer-duration", "start_to_fire_timeout",
              A + "TIMER_STARTED", "300ms", "3s", "timer-duration"),
        plain("child_input", m.ChildInputWorkflow.run, [], "child-input", "input",
              A + "START_CHILD_WORKFLOW_EXECUTION_INITIATED", '"alpha"', '"beta"', "child-input"),
        plain("child_options", m.ChildOptionsWorkflow.run, [], "child-options", "workflow_run_timeout",
              A + "START_CHILD_WORKFLOW_EXECUTION_INITIATED", "1m", "2m", "child-options"),
        plain("continue_as_new", m.ContinueAsNewWorkflow.run, [0], "continue-as-new", "input",
              A + "WORKFLOW_EXECUTION_CONTINUED_AS_NEW", "1", "2", "continue-as-new"),
        plain("search_attributes", m.SearchAttributesWorkflow.run, [], "search-attributes",
              "search_attributes.DejaTier", A + "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", '"gold"', '"platinum"',
              "search-attributes"),
        plain("memo", m.MemoWorkflow.run, [], "memo", "memo.tier", A + "WORKFLOW_PROPERTIES_MODIFIED",
              '"gold"', '"platinum"', "memo"),
        plain("nexus_input", m.NexusInputWorkflow.run, [], "nexus-input", "input", A + "NEXUS_OPERATION_SCHEDULED",
              '"sku-1"', '"sku-2"', "nexus-input"),
        plain("result", m.ResultWorkflow.run, [], "result", "result", A + "WORKFLOW_EXECUTION_COMPLETED",
              '{"status":"shipped"}', '{"status":"sent"}', "result"),
        plain("sdk_warning", m.SdkWarningWorkflow.run, [], "sdk-warning", "warning", None,
              "", "asyncio.wait() is non-deterministic", "sdk-warning"),
    )  # fmt: skip

    # An update history accepts (8 ≤ 10) that v2's validator rejects (8 > 5).
    h = await client.start_workflow(m.UpdateValidationWorkflow.run, id="drift-update-validation", task_queue=tq)
    await h.execute_update(m.UpdateValidationWorkflow.set_quantity, 8, id="quantity-8")
    await h.result()
    fx.append(Fixture("update_validation", "UpdateValidationWorkflow", h.id, "update-validation",
                      "validator set_quantity", A + "WORKFLOW_EXECUTION_UPDATE_ACCEPTED", "accepted update quantity-8",
                      "rejected: ValueError: at most 5 per order, got 8", "update-validation",
                      run_id=h.result_run_id))  # fmt: skip

    # Signal / cancel an external workflow: the target must exist while recording.
    recv = await client.start_workflow(m.DriftReceiverWorkflow.run, id="drift-receiver-1", task_queue=tq)
    h = await run(m.SignalExternalWorkflow.run, "drift-receiver-1", id="drift-signal-external")
    await recv.result()
    fx.append(Fixture("signal_external", "SignalExternalWorkflow", h.id, "signal-external", "signal_name",
                      A + "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED", "approve", "approve_all", "signal-external",
                      run_id=h.result_run_id))  # fmt: skip
    await client.start_workflow(m.DriftReceiverWorkflow.run, id="drift-victim-1", task_queue=tq)
    h = await run(m.CancelExternalWorkflow.run, "drift-victim-1", id="drift-cancel-external")
    fx.append(Fixture("cancel_external", "CancelExternalWorkflow", h.id, "cancel-external", "workflow_id",
                      A + "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED", "drift-victim-1", "drift-victim-1-old",
                      "cancel-external", run_id=h.result_run_id))  # fmt: skip

    # Left running after their activity: the tail of a running workflow.
    for name, wf, field, event_type, recorded, emitted, marker, unverifiable in [
        ("tail_fail", m.TailFailWorkflow, "workflow-task", A + "WORKFLOW_TASK_FAILED",
         "failed: v1 cannot parse 'reserved t-1'", "v2 refuses 'reserved t-1'", "tail-fail", False),
        ("tail_extra_command", m.TailExtraCommandWorkflow, "command", None, "(none)", "ScheduleActivity reserve",
         "tail-extra", False),
        ("tail_local_activity", m.TailLocalActivityWorkflow, "command", None, "(none)", "ScheduleLocalActivity",
         "tail-local", True),
    ]:  # fmt: skip
        wid = f"drift-{name.replace('_', '-')}"
        h = await client.start_workflow(wf.run, id=wid, task_queue=tq)
        await wait_for_idle(client, wid, h.result_run_id, failed=name == "tail_fail")
        fx.append(Fixture(name, wf.__name__, wid, "tail", field, event_type, recorded, emitted, marker,
                          running=True, unverifiable=unverifiable, run_id=h.result_run_id))  # fmt: skip
    return fx


def marker_line(path: Path, marker: str) -> int:
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.rstrip().endswith(f"# drift:{marker}"):
            return n
    raise RuntimeError(f"no `# drift:{marker}` line in {path}")


async def sdk_verdict(module_path: Path, history: WorkflowHistory) -> str:
    """Replay with the SDK alone (a fresh import of that code)."""
    mod = load_module(module_path, "drift_workflows")
    result = await Replayer(workflows=mod.ALL_WORKFLOWS, debug_mode=True).replay_workflow(
        history, raise_on_replay_failure=False
    )
    return "pass" if result.replay_failure is None else f"fail: {result.replay_failure}"


async def generate(dev_server, out: Path | None) -> int:
    out = out or DEFAULT_OUT
    code = out / "code" / "drift_workflows.py"
    code_v2 = out / "code_v2" / "drift_workflows.py"
    m = load_module(code, "drift_workflows")
    async with dev_server("deja-drift-") as (_server, client):
        # The search attribute the fixture upserts (a dev server has no custom ones).
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace="default", search_attributes={"DejaTier": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD}
            )
        )
        # The Nexus endpoint NexusInputWorkflow calls, served by this worker's queue.
        await client.operator_service.create_nexus_endpoint(
            CreateNexusEndpointRequest(
                spec=EndpointSpec(
                    name="deja-drift-endpoint",
                    target=EndpointTarget(
                        worker=EndpointTarget.Worker(namespace="default", task_queue=TASK_QUEUE)
                    ),
                )
            )
        )
        worker = Worker(client, task_queue=TASK_QUEUE, workflows=m.ALL_WORKFLOWS, activities=m.ALL_ACTIVITIES,
                        nexus_service_handlers=[QuoteHandler()], debug_mode=True)  # fmt: skip
        async with worker:
            t0 = time.monotonic()
            fixtures = await record(client, m)
            print(f"ran {len(fixtures)} drift scenarios in {time.monotonic() - t0:.1f}s", flush=True)
            histories = {}
            for f in fixtures:
                histories[f.name] = await client.get_workflow_handle(f.workflow_id, run_id=f.run_id).fetch_history()

    # Everything is verified before anything is written: an interrupted run leaves the
    # committed fixtures as they were.
    entries, texts, ok = [], {}, True
    for f in fixtures:
        hist = histories[f.name]
        path = out / f"{f.name}.json"
        texts[path] = hist.to_json() + "\n"
        event_id = None
        if f.event_type:
            want = EventType.Value(f.event_type)
            # Tail findings name the task's latest failure; the others the first such event.
            ids = [e.event_id for e in hist.events if e.event_type == want]
            event_id = ids[-1] if f.kind == "tail" else ids[0]
        v1 = await sdk_verdict(code, hist)
        v2 = await sdk_verdict(code_v2, hist)
        good = v1 == "pass" and v2 == "pass"
        ok &= good
        print(f"  {'ok ' if good else 'BAD'} {f.name:22} {f.kind:18} sdk v1={v1} v2={v2}")
        entries.append({
            "name": f.name,
            "file": path.relative_to(REPO).as_posix(),
            "workflow_type": f.workflow_type,
            "workflow_id": f.workflow_id,
            "run_id": f.run_id,
            "events": len(hist.events),
            "running": f.running,
            "kind": f.kind,
            "field": f.field,
            "event_id": event_id,
            "recorded": f.recorded,
            "emitted": f.emitted,
            "unverifiable": f.unverifiable,
            "file_v2": code_v2.relative_to(REPO).as_posix(),
            "line": marker_line(code_v2, f.marker),
            "sdk_replay_v1": v1,
            "sdk_replay_v2": v2,
        })  # fmt: skip
    manifest = {
        "about": "Drift fixtures (histories/drift_fixtures.py): replay each with code/ (no drift) and "
        "code_v2/ (one finding of `kind`); the SDK's own Replayer passes both.",
        "code": code.relative_to(REPO).as_posix(),
        "code_v2": code_v2.relative_to(REPO).as_posix(),
        "fixtures": entries,
    }
    for stale in out.glob("*.json"):
        stale.unlink()
    for path, text in texts.items():
        path.write_text(text)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(entries)} histories + manifest.json to {out}")
    return 0 if ok else 1





