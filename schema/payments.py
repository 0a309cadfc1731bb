"""Payment sessions: create, verify, cancel, and read them (owner or admin)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from domain.payment_session import PaymentSession as SessionEntity
from domain.payments import PaymentStatus
from resolvers import checkout, payments
from schema.carts import CartCost
from schema.context import Context
from schema.permissions import auth_field, auth_mutation, caller
from schema.types import Money, PageInfo, UserError, money, page_info, payload_of

if TYPE_CHECKING:  # schema.refunds imports this module (a refund's payload has its session)
    from schema.refunds import Refund

strawberry.enum(PaymentStatus)


@strawberry.type(description="What the storefront passes to Razorpay Checkout.")
class CheckoutOptions:
    key_id: str
    order_id: str
    amount: int = strawberry.field(description="Paise, exactly the order's amount.")
    currency: str
    name: str
    description: str
    callback_url: str
    entity: strawberry.Private[SessionEntity]

    @strawberry.field(description="The customer's e-mail: for the session's owner or an admin.")
    async def prefill_email(self, info: Info[Context, None]) -> str | None:
        return (await info.context.loaders.prefill_by_session.load(self.entity)).email

    @strawberry.field(description="The customer's phone: for the session's owner or an admin.")
    async def prefill_contact(self, info: Info[Context, None]) -> str | None:
        return (await info.context.loaders.prefill_by_session.load(self.entity)).contact


@strawberry.type
class PaymentSessionLine:
    product_id: strawberry.ID
    sku: str
    title: str
    quantity: int
    unit_price: Money
    subtotal: Money
    discount: Money
    tax: Money
    total: Money


@strawberry.type(description="One entry of the session's timeline (DynamoDB).")
class PaymentEvent:
    at: datetime
    type: str
    source: str
    detail: str | None


@strawberry.type
class PaymentSession:
    id: strawberry.ID
    status: PaymentStatus
    amount: Money
    cost: CartCost
    lines: list[PaymentSessionLine]
    coupon_code: str | None
    razorpay_order_id: str
    razorpay_payment_id: str | None
    checkout: CheckoutOptions
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    refunded_amount: Money
    entity: strawberry.Private[SessionEntity]

    @classmethod
    def from_domain(cls, session: SessionEntity, info: Info[Context, None]) -> PaymentSession:
        options = payments.checkout_options(info.context.deps, session)
        return cls(
            id=strawberry.ID(session.id),
            status=session.status,
            amount=money(session.amount),
            cost=CartCost(
                subtotal=money(session.subtotal),
                discount=money(session.discount),
                tax=money(session.tax),
                total=money(session.amount),
            ),
            lines=[
                PaymentSessionLine(
                    product_id=strawberry.ID(line.product_id),
                    sku=line.sku,
                    title=line.title,
                    quantity=line.quantity,
                    unit_price=money(line.unit_price),
                    subtotal=money(line.subtotal),
                    discount=money(line.discount),
                    tax=money(line.tax),
                    total=money(line.total),
                )
                for line in session.lines
            ],
            coupon_code=session.coupon_code,
            razorpay_order_id=session.razorpay_order_id or "",
            razorpay_payment_id=session.razorpay_payment_id,
            checkout=CheckoutOptions(
                key_id=options.key_id,
                order_id=options.order_id,
                amount=options.amount,
                currency=options.currency,
                name=options.name,
                description=options.description,
                callback_url=options.callback_url,
                entity=session,
            ),
            created_at=session.created_at,
            expires_at=session.expires_at,
            paid_at=session.paid_at,
            refunded_amount=money(session.refunded_amount),
            entity=session,
        )

    @strawberry.field(description="Refunds asked for, in the order they were made.")
    async def refunds(
        self, info: Info[Context, None]
    ) -> list[Annotated[Refund, strawberry.lazy("schema.refunds")]]:
        from schema.refunds import Refund  # here: schema.refunds imports this module

        found = await info.context.loaders.refunds_by_session.load(self.entity.id)
        return [Refund.from_domain(r) for r in found]

    @strawberry.field(description="Every state change, callback, verification and webhook.")
    async def timeline(self, info: Info[Context, None]) -> list[PaymentEvent]:
        entries = await info.context.loaders.timeline_by_session.load(self.entity.id)
        return [
            PaymentEvent(at=e.at, type=e.type, source=e.source, detail=e.detail) for e in entries
        ]


@strawberry.type
class PaymentSessionEdge:
    cursor: str
    node: PaymentSession


@strawberry.type
class PaymentSessionConnection:
    edges: list[PaymentSessionEdge]
    page_info: PageInfo


@strawberry.type
class PaymentSessionPayload:
    payment_session: PaymentSession | None = None
    errors: list[UserError]


@strawberry.input
class PaymentSessionCreateInput:
    idempotency_key: str
    expected_cart_version: int | None = None
    expected_amount: int | None = strawberry.field(
        default=None, description="The total (paise) the customer was shown; refused if it moved."
    )


@strawberry.input
class PaymentSessionVerifyInput:
    payment_session_id: strawberry.ID
    razorpay_order_id: str
    razorpay_payment_id: str
    razorpay_signature: str


def _payload(session: SessionEntity, info: Info[Context, None]) -> PaymentSessionPayload:
    return PaymentSessionPayload(
        payment_session=PaymentSession.from_domain(session, info), errors=[]
    )


@strawberry.type
class PaymentQuery:
    @auth_field(description="A session of the caller (admins may read any); null if none.")
    async def payment_session(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> PaymentSession | None:
        found = await payments.get_session(
            info.context.deps, principal=caller(info), session_id=str(id)
        )
        return PaymentSession.from_domain(found, info) if found is not None else None

    @auth_field(description="The caller's sessions, newest first (every customer's for admins).")
    async def payment_sessions(
        self,
        info: Info[Context, None],
        first: int | None = 20,
        after: str | None = None,
        status: PaymentStatus | None = None,
    ) -> PaymentSessionConnection:
        page = await payments.list_sessions(
            info.context.deps,
            principal=caller(info),
            first=20 if first is None else first,
            after=after,
            status=status,
        )
        edges = [
            PaymentSessionEdge(cursor=c, node=PaymentSession.from_domain(s, info))
            for s, c in zip(page.sessions, page.cursors, strict=True)
        ]
        return PaymentSessionConnection(
            edges=edges,
            page_info=page_info(
                edges, has_next_page=page.has_next_page, has_previous_page=after is not None
            ),
        )


@strawberry.type
class PaymentMutation:
    @auth_mutation(description="Price the cart, reserve stock and coupon, create the order.")
    async def payment_session_create(
        self, info: Info[Context, None], input: PaymentSessionCreateInput
    ) -> PaymentSessionPayload:
        return await payload_of(
            PaymentSessionPayload,
            checkout.create_session(
                info.context.deps,
                principal=caller(info),
                idempotency_key=input.idempotency_key,
                expected_cart_version=input.expected_cart_version,
                expected_amount=input.expected_amount,
            ),
            lambda session: _payload(session, info),
        )

    @auth_mutation(description="Check Checkout's signature, confirm with Razorpay, move on.")
    async def payment_session_verify(
        self, info: Info[Context, None], input: PaymentSessionVerifyInput
    ) -> PaymentSessionPayload:
        return await payload_of(
            PaymentSessionPayload,
            payments.verify(
                info.context.deps,
                principal=caller(info),
                session_id=str(input.payment_session_id),
                order_id=input.razorpay_order_id,
                payment_id=input.razorpay_payment_id,
                signature=input.razorpay_signature,
            ),
            lambda session: _payload(session, info),
        )

    @auth_mutation()
    async def payment_session_cancel(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> PaymentSessionPayload:
        return await payload_of(
            PaymentSessionPayload,
            payments.cancel(info.context.deps, principal=caller(info), session_id=str(id)),
            lambda session: _payload(session, info),
        )
