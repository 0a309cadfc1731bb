"""The caller's cart: lines, coupon, and the server's own pricing (API.md, Pricing)."""

from __future__ import annotations

from collections.abc import Awaitable

import strawberry
from strawberry.types import Info

from domain.cart import CartView, LineAdd, LineUpdate
from domain.offers import CouponReason
from domain.pricing import CouponResult, PricedCart
from resolvers import carts
from schema.catalog import Product
from schema.context import Context
from schema.permissions import auth_field, auth_mutation, caller
from schema.types import Money, UserError, money, money_or_none, payload_of

strawberry.enum(CouponReason)


@strawberry.type
class CartCost:
    subtotal: Money
    discount: Money
    tax: Money
    total: Money

    @classmethod
    def from_domain(cls, priced: PricedCart) -> CartCost:
        return cls(
            subtotal=money(priced.subtotal),
            discount=money(priced.discount),
            tax=money(priced.tax),
            total=money(priced.total),
        )


@strawberry.type
class AppliedCoupon:
    code: str
    applicable: bool
    reason: CouponReason | None
    discount: Money
    shortfall: Money | None

    @classmethod
    def from_domain(cls, result: CouponResult) -> AppliedCoupon:
        return cls(
            code=result.code,
            applicable=result.applicable,
            reason=result.reason,
            discount=money(result.discount),
            shortfall=money_or_none(result.shortfall),
        )


@strawberry.type
class CartLine:
    id: strawberry.ID
    product: Product
    quantity: int
    unit_price: Money
    subtotal: Money
    discount: Money
    tax: Money
    total: Money


@strawberry.type
class Cart:
    id: strawberry.ID
    version: int = strawberry.field(description="Bumped by every change.")
    lines: list[CartLine] = strawberry.field(description="In the order first added.")
    coupon: AppliedCoupon | None
    cost: CartCost

    @classmethod
    def from_domain(cls, view: CartView) -> Cart:
        lines = [
            CartLine(
                id=strawberry.ID(v.line.id),
                product=Product.from_domain(v.product),
                quantity=v.line.quantity,
                unit_price=money(v.unit_price),
                subtotal=money(v.priced.subtotal),
                discount=money(v.priced.discount),
                tax=money(v.priced.tax),
                total=money(v.priced.total),
            )
            for v in view.lines
        ]
        coupon = view.priced.coupon
        return cls(
            id=strawberry.ID(view.cart.id),
            version=view.cart.version,
            lines=lines,
            coupon=AppliedCoupon.from_domain(coupon) if coupon else None,
            cost=CartCost.from_domain(view.priced),
        )


@strawberry.type
class CartPayload:
    cart: Cart | None = None
    errors: list[UserError]


@strawberry.input
class CartLineInput:
    product_id: strawberry.ID
    quantity: int


@strawberry.input
class CartLineUpdateInput:
    line_id: strawberry.ID
    quantity: int = strawberry.field(description="0 removes the line.")


def _customer(info: Info[Context, None]) -> str:
    return caller(info).subject


async def _payload(change: Awaitable[CartView]) -> CartPayload:
    return await payload_of(
        CartPayload, change, lambda view: CartPayload(cart=Cart.from_domain(view), errors=[])
    )


@strawberry.type
class CartQuery:
    @auth_field(description="The caller's active cart (empty if new).")
    async def cart(self, info: Info[Context, None]) -> Cart:
        return Cart.from_domain(
            await carts.get_cart(info.context.deps, customer_id=_customer(info))
        )


@strawberry.type
class CartMutation:
    @auth_mutation(description="Add products; the same product merges into one line.")
    async def cart_lines_add(
        self, info: Info[Context, None], lines: list[CartLineInput]
    ) -> CartPayload:
        adds = [LineAdd(product_id=str(x.product_id), quantity=x.quantity) for x in lines]
        return await _payload(
            carts.add_lines(info.context.deps, customer_id=_customer(info), lines=adds)
        )

    @auth_mutation(description="Set quantities; 0 removes the line.")
    async def cart_lines_update(
        self, info: Info[Context, None], lines: list[CartLineUpdateInput]
    ) -> CartPayload:
        updates = [LineUpdate(line_id=str(x.line_id), quantity=x.quantity) for x in lines]
        return await _payload(
            carts.update_lines(info.context.deps, customer_id=_customer(info), lines=updates)
        )

    @auth_mutation()
    async def cart_lines_remove(
        self, info: Info[Context, None], line_ids: list[strawberry.ID]
    ) -> CartPayload:
        return await _payload(
            carts.remove_lines(
                info.context.deps, customer_id=_customer(info), line_ids=[str(i) for i in line_ids]
            )
        )

    @auth_mutation(description="Apply a coupon; one that does not apply stays, with its reason.")
    async def cart_coupon_apply(self, info: Info[Context, None], code: str) -> CartPayload:
        return await _payload(
            carts.apply_coupon(info.context.deps, customer_id=_customer(info), code=code)
        )

    @auth_mutation()
    async def cart_coupon_remove(self, info: Info[Context, None]) -> CartPayload:
        return await _payload(carts.remove_coupon(info.context.deps, customer_id=_customer(info)))
