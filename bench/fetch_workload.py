"""Small workflows for bench/fetch_bench.py: two types, short activities, a 1 ms timer.

Kept in their own module so the workflow sandbox can re-import them (it doesn't like
workflows defined in `__main__`).
"""
from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def price(sku: str, qty: int) -> int:
    return (sum(map(ord, sku)) % 97 + 3) * qty


@activity.defn
async def reserve(sku: str, qty: int) -> str:
    return f"res-{sku}-{qty}"


@activity.defn
async def notify(who: str, text: str) -> str:
    return f"{who}: {text}"


_SHORT = timedelta(seconds=30)


@workflow.defn(name="FetchBenchOrder")
class FetchBenchOrder:
    """Three activities and a 1 ms timer."""

    @workflow.run
    async def run(self, sku: str, qty: int) -> dict:
        total = await workflow.execute_activity(price, args=[sku, qty], start_to_close_timeout=_SHORT)
        await workflow.sleep(0.001)
        res = await workflow.execute_activity(reserve, args=[sku, qty], start_to_close_timeout=_SHORT)
        msg = await workflow.execute_activity(
            notify, args=[f"customer-{qty}", f"{res} costs {total}"], start_to_close_timeout=_SHORT
        )
        return {"total": total, "reservation": res, "message": msg}


@workflow.defn(name="FetchBenchPing")
class FetchBenchPing:
    """Two activities (one per target, in parallel) and a 1 ms timer."""

    @workflow.run
    async def run(self, targets: list[str]) -> list[str]:
        await workflow.sleep(0.001)
        return list(
            await asyncio.gather(
                *(
                    workflow.execute_activity(notify, args=[t, "ping"], start_to_close_timeout=_SHORT)
                    for t in targets
                )
            )
        )


WORKFLOWS = [FetchBenchOrder, FetchBenchPing]
ACTIVITIES = [price, reserve, notify]
TYPES = ("FetchBenchOrder", "FetchBenchPing")
