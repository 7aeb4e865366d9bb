#!/usr/bin/env python3
"""Start-up and small sets: where a `deja check` worker's start-up goes, and `deja check`
against the SDK's single-process `replay_workflows` on 50 small histories, idle and with
the machine under load.

    .venv/bin/python bench/startup.py [--deja target/release/deja] [--rounds 5] [--json FILE]

1. **Per step** (median of --rounds): a one-history `deja check -j1` with
   `DEJA_STARTUP_TRACE=1` makes its worker report `exec` (spawn to main), `interpreter`
   (CPython, site, `import temporalio.worker`, deja's harness), `code` (the user's import
   and the replayer), `first_replay`; plus the venv's own `python -c pass` and
   `python -c "import temporalio.worker"` for how much of `interpreter` is the SDK import,
   and the whole `deja check` process, wall clock.
2. **50 small histories** (the shipped small samples, copied round-robin into a temp dir):
   `scripts/sdk_replay.py --batch` (one process: from_json + ONE
   `Replayer.replay_workflows`, sandboxed) against `deja check DIR -q` (default --jobs),
   both against histories/code, end-to-end wall clock of the whole process, alternated,
   median of --rounds; then the same with one busy-looping process per core running
   ("under load"). Verdicts must agree (all pass), or the bench fails.

3. **Named workers** (tests/fixtures/multi_worker, 3 workers): one `deja check` against
   the three `deja check --worker NAME` runs back to back.

`DEJA_WORKER_FORK=0` in the environment measures without start-up sharing. Benchmarks,
not tests: nothing fails on a number.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv/bin/python"
CODE = "histories/code/workflows.py"
# The shipped histories that are small and sandboxed (not the 11k-event one, not the
# unsandboxed one — the SDK batch runs one runner for all).
SMALL = [
    "card_payment_retries", "chargeback_dispute_failed", "delivery_address_update",
    "fraud_screening_local_activities", "invoice_timers", "marketplace_order_children",
    "order_fulfillment", "refund_patched", "shipping_quotes_parallel", "shopping_cart",
    "subscription_billing_first_run", "subscription_billing_last_run", "vendor_shipment_child",
]  # fmt: skip


def wall(cmd: list[str], env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    return time.perf_counter() - t, p


def make_set(n: int, into: Path) -> list[Path]:
    files = []
    for i in range(n):
        name = SMALL[i % len(SMALL)]
        dst = into / f"h{i:03d}_{name}.json"
        shutil.copyfile(ROOT / "histories" / f"{name}.json", dst)
        files.append(dst)
    return files


def per_step(deja: Path, rounds: int) -> dict:
    one = str(ROOT / "histories/invoice_timers.json")
    env = dict(os.environ, DEJA_STARTUP_TRACE="1")
    env.pop("VIRTUAL_ENV", None)
    parts: dict[str, list[float]] = {}
    whole = []
    for _ in range(rounds):
        t, p = wall([str(deja), "check", "-j1", "-vv", "-q", one, "-w", CODE], env)
        assert p.returncode == 0, p.stderr
        whole.append(t * 1e3)
        for line in (ln for ln in p.stderr.splitlines() if "deja-startup-ms:" in ln):
            for kv in line.split("deja-startup-ms:")[1].split():
                k, v = kv.split("=")
                parts.setdefault(k, []).append(float(v))
    py_bare = [wall([str(PY), "-c", "pass"])[0] * 1e3 for _ in range(rounds)]
    py_sdk = [wall([str(PY), "-c", "import temporalio.worker"])[0] * 1e3 for _ in range(rounds)]
    out = {k: statistics.median(v) for k, v in parts.items()}
    out["python_bare_process"] = statistics.median(py_bare)
    out["python_import_temporalio_process"] = statistics.median(py_sdk)
    out["deja_check_one_history_process"] = statistics.median(whole)
    return out


class Load:
    """One busy-looping process per core, for the "under load" rounds."""

    def __enter__(self) -> Load:
        n = os.cpu_count() or 1
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
        time.sleep(0.5)
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


def compare(deja: Path, folder: Path, n: int, rounds: int) -> dict:
    sdk_t, deja_t = [], []
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    for r in range(rounds):
        # Alternate the order so drifting load hits both sides alike.
        order = ("sdk", "deja") if r % 2 == 0 else ("deja", "sdk")
        for side in order:
            if side == "sdk":
                t, p = wall([str(PY), "scripts/sdk_replay.py", "--batch", "--workflows", CODE, str(folder)], env)
                summary = json.loads(p.stdout.splitlines()[-1])["summary"]
                assert summary["verdicts"] == {"pass": n}, p.stdout[-2000:]
                sdk_t.append(t)
            else:
                t, p = wall([str(deja), "check", str(folder), "-w", CODE, "-q", "-o", "json"], env)
                assert p.returncode == 0, p.stderr[-2000:]
                s = json.loads(p.stdout)["summary"]
                assert s["pass"] == n, s
                deja_t.append(t)
    return {"sdk_s": statistics.median(sdk_t), "deja_s": statistics.median(deja_t), "sdk_all": sdk_t, "deja_all": deja_t}


def named(deja: Path, rounds: int) -> dict:
    """tests/fixtures/multi_worker (3 named workers, 5 histories): one `deja check` (pools
    side by side) against the three `deja check --worker NAME` runs back to back (what the
    run costs with one worker's pool after another)."""
    cwd = ROOT / "tests/fixtures/multi_worker"
    env = dict(os.environ, VIRTUAL_ENV=str(ROOT / ".venv"))
    one, serial = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        p = subprocess.run([str(deja), "check", "-q"], cwd=cwd, env=env, capture_output=True, text=True)
        one.append(time.perf_counter() - t)
        assert p.returncode == 0, p.stderr
        t = time.perf_counter()
        for w in ("audit", "billing", "shipping"):
            p = subprocess.run([str(deja), "check", "-q", "--worker", w], cwd=cwd, env=env, capture_output=True, text=True)
            assert p.returncode == 0, p.stderr
        serial.append(time.perf_counter() - t)
    return {"one_run_s": statistics.median(one), "one_worker_after_another_s": statistics.median(serial)}


def run(deja: Path, rounds: int = 5, n: int = 50) -> dict:
    steps = per_step(deja, rounds)
    with tempfile.TemporaryDirectory(prefix="deja-startup-") as tmp:
        make_set(n, Path(tmp))
        idle = compare(deja, Path(tmp), n, rounds)
        with Load():
            loaded = compare(deja, Path(tmp), n, rounds)
    out = {"steps_ms": steps, "histories": n, "idle": idle, "load": loaded, "cores": os.cpu_count()}
    if (ROOT / "tests/fixtures/multi_worker/pyproject.toml").exists():
        try:
            out["named"] = named(deja, rounds)
        except AssertionError:  # a deja without named workers
            pass
    return out


def show(d: dict) -> None:
    s = d["steps_ms"]
    nan = float("nan")
    print(f"  worker start-up (ms, median): exec {s.get('exec', nan):.0f} · interpreter {s.get('interpreter', nan):.0f} "
          f"(python alone {s['python_bare_process']:.0f}, python + import temporalio.worker {s['python_import_temporalio_process']:.0f}) "
          f"· code {s.get('code', nan):.0f} · first replay {s.get('first_replay', nan):.0f}; whole `deja check` of 1 history {s['deja_check_one_history_process']:.0f}"
          + ("" if "interpreter" in s else " (this deja has no DEJA_STARTUP_TRACE)"))
    for label in ("idle", "load"):
        r = d[label]
        what = "idle" if label == "idle" else f"under load ({d['cores']} busy processes)"
        print(f"  {d['histories']} small histories, {what}: deja check {r['deja_s']:.2f} s · SDK replay_workflows {r['sdk_s']:.2f} s · SDK/deja {r['sdk_s'] / r['deja_s']:.2f}x")
    if "named" in d:
        m = d["named"]
        print(f"  3 named workers (tests/fixtures/multi_worker): one deja check {m['one_run_s']:.2f} s · one --worker run after another {m['one_worker_after_another_s']:.2f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deja", type=Path, default=Path(os.environ.get("DEJA_BIN") or ROOT / "target/release/deja"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--histories", type=int, default=50)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if not a.deja.exists():
        sys.exit(f"bench/startup.py: {a.deja} not found (make build, or --deja PATH)")
    d = run(a.deja.resolve(), a.rounds, a.histories)
    print(f"deja start-up · {d['cores']} cores · {a.deja}")
    show(d)
    if a.json:
        a.json.write_text(json.dumps(d, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
