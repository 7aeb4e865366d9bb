#!/usr/bin/env python3
"""`deja fetch` against the `temporal` CLI and the Python SDK, on the same closed runs.

In one run:
1. starts a throwaway `temporal server start-dev` (free ports, temp SQLite db) and always
   stops it (its whole process group) at the end;
2. runs N small workflows of two types on it with an in-process Python SDK worker
   (bench/fetch_workload.py) and waits for all of them to complete;
3. downloads the same N histories three ways, timing each:
   a. `deja fetch --query ... --out DIR` (default concurrency 8), plus a second
      `deja fetch` into the same DIR (incremental: should fetch nothing),
   b. `temporal workflow show -w ID -r RUNID -o json > file`, one run at a time
      (runs listed once beforehand; only the `show` calls are timed),
   c. the SDK: `client.list_workflows(query).map_histories()`, each `to_json()` to a file;
4. checks that every method got N histories and that deja's files have the same event
   counts as the SDK's, then prints a table.

Run with .venv/bin/python after `make build`. A benchmark, not a test: it fails only on
real errors (server won't start, a download fails, counts disagree), never on a number.

    .venv/bin/python bench/fetch_bench.py [--runs 220]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEJA = ROOT / "target/release/deja"
TEMPORAL = Path(shutil.which("temporal", path=str(ROOT / ".venv/bin")) or ROOT / ".venv/bin/temporal")

sys.path.insert(0, str(Path(__file__).resolve().parent))


class BenchError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp: Path) -> tuple[subprocess.Popen, int]:
    port, http, metrics, ui = free_port(), free_port(), free_port(), free_port()
    cmd = [
        str(TEMPORAL), "server", "start-dev",
        "--ip", "127.0.0.1", "--port", str(port),
        "--http-port", str(http), "--metrics-port", str(metrics), "--ui-port", str(ui),
        "--headless", "--db-filename", str(tmp / "db"), "--log-level", "error",
        "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off",
    ]
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return proc, port


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


async def connect_when_ready(proc: subprocess.Popen, address: str, tmp: Path, timeout: float = 60.0):
    from temporalio.client import Client

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (tmp / "server.log").read_text(errors="replace")[-2000:]
            raise BenchError(f"temporal server exited with {proc.returncode}:\n{log}")
        try:
            client = await Client.connect(address, namespace="default")
            await client.count_workflows()  # namespace registered and visibility up
            return client
        except Exception as e:  # not up yet
            last = e
            await asyncio.sleep(0.3)
    raise BenchError(f"temporal server on {address} not ready after {timeout:.0f}s: {last}")


async def run_workload(client, n: int, task_queue: str) -> None:
    from temporalio.worker import Worker

    import fetch_workload as w

    async with Worker(
        client,
        task_queue=task_queue,
        workflows=w.WORKFLOWS,
        activities=w.ACTIVITIES,
        max_concurrent_workflow_tasks=50,
        max_concurrent_activities=100,
    ):
        handles = []
        sem = asyncio.Semaphore(50)

        async def start(i: int):
            async with sem:
                if i % 5 < 3:  # ~60% orders, ~40% pings
                    return await client.start_workflow(
                        "FetchBenchOrder", args=[f"sku-{i * 7919 % 1000:03d}", i % 9 + 1],
                        id=f"order-{i:04d}", task_queue=task_queue,
                    )
                targets = [f"host-{i}-{k}" for k in range(i % 3 + 1)]
                return await client.start_workflow(
                    "FetchBenchPing", args=[targets], id=f"ping-{i:04d}", task_queue=task_queue,
                )

        handles = await asyncio.gather(*(start(i) for i in range(n)))

        async def result(h):
            async with sem:
                return await h.result()

        await asyncio.gather(*(result(h) for h in handles))


async def wait_visible(client, query: str, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < deadline:
        seen = (await client.count_workflows(query)).count
        if seen >= n:
            return
        await asyncio.sleep(0.2)
    raise BenchError(f"visibility shows {seen} of {n} completed runs after {timeout:.0f}s")


def clean_env() -> dict[str, str]:
    """No TEMPORAL_* settings from the caller's shell (an API key would turn TLS on)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}


