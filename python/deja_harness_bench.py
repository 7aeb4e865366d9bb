#!/usr/bin/env python3
"""Benchmark the embedded harness against the plain SDK on the same histories.

    .venv/bin/python python/deja_harness_bench.py --workflows histories/code/workflows.py \
        [--unsandboxed] [--modes sdk-batch,sdk-each,fast,state] [--queries status] DIR_OR_FILES...

Each mode runs in a fresh interpreter, one after another (never in parallel).
Histories are parsed from JSON once per process and handed over as binary
``History`` protos, like the Rust side does, so the timed section is replay
only. Modes:

* ``sdk-batch``  plain ``Replayer.replay_workflows`` (one call, all histories)
* ``sdk-each``   plain ``Replayer.replay_workflow`` per history
* ``fast``       ``deja_harness`` Session, ``record_state=False`` (``deja check``)
* ``state``      ``deja_harness`` Session, ``record_state=True`` (+ ``--queries``)

Prints one JSON line per mode and checks that all modes agree on every verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _files(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            out += [os.path.join(p, f) for f in sorted(os.listdir(p)) if f.endswith(".json") and f != "manifest.json"]
        else:
            out.append(p)
    return out


def _child(args) -> None:
    t0 = time.perf_counter()
    import asyncio

    import temporalio.api.history.v1
    import temporalio.client
    import temporalio.runtime
    import temporalio.worker

    files = _files(args.paths)
    blobs = []
    for f in files:
        with open(f) as fh:
            doc = json.load(fh)
        wid = doc["events"][0]["workflowExecutionStartedEventAttributes"].get("workflowId") or os.path.basename(f)
        h = temporalio.client.WorkflowHistory.from_json(wid, doc)
        blobs.append((f, wid, temporalio.api.history.v1.History(events=h.events).SerializeToString()))
    t_parsed = time.perf_counter()
    verdicts = {}
    mode = args.child
    if mode.startswith("sdk"):
        sys.path.insert(0, HERE)
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts"))
        import sdk_replay  # classification only

        # import the workflows the same way sdk_replay does
        classes = sdk_replay._import_workflows(args.workflows)
        kw = {"workflows": classes}
        if args.unsandboxed:
            kw["workflow_runner"] = temporalio.worker.UnsandboxedWorkflowRunner()
        kw["runtime"] = temporalio.runtime.Runtime(
            telemetry=temporalio.runtime.TelemetryConfig(logging=None, metrics=None), worker_heartbeat_interval=None
        )
        import logging

        logging.getLogger("temporalio").propagate = False
        logging.getLogger("temporalio").addHandler(logging.NullHandler())
        replayer = temporalio.worker.Replayer(**kw)
        t_loaded = time.perf_counter()
        hists = [
            (f, temporalio.client.WorkflowHistory(wid, temporalio.api.history.v1.History.FromString(b).events))
            for f, wid, b in blobs
        ]

        async def run():
            results = await sdk_replay.replay_all(replayer, hists, mode == "sdk-batch")
            verdicts.update({f: r[0] for f, r in results.items()})

        t_start = time.perf_counter()
        c_start = time.process_time()
        asyncio.run(run())
        t_end = time.perf_counter()
        c_end = time.process_time()
    else:
        sys.path.insert(0, HERE)
        import deja_bootstrap

        deja_bootstrap.install(deja_bootstrap.sources_from_dir(os.path.join(HERE, "deja_harness")))
        import deja_harness as mod
        cfg = {
            "workflows": args.workflows,
            "unsandboxed": args.unsandboxed,
            "record_state": mode == "state",
            "queries": args.queries if mode == "state" else [],
        }
        session = mod.load(cfg)
        t_loaded = time.perf_counter()
        t_start = time.perf_counter()
        c_start = time.process_time()
        steps = 0
        state_bytes = 0
        for f, wid, b in blobs:
            r = session.replay(b, wid)
            verdicts[f] = r["verdict"]
            steps += len(r["steps"])
            state_bytes += sum(len(s["state"] or b"") for s in r["steps"])
        t_end = time.perf_counter()
        c_end = time.process_time()
        session.close()
    n = len(blobs)
    out = {
        "mode": mode,
        "histories": n,
        "replay_seconds": round(t_end - t_start, 3),
        "ms_per_history": round((t_end - t_start) * 1000 / max(n, 1), 2),
        "cpu_seconds": round(c_end - c_start, 3),
        "cpu_ms_per_history": round((c_end - c_start) * 1000 / max(n, 1), 2),
        "load_seconds": round(t_loaded - t_parsed, 3),
        "json_parse_seconds": round(t_parsed - t0, 3),
        "verdicts": verdicts,
    }
    if not mode.startswith("sdk"):
        out["steps"] = steps
        out["state_bytes"] = state_bytes
    print(json.dumps(out))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workflows", action="append", required=True)
    ap.add_argument("--unsandboxed", action="store_true")
    ap.add_argument("--modes", default="sdk-batch,sdk-each,fast,state")
    ap.add_argument("--queries", action="append", default=[])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    if args.child:
        _child(args)
        sys.stdout.flush()
        os._exit(0)  # no finalization: the SDK core's threads can abort it (see the self-test)
    results = []
    for _ in range(args.repeat):
        for mode in args.modes.split(","):
            cmd = [sys.executable, os.path.abspath(__file__), "--child", mode]
            for w in args.workflows:
                cmd += ["--workflows", w]
            for q in args.queries:
                cmd += ["--queries", q]
            if args.unsandboxed:
                cmd.append("--unsandboxed")
            cmd += args.paths
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                print(f"{mode} failed:\n{p.stderr}", file=sys.stderr)
                return 1
            res = json.loads(p.stdout.strip().splitlines()[-1])
            if p.stderr.strip():
                res["stderr_lines"] = len(p.stderr.strip().splitlines())
            results.append(res)
            shown = {k: v for k, v in res.items() if k != "verdicts"}
            counts: dict = {}
            for v in res["verdicts"].values():
                counts[v] = counts.get(v, 0) + 1
            shown["verdict_counts"] = counts
            print(json.dumps(shown), flush=True)
    base = results[0]["verdicts"]
    bad = [(r["mode"], f) for r in results for f, v in r["verdicts"].items() if base.get(f) != v]
    print(json.dumps({"verdicts_agree": not bad, "disagreements": bad[:20]}))
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
