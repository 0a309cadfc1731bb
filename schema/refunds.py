"""Refunds (admin): the Refund type and refundCreate."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from domain.identity import Role
from domain.payment_session import PaymentSession as SessionEntity
from domain.refunds import Refund as RefundEntity
from domain.refunds import RefundStatus
from resolvers import refunds
from schema.context import Context
from schema.payments import PaymentSession
from schema.permissions import auth_mutation, caller
from schema.types import Money, UserError, money, payload_of

strawberry.enum(RefundStatus)


@strawberry.type
class Refund:
    id: strawberry.ID
    amount: Money
    status: RefundStatus
    reason: str | None
    razorpay_refund_id: str | None
    created_at: datetime
    processed_at: datetime | None

    @classmethod
    def from_domain(cls, refund: RefundEntity) -> Refund:
        return cls(
            id=strawberry.ID(refund.id),
            amount=money(refund.amount),
            status=refund.status,
            reason=refund.reason,
            razorpay_refund_id=refund.razorpay_refund_id,
            created_at=refund.created_at,
            processed_at=refund.processed_at,
        )


@strawberry.type
class RefundPayload:
    refund: Refund | None = None
    payment_session: PaymentSession | None = None
    errors: list[UserError]


@strawberry.input
class RefundCreateInput:
    payment_session_id: strawberry.ID
    amount: int | None = strawberry.field(default=None, description="Paise; default: all left.")
    idempotency_key: str
    reason: str | None = None


def _refunded(done: tuple[SessionEntity, RefundEntity], info: Info[Context, None]) -> RefundPayload:
    session, refund = done
    return RefundPayload(
        refund=Refund.from_domain(refund),
        payment_session=PaymentSession.from_domain(session, info),
        errors=[],
    )


@strawberry.type
class RefundMutation:
    @auth_mutation(requires=Role.ADMIN, description="Refund all or part of a paid session.")
    async def refund_create(
        self, info: Info[Context, None], input: RefundCreateInput
    ) -> RefundPayload:
        return await payload_of(
            RefundPayload,
            refunds.create_refund(
                info.context.deps,
                principal=caller(info),
                session_id=str(input.payment_session_id),
                amount=input.amount,
                idempotency_key=input.idempotency_key,
                reason=input.reason,
            ),
            lambda done: _refunded(done, info),
        )
