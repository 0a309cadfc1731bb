"""Cart use cases on in-memory fakes: the orchestration (lock → rule → limits → save → price)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from domain.cart import LineAdd, LineUpdate
from domain.catalog import Product
from domain.errors import DomainError, ErrorCode
from domain.offers import CouponReason, Offer, OfferKind
from resolvers import carts
from tests.support.fakes import FakeCouponUsage, FixedClock, fake_deps

TEA = Product(
    id=str(uuid.uuid4()),
    sku="TEA",
    title="Tea",
    description="",
    category="grocery",
    price=28_900,
    gst_rate_bp=500,
    stock=10,
    stock_on_hand=10,
)
NOW = FixedClock().at
LIMITED = Offer.validated(
    id=str(uuid.uuid4()),
    code="ONCE",
    kind=OfferKind.FLAT,
    flat=1_000,
    per_customer_limit=1,
    ends_at=NOW + timedelta(hours=1),
)


async def test_add_update_remove_and_versions() -> None:
    deps = fake_deps(products=[TEA])
    view = await carts.add_lines(
        deps, customer_id="c", lines=[LineAdd(product_id=TEA.id, quantity=2)]
    )
    assert (view.cart.version, view.priced.total) == (1, 57_800 + 2_890)
    line_id = view.lines[0].line.id
    view = await carts.update_lines(
        deps, customer_id="c", lines=[LineUpdate(line_id=line_id, quantity=2)]
    )
    assert view.cart.version == 1  # nothing changed, nothing stored
    view = await carts.remove_lines(deps, customer_id="c", line_ids=[line_id])
    assert (view.cart.version, view.lines) == (2, ())


async def test_other_customers_lines_are_not_found() -> None:
    deps = fake_deps(products=[TEA])
    theirs = await carts.add_lines(
        deps, customer_id="them", lines=[LineAdd(product_id=TEA.id, quantity=1)]
    )
    with pytest.raises(DomainError) as caught:
        await carts.remove_lines(deps, customer_id="me", line_ids=[theirs.lines[0].line.id])
    assert caught.value.code is ErrorCode.LINE_NOT_FOUND


async def test_concurrent_adds_are_serialised_by_the_lock() -> None:
    deps = fake_deps(products=[TEA])
    await asyncio.gather(
        *(
            carts.add_lines(deps, customer_id="c", lines=[LineAdd(product_id=TEA.id, quantity=1)])
            for _ in range(10)
        )
    )
    view = await carts.get_cart(deps, customer_id="c")
    assert (view.cart.version, view.lines[0].line.quantity) == (10, 10)


async def test_usage_limits_and_the_clock_decide_applicability() -> None:
    deps = fake_deps(products=[TEA], offers=[LIMITED])
    await carts.add_lines(deps, customer_id="c", lines=[LineAdd(product_id=TEA.id, quantity=1)])
    view = await carts.apply_coupon(deps, customer_id="c", code="once")
    assert view.priced.coupon is not None and view.priced.coupon.discount == 1_000
    assert isinstance(deps.coupon_usage, FakeCouponUsage)
    deps.coupon_usage.uses.append((LIMITED.id, "c"))
    view = await carts.get_cart(deps, customer_id="c")
    assert view.priced.coupon is not None
    assert view.priced.coupon.reason is CouponReason.PER_USER_LIMIT_REACHED
    deps.coupon_usage.uses.clear()
    assert isinstance(deps.clock, FixedClock)
    deps.clock.at = NOW + timedelta(hours=1)
    view = await carts.get_cart(deps, customer_id="c")
    assert view.priced.coupon is not None
    assert view.priced.coupon.reason is CouponReason.EXPIRED


async def test_blank_customer_id_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        await carts.get_cart(fake_deps(), customer_id="")
