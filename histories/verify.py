#!/usr/bin/env python3
"""Check `histories/manifest.json` against the SDK's own Replayer.

    .venv/bin/python histories/verify.py [--manifest histories/manifest.json]

For every history in the manifest:
  * the SDK export and the CLI export must both replay clean against the code
    they were recorded with (`histories/code/`), and hold the same number of events;
  * against every variant code base named in "variants" (`histories/code_v2/`),
    the histories listed there must fail with a NondeterminismError naming the
    manifest's `first_divergent_event_id`, and every other history must pass.

Prints a table and exits non-zero on any mismatch.

Each code base is replayed in its own subprocess (`--replay`), because all of
them define a module named `workflows` and the sandbox imports it by name.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent  # histories/
REPO = HERE.parent

# Core's verdict arrives as a Rust debug dump; the useful part is `message: "..."`.
_MESSAGE_RE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_EVENT_ID_RE = re.compile(r"HistoryEvent\(id: (\d+)")

# A result key: (history name, "sdk" | "cli", code path as in the manifest).
Key = tuple[str, str, str]


# ---------------------------------------------------------------------------
# Subprocess side: replay a list of histories against one code directory
# ---------------------------------------------------------------------------


def core_message(error: BaseException) -> str:
    text = str(error)
    m = _MESSAGE_RE.search(text)
    return m.group(1).encode().decode("unicode_escape") if m else text


def divergent_event_id(history_json: dict, message: str) -> int | None:
    """The event id core names in a non-determinism message.

    Most messages name it (`HistoryEvent(id: N, ...)`). Two do not, and for
    them the event is looked up in the history:
      * activity type/id mismatch names the recorded activity type (or id): the
        first ActivityTaskScheduled event with that type (or id);
      * "Non-deprecated patch marker encountered for change X" names the patch:
        the MarkerRecorded event of patch X.
    """
    m = _EVENT_ID_RE.search(message)
    if m:
        return int(m.group(1))
    m = re.search(r"patch marker encountered for change (\S+?),", message)
    if m:
        for event in history_json["events"]:
            attrs = event.get("markerRecordedEventAttributes")
            if attrs and attrs.get("markerName") == "core_patch":
                payload = attrs["details"]["patch-data"]["payloads"][0]["data"]
                if json.loads(base64.b64decode(payload)).get("id") == m.group(1):
                    return int(event["eventId"])
    m = re.search(r"Activity (?:type|id) of scheduled event '([^']*)'", message)
    if m:
        recorded = m.group(1)
        for event in history_json["events"]:
            attrs = event.get("activityTaskScheduledEventAttributes")
            if attrs and recorded in (attrs["activityType"]["name"], attrs["activityId"]):
                return int(event["eventId"])
    return None


async def _replay(code_dir: str, jobs: list[dict]) -> list[dict]:
    sys.path.insert(0, code_dir)
    import workflows  # the module under test, imported by name as the sandbox requires
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer
    from temporalio.workflow import NondeterminismError, _Definition

    classes = [
        obj
        for obj in vars(workflows).values()
        if isinstance(obj, type)
        and obj.__module__ == workflows.__name__
        and _Definition.from_class(obj) is not None
    ]
    # The Replayer picks the sandboxed or the unsandboxed runner per workflow type.
    replayer = Replayer(workflows=classes)
    results = []
    for job in jobs:
        raw = json.loads(Path(job["file"]).read_text())
        history = WorkflowHistory.from_json(job["workflow_id"], raw)
        t0 = time.monotonic()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        seconds = time.monotonic() - t0
        failure = result.replay_failure
        out = {"events": len(history.events), "seconds": round(seconds, 3)}
        if failure is None:
            out.update(verdict="pass", message="", event_id=None)
        elif isinstance(failure, NondeterminismError):
            message = core_message(failure)
            out.update(
                verdict="nondeterminism",
                message=message,
                event_id=divergent_event_id(raw, message),
            )
        else:
            out.update(verdict="failure", message=core_message(failure), event_id=None)
        results.append(out)
    return results


# ---------------------------------------------------------------------------
# Driver side
# ---------------------------------------------------------------------------


def replay_code(code_path: str, jobs: list[dict]) -> list[dict]:
    """Replay `jobs` ({"file", "workflow_id"}) against code_path's directory, in a subprocess."""
    code_dir = str((REPO / code_path).parent)
    with tempfile.TemporaryDirectory(prefix="deja-verify-") as tmp:
        jobs_file, results_file = Path(tmp) / "jobs.json", Path(tmp) / "results.json"
        jobs_file.write_text(json.dumps(jobs))
        proc = subprocess.run(
            [sys.executable, __file__, "--replay", code_dir, str(jobs_file), str(results_file)],
            capture_output=True,  # core logs a WARN line per failed task: not our output
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"replay against {code_dir} crashed:\n{proc.stderr}")
        return json.loads(results_file.read_text())


