#!/usr/bin/env python3
"""`deja shadow` throughput: one and two worker processes, against the SDK and `deja check`.

In one run:
1. starts a throwaway `temporal server start-dev` (free ports, temp SQLite db; stopped at
   the end) and runs N corpus workflows on it (`histories/generate.py populate`);
2. replays every run the query matches against the changed code (`histories/code_v2`,
   which breaks about a fifth of them) four ways, timing each:
   a. the SDK in one process: `client.list_workflows(q).map_histories()` into
      `Replayer.replay_workflows` (what a team would script without deja);
   b. `deja check --query` (one machine: download thread + worker processes);
   c. `deja shadow start --wait` with one `deja shadow worker` process;
   d. the same with two worker processes;
3. checks that every method saw the same number of runs and that c and d agree with b on
   the failures, and prints histories/s, ratios and the server calls per replayed run
   (list pages and history pages, from the shadow run's own counters).

The worker processes are started (and ready) before the clock starts: a fleet is long-lived.
A benchmark, not a test: it fails only on real errors, never on a number.

    .venv/bin/python bench/shadow_bench.py [--workflows 300]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch_bench import BenchError, connect_when_ready, start_server, stop_server  # noqa: E402

DEJA = ROOT / "target/release/deja"
PY = ROOT / ".venv/bin/python"
QUERY = "TaskQueue = 'deja-samples'"
CODE = "histories/code_v2/workflows.py"
BATCH = int(os.environ.get("DEJA_SHADOW_BATCH", "25"))


def sdk_replay(address: str) -> tuple[float, int]:
    """The SDK alone, one process: list, fetch and replay every run; (seconds, failed)."""
    code = f"""
import asyncio, json, sys, time
sys.path.insert(0, "histories/code_v2")
import workflows
from temporalio.client import Client
from temporalio.worker import Replayer
async def main():
    client = await Client.connect({address!r})
    t = time.perf_counter()
    replayer = Replayer(workflows=workflows.ALL_WORKFLOWS)
    results = await replayer.replay_workflows(client.list_workflows({QUERY!r}).map_histories(), raise_on_replay_failure=False)
    secs = time.perf_counter() - t
    print(json.dumps({{"seconds": secs, "failed": len(results.replay_failures)}}))
