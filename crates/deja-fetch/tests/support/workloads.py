"""Workloads for deja-fetch's server tests, run with the real Python SDK.

    python workloads.py run --address 127.0.0.1:7233 --out DIR
        Starts a worker on a fresh task queue, runs a known mix of workflows on it
        (several types and counts, a failure, one history of more than 3,000 events and
        one run left open), waits until the visibility store lists them all, and writes
        DIR/manifest.json plus, for a few runs, the binary history proto as the SDK's
        fetch_history() returns it (DIR/<workflowId>.pb).

    python workloads.py bulk --address 127.0.0.1:7233 --count N --out DIR
        N small runs on a fresh task queue, for the throughput measurement.

    python workloads.py verify --dir DIR
        Loads every *.json under DIR with WorkflowHistory.from_json and replays them
        against the workflows below; prints a JSON report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer, Worker

BIG_HISTORY_ACTIVITIES = 3100  # one MarkerRecorded event each → > 3,000 events
LA_TIMEOUT = timedelta(seconds=30)


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn
async def tick(i: int) -> int:
    return i


@workflow.defn
class Greeter:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn
class Counter:
    @workflow.run
    async def run(self, n: int) -> int:
        total = 0
        for i in range(n):
            total += await workflow.execute_local_activity(tick, i, start_to_close_timeout=LA_TIMEOUT)
        return total


@workflow.defn
class Failing:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("deliberate failure", non_retryable=True)


@workflow.defn
class RareType:
    @workflow.run
    async def run(self) -> str:
        return "rare"


@workflow.defn
class BigHistory:
    @workflow.run
    async def run(self, n: int) -> int:
        done = 0
        for start in range(0, n, 500):
            batch = [
                workflow.execute_local_activity(tick, i, start_to_close_timeout=LA_TIMEOUT)
                for i in range(start, min(n, start + 500))
            ]
            done += len(await asyncio.gather(*batch))
        return done


@workflow.defn
class Waiter:
    def __init__(self) -> None:
        self.released = False

    @workflow.signal
    def release(self) -> None:
        self.released = True

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.released)
        return "released"


WORKFLOWS = [Greeter, Counter, Failing, RareType, BigHistory, Waiter]
ACTIVITIES = [greet, tick]

# (type, how many, args) — the tests rely on these counts.
MIX = [
    (Greeter, 6, lambda i: [f"user-{i}"]),
    (Counter, 3, lambda i: [3]),
    (Failing, 2, lambda i: []),
    (RareType, 1, lambda i: []),
    (BigHistory, 1, lambda i: [BIG_HISTORY_ACTIVITIES]),
    (Waiter, 1, lambda i: []),
]


def history_bytes(h: WorkflowHistory) -> bytes:
    # deterministic=True sorts map entries, as prost does with btree maps.
    return History(events=h.events).SerializeToString(deterministic=True)


async def run(address: str, namespace: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    client = await Client.connect(address, namespace=namespace)
    suffix = uuid.uuid4().hex[:8]
    task_queue = f"deja-fetch-{suffix}"
    runs = []
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        handles = []
        for wf, count, args in MIX:
            for i in range(count):
                wid = f"{wf.__name__.lower()}-{i}-{suffix}"
                h = await client.start_workflow(wf.run, args=args(i), id=wid, task_queue=task_queue)
                handles.append((wf, h))
        for wf, h in handles:
            if wf is Waiter:
                continue
            try:
                await h.result()
            except WorkflowFailureError:
                assert wf is Failing, wf
        # The open run: wait until its first workflow task has completed.
        waiter = next(h for wf, h in handles if wf is Waiter)
        for _ in range(100):
            if len((await waiter.fetch_history()).events) >= 4:
                break
            await asyncio.sleep(0.1)
        for wf, h in handles:
            desc = await h.describe()
            runs.append({
                "workflowId": h.id,
                "runId": desc.run_id,
                "workflowType": wf.__name__,
                "status": desc.status.name if desc.status else None,
            })
        protos = {}
        for wf, h in handles:
            if wf in (BigHistory, Greeter, Waiter) and wf.__name__ not in {p["type"] for p in protos.values()}:
                hist = await h.fetch_history()
                (out / f"{h.id}.pb").write_bytes(history_bytes(hist))
                protos[h.id] = {"type": wf.__name__, "file": f"{h.id}.pb", "events": len(hist.events)}

    # Visibility is eventually consistent: wait until it lists everything as we left it.
    query = f"TaskQueue = '{task_queue}'"
    total = len(runs)
    closed = sum(1 for r in runs if r["status"] != "RUNNING")
    deadline = time.monotonic() + 30
    while True:
        n_all = (await client.count_workflows(query)).count
        n_closed = (await client.count_workflows(f"{query} AND ExecutionStatus != 'Running'")).count
        if (n_all, n_closed) == (total, closed):
            break
        if time.monotonic() > deadline:
            sys.exit(f"visibility did not catch up: {n_all}/{total} listed, {n_closed}/{closed} closed")
        await asyncio.sleep(0.2)

    manifest = {"taskQueue": task_queue, "query": query, "runs": runs, "protos": protos}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


async def bulk(address: str, namespace: str, count: int, out: Path) -> None:
    """Many small runs (plus a few Counter runs), for measuring download throughput."""
    out.mkdir(parents=True, exist_ok=True)
    client = await Client.connect(address, namespace=namespace)
    suffix = uuid.uuid4().hex[:8]
    task_queue = f"deja-fetch-bulk-{suffix}"
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES,
                      max_concurrent_workflow_tasks=50):
        handles = []
        for start in range(0, count, 50):
            handles += await asyncio.gather(*[
                client.start_workflow(Greeter.run, f"bulk-{i}", id=f"bulk-{i}-{suffix}", task_queue=task_queue)
                for i in range(start, min(count, start + 50))
            ])
        await asyncio.gather(*[h.result() for h in handles])
    query = f"TaskQueue = '{task_queue}'"
    while (await client.count_workflows(f"{query} AND ExecutionStatus = 'Completed'")).count < count:
        await asyncio.sleep(0.2)
    (out / "manifest.json").write_text(json.dumps({"taskQueue": task_queue, "query": query, "runs": [], "protos": {}}))


async def verify(directory: Path) -> None:
    histories = []
    problems = []
    for path in sorted(directory.rglob("*.json")):
        data = json.loads(path.read_text())
        h = WorkflowHistory.from_json(data["workflowId"], data)
        if len(h.events) != len(data["events"]):
            problems.append(f"{path}: {len(h.events)} events loaded of {len(data['events'])}")
        histories.append(h)
    async def each():
        for h in histories:
            yield h

    replayer = Replayer(workflows=WORKFLOWS)
    failures = []
    async with replayer.workflow_replay_iterator(each()) as results:
        async for r in results:
            if r.replay_failure is not None:
                failures.append(f"{r.history.workflow_id}: {r.replay_failure}")
    print(json.dumps({
        "loaded": len(histories),
        "events": sum(len(h.events) for h in histories),
        "problems": problems,
        "replay_failures": failures,
    }))


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--address", required=True)
    r.add_argument("--namespace", default="default")
    r.add_argument("--out", required=True, type=Path)
    b = sub.add_parser("bulk")
    b.add_argument("--address", required=True)
    b.add_argument("--namespace", default="default")
    b.add_argument("--count", type=int, default=300)
    b.add_argument("--out", required=True, type=Path)
    v = sub.add_parser("verify")
    v.add_argument("--dir", required=True, type=Path)
    a = p.parse_args()
    if a.cmd == "run":
        asyncio.run(run(a.address, a.namespace, a.out))
    elif a.cmd == "bulk":
        asyncio.run(bulk(a.address, a.namespace, a.count, a.out))
    else:
        asyncio.run(verify(a.dir))
    # Skip interpreter finalisation: the SDK's Rust threads can abort it (SIGABRT in
    # PyGILState_Release) after all the work is done and written.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
