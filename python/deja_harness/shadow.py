"""Shadow mode: a Temporal worker that replays production histories against this code.

``deja shadow worker`` starts deja's interpreter with the team's workflow code loaded
into a harness ``Session`` (as ``deja check`` does), then calls :func:`serve` here. It
runs two SDK ``Worker``s on one client, in this interpreter:

* on ``TQ``: the shadow workflow (:class:`ShadowWorkflow`, not sandboxed: it is deja's
  own deterministic code) and the listing activity (``deja-shadow-list``);
* on ``TQ-replay``: the replay activity (``deja-shadow-replay``), one at a time per
  process, because a process has one harness ``Session`` and replay is CPU-bound.

Temporal is the scheduler: the workflow pages through the visibility query in an
activity, samples, queues batches of runs and keeps ``concurrency`` replay activities in
flight; any number of worker processes on any number of machines share the queues. A
replay activity fetches each history itself (``GetWorkflowExecutionHistory``, the raw
binary protobuf), hands the bytes to Rust (``analyse``: the same load, replay, alignment,
drift and signature as ``deja check``) and heartbeats the rows done so far, so a retry on
another worker resumes where the dead one stopped. The workflow merges each batch once
(by batch id), keeps counts by verdict and groups by failure signature with one example
report each, answers the ``status`` query, and continues-as-new before its history grows
large, carrying the page token, the queue and the totals.

Nothing here imports the rest of the harness: the replay is Rust's ``analyse`` callable.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import json
import signal
from datetime import timedelta
from typing import Any, Callable

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

WORKFLOW_TYPE = "deja-shadow"
LIST_ACTIVITY = "deja-shadow-list"
REPLAY_ACTIVITY = "deja-shadow-replay"
STATUS_QUERY = "status"
SCHEMA = "deja.shadow/v1"

# Bounds that keep the status query's answer and the continue-as-new input (a payload in
# the shadow workflow's history: the server warns past 512 KB, refuses past 2 MB) small:
# at most ~50 × 6 KB of examples and 2,000 × ~90 B of run references.
MAX_GROUPS = 50
MAX_HISTORIES_PER_GROUP = 200
MAX_HISTORIES = 2000
MAX_EXAMPLE_CHARS = 6000
MAX_MESSAGE_CHARS = 400


def replay_queue(task_queue: str) -> str:
    """The queue replay batches go to (one replay at a time per worker process)."""
    return f"{task_queue}-replay"


def sampled(seed: str, pass_no: int, run_id: str, rate: float) -> bool:
    """Whether a run is in the sample: a hash, so a retried listing samples the same runs."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    h = hashlib.blake2b(f"{seed}:{pass_no}:{run_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64 < rate


# ---------------------------------------------------------------------------
# The workflow
# ---------------------------------------------------------------------------


def _new_state(params: dict, now: float) -> dict:
    expire = params.get("expire_seconds")
    return {
        "schema": SCHEMA,
        "params": params,
        "state": "running",
        "error": None,
        "started_at": now,
        "expire_at": now + expire if expire else None,
        "pass": 1,
        "passes_done": 0,
        "page_token": "",
        "listing_done": False,
        "pages": 0,
        "scanned": 0,
        "sampled": 0,
        "replayed": 0,
        "counts": {},
        "drift": 0,
        "drift_failed": 0,
        "unavailable": 0,
        "seconds": 0.0,
        "calls": {"list": 0, "fetch": 0},
        "groups": {},
        "groups_dropped": 0,
        "retried_batches": 0,
        "resumed_runs": 0,
        "pending": [],
        "next_batch": 0,
        "runs": 1,
        "finished_at": None,
    }


def merge(s: dict, batch: dict, result: dict | None, error: str | None) -> None:
    """Fold one batch's result into the totals (called once per batch id)."""
    rows = result["rows"] if result else []
    examples = result.get("examples", {}) if result else {}
    if result:
        s["calls"]["fetch"] += result.get("fetch_calls", 0)
        if result.get("attempt", 1) > 1:
            s["retried_batches"] = s.get("retried_batches", 0) + 1
            s["resumed_runs"] = s.get("resumed_runs", 0) + result.get("resumed", 0)
    # A batch that failed for good: every run in it is an error row, none is lost.
    if error is not None:
        rows = [
            {
                "workflow_id": r[0],
                "run_id": r[1],
                "workflow_type": r[2],
                "verdict": "error",
                "error_kind": "shadow",
                "signature": "replay activity failed",
                "message": error[:MAX_MESSAGE_CHARS],
            }
            for r in batch["runs"]
        ]
    for row in rows:
        s["replayed"] += 1
        verdict = row["verdict"]
        if row.get("error_kind") == "unavailable":
            s["unavailable"] += 1
            verdict = "unavailable"
        s["counts"][verdict] = s["counts"].get(verdict, 0) + 1
        s["seconds"] += row.get("seconds", 0.0)
        if row.get("drift"):
            s["drift"] += 1
        if row.get("drift_failed"):
            s["drift_failed"] += 1
        if verdict == "pass" and not row.get("drift_failed"):
            continue
        sig = row.get("signature") or verdict
        g = s["groups"].get(sig)
        if g is None:
            if len(s["groups"]) >= MAX_GROUPS:
                s["groups_dropped"] += 1
                continue
            g = s["groups"][sig] = {
                "verdict": verdict if not (verdict == "pass" and row.get("drift_failed")) else "drift",
                "count": 0,
                "message": row.get("message", ""),
                "example": None,
                "histories": [],
            }
        g["count"] += 1
        ref = [row["workflow_id"], row["run_id"], row.get("workflow_type") or ""]
        listed = sum(len(x["histories"]) for x in s["groups"].values())
        if len(g["histories"]) < MAX_HISTORIES_PER_GROUP and listed < MAX_HISTORIES:
            g["histories"].append(ref)
        if g["example"] is None:
            g["example"] = {"workflow_id": ref[0], "run_id": ref[1], "workflow_type": ref[2], "text": examples.get(sig, "")}


@workflow.defn(name=WORKFLOW_TYPE, sandboxed=False)
class ShadowWorkflow:
    """Page through visibility, sample, replay in batches on the fleet, aggregate."""

    def __init__(self) -> None:
        self._s: dict | None = None
        self._inflight: dict[str, dict] = {}
        self._finished: list[tuple[dict, dict | None, str | None]] = []
        self._merged: set[str] = set()
        self._tasks: list[asyncio.Task] = []

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> dict:
        return self._public()

    def _public(self) -> dict:
        """The aggregate as `status` and the result show it: the queue as a count."""
        s = dict(self._s or {})
        s["in_flight"] = sum(len(b["runs"]) for b in self._inflight.values())
        s["queued"] = sum(len(b["runs"]) for b in s.pop("pending", []))
        return s

    def _now(self) -> float:
        return workflow.now().timestamp()

    def _merge_finished(self) -> None:
        s = self._s
        while self._finished:
            batch, result, error = self._finished.pop(0)
            if batch["id"] in self._merged:  # delivered twice: never counted twice
                continue
            self._merged.add(batch["id"])
            merge(s, batch, result, error)

    async def _replay(self, batch: dict) -> None:
        p = self._s["params"]
        try:
            result = await workflow.execute_activity(
                REPLAY_ACTIVITY,
                batch,
                task_queue=replay_queue(workflow.info().task_queue),
                start_to_close_timeout=timedelta(seconds=p.get("replay_timeout_seconds", 3600)),
                heartbeat_timeout=timedelta(seconds=p.get("heartbeat_seconds", 30)),
                retry_policy=RetryPolicy(maximum_attempts=p.get("attempts", 5)),
            )
            self._finished.append((batch, result, None))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # ActivityError after the last attempt
            cause = getattr(e, "cause", None) or e
            self._finished.append((batch, None, f"{type(cause).__name__}: {cause}"))
        finally:
            self._inflight.pop(batch["id"], None)

    async def _list_page(self) -> None:
        s, p = self._s, self._s["params"]
        limit = None
        if p.get("max"):
            limit = p["max"] - s["sampled"]
        page = await workflow.execute_activity(
            LIST_ACTIVITY,
            {
                "query": p.get("query", ""),
                "page_token": s["page_token"],
                "page_size": p.get("page_size", 1000),
                "sample_rate": p.get("sample_rate", 1.0),
                "seed": p.get("seed", ""),
                "pass": s["pass"],
                "limit": limit,
            },
            start_to_close_timeout=timedelta(seconds=120),
            retry_policy=RetryPolicy(maximum_attempts=0, non_retryable_error_types=["InvalidQuery"]),
        )
        s["pages"] += 1
        s["calls"]["list"] += 1
        s["scanned"] += page["scanned"]
        runs = page["runs"]
        s["sampled"] += len(runs)
        size = max(1, p.get("batch_size", 10))
        for i in range(0, len(runs), size):
            s["pending"].append({"id": f"b{s['next_batch']}", "runs": runs[i : i + size]})
            s["next_batch"] += 1
        s["page_token"] = page["next_page_token"]
        if not page["next_page_token"] or page.get("limit_reached"):
            s["listing_done"] = True

    def _max_reached(self) -> bool:
        p = self._s["params"]
        return bool(p.get("max")) and self._s["sampled"] >= p["max"]

    def _expired(self) -> bool:
        e = self._s.get("expire_at")
        return e is not None and self._now() >= e

    async def _wait_for_results(self) -> None:
        timeout = None
        if self._s.get("expire_at") is not None:
            timeout = max(0.001, self._s["expire_at"] - self._now())
        try:
            await workflow.wait_condition(lambda: bool(self._finished), timeout=timeout)
        except asyncio.TimeoutError:
            pass

    def _history_long(self) -> bool:
        info = workflow.info()
        limit = self._s["params"].get("continue_as_new_after", 5000)
        length = info.get_current_history_length() if hasattr(info, "get_current_history_length") else 0
        suggested = info.is_continue_as_new_suggested() if hasattr(info, "is_continue_as_new_suggested") else False
        return length >= limit or suggested

    @workflow.run
    async def run(self, params: dict) -> dict:
        self._s = params.get("carry") or _new_state(params, self._now())
        s, p = self._s, self._s["params"]
        concurrency = max(1, p.get("concurrency", 2))
        try:
            while True:
                self._merge_finished()
                if self._expired():
                    s["state"] = "expired"
                    break
                if not s["listing_done"] and self._max_reached():
                    s["listing_done"] = True
                if not s["listing_done"] and len(s["pending"]) < concurrency:
                    await self._list_page()
                    continue
                while s["pending"] and len(self._inflight) < concurrency:
                    batch = s["pending"].pop(0)
                    self._inflight[batch["id"]] = batch
                    self._tasks = [t for t in self._tasks if not t.done()]
                    self._tasks.append(asyncio.create_task(self._replay(batch)))
                if not self._inflight and not self._finished:
                    if s["pending"] or not s["listing_done"]:
                        continue
                    s["passes_done"] += 1
                    if p.get("continuous") and not self._max_reached():
                        pause = p.get("interval_seconds", 3600)
                        if s.get("expire_at") is not None:
                            pause = min(pause, max(0.001, s["expire_at"] - self._now()))
                        s["next_pass_at"] = self._now() + pause
                        await workflow.sleep(pause)
                        s["next_pass_at"] = None
                        if self._expired():
                            continue
                        s["pass"] += 1
                        s["page_token"], s["listing_done"] = "", False
                        continue
                    s["state"] = "completed"
                    break
                if self._history_long():
                    # Drain what is in flight (its results belong to this run), then start
                    # over with the totals, the page token and the queue.
                    await workflow.wait_condition(lambda: not self._inflight)
                    self._merge_finished()
                    s["runs"] += 1
                    workflow.continue_as_new({"carry": s})
                await self._wait_for_results()
            # Expired: stop dispatching; what is in flight still counts.
            await workflow.wait_condition(lambda: not self._inflight)
            self._merge_finished()
        except asyncio.CancelledError:
            # `deja shadow stop`: cancel the replays in flight; what was merged is the answer.
            for t in self._tasks:
                t.cancel()
            self._merge_finished()
            s["state"] = "cancelled"
        except Exception as e:  # the listing failed for good (a query the server refuses)
            self._merge_finished()
            cause = getattr(e, "cause", None) or e
            s["state"] = "failed"
            s["error"] = f"{type(cause).__name__}: {cause}"
        s["finished_at"] = self._now()
        self._inflight.clear()  # cancelled ones included: nothing is in flight any more
        return self._public()


# ---------------------------------------------------------------------------
# The activities
# ---------------------------------------------------------------------------


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode() if b else ""


class ShadowActivities:
    """The listing and replay activities of one worker process."""

    def __init__(self, client: Any, analyse: Callable[[bytes, str, str], str]) -> None:
        self.client = client
        self.analyse = analyse
        # One replay at a time: the process has one harness Session.
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="deja-replay")

    @activity.defn(name=LIST_ACTIVITY)
    async def list_page(self, req: dict) -> dict:
        from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
        from temporalio.exceptions import ApplicationError
        from temporalio.service import RPCError, RPCStatusCode

        request = ListWorkflowExecutionsRequest(
            namespace=self.client.namespace,
            page_size=req["page_size"],
            next_page_token=base64.b64decode(req["page_token"]) if req["page_token"] else b"",
            query=req["query"],
        )
        try:
            resp = await self.client.workflow_service.list_workflow_executions(request, retry=True)
        except RPCError as e:
            if e.status == RPCStatusCode.INVALID_ARGUMENT:
                raise ApplicationError(f"the server refused the visibility query: {e.message}", type="InvalidQuery", non_retryable=True)
            raise
        runs, scanned, limit = [], 0, req.get("limit")
        limit_reached = False
        for e in resp.executions:
            if e.type.name == WORKFLOW_TYPE:  # never replay deja's own runs
                continue
            scanned += 1
            if sampled(req["seed"], req["pass"], e.execution.run_id, req["sample_rate"]):
                if limit is not None and len(runs) >= limit:
                    limit_reached = True
                    break
                runs.append([e.execution.workflow_id, e.execution.run_id, e.type.name])
        return {"runs": runs, "scanned": scanned, "next_page_token": _b64(resp.next_page_token), "limit_reached": limit_reached}

    async def _fetch(self, workflow_id: str, run_id: str) -> tuple[bytes, int]:
        from temporalio.api.common.v1 import WorkflowExecution
        from temporalio.api.history.v1 import History
        from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest

        events, token, calls = [], b"", 0
        while True:
            req = GetWorkflowExecutionHistoryRequest(
                namespace=self.client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                next_page_token=token,
                maximum_page_size=1000,
            )
            resp = await self.client.workflow_service.get_workflow_execution_history(req, retry=True)
            calls += 1
            events.extend(resp.history.events)
            token = resp.next_page_token
            if not token:
                return History(events=events).SerializeToString(), calls

    @activity.defn(name=REPLAY_ACTIVITY)
    async def replay_batch(self, batch: dict) -> dict:
        from temporalio.service import RPCError, RPCStatusCode

        info = activity.info()
        done: dict = {"batch": batch["id"], "rows": [], "examples": {}, "fetch_calls": 0}
        # A retry (the previous worker died or was stopped) resumes after the last row
        # the previous attempt heartbeated: no history is replayed or counted twice.
        details = list(info.heartbeat_details or [])
        if details and isinstance(details[0], dict) and details[0].get("batch") == batch["id"]:
            done = details[0]
            done["resumed"] = len(done["rows"])
        done["attempt"] = info.attempt
        hb = info.heartbeat_timeout.total_seconds() if info.heartbeat_timeout else 30.0
        beat_every = max(0.2, min(5.0, hb / 3))
        todo = batch["runs"][len(done["rows"]) :]
        # The next history is fetched while this one replays (network and CPU overlap).
        fetches = [asyncio.ensure_future(self._fetch(*todo[0][:2]))] if todo else []
        try:
            for i, (workflow_id, run_id, workflow_type) in enumerate(todo):
                activity.heartbeat(done)
                this = fetches[i]
                if i + 1 < len(todo):
                    fetches.append(asyncio.ensure_future(self._fetch(*todo[i + 1][:2])))
                try:
                    history, calls = await this
                    done["fetch_calls"] += calls
                except RPCError as e:
                    if e.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.PERMISSION_DENIED):
                        raise  # the server is away: the activity is retried
                    done["rows"].append(
                        {
                            "workflow_id": workflow_id,
                            "run_id": run_id,
                            "workflow_type": workflow_type,
                            "verdict": "error",
                            "error_kind": "unavailable",
                            "signature": "history could not be fetched",
                            "message": f"{e.status.name}: {e.message}"[:MAX_MESSAGE_CHARS],
                        }
                    )
                    continue
                await self._replay_one(done, history, workflow_id, run_id, workflow_type, beat_every)
        finally:
            for f in fetches:
                f.cancel()
        return done

    async def _replay_one(self, done: dict, history: bytes, workflow_id: str, run_id: str, workflow_type: str, beat_every: float) -> None:
        """Replay one history on the executor thread (Rust's `analyse`), heartbeating while it
        runs, and add its row (and, for a new signature, its example report) to `done`."""
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self.executor, self.analyse, history, workflow_id, run_id)
        while True:
            try:
                result = json.loads(await asyncio.wait_for(asyncio.shield(fut), timeout=beat_every))
                break
            except asyncio.TimeoutError:
                activity.heartbeat(done)
        sig = result.get("signature") or result["verdict"]
        text = result.pop("text", None)
        if text and sig not in done["examples"]:
            done["examples"][sig] = text[:MAX_EXAMPLE_CHARS]
        done["rows"].append(
            {
                "workflow_id": workflow_id,
                "run_id": run_id,
                "workflow_type": result.get("workflow_type") or workflow_type,
                "verdict": result["verdict"],
                "error_kind": result.get("error_kind"),
                "signature": sig,
                "message": (result.get("message") or "")[:MAX_MESSAGE_CHARS],
                "drift": sorted({f.get("kind", "") for f in result.get("drift", [])}),
                "drift_failed": bool(result.get("drift_failed")),
                "events": result.get("events"),
                "seconds": result.get("seconds", 0.0),
            }
        )
        activity.heartbeat(done)