def run_deja(address: str, query: str, out: Path) -> tuple[float, str]:
    cmd = [str(DEJA), "fetch", "--address", address, "--query", query, "--out", str(out), "--color", "never"]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=clean_env())
    secs = time.perf_counter() - t
    if p.returncode != 0:
        raise BenchError(f"deja fetch exited with {p.returncode}:\n{p.stderr[-3000:]}")
    summary = next((l for l in reversed(p.stderr.splitlines()) if l.startswith("deja:")), p.stderr.strip()[-300:])
    return secs, summary


def run_cli(address: str, runs: list[tuple[str, str]], out: Path) -> float:
    out.mkdir(parents=True)
    env = clean_env()
    t = time.perf_counter()
    for wid, rid in runs:
        with open(out / f"{wid}__{rid}.json", "wb") as f:
            p = subprocess.run(
                [str(TEMPORAL), "workflow", "show", "-w", wid, "-r", rid, "--address", address, "-o", "json"],
                stdout=f, stderr=subprocess.PIPE, env=env,
            )
        if p.returncode != 0:
            raise BenchError(f"temporal workflow show {wid} exited with {p.returncode}: {p.stderr.decode()[-1000:]}")
    return time.perf_counter() - t


async def run_sdk(address: str, query: str, out: Path) -> tuple[float, dict[str, int]]:
    from temporalio.client import Client

    out.mkdir(parents=True)
    events: dict[str, int] = {}
    t = time.perf_counter()
    client = await Client.connect(address, namespace="default")
    async for h in client.list_workflows(query).map_histories():
        (out / f"{h.workflow_id}.json").write_text(h.to_json())
        events[h.workflow_id] = len(h.events)
    return time.perf_counter() - t, events


def deja_events_by_id(out: Path) -> dict[str, list]:
    return {d["workflowId"]: d["events"] for d in (json.loads(p.read_text()) for p in out.rglob("*.json"))}


_UTC = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+)(?:Z|\+00:00)$")


def normalized(v):
    """proto3 JSON allows a UTC timestamp as `...Z` or `...+00:00`, and `2` or `2.0`."""
    if isinstance(v, dict):
        return {k: normalized(x) for k, x in v.items()}
    if isinstance(v, list):
        return [normalized(x) for x in v]
    if isinstance(v, str):
        m = _UTC.match(v)
        return m.group(1) + "Z" if m else v
    return v


