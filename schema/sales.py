"""The sales dashboard (admin): daily counters from DynamoDB."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.identity import Role
from domain.payment_ports import SalesDay as SalesDayEntity
from resolvers import sales
from schema.context import Context
from schema.permissions import auth_field
from schema.types import Money, money


@strawberry.type
class SalesDay:
    date: dt.date
    paid_count: int
    paid_amount: Money
    refunded_amount: Money
    failed_count: int

    @classmethod
    def from_domain(cls, day: SalesDayEntity) -> SalesDay:
        return cls(
            date=day.day,
            paid_count=day.paid_count,
            paid_amount=money(day.paid_amount),
            refunded_amount=money(day.refunded_amount),
            failed_count=day.failed_count,
        )


@strawberry.type
class SalesDashboard:
    days: list[SalesDay]
    totals: SalesDay


@strawberry.type
class SalesQuery:
    @auth_field(requires=Role.ADMIN, description="Daily sales, from..to inclusive (IST days).")
    async def sales_dashboard(
        self,
        info: Info[Context, None],
        from_: Annotated[dt.date, strawberry.argument(name="from")],
        to: dt.date,
    ) -> SalesDashboard:
        board = await sales.dashboard(info.context.deps, from_day=from_, to_day=to)
        return SalesDashboard(
            days=[SalesDay.from_domain(d) for d in board.days],
            totals=SalesDay.from_domain(board.totals),
        )
