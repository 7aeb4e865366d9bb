#!/usr/bin/env python3
"""Throughput of `deja check` against the SDK's own batch replay, measured in one run.

    .venv/bin/python bench/check_bench.py [--deja target/release/deja] [--rounds 3]
    target/sdk-venvs/1.19.0/bin/python bench/check_bench.py …   # another temporalio release
        [--corpus target/corpus] [--generate] [--jobs N] [--json FILE]

For each history set — `histories/*.json` (the shipped samples) and the generated corpus
(`histories/generate.py corpus --count 500 --out target/corpus`, ~540 small histories;
`--generate` makes it when missing) — it runs, alternately and `--rounds` times:

* **SDK**: `scripts/sdk_replay.py --batch` — `WorkflowHistory.from_json` for every file and
  ONE `Replayer.replay_workflows` over all of them, in one Python process, sandboxed (an
  equivalent inline script is used when that file is absent);
* **deja**: `deja check FILES -q --junit …` (as CI runs it) with its default `--jobs`
  (one worker process per core).

Both against the same code (`histories/code_v2/workflows.py`: 3 workflow types changed,
so the corpus has real non-determinism to find). Times are **end-to-end wall clock of the
whole process** (interpreter start-up, imports, reading files, replay, exit), the median
of the rounds; histories/s = histories / that time; ratio = deja histories/s ÷ SDK
histories/s. The SDK's own in-process timings (`seconds` after imports) are shown too.

It also checks that both gave every history the same verdict; a mismatch fails the
bench (exit 1), because a fast wrong answer is worth nothing.

Runs are alternated (SDK, deja, deja, SDK, …) so that load from other processes on a
shared machine hits both sides alike; on a busy machine use more rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
CODE = REPO / "histories" / "code_v2" / "workflows.py"

# Used only when scripts/sdk_replay.py is not there: the same baseline, inline.
INLINE_SDK = r'''
import asyncio, json, logging, os, sys, time
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import importlib
import temporalio.client, temporalio.runtime, temporalio.worker, temporalio.workflow
logging.getLogger("temporalio").propagate = False
t0 = time.perf_counter()
mod = importlib.import_module(os.path.basename(sys.argv[1])[:-3])
classes = [v for v in vars(mod).values() if isinstance(v, type) and hasattr(v, "__temporal_workflow_definition")]
rt = temporalio.runtime.Runtime(telemetry=temporalio.runtime.TelemetryConfig(logging=None, metrics=None), worker_heartbeat_interval=None)
replayer = temporalio.worker.Replayer(workflows=classes, runtime=rt)
files = sys.argv[2:]
hs = []
for f in files:
    d = json.load(open(f))
    wid = d["events"][0]["workflowExecutionStartedEventAttributes"].get("workflowId") or os.path.basename(f)
    hs.append(temporalio.client.WorkflowHistory.from_json(wid, d))
by = {id(h): f for f, h in zip(files, hs)}
async def main():
    async def gen():
        for h in hs:
            yield h
    async with replayer.workflow_replay_iterator(gen()) as it:
        async for r in it:
            f = r.replay_failure
            v = "pass" if f is None else ("nondeterminism" if isinstance(f, temporalio.workflow.NondeterminismError) else "other")
            print(json.dumps({"file": by[id(r.history)], "verdict": v}))
asyncio.run(main())
print(json.dumps({"summary": {"histories": len(files), "seconds": time.perf_counter() - t0}}))
'''


def sdk_cmd(files: list[str]) -> list[str]:
    script = REPO / "scripts" / "sdk_replay.py"
    if script.is_file():
        return [PY, str(script), "--batch", "--workflows", str(CODE), *files]
    return [PY, "-c", INLINE_SDK, str(CODE), *files]


def run_sdk(files: list[str]) -> tuple[float, dict, dict]:
    t = time.perf_counter()
    p = subprocess.run(sdk_cmd(files), cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"SDK baseline failed ({p.returncode}):\n{p.stderr[-3000:]}")
    verdicts, summary = {}, {}
    for line in p.stdout.splitlines():
        d = json.loads(line)
        if "summary" in d:
            summary = d["summary"]
        else:
            verdicts[os.path.normpath(d["file"])] = d["verdict"]
    return wall, verdicts, summary


def run_deja(deja: str, files: list[str], jobs: int | None, out: Path) -> tuple[float, dict, dict]:
    """Timed as CI runs it: `-q --junit FILE`; verdicts are read back from the JUnit file."""
    # The same temporalio on both sides: the environment of the Python running this bench
    # (run it with target/sdk-venvs/VERSION/bin/python to measure another SDK release).
    cmd = [deja, "check", *files, "--workflows", str(CODE), "-q", "--junit", str(out), "--python-env", sys.prefix]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "GITHUB_"))}
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if p.returncode not in (0, 1):
        sys.exit(f"deja check failed ({p.returncode}):\n{p.stderr[-3000:]}")
    verdicts = {}
    for case in ET.parse(out).getroot().iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        verdict = "pass" if bad is None else ("error" if bad.tag == "error" else bad.get("type", "failure"))
        verdicts[os.path.normpath(case.get("name", ""))] = verdict
    return wall, verdicts, {}


def compare(sdk: dict, deja: dict) -> list[str]:
    problems = []
    for f, v in sorted(sdk.items()):
        d = deja.get(f)
        # The inline baseline only says pass / nondeterminism / other.
        if d != v and not (v == "other" and d not in ("pass", "nondeterminism", None)):
            problems.append(f"{f}: SDK {v}, deja {d}")
    return problems


def bench(name: str, files: list[str], args, tmp: Path) -> dict:
    sdk_walls, deja_walls, sdk_inproc = [], [], []
    problems: list[str] = []
    for r in range(args.rounds):
        order = ("sdk", "deja") if r % 2 == 0 else ("deja", "sdk")
        for side in order:
            if side == "sdk":
                wall, sv, summ = run_sdk(files)
                sdk_walls.append(wall)
                if "seconds" in summ:
                    sdk_inproc.append(summ["seconds"])
            else:
                wall, dv, _ = run_deja(args.deja, files, args.jobs, tmp / f"{name}.xml")
                deja_walls.append(wall)
        problems = compare(sv, dv)
        print(f"  {name} round {r + 1}: SDK {sdk_walls[-1]:.2f} s · deja {deja_walls[-1]:.2f} s", file=sys.stderr)
    n = len(files)
    sdk_w, deja_w = statistics.median(sdk_walls), statistics.median(deja_walls)
    return {
        "set": name,
        "histories": n,
        "sdk_seconds": round(sdk_w, 3),
        "sdk_in_process_seconds": round(statistics.median(sdk_inproc), 3) if sdk_inproc else None,
        "deja_seconds": round(deja_w, 3),
        "sdk_histories_per_s": round(n / sdk_w, 1),
        "deja_histories_per_s": round(n / deja_w, 1),
        "ratio": round(sdk_w / deja_w, 2),
        "rounds": args.rounds,
        "verdict_mismatches": problems,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deja", default=str(REPO / "target" / "release" / "deja"))
    ap.add_argument("--corpus", default=str(REPO / "target" / "corpus"))
    ap.add_argument("--generate", action="store_true", help="generate the corpus when it is missing (needs ~1 min)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=None, help="deja --jobs (default: deja's own, one per core)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    if not Path(args.deja).is_file():
        sys.exit(f"{args.deja}: not built; run `make build` (or pass --deja)")
    sets = [("histories", sorted(str(p.relative_to(REPO)) for p in (REPO / "histories").glob("*.json") if p.name != "manifest.json"))]
    corpus = Path(args.corpus)
    if not any(corpus.glob("*.json")) and args.generate:
        subprocess.run([PY, str(REPO / "histories" / "generate.py"), "corpus", "--count", "500", "--out", str(corpus)], cwd=REPO, check=True)
    corpus_files = sorted(str(p) for p in corpus.glob("*.json"))
    if corpus_files:
        sets.append(("corpus", corpus_files))
    else:
        print(f"note: no corpus in {corpus} (make corpus, or --generate); benchmarking histories/ only", file=sys.stderr)

    print(f"cores: {os.cpu_count()} · load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="deja-bench-"))
    try:
        results = [bench(name, files, args, tmp) for name, files in sets]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{'set':<10} {'histories':>9} {'SDK s':>8} {'SDK h/s':>8} {'deja s':>8} {'deja h/s':>9} {'ratio':>6}")
    for r in results:
        print(
            f"{r['set']:<10} {r['histories']:>9} {r['sdk_seconds']:>8.2f} {r['sdk_histories_per_s']:>8.1f} "
            f"{r['deja_seconds']:>8.2f} {r['deja_histories_per_s']:>9.1f} {r['ratio']:>5.2f}x"
        )
    bad = [p for r in results for p in r["verdict_mismatches"]]
    for p in bad:
        print(f"verdict mismatch: {p}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results}, indent=2) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