async def bench(args, tmp: Path) -> int:
    import fetch_workload as w

    proc, port = start_server(tmp)
    address = f"127.0.0.1:{port}"
    try:
        t = time.perf_counter()
        client = await connect_when_ready(proc, address, tmp)
        print(f"server up on {address} in {time.perf_counter() - t:.1f}s", flush=True)

        types = ", ".join(f"'{x}'" for x in w.TYPES)
        query = f"WorkflowType IN ({types}) AND ExecutionStatus = 'Completed'"
        t = time.perf_counter()
        await run_workload(client, args.runs, f"fetch-bench-{uuid.uuid4().hex[:8]}")
        await wait_visible(client, query, args.runs)
        print(f"ran {args.runs} workflows ({', '.join(w.TYPES)}) in {time.perf_counter() - t:.1f}s", flush=True)

        runs = [(e.id, e.run_id) async for e in client.list_workflows(query)]
        n = len(runs)
        if n != args.runs:
            raise BenchError(f"query lists {n} runs, expected {args.runs}")

        deja_dir, cli_dir, sdk_dir = tmp / "deja", tmp / "cli", tmp / "sdk"
        print("timing deja fetch ...", flush=True)
        deja_s, deja_summary = run_deja(address, query, deja_dir)
        deja_re_s, deja_re_summary = run_deja(address, query, deja_dir)
        print("timing temporal workflow show, one by one ...", flush=True)
        cli_s = run_cli(address, runs, cli_dir)
        print("timing SDK map_histories ...", flush=True)
        sdk_s, sdk_events = await run_sdk(address, query, sdk_dir)

        # Same histories from every method.
        deja_full = deja_events_by_id(deja_dir)
        deja_events = {wid: len(ev) for wid, ev in deja_full.items()}
        cli_files = [p for p in cli_dir.glob("*.json") if p.stat().st_size > 0]
        counts = {"deja fetch": len(deja_events), "temporal workflow show": len(cli_files), "SDK map_histories": len(sdk_events)}
        bad = {k: v for k, v in counts.items() if v != n}
        if bad:
            raise BenchError(f"expected {n} histories from each method, got {counts}")
        mismatched = [wid for wid, c in sdk_events.items() if deja_events.get(wid) != c]
        if mismatched:
            wid = mismatched[0]
            raise BenchError(
                f"{len(mismatched)} histories differ in event count between deja and the SDK, "
                f"e.g. {wid}: deja {deja_events.get(wid)}, SDK {sdk_events[wid]}"
            )
        # Same content too: every deja history against the SDK's, modulo JSON spelling.
        raw_same = content_same = 0
        for wid in sdk_events:
            sdk_ev = json.loads((sdk_dir / f"{wid}.json").read_text())["events"]
            raw_same += sdk_ev == deja_full[wid]
            if normalized(sdk_ev) != normalized(deja_full[wid]):
                raise BenchError(f"{wid}: deja's events differ from the SDK's (beyond timestamp spelling)")
            content_same += 1
        # Spot-check the CLI's output against the SDK's too.
        for p in sorted(cli_files)[:: max(1, n // 10)]:
            wid = p.name.split("__")[0]
            c = len(json.loads(p.read_text())["events"])
            if c != sdk_events.get(wid):
                raise BenchError(f"{wid}: temporal workflow show has {c} events, SDK {sdk_events.get(wid)}")
        if "matched: 0 fetched" not in deja_re_summary or f"{n} already on disk" not in deja_re_summary:
            raise BenchError(f"second deja fetch into the same dir fetched something: {deja_re_summary}")

        total_events = sum(sdk_events.values())
        print()
        print(f"{n} closed runs, {total_events} events ({total_events / n:.1f}/run), server {address}, "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
        print(f"query: {query}")
        print()
        rows = [("deja fetch (concurrency 8)", n, deja_s), ("temporal workflow show, one by one", n, cli_s),
                ("SDK list_workflows().map_histories()", n, sdk_s)]
        deja_rate = n / deja_s
        print(f"{'method':<38} {'histories':>9} {'seconds':>8} {'hist/s':>8} {'deja ×':>8}")
        print("-" * 75)
        for name, count, secs in rows:
            rate = count / secs
            print(f"{name:<38} {count:>9} {secs:>8.2f} {rate:>8.1f} {deja_rate / rate:>7.1f}×")
        print(f"{'deja fetch again (incremental)':<38} {0:>9} {deja_re_s:>8.2f} {'':>8} {'':>8}")
        print()
        print(f"content: {content_same}/{n} deja histories equal the SDK's once timestamps are normalised "
              f"({raw_same}/{n} equal as parsed JSON without normalising)")
        print(f"deja:        {deja_summary}")
        print(f"deja again:  {deja_re_summary}")
        print("(deja × = deja's histories/s ÷ the method's; deja runs first, against the coldest server)")
        return 0
    finally:
        stop_server(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=220, help="workflows to run and fetch (default 220)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (db, downloads, server log)")
    args = ap.parse_args()
    if not DEJA.exists():
        print(f"fetch_bench: {DEJA.relative_to(ROOT)} not found: run make build first", file=sys.stderr)
        return 2
    if not TEMPORAL.exists():
        print(f"fetch_bench: temporal CLI not found at {TEMPORAL}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="deja-fetch-bench-"))
    try:
        return asyncio.run(bench(args, tmp))
    except BenchError as e:
        print(f"fetch_bench: error: {e}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            sys.stdout.flush()
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
