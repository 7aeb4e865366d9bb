"""`generate.py causes`: record the cause fixtures in tests/fixtures/causes/.

Writes ONLY into tests/fixtures/causes/: the histories of the shop app in app_v1/
(recorded on a throw-away dev server), one changed copy of the app per cause under
variants/<name>/ (v1 with one edit, made from VARIANTS below), and manifest.json
(expected cause kind and line per variant, the SDK's own verdict for each).

The expected line is the line of the variant marked `# CAUSE` (the changed line a
person would fix); `# CAUSE-NO-BASELINE` marks where deja must point without
--baseline when that differs (a changed constant is only visible with a baseline).
"""
from __future__ import annotations

import asyncio
import importlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIX = REPO / "tests" / "fixtures" / "causes"
APP = FIX / "app_v1"
VARIANTS_DIR = FIX / "variants"
HIST = FIX / "histories"

# name -> (history, expected kind, [(file, old, new)], why)
VARIANTS: dict[str, tuple[str, str, list[tuple[str, str, str]], str]] = {
    "restricted_datetime_now": (
        "report", "restricted-call",
        [("shop_workflows.py", "from datetime import timedelta", "from datetime import datetime, timedelta"),
         ("shop_workflows.py", "stamp = workflow.now().isoformat()", "stamp = datetime.now().isoformat()  # CAUSE")],
        "datetime.now() instead of workflow.now(): the sandbox refuses it."),
    "restricted_random": (
        "report", "restricted-call",
        [("shop_workflows.py", "from datetime import timedelta", "import random\nfrom datetime import timedelta"),
         ("shop_workflows.py", "token = workflow.random().randint(1000, 9999)", "token = random.randint(1000, 9999)  # CAUSE")],
        "random.randint instead of workflow.random().randint."),
    "restricted_uuid4": (
        "report", "restricted-call",
        [("shop_workflows.py", "from datetime import timedelta", "import uuid\nfrom datetime import timedelta"),
         ("shop_workflows.py", "ident = str(workflow.uuid4())", "ident = str(uuid.uuid4())  # CAUSE")],
        "uuid.uuid4() instead of workflow.uuid4()."),
    "unsandboxed_clock": (
        "report", "restricted-call",
        [("shop_workflows.py", "@workflow.defn\nclass ReportWorkflow:", "@workflow.defn(sandboxed=False)\nclass ReportWorkflow:"),
         ("shop_workflows.py", "from datetime import timedelta", "from datetime import datetime, timedelta"),
         ("shop_workflows.py", "        await workflow.execute_activity(notify,",
          "        if datetime.now().year > 2000:  # CAUSE\n            await workflow.sleep(timedelta(seconds=1))\n        await workflow.execute_activity(notify,")],
        "An unsandboxed workflow branches on the wall clock: nothing refuses datetime.now(), the branch adds a timer."),
    "signal_renamed": (
        "cart", "missing-handler",
        [("shop_workflows.py", "    def checkout(self) -> None:", "    def check_out(self) -> None:  # CAUSE")],
        "The checkout signal handler was renamed check_out: history's checkout signal reaches no handler, the workflow waits."),
    "update_renamed": (
        "address", "missing-handler",
        [("shop_workflows.py", "    async def set_address(self, address: str) -> str:", "    async def change_address(self, address: str) -> str:  # CAUSE")],
        "The set_address update handler was renamed change_address."),
    "patch_renamed": (
        "refund", "patch-renamed",
        [("shop_workflows.py", 'if workflow.patched("refund-fraud-check"):', 'if workflow.patched("refund-fraud-check-v2"):  # CAUSE')],
        "The patch id changed: history has refund-fraud-check, the code asks for refund-fraud-check-v2."),
    "patch_removed": (
        "refund", "patch-removed",
        [("shop_workflows.py",
          '        if workflow.patched("refund-fraud-check"):\n            await workflow.execute_activity(fraud_check, ref, start_to_close_timeout=TIMEOUT)\n',
          '        await workflow.execute_activity(fraud_check, ref, start_to_close_timeout=TIMEOUT)  # CAUSE\n')],
        "The patched() call was removed (its branch kept) while histories with the marker are still running."),
    "constant_changed": (
        "billing", "command-changed",
        [("shop_workflows.py", "CYCLES_PER_RUN = 3", "CYCLES_PER_RUN = 2  # CAUSE"),
         ("shop_workflows.py", "        return charged\n", "        return charged  # CAUSE-NO-BASELINE\n")],
        "A constant read by the loop changed: the code completes where history charged a third time."),
    "activity_renamed": (
        "order", "command-changed",
        [("shop_activities.py", "async def charge(ref: str) -> str:", "async def charge_card(ref: str) -> str:"),
         ("shop_activities.py", "reserve_stock, charge, ship", "reserve_stock, charge_card, ship"),
         ("shop_workflows.py", "from shop_activities import charge, fraud_check", "from shop_activities import charge, charge_card, fraud_check"),
         ("shop_activities.py", "@activity.defn\nasync def ship", "charge = charge_card\n\n\n@activity.defn\nasync def ship"),
         ("shop_workflows.py", "        await workflow.execute_activity(charge, order_id, start_to_close_timeout=TIMEOUT)\n",
          "        await workflow.execute_activity(charge_card, order_id, start_to_close_timeout=TIMEOUT)  # CAUSE\n")],
        "The charge activity was renamed charge_card."),
    "step_inserted": (
        "order", "command-changed",
        [("shop_workflows.py",
          "        await workflow.execute_activity(charge, order_id, start_to_close_timeout=TIMEOUT)\n",
          "        await workflow.sleep(timedelta(minutes=5))  # CAUSE\n        await workflow.execute_activity(charge, order_id, start_to_close_timeout=TIMEOUT)\n")],
        "A cool-off timer inserted before charging."),
    "waiting_changed": (
        "cart", "waiting",
        [("shop_workflows.py", "await workflow.wait_condition(lambda: self.checked_out)",
          "await workflow.wait_condition(lambda: self.checked_out and len(self.items) >= 5)  # CAUSE")],
        "The wait condition now needs 5 items: the code never gets to charge."),
}


