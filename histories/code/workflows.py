"""Sample Temporal workflows of a small online shop (the code the histories were recorded with).

Every workflow type here has a history of its own in `histories/` (see README.md
there). Import with the directory on `sys.path` (`sys.path.insert(0,
"histories/code")`; `import workflows`): the sandbox re-imports this module by name.

Each workflow type exercises one replay feature: sequential and parallel
activities, timers (fired and cancelled), signals, updates, child workflows,
patches, continue-as-new, local activities, activity retries, workflow failure,
an unsandboxed workflow, and a large (10,000+ event) history. Several have a
query handler that reports instance fields which change as the workflow runs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import (
        LineItem,
        Order,
        RefundRequest,
        Shipment,
        charge_flaky_card,
        charge_payment,
        charge_subscription,
        check_fraud_risk,
        check_payment_received,
        dispatch_shipment,
        fetch_dispute_evidence,
        fetch_legacy_stock,
        get_shipping_quote,
        hold_order_for_review,
        issue_refund,
        pack_shipment,
        price_cart,
        push_stock_levels,
        reindex_product,
        reserve_inventory,
        score_fraud_risk,
        send_confirmation,
        send_invoice,
        ship_order,
        validate_address,
        validate_refund,
    )

# Short timeouts keep a broken generator run from hanging for long.
ACTIVITY_TIMEOUT = timedelta(seconds=30)


# ---------------------------------------------------------------------------
# Sequential activities (+ a query over fields that change as it progresses)
# ---------------------------------------------------------------------------


@workflow.defn
class OrderFulfillmentWorkflow:
    """Reserve stock, take payment, ship, confirm: one activity after another."""

    def __init__(self) -> None:
        self.status = "received"
        self.reservation_id: str | None = None
        self.payment_id: str | None = None
        self.tracking_number: str | None = None

    @workflow.run
    async def run(self, order: Order) -> str:
        self.reservation_id = await workflow.execute_activity(
            reserve_inventory, order, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        self.status = "reserved"

        self.payment_id = await workflow.execute_activity(
            charge_payment, order, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        self.status = "paid"

        self.tracking_number = await workflow.execute_activity(
            ship_order, order, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        self.status = "shipped"

        await workflow.execute_activity(
            send_confirmation,
            args=[order.customer_email, f"Order {order.order_id} shipped: {self.tracking_number}"],
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        self.status = "completed"
        return self.tracking_number

    @workflow.query(name="status")
    def get_status(self) -> dict:
        return {
            "status": self.status,
            "reservation_id": self.reservation_id,
            "payment_id": self.payment_id,
            "tracking_number": self.tracking_number,
        }


# ---------------------------------------------------------------------------
# Activities in parallel (asyncio.gather)
# ---------------------------------------------------------------------------


@workflow.defn
class ShippingQuoteWorkflow:
    """Ask every carrier for a quote at once and pick the cheapest."""

    def __init__(self) -> None:
        self.quotes: dict[str, float] = {}

    @workflow.run
    async def run(self, carriers: list[str], weight_kg: float) -> str:
        prices = await asyncio.gather(
            *(
                workflow.execute_activity(
                    get_shipping_quote,
                    args=[carrier, weight_kg],
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                )
                for carrier in carriers
            )
        )
        self.quotes = dict(zip(carriers, prices))
        cheapest = min(self.quotes, key=self.quotes.__getitem__)
        return f"{cheapest}:{self.quotes[cheapest]:.2f}"

    @workflow.query(name="quotes")
    def get_quotes(self) -> dict[str, float]:
        return self.quotes


# ---------------------------------------------------------------------------
# Timers: workflow.sleep, asyncio.sleep, and a timer cancelled by losing a race
# ---------------------------------------------------------------------------


@dataclass
class InvoiceInput:
    invoice_id: str
    amount: float
    grace_seconds: float = 1.0


@workflow.defn
class InvoiceReminderWorkflow:
    """Wait a grace period, send the invoice, then wait for payment with a deadline."""

    def __init__(self) -> None:
        self.stage = "grace-period"

    @workflow.run
    async def run(self, invoice: InvoiceInput) -> str:
        # Both spellings start a durable timer (TimerStarted / TimerFired).
        await workflow.sleep(timedelta(seconds=invoice.grace_seconds))
        await asyncio.sleep(invoice.grace_seconds / 2)

        self.stage = "invoiced"
        await workflow.execute_activity(
            send_invoice,
            args=[invoice.invoice_id, invoice.amount],
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )

        # Race the payment check against a one-day deadline. The check wins,
        # so the deadline timer is cancelled (CancelTimer -> TimerCanceled).
        self.stage = "awaiting-payment"
        deadline = asyncio.ensure_future(workflow.sleep(timedelta(days=1)))
        payment = asyncio.ensure_future(
            workflow.execute_activity(
                check_payment_received,
                invoice.invoice_id,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
        )
        done, _ = await workflow.wait([deadline, payment], return_when=asyncio.FIRST_COMPLETED)
        if payment in done and payment.result():
            deadline.cancel()
            self.stage = "paid"
        else:
            payment.cancel()
            self.stage = "overdue"
        return self.stage

    @workflow.query(name="stage")
    def get_stage(self) -> str:
        return self.stage


# ---------------------------------------------------------------------------
# Signals: a shopping cart that is filled by signals until checkout
# ---------------------------------------------------------------------------


@workflow.defn
class ShoppingCartWorkflow:
    """Collects add/remove signals until a checkout signal, then prices the cart."""

    def __init__(self) -> None:
        self.items: dict[str, LineItem] = {}
        self.checked_out = False

    @workflow.run
    async def run(self, customer_email: str) -> float:
        await workflow.wait_condition(lambda: self.checked_out)
        total = await workflow.execute_activity(
            price_cart, list(self.items.values()), start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        await workflow.execute_activity(
            send_confirmation,
            args=[customer_email, f"Cart checked out: {total:.2f}"],
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        return total

    @workflow.signal
    def add_item(self, item: LineItem) -> None:
        if item.sku in self.items:
            self.items[item.sku].quantity += item.quantity
        else:
            self.items[item.sku] = item

    @workflow.signal
    def remove_item(self, sku: str) -> None:
        self.items.pop(sku, None)

    @workflow.signal
    def checkout(self) -> None:
        self.checked_out = True

    @workflow.query(name="cart")
    def get_cart(self) -> dict:
        return {
            "items": {sku: i.quantity for sku, i in self.items.items()},
            "checked_out": self.checked_out,
        }


# ---------------------------------------------------------------------------
# Updates: change a delivery address (validator rejects PO boxes)
# ---------------------------------------------------------------------------


@workflow.defn
class DeliveryAddressWorkflow:
    """Waits for a valid delivery address (set by an update), then dispatches."""

    def __init__(self) -> None:
        self.address: str | None = None
        self.history: list[str] = []

    @workflow.run
    async def run(self, order_id: str) -> str:
        await workflow.wait_condition(lambda: self.address is not None)
        tracking = await workflow.execute_activity(
            dispatch_shipment,
            args=[Shipment(vendor="shop", order_id=order_id, skus=[]), f"box-{order_id}"],
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        return f"{tracking} -> {self.address}"

    @workflow.update
    async def set_address(self, address: str) -> str:
        # Update handlers may run activities; the result is returned to the caller.
        normalised = await workflow.execute_activity(
            validate_address, address, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        self.history.append(normalised)
        self.address = normalised
        return normalised

    @set_address.validator
    def reject_po_boxes(self, address: str) -> None:
        # A rejected update leaves no event in the history.
        if not address.strip() or "po box" in address.lower():
            raise ValueError(f"Cannot deliver to {address!r}")

    @workflow.query(name="address")
    def get_address(self) -> dict:
        return {"address": self.address, "history": self.history}


# ---------------------------------------------------------------------------
# Child workflows: a marketplace order split across vendors
# ---------------------------------------------------------------------------


@workflow.defn
class VendorShipmentWorkflow:
    """Child workflow: one vendor packs and dispatches its part of the order."""

    @workflow.run
    async def run(self, shipment: Shipment) -> str:
        box_id = await workflow.execute_activity(
            pack_shipment, shipment, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        return await workflow.execute_activity(
            dispatch_shipment, args=[shipment, box_id], start_to_close_timeout=ACTIVITY_TIMEOUT
        )


@workflow.defn
class MarketplaceOrderWorkflow:
    """Parent workflow: one child workflow per vendor, run in parallel."""

    def __init__(self) -> None:
        self.tracking: dict[str, str] = {}

    @workflow.run
    async def run(self, order_id: str, skus_by_vendor: dict[str, list[str]]) -> dict[str, str]:
        parent_id = workflow.info().workflow_id
        results = await asyncio.gather(
            *(
                workflow.execute_child_workflow(
                    VendorShipmentWorkflow.run,
                    Shipment(vendor=vendor, order_id=order_id, skus=skus),
                    id=f"{parent_id}/vendor-{vendor}",
                )
                for vendor, skus in sorted(skus_by_vendor.items())
            )
        )
        self.tracking = dict(zip(sorted(skus_by_vendor), results))
        return self.tracking

    @workflow.query(name="tracking")
    def get_tracking(self) -> dict[str, str]:
        return self.tracking


# ---------------------------------------------------------------------------
# Patching: a fraud check added to refunds with workflow.patched
# ---------------------------------------------------------------------------


@workflow.defn
class RefundWorkflow:
    """Validate and issue a refund; newer code (the patch) adds a fraud check."""

    def __init__(self) -> None:
        self.fraud_score: float | None = None

    @workflow.run
    async def run(self, request: RefundRequest) -> str:
        valid = await workflow.execute_activity(
            validate_refund, request, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        if not valid:
            raise ApplicationError("Refund amount must be positive", non_retryable=True)

        # Recorded with this branch taken: the history holds the patch marker.
        if workflow.patched("refund-fraud-check"):
            self.fraud_score = await workflow.execute_activity(
                check_fraud_risk, request, start_to_close_timeout=ACTIVITY_TIMEOUT
            )
            if self.fraud_score > 0.9:
                raise ApplicationError("Refund flagged as fraud", non_retryable=True)

        return await workflow.execute_activity(
            issue_refund, request, start_to_close_timeout=ACTIVITY_TIMEOUT
        )


# ---------------------------------------------------------------------------
# Continue-as-new: one billing cycle per run
# ---------------------------------------------------------------------------


@dataclass
class BillingState:
    customer_id: str
    cycle: int = 1
    max_cycles: int = 3
    period_seconds: float = 0.5
    invoices: list[str] = field(default_factory=list)


@workflow.defn
class SubscriptionBillingWorkflow:
    """Charges a subscription once per period, continuing as new after every cycle."""

    def __init__(self) -> None:
        self.state: BillingState | None = None

    @workflow.run
    async def run(self, state: BillingState) -> list[str]:
        self.state = state
        invoice = await workflow.execute_activity(
            charge_subscription,
            args=[state.customer_id, state.cycle],
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        state.invoices.append(invoice)
        if state.cycle >= state.max_cycles:
            return state.invoices

        await workflow.sleep(timedelta(seconds=state.period_seconds))
        state.cycle += 1
        # Keeps each run's history short; the next run starts with the carried state.
        workflow.continue_as_new(state)

    @workflow.query(name="billing_state")
    def get_billing_state(self) -> BillingState | None:
        return self.state


# ---------------------------------------------------------------------------
# Local activities: in-process fraud scoring
# ---------------------------------------------------------------------------


@workflow.defn
class FraudScreeningWorkflow:
    """Scores an order with a local activity; risky orders are held for review."""

    def __init__(self) -> None:
        self.score: float | None = None
        self.decision = "pending"

    @workflow.run
    async def run(self, order: Order) -> str:
        # Local activities are recorded as MarkerRecorded events, not activity events.
        self.score = await workflow.execute_local_activity(
            score_fraud_risk, order, start_to_close_timeout=timedelta(seconds=5)
        )
        if self.score < 0.5:
            self.decision = "approved"
            return self.decision

        await workflow.execute_local_activity(
            hold_order_for_review,
            args=[order.order_id, self.score],
            start_to_close_timeout=timedelta(seconds=5),
        )
        self.decision = "held-for-review"
        return self.decision

    @workflow.query(name="decision")
    def get_decision(self) -> dict:
        return {"score": self.score, "decision": self.decision}


# ---------------------------------------------------------------------------
# Activity retries: the card processor fails twice before succeeding
# ---------------------------------------------------------------------------


@workflow.defn
class CardPaymentRetryWorkflow:
    """Charges a card through a flaky processor, relying on the retry policy."""

    @workflow.run
    async def run(self, order: Order) -> str:
        # Retries happen on the server: the history shows one ActivityTaskStarted
        # (attempt 3, with the last failure) rather than one event per attempt.
        return await workflow.execute_activity(
            charge_flaky_card,
            order,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100),
                backoff_coefficient=1.0,
                maximum_attempts=5,
            ),
        )


# ---------------------------------------------------------------------------
# A workflow that fails (ApplicationError)
# ---------------------------------------------------------------------------


@workflow.defn
class ChargebackDisputeWorkflow:
    """Contests a chargeback; with no proof of delivery the workflow fails."""

    @workflow.run
    async def run(self, dispute_id: str) -> str:
        evidence = await workflow.execute_activity(
            fetch_dispute_evidence, dispute_id, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        if "proof-of-delivery.pdf" not in evidence:
            # An ApplicationError fails the workflow execution (WorkflowExecutionFailed).
            raise ApplicationError(
                f"Dispute {dispute_id} lost: no proof of delivery",
                type="DisputeLost",
                non_retryable=True,
            )
        return "won"


# ---------------------------------------------------------------------------
# An unsandboxed workflow
# ---------------------------------------------------------------------------


@workflow.defn(sandboxed=False)
class LegacyInventorySyncWorkflow:
    """Copies stock levels from legacy warehouses; runs outside the sandbox."""

    def __init__(self) -> None:
        self.synced: dict[str, int] = {}

    @workflow.run
    async def run(self, warehouses: list[str]) -> int:
        for warehouse in warehouses:
            levels = await workflow.execute_activity(
                fetch_legacy_stock, warehouse, start_to_close_timeout=ACTIVITY_TIMEOUT
            )
            self.synced[warehouse] = await workflow.execute_activity(
                push_stock_levels, levels, start_to_close_timeout=ACTIVITY_TIMEOUT
            )
        return sum(self.synced.values())

    @workflow.query(name="synced")
    def get_synced(self) -> dict[str, int]:
        return self.synced


# ---------------------------------------------------------------------------
# A large history: reindex a whole catalog in parallel batches
# ---------------------------------------------------------------------------


@workflow.defn
class CatalogReindexWorkflow:
    """Reindexes products in batches of parallel activities (10,000+ events)."""

    def __init__(self) -> None:
        self.indexed = 0
        self.batches_done = 0

    @workflow.run
    async def run(self, product_count: int, batch_size: int) -> int:
        for start in range(0, product_count, batch_size):
            batch = range(start, min(start + batch_size, product_count))
            await asyncio.gather(
                *(
                    workflow.execute_activity(
                        reindex_product, pid, start_to_close_timeout=ACTIVITY_TIMEOUT
                    )
                    for pid in batch
                )
            )
            self.indexed += len(batch)
            self.batches_done += 1
        return self.indexed

    @workflow.query(name="progress")
    def get_progress(self) -> dict:
        return {"indexed": self.indexed, "batches_done": self.batches_done}


# Every workflow the worker registers (and the replayer replays).
ALL_WORKFLOWS = [
    OrderFulfillmentWorkflow,
    ShippingQuoteWorkflow,
    InvoiceReminderWorkflow,
    ShoppingCartWorkflow,
    DeliveryAddressWorkflow,
    VendorShipmentWorkflow,
    MarketplaceOrderWorkflow,
    RefundWorkflow,
    SubscriptionBillingWorkflow,
    FraudScreeningWorkflow,
    CardPaymentRetryWorkflow,
    ChargebackDisputeWorkflow,
    LegacyInventorySyncWorkflow,
    CatalogReindexWorkflow,
]