asyncio.run(main())
"""
    p = subprocess.run([str(PY), "-c", code], cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        raise BenchError(f"SDK replay failed:\n{p.stderr[-2000:]}")
    d = json.loads(p.stdout.strip().splitlines()[-1])
    return d["seconds"], d["failed"]


def start_workers(n: int, address: str, tq: str, tmp: Path) -> list[subprocess.Popen]:
    procs = []
    for i in range(n):
        err = open(tmp / f"worker-{tq}-{i}.log", "wb")
        procs.append(
            subprocess.Popen(
                [str(DEJA), "shadow", "worker", "--task-queue", tq, "-w", CODE, "--address", address],
                cwd=ROOT, stdout=err, stderr=err, stdin=subprocess.DEVNULL,
            )
        )
    deadline = time.monotonic() + 60
    for i in range(n):
        while b"polling" not in (tmp / f"worker-{tq}-{i}.log").read_bytes():
            if time.monotonic() > deadline or procs[i].poll() is not None:
                raise BenchError((tmp / f"worker-{tq}-{i}.log").read_text(errors="replace")[-2000:])
            time.sleep(0.1)
    return procs


def shadow(n_workers: int, address: str, tmp: Path) -> dict:
    tq = f"shadow-bench-{n_workers}"
    procs = start_workers(n_workers, address, tq, tmp)
    try:
        out = tmp / f"shadow-{n_workers}.json"
        t = time.perf_counter()
        p = subprocess.run(
            [str(DEJA), "shadow", "start", "--task-queue", tq, "--query", QUERY, "--id", f"bench-{n_workers}",
             "--concurrency", str(2 * n_workers), "--batch-size", str(BATCH), "--wait", "--json", str(out), "--address", address],
            cwd=ROOT, capture_output=True, text=True,
        )
        wall = time.perf_counter() - t
        if p.returncode not in (0, 1):
            raise BenchError(f"deja shadow start exited {p.returncode}:\n{p.stderr[-2000:]}")
        agg = json.loads(out.read_text())
        agg["_wall"] = wall
        return agg
    finally:
        for pr in procs:
            pr.terminate()
        for pr in procs:
            try:
                pr.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pr.kill()


def failing(agg: dict) -> set:
    return {(h[0], h[1]) for g in agg["groups"].values() for h in g["histories"]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workflows", type=int, default=300)
    args = ap.parse_args()
    if not DEJA.exists():
        print("shadow_bench: target/release/deja not found: run make build first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="deja-shadow-bench-") as d:
        tmp = Path(d)
        proc, port = start_server(tmp)
        address = f"127.0.0.1:{port}"
        try:
            asyncio.run(connect_when_ready(proc, address, tmp))
            pop = subprocess.run([str(PY), "histories/generate.py", "populate", "--address", address, "--count", str(args.workflows)],
                                 cwd=ROOT, capture_output=True, text=True)
            if pop.returncode != 0:
                raise BenchError(pop.stderr[-2000:])
            runs = json.loads(pop.stdout.strip().splitlines()[-1])["runs"]

            sdk_s, sdk_failed = sdk_replay(address)
            chk_json = tmp / "check.json"
            t = time.perf_counter()
            c = subprocess.run([str(DEJA), "check", "--address", address, "--query", QUERY, "-w", CODE, "-q", "--json", str(chk_json)],
                               cwd=ROOT, capture_output=True, text=True)
            chk_s = time.perf_counter() - t
            chk = json.loads(chk_json.read_text())
            chk_failing = {(r["workflow_id"], r["run_id"]) for r in chk["results"] if r["verdict"] != "pass" or r.get("drift_failed")}
            one = shadow(1, address, tmp)
            two = shadow(2, address, tmp)
        finally:
            stop_server(proc)

    for name, agg in (("1 worker", one), ("2 workers", two)):
        if agg["replayed"] != runs or failing(agg) != chk_failing:
            raise BenchError(f"shadow ({name}) disagrees: replayed {agg['replayed']} of {runs}, "
                             f"{len(failing(agg))} failing vs check's {len(chk_failing)}")
    print(f"deja shadow bench · {os.cpu_count()} cores · {runs} runs ({args.workflows} workflows, 12 types) · "
          f"{len(chk_failing)} fail against {CODE} (SDK: {sdk_failed})")
    print(f"{'method':<44} {'seconds':>8} {'runs/s':>8} {'vs SDK':>7}")
    sdk_rate = runs / sdk_s
    rows = [("SDK: list → map_histories → Replayer (1 proc)", sdk_s), ("deja check --query (1 machine)", chk_s)]
    for name, agg in (("deja shadow, 1 worker (concurrency 2)", one), ("deja shadow, 2 workers (concurrency 4)", two)):
        rows.append((name, agg["finished_at"] - agg["started_at"]))
    for name, secs in rows:
        rate = runs / secs
        print(f"{name:<44} {secs:>8.2f} {rate:>8.1f} {rate / sdk_rate:>6.1f}×")
    for name, agg in (("1 worker", one), ("2 workers", two)):
        calls = agg["calls"]
        print(f"server calls per replayed run ({name}): {calls['list'] / runs:.4f} list + {calls['fetch'] / runs:.2f} history pages "
              f"({calls['list']} ListWorkflowExecutions, {calls['fetch']} GetWorkflowExecutionHistory for {runs} runs); "
              f"`--wait` wall time {agg['_wall']:.2f} s; time inside the SDK's replay {agg['seconds']:.2f} s")
    print("(shadow seconds: the shadow workflow's start to finish; workers were started beforehand)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"shadow_bench: error: {e}", file=sys.stderr)
        sys.exit(1)