def make_variants() -> None:
    for name, (_, _, edits, _) in VARIANTS.items():
        out = VARIANTS_DIR / name
        out.mkdir(parents=True, exist_ok=True)
        for f in ("shop_workflows.py", "shop_activities.py"):
            text = (APP / f).read_text()
            for file, old, new in edits:
                if file == f:
                    if text.count(old) != 1:
                        raise SystemExit(f"variant {name}: {old!r} occurs {text.count(old)} times in {f}")
                    text = text.replace(old, new)
            (out / f).write_text(text)


def marked_line(path: Path, mark: str) -> int | None:
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.rstrip().endswith(f"# {mark}"):
            return i
    return None


async def record(gen) -> dict[str, str]:
    """Run one workflow per history on a dev server; write histories; name -> file."""
    sys.path.insert(0, str(APP))
    wfs = importlib.import_module("shop_workflows")
    acts = importlib.import_module("shop_activities")
    from temporalio.worker import Worker

    HIST.mkdir(parents=True, exist_ok=True)
    async with gen.dev_server("deja-causes-") as (_server, client):
        q = "deja-causes"
        async with Worker(client, task_queue=q, workflows=wfs.ALL_WORKFLOWS, activities=acts.ALL_ACTIVITIES, debug_mode=True):
            async def start(fn, arg, wid):
                return await client.start_workflow(fn, arg, id=wid, task_queue=q)

            runs = {}
            h = await start(wfs.OrderWorkflow.run, "order-1", "cause-order-1")
            await h.result()
            runs["order"] = h
            h = await start(wfs.CartWorkflow.run, "ann@example.com", "cause-cart-1")
            await h.signal(wfs.CartWorkflow.add_item, "SKU-1")
            await asyncio.sleep(0.3)
            await h.signal(wfs.CartWorkflow.add_item, "SKU-2")
            await asyncio.sleep(0.3)
            await h.signal(wfs.CartWorkflow.checkout)
            await h.result()
            runs["cart"] = h
            h = await start(wfs.AddressWorkflow.run, "order-2", "cause-address-1")
            await asyncio.sleep(0.3)
            await h.execute_update(wfs.AddressWorkflow.set_address, "12 baker street")
            await h.result()
            runs["address"] = h
            h = await start(wfs.RefundWorkflow.run, "RF-1", "cause-refund-1")
            await h.result()
            runs["refund"] = h
            h = await start(wfs.BillingWorkflow.run, "cust-1", "cause-billing-1")
            await h.result()
            runs["billing"] = h
            h = await start(wfs.ReportWorkflow.run, "weekly", "cause-report-1")
            await h.result()
            runs["report"] = h
            files = {}
            for name, h in runs.items():
                hist = await h.fetch_history()
                gen.check_clean(name, hist)
                p = HIST / f"{name}.json"
                p.write_text(hist.to_json() + "\n")
                files[name] = p
            return files