def replay_all(manifest: dict) -> dict[Key, dict]:
    """Replay what the manifest promises; results keyed by (history, source, code)."""
    plans: dict[str, list[tuple[Key, dict]]] = {}
    variant_codes = sorted({v["code"] for v in manifest["variants"]})
    for h in manifest["histories"]:
        for source, file in (("sdk", h["file"]), ("cli", h["cli_file"])):
            job = {"file": str(REPO / file), "workflow_id": h["workflow_id"]}
            plans.setdefault(h["code"], []).append(((h["name"], source, h["code"]), job))
        for code in variant_codes:
            job = {"file": str(REPO / h["file"]), "workflow_id": h["workflow_id"]}
            plans.setdefault(code, []).append(((h["name"], "sdk", code), job))
    results: dict[Key, dict] = {}
    for code, plan in plans.items():
        for (key, _), result in zip(plan, replay_code(code, [job for _, job in plan])):
            results[key] = result
    return results


def expectations(manifest: dict) -> dict[Key, tuple[str, int | None]]:
    expected: dict[Key, tuple[str, int | None]] = {}
    variant_codes = sorted({v["code"] for v in manifest["variants"]})
    for h in manifest["histories"]:
        expected[(h["name"], "sdk", h["code"])] = ("pass", None)
        expected[(h["name"], "cli", h["code"])] = ("pass", None)
        for code in variant_codes:
            expected[(h["name"], "sdk", code)] = ("pass", None)
    for v in manifest["variants"]:
        expected[(v["history"], "sdk", v["code"])] = (v["expected"], v["first_divergent_event_id"])
    return expected


def _cell(verdict: str, event_id: int | None) -> str:
    short = {"pass": "pass", "nondeterminism": "nondet", "failure": "FAIL"}.get(verdict, verdict)
    return f"{short} @{event_id}" if event_id is not None else short


def report(manifest: dict, results: dict[Key, dict]) -> bool:
    """Print one row per history (one column per replay) and return whether all matched."""
    expected = expectations(manifest)
    codes = sorted({code for (_, _, code) in expected})
    columns = [(code, src) for code in codes for src in ("sdk", "cli")
               if any(k[1:] == (src, code) for k in expected)]  # fmt: skip
    headers = [f"{Path(code).parent.name}/ {src}" for code, src in columns]
    name_w = max(len(h["name"]) for h in manifest["histories"])
    print(f"\n{'history':<{name_w}}  {'events':>6}  " + "  ".join(f"{h:<16}" for h in headers))
    ok = True
    problems = []
    for h in manifest["histories"]:
        cells = []
        for code, src in columns:
            key = (h["name"], src, code)
            got = results.get(key)
            want = expected[key]
            if got is None:
                cells.append("missing!")
                ok = False
                continue
            match = (got["verdict"], got["event_id"] if want[0] != "pass" else None) == want
            if got["events"] != h["events"]:
                match = False
                problems.append(f"{h['name']} ({src}): {got['events']} events, manifest says {h['events']}")
            if not match:
                ok = False
                problems.append(f"{h['name']} vs {code} ({src}): expected {_cell(*want)}, got "
                                f"{_cell(got['verdict'], got['event_id'])}: {got['message']}")  # fmt: skip
            cells.append(_cell(got["verdict"], got["event_id"]) + ("" if match else " !"))
        print(f"{h['name']:<{name_w}}  {h['events']:>6}  " + "  ".join(f"{c:<16}" for c in cells))

    print("\nvariants:")
    for v in manifest["variants"]:
        got = results.get((v["history"], "sdk", v["code"]), {})
        print(f"  {v['history']} vs {v['code']}: {got.get('message', 'missing')}")
    for p in problems:
        print(f"MISMATCH {p}")
    print("\nall replays as expected" if ok else f"\n{len(problems)} mismatch(es)")
    return ok


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--replay":  # subprocess mode
        _, _, code_dir, jobs_file, results_file = sys.argv
        results = asyncio.run(_replay(code_dir, json.loads(Path(jobs_file).read_text())))
        Path(results_file).write_text(json.dumps(results))
        return 0

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=HERE / "manifest.json")
    args = parser.parse_args()
    manifest = json.loads(args.manifest.read_text())
    missing = [v["history"] for v in manifest["variants"] if v["first_divergent_event_id"] is None]
    ok = report(manifest, replay_all(manifest))
    if missing:
        print(f"variants without first_divergent_event_id: {missing}")
    return 0 if ok and not missing else 1


if __name__ == "__main__":
    sys.exit(main())
