"""Activities and shared data types for the sample workflows: the "next deploy" (v2).

Identical to histories/code/activities.py except for the new authorize_payment
activity, which v2's OrderFulfillmentWorkflow uses instead of charge_payment.

Everything here is deliberately fast and side-effect free: the activities only
compute a plausible answer from their input, so that the generator can run all
scenarios (and a 10,000-event history) against a local dev server in seconds.

`workflows.py` imports this module through
`workflow.unsafe.imports_passed_through()`, so the dataclasses below are shared
between the sandboxed workflow code and the (unsandboxed) worker.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.exceptions import ApplicationError

# ---------------------------------------------------------------------------
# Shared data types
# ---------------------------------------------------------------------------


@dataclass
class LineItem:
    sku: str
    quantity: int
    unit_price: float


@dataclass
class Order:
    order_id: str
    customer_email: str
    items: list[LineItem] = field(default_factory=list)

    @property
    def total(self) -> float:
        return round(sum(i.quantity * i.unit_price for i in self.items), 2)


@dataclass
class Shipment:
    vendor: str
    order_id: str
    skus: list[str]


@dataclass
class RefundRequest:
    refund_id: str
    order_id: str
    amount: float


def _token(*parts: object) -> str:
    """A short, stable pseudo-id derived from the inputs."""
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:10]


# ---------------------------------------------------------------------------
# Order fulfilment
# ---------------------------------------------------------------------------


@activity.defn
async def reserve_inventory(order: Order) -> str:
    activity.logger.info("Reserving %d line items", len(order.items))
    return f"rsv-{_token(order.order_id, 'reserve')}"


@activity.defn
async def charge_payment(order: Order) -> str:
    return f"pay-{_token(order.order_id, order.total)}"


@activity.defn
async def authorize_payment(order: Order) -> str:
    """v2: authorise now, capture on shipment (replaces charge_payment)."""
    return f"auth-{_token(order.order_id, order.total)}"


@activity.defn
async def ship_order(order: Order) -> str:
    return f"1Z{_token(order.order_id, 'ship').upper()}"


@activity.defn
async def send_confirmation(email: str, message: str) -> None:
    activity.logger.info("Mail to %s: %s", email, message)


# ---------------------------------------------------------------------------
# Shipping quotes, carts, invoices
# ---------------------------------------------------------------------------


@activity.defn
async def get_shipping_quote(carrier: str, weight_kg: float) -> float:
    base = {"ups": 7.5, "fedex": 8.25, "dhl": 6.9, "usps": 5.4}.get(carrier, 9.0)
    return round(base + 1.1 * weight_kg, 2)


@activity.defn
async def price_cart(items: list[LineItem]) -> float:
    return round(sum(i.quantity * i.unit_price for i in items), 2)


@activity.defn
async def send_invoice(invoice_id: str, amount: float) -> str:
    return f"mail-{_token(invoice_id, amount)}"


@activity.defn
async def check_payment_received(invoice_id: str) -> bool:
    return True


# ---------------------------------------------------------------------------
# Shipping address updates, marketplace vendors
# ---------------------------------------------------------------------------


@activity.defn
async def validate_address(address: str) -> str:
    return address.strip().title()


@activity.defn
async def pack_shipment(shipment: Shipment) -> str:
    return f"box-{_token(shipment.vendor, *shipment.skus)}"


@activity.defn
async def dispatch_shipment(shipment: Shipment, box_id: str) -> str:
    return f"{shipment.vendor.upper()}-{_token(box_id)}"


# ---------------------------------------------------------------------------
# Refunds, fraud, subscriptions, disputes
# ---------------------------------------------------------------------------


@activity.defn
async def validate_refund(request: RefundRequest) -> bool:
    return request.amount > 0


@activity.defn
async def check_fraud_risk(request: RefundRequest) -> float:
    return 0.12 if request.amount < 500 else 0.64


@activity.defn
async def issue_refund(request: RefundRequest) -> str:
    return f"re-{_token(request.refund_id, request.amount)}"


@activity.defn
async def score_fraud_risk(order: Order) -> float:
    """Run as a *local* activity: cheap, in-process scoring."""
    return round(min(0.99, order.total / 10_000), 3)


@activity.defn
async def hold_order_for_review(order_id: str, score: float) -> str:
    return f"review-{_token(order_id, score)}"


@activity.defn
async def charge_subscription(customer_id: str, cycle: int) -> str:
    return f"inv-{customer_id}-{cycle:03d}"


@activity.defn
async def charge_flaky_card(order: Order) -> str:
    """Fails the first two attempts (card processor hiccup), then succeeds."""
    attempt = activity.info().attempt
    if attempt < 3:
        raise ApplicationError(
            f"Card processor timed out (attempt {attempt})", type="ProcessorTimeout"
        )
    return f"pay-{_token(order.order_id, attempt)}"


@activity.defn
async def fetch_dispute_evidence(dispute_id: str) -> list[str]:
    # No proof of delivery on file: the dispute workflow will fail.
    return ["invoice.pdf"]


# ---------------------------------------------------------------------------
# Legacy inventory sync (unsandboxed workflow) and the large catalog reindex
# ---------------------------------------------------------------------------


@activity.defn
async def fetch_legacy_stock(warehouse: str) -> dict[str, int]:
    return {f"{warehouse}-sku-{n}": (n * 7) % 23 for n in range(3)}


@activity.defn
async def push_stock_levels(levels: dict[str, int]) -> int:
    return len(levels)


@activity.defn
async def reindex_product(product_id: int) -> int:
    """Returns a fake document version for the product."""
    return product_id % 97


# Every activity the worker registers.
ALL_ACTIVITIES = [
    reserve_inventory,
    charge_payment,
    authorize_payment,
    ship_order,
    send_confirmation,
    get_shipping_quote,
    price_cart,
    send_invoice,
    check_payment_received,
    validate_address,
    pack_shipment,
    dispatch_shipment,
    validate_refund,
    check_fraud_risk,
    issue_refund,
    score_fraud_risk,
    hold_order_for_review,
    charge_subscription,
    charge_flaky_card,
    fetch_dispute_evidence,
    fetch_legacy_stock,
    push_stock_levels,
    reindex_product,
]
