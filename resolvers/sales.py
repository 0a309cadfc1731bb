"""The merchant's sales dashboard: daily counters (Asia/Kolkata days) from DynamoDB."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from domain.errors import InvalidInput
from domain.payment_ports import SalesDay
from resolvers.deps import Deps

MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class Dashboard:
    days: list[SalesDay]
    totals: SalesDay


async def dashboard(deps: Deps, *, from_day: date, to_day: date) -> Dashboard:
    if to_day < from_day:
        raise InvalidInput("to must not be before from", field=["to"])
    if (to_day - from_day).days + 1 > MAX_DAYS:
        raise InvalidInput(f"at most {MAX_DAYS} days at a time", field=["to"])
    days = await deps.sales.read(from_day=from_day, to_day=to_day)
    totals = SalesDay(
        day=to_day,
        paid_count=sum(d.paid_count for d in days),
        paid_amount=sum(d.paid_amount for d in days),
        refund_count=sum(d.refund_count for d in days),
        refunded_amount=sum(d.refunded_amount for d in days),
        failed_count=sum(d.failed_count for d in days),
    )
    return Dashboard(days=days, totals=totals)
