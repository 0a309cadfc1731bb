"""Refunds (admin) and the sales dashboard (admin)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.errors import DomainError
from domain.identity import Role
from domain.payment_ports import SalesDay as SalesDayEntity
from resolvers import refunds, sales
from schema.context import Context
from schema.payments import PaymentSession, Refund
from schema.permissions import auth_field, auth_mutation, caller
from schema.types import Money, UserError, money, user_errors


@strawberry.type
class RefundPayload:
    refund: Refund | None
    payment_session: PaymentSession | None
    errors: list[UserError]


@strawberry.input
class RefundCreateInput:
    payment_session_id: strawberry.ID
    amount: int | None = strawberry.field(default=None, description="Paise; default: all left.")
    idempotency_key: str
    reason: str | None = None


@strawberry.type
class SalesDay:
    date: dt.date
    paid_count: int
    paid_amount: Money
    refunded_amount: Money
    failed_count: int


@strawberry.type
class SalesDashboard:
    days: list[SalesDay]
    totals: SalesDay


def _day(d: SalesDayEntity) -> SalesDay:
    return SalesDay(
        date=d.day,
        paid_count=d.paid_count,
        paid_amount=money(d.paid_amount),
        refunded_amount=money(d.refunded_amount),
        failed_count=d.failed_count,
    )


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
        return SalesDashboard(days=[_day(d) for d in board.days], totals=_day(board.totals))


@strawberry.type
class RefundMutation:
    @auth_mutation(requires=Role.ADMIN, description="Refund all or part of a paid session.")
    async def refund_create(
        self, info: Info[Context, None], input: RefundCreateInput
    ) -> RefundPayload:
        try:
            session, refund = await refunds.create_refund(
                info.context.deps,
                principal=caller(info),
                session_id=str(input.payment_session_id),
                amount=input.amount,
                idempotency_key=input.idempotency_key,
                reason=input.reason,
            )
        except DomainError as error:
            return RefundPayload(refund=None, payment_session=None, errors=user_errors(error))
        return RefundPayload(
            refund=Refund.of(refund),
            payment_session=PaymentSession.of(session, info),
            errors=[],
        )