async def sdk_verdict(path: Path, code_dir: Path) -> str:
    """The SDK's own Replayer on (history, code): `pass` or the failure's first line."""
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer

    for m in ("shop_workflows", "shop_activities"):
        sys.modules.pop(m, None)
    sys.path.insert(0, str(code_dir))
    try:
        wfs = importlib.import_module("shop_workflows")
        data = json.loads(path.read_text())
        wid = data["events"][0]["workflowExecutionStartedEventAttributes"].get("workflowId", "x")
        res = await Replayer(workflows=wfs.ALL_WORKFLOWS).replay_workflow(
            WorkflowHistory.from_json(wid, data), raise_on_replay_failure=False)
        f = res.replay_failure
        return "pass" if f is None else f"{type(f).__name__}: {str(f)[:300]}"
    finally:
        sys.path.remove(str(code_dir))
        for m in ("shop_workflows", "shop_activities"):
            sys.modules.pop(m, None)


def main(gen, record_histories: bool = True) -> int:
    make_variants()
    if record_histories or not HIST.exists():
        asyncio.run(gen.cancel_on_sigterm(record(gen)))
    entries = []
    ok = True
    for hist in sorted(HIST.glob("*.json")):
        v = asyncio.run(sdk_verdict(hist, APP))
        if v != "pass":
            print(f"FAIL app_v1 on {hist.name}: {v}")
            ok = False
    for name, (history, kind, _, why) in VARIANTS.items():
        wf = VARIANTS_DIR / name / "shop_workflows.py"
        line = marked_line(wf, "CAUSE")
        if line is None:
            line = marked_line(VARIANTS_DIR / name / "shop_activities.py", "CAUSE")
        v = asyncio.run(sdk_verdict(HIST / f"{history}.json", VARIANTS_DIR / name))
        if v == "pass":
            print(f"FAIL variant {name} replays clean: it must fail")
            ok = False
        entries.append({
            "name": name,
            "history": f"tests/fixtures/causes/histories/{history}.json",
            "code": f"tests/fixtures/causes/variants/{name}/shop_workflows.py",
            "kind": kind,
            "line": line,
            "line_without_baseline": marked_line(wf, "CAUSE-NO-BASELINE") or line,
            "sdk": v,
            "why": why,
        })
        print(f"{name:26} {kind:18} line {line:>3}  {v[:90]}")
    (FIX / "manifest.json").write_text(json.dumps({"app": "tests/fixtures/causes/app_v1/shop_workflows.py", "variants": entries}, indent=2) + "\n")
    return 0 if ok else 1