# ---------------------------------------------------------------------------
# The worker process
# ---------------------------------------------------------------------------


async def _connect(conn: dict):
    from temporalio.client import Client, TLSConfig

    tls: Any = False
    if conn.get("tls"):
        t = conn["tls"]
        enc = lambda v: v.encode() if v else None  # noqa: E731
        tls = TLSConfig(
            server_root_ca_cert=enc(t.get("server_ca_cert")),
            client_cert=enc(t.get("client_cert")),
            client_private_key=enc(t.get("client_key")),
            domain=t.get("server_name"),
        )
    kwargs: dict = {"namespace": conn["namespace"], "tls": tls}
    if conn.get("api_key"):
        kwargs["api_key"] = conn["api_key"]
    if conn.get("grpc_meta"):
        kwargs["rpc_metadata"] = dict(conn["grpc_meta"])
    return await Client.connect(conn["address"], **kwargs)


async def _serve(options: dict, analyse: Callable, ready: Callable[[str], None]) -> None:
    from temporalio.worker import Worker

    client = await _connect(options["connection"])
    acts = ShadowActivities(client, analyse)
    tq = options["task_queue"]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    grace = timedelta(seconds=options.get("grace_seconds", 10))
    control = Worker(
        client,
        task_queue=tq,
        workflows=[ShadowWorkflow],
        activities=[acts.list_page],
        max_concurrent_activities=4,
        graceful_shutdown_timeout=grace,
    )
    replayer = Worker(
        client,
        task_queue=replay_queue(tq),
        activities=[acts.replay_batch],
        max_concurrent_activities=1,
        graceful_shutdown_timeout=grace,
    )
    async with control, replayer:
        ready(json.dumps({"task_queues": [tq, replay_queue(tq)], "identity": client.identity}))
        await stop.wait()


def serve(options_json: str, analyse: Callable, ready: Callable[[str], None]) -> None:
    """Run the shadow worker until SIGINT/SIGTERM. Called by Rust on the main thread."""
    asyncio.run(_serve(json.loads(options_json), analyse, ready))
