#!/usr/bin/env python3
"""`make bench`: deja against the SDK's own machinery, on the same histories, in one run.

1. Loading JSON: `deja __load-bench` (best of 5, in-process) vs `WorkflowHistory.from_json`
   (best of 5) on the largest shipped history.
2. Replaying the large history end to end (process start to exit, both sides start
   Python): `deja replay` vs `scripts/sdk_replay.py` (from_json + Replayer.replay_workflow),
   plus deja's recording overhead (`--query`, state after every activation).
3. Start-up: a worker's start-up per step, and `deja check` vs `Replayer.replay_workflows`
   in one process on 50 small histories, idle and under load (bench/startup.py).
4. `deja check` vs `Replayer.replay_workflows` in one process, if bench/check_bench.py exists.
5. `deja fetch` vs the CLI and the SDK (bench/fetch_bench.py); `deja shadow` with one and
   two worker processes vs the SDK and `deja check --query` (bench/shadow_bench.py).

Prints a table of times and ratios. Benchmarks, not tests: nothing here fails on a number.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv/bin/python"
# DEJA_BIN: another build to measure (e.g. the previous release, for before/after numbers).
# A pip-installed deja (`VENV/bin/deja` of the deja-replay wheel) runs in its venv's own
# interpreter: the SDK side then runs with that venv's Python too (same pinned temporalio).
DEJA = Path(os.environ.get("DEJA_BIN") or ROOT / "target/release/deja")
if os.environ.get("DEJA_BIN") and (DEJA.parent.parent / "pyvenv.cfg").exists():
    PY = DEJA.parent / "python"
BIG = ROOT / "histories/catalog_reindex_large.json"
CODE = "histories/code/workflows.py"


def run(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - t, p


def best_of(n: int, cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    results = [run(cmd) for _ in range(n)]
    return min(results, key=lambda r: r[0])


def sdk_from_json_seconds(path: Path, repeat: int = 5) -> tuple[float, int]:
    code = (
        "import sys,time,json\n"
        "from temporalio.client import WorkflowHistory\n"
        "text=open(sys.argv[1]).read(); best=1e9\n"
        "for _ in range(int(sys.argv[2])):\n"
        "    t=time.perf_counter(); h=WorkflowHistory.from_json('x', text); best=min(best,time.perf_counter()-t)\n"
        "print(json.dumps({'seconds': best, 'events': len(h.events)}))\n"
    )
    p = subprocess.run([str(PY), "-c", code, str(path), str(repeat)], capture_output=True, text=True, check=True)
    d = json.loads(p.stdout)
    return d["seconds"], d["events"]


def main() -> None:
    if not DEJA.exists():
        sys.exit("bench: build first (make build)")
    rows = []
    print(f"deja bench · {os.cpu_count()} cores · history {BIG.name}")

    # 1. Loading.
    d = json.loads(subprocess.run([str(DEJA), "__load-bench", str(BIG), "--repeat", "15"], capture_output=True, text=True, check=True).stdout)
    sdk_s, events = sdk_from_json_seconds(BIG)
    rows.append(("load JSON (best of 15 / 5)", f"{d['seconds']*1e3:.1f} ms", f"{sdk_s*1e3:.1f} ms", sdk_s / d["seconds"]))
    print(f"  {events} events: deja {d['us_per_event']:.2f} µs/event, SDK from_json {sdk_s*1e6/events:.1f} µs/event")

    # 2. Replay of the large history, whole process each side.
    deja_t, dp = best_of(3, [str(DEJA), "replay", str(BIG), "-w", CODE, "-o", "json"])
    sdk_t, sp = best_of(3, [str(PY), "scripts/sdk_replay.py", "--workflows", CODE, str(BIG)])
    dj = json.loads(dp.stdout)
    assert dj["verdict"] == "pass", dp.stderr
    sdk_line = json.loads(sp.stdout.splitlines()[0])
    assert sdk_line["verdict"] == "pass", sp.stdout
    rows.append(("replay 11k events (process)", f"{deja_t:.2f} s", f"{sdk_t:.2f} s", sdk_t / deja_t))
    rec_t, rp = best_of(3, [str(DEJA), "replay", str(BIG), "-w", CODE, "-o", "json", "--query", "progress"])
    rows.append(("replay + state/queries (deja)", f"{rec_t:.2f} s", f"{sdk_t:.2f} s", sdk_t / rec_t))
    print(f"  recording overhead (state + query after every activation): {100*(rec_t-deja_t)/deja_t:+.0f}% over deja fast replay")

    print()
    print(f"  {'benchmark':34} {'deja':>10} {'SDK':>10} {'SDK/deja':>9}")
    for name, a, b, ratio in rows:
        print(f"  {name:34} {a:>10} {b:>10} {ratio:>8.1f}x")

    # 3. Start-up and small sets: 50 small histories, deja check vs one SDK process, idle
    #    and under load (bench/startup.py). 4. `deja check` vs one SDK process on the
    #    corpus; 5. `deja fetch` vs the CLI and the SDK.
    for script in ("bench/startup.py", "bench/check_bench.py", "bench/fetch_bench.py", "bench/shadow_bench.py"):
        if (ROOT / script).exists():
            print()
            args = ["--deja", str(DEJA)] if script in ("bench/check_bench.py", "bench/startup.py") else []
            subprocess.run([str(PY), script, *args], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
