"""Cart use cases against the real PostgreSQL (and Redis for offers): merging, versions, limits
and their codes, two devices at once, coupons that do not apply, and a fully worked example."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.container import Container
from app.settings import Settings
from datasources.postgres import migrate
from datasources.postgres.engine import StatementCounter
from datasources.postgres.tables import CouponRedemptionRow
from domain.cart import CartView, LineAdd, LineUpdate
from domain.errors import DomainError, ErrorCode
from domain.offers import CouponReason, Offer
from infra.local.seed import PRODUCTS, product_id, seed_catalog
from resolvers import admin_catalog, carts
from resolvers.deps import Deps
from tests.support.cleanup import switch_off_test_offers


@pytest.fixture(autouse=True)
async def _only_seeded_offers_stay_live(container: Container) -> AsyncIterator[None]:
    yield
    await switch_off_test_offers(container)


@pytest.fixture
def deps(container: Container) -> Deps:
    return container.deps


@pytest.fixture
def customer() -> str:
    return f"customer-{uuid.uuid4()}"


def pid(sku: str) -> str:
    return str(product_id(sku))


def adds(*pairs: tuple[str, int]) -> list[LineAdd]:
    return [LineAdd(product_id=pid(sku), quantity=qty) for sku, qty in pairs]


def skus(view: CartView) -> list[tuple[str, int]]:
    return [(line.product.sku, line.line.quantity) for line in view.lines]


async def fails(change: Awaitable[object]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await change
    return caught.value


def unique_code(stem: str) -> str:
    return f"{stem}{uuid.uuid4().hex[:10]}".upper()


# -- reading, merging, versions -----------------------------------------------------------------


async def test_a_new_cart_is_empty_and_keeps_its_id(deps: Deps, customer: str) -> None:
    first = await carts.get_cart(deps, customer_id=customer)
    again = await carts.get_cart(deps, customer_id=customer)
    assert first.cart.id == again.cart.id
    assert (first.cart.version, first.lines, first.priced.total) == (0, (), 0)
    assert first.priced.coupon is None


async def test_same_product_merges_order_is_first_added_and_versions_bump(
    deps: Deps, customer: str
) -> None:
    view = await carts.add_lines(
        deps, customer_id=customer, lines=adds(("GRO-TEA-003", 2), ("BOK-NOV-001", 1))
    )
    assert (view.cart.version, skus(view)) == (1, [("GRO-TEA-003", 2), ("BOK-NOV-001", 1)])
    tea_line = view.lines[0].line.id
    view = await carts.add_lines(
        deps, customer_id=customer, lines=adds(("HOM-MUG-003", 1), ("GRO-TEA-003", 3))
    )
    assert view.cart.version == 2
    assert skus(view) == [("GRO-TEA-003", 5), ("BOK-NOV-001", 1), ("HOM-MUG-003", 1)]
    assert view.lines[0].line.id == tea_line
    view = await carts.update_lines(
        deps,
        customer_id=customer,
        lines=[LineUpdate(line_id=view.lines[1].line.id, quantity=0)],
    )
    assert (view.cart.version, skus(view)) == (3, [("GRO-TEA-003", 5), ("HOM-MUG-003", 1)])
    view = await carts.remove_lines(deps, customer_id=customer, line_ids=[tea_line])
    assert (view.cart.version, skus(view)) == (4, [("HOM-MUG-003", 1)])
    # re-adding a removed product starts a new line at the end
    view = await carts.add_lines(deps, customer_id=customer, lines=adds(("GRO-TEA-003", 1)))
    assert skus(view) == [("HOM-MUG-003", 1), ("GRO-TEA-003", 1)]
    assert view.lines[1].line.id != tea_line
    stored = await carts.get_cart(deps, customer_id=customer)
    assert (stored.cart, skus(stored)) == (view.cart, skus(view))


async def test_changes_that_change_nothing_keep_the_version(deps: Deps, customer: str) -> None:
    view = await carts.add_lines(deps, customer_id=customer, lines=adds(("GRO-TEA-003", 2)))
    line_id = view.lines[0].line.id
    view = await carts.remove_coupon(deps, customer_id=customer)
    view = await carts.update_lines(
        deps, customer_id=customer, lines=[LineUpdate(line_id=line_id, quantity=2)]
    )
    assert view.cart.version == 1
    view = await carts.apply_coupon(deps, customer_id=customer, code="welcome10")
    view = await carts.apply_coupon(deps, customer_id=customer, code=" WELCOME10 ")
    assert view.cart.version == 2
    view = await carts.remove_coupon(deps, customer_id=customer)
    assert (view.cart.version, view.cart.coupon_code, view.priced.coupon) == (3, None, None)


async def test_failed_changes_store_nothing(deps: Deps, customer: str) -> None:
    await carts.add_lines(deps, customer_id=customer, lines=adds(("GRO-TEA-003", 1)))
    # the first entry is fine, the second is not: neither is stored
    err = await fails(
        carts.add_lines(
            deps, customer_id=customer, lines=adds(("BOK-NOV-001", 1), ("ELE-CAM-007", 2))
        )
    )
    assert (err.code, err.field) == (ErrorCode.OUT_OF_STOCK, ["lines", "1", "quantity"])
    view = await carts.get_cart(deps, customer_id=customer)
    assert (view.cart.version, skus(view)) == (1, [("GRO-TEA-003", 1)])


# -- limits and error codes --------------------------------------------------------------------


async def test_limits_and_their_codes(deps: Deps, customer: str) -> None:
    async def add(*pairs: tuple[str, int]) -> CartView:
        return await carts.add_lines(deps, customer_id=customer, lines=adds(*pairs))

    err = await fails(add(("GRO-TEA-003", 101)))
    assert (err.code, err.field) == (ErrorCode.QUANTITY_LIMIT, ["lines", "0", "quantity"])
    err = await fails(add(("GRO-TEA-003", 0)))
    assert err.code is ErrorCode.QUANTITY_LIMIT
    await add(("GRO-TEA-003", 60))
    err = await fails(add(("GRO-TEA-003", 41)))  # merged: 101
    assert err.code is ErrorCode.QUANTITY_LIMIT
    err = await fails(
        carts.add_lines(
            deps, customer_id=customer, lines=[LineAdd(product_id=str(uuid.uuid4()), quantity=1)]
        )
    )
    assert (err.code, err.field) == (ErrorCode.PRODUCT_NOT_FOUND, ["lines", "0", "productId"])
    err = await fails(
        carts.add_lines(deps, customer_id=customer, lines=[LineAdd(product_id="x", quantity=1)])
    )
    assert err.code is ErrorCode.PRODUCT_NOT_FOUND
    hidden = await admin_catalog.product_upsert(
        deps,
        sku=f"HIDDEN-{uuid.uuid4().hex[:8]}",
        title="Switched off",
        category="test-hidden",
        price=100,
        gst_rate_bp=0,
        stock=10,
        active=False,
    )
    err = await fails(
        carts.add_lines(
            deps, customer_id=customer, lines=[LineAdd(product_id=hidden.id, quantity=1)]
        )
    )
    assert err.code is ErrorCode.PRODUCT_NOT_FOUND
    err = await fails(add(("ELE-CAM-007", 2)))  # one unit in stock
    assert (err.code, err.field) == (ErrorCode.OUT_OF_STOCK, ["lines", "0", "quantity"])
    err = await fails(
        carts.update_lines(
            deps, customer_id=customer, lines=[LineUpdate(line_id=str(uuid.uuid4()), quantity=1)]
        )
    )
    assert (err.code, err.field) == (ErrorCode.LINE_NOT_FOUND, ["lines", "0", "lineId"])
    err = await fails(carts.remove_lines(deps, customer_id=customer, line_ids=[str(uuid.uuid4())]))
    assert (err.code, err.field) == (ErrorCode.LINE_NOT_FOUND, ["lineIds", "0"])
    err = await fails(carts.apply_coupon(deps, customer_id=customer, code="   "))
    assert (err.code, err.field) == (ErrorCode.COUPON_INVALID, ["code"])
    view = await carts.get_cart(deps, customer_id=customer)
    assert (view.cart.version, skus(view)) == (1, [("GRO-TEA-003", 60)])


async def test_cart_total_limit(deps: Deps, customer: str) -> None:
    # 10 monitors: 10 × 28,99,900 = 2,89,99,000 + 28 % GST 81,19,720 = 3,71,18,720 paise
    view = await carts.add_lines(deps, customer_id=customer, lines=adds(("ELE-MON-004", 10)))
    assert view.priced.total == 37_118_720
    # 20 keyboards: 20 × 5,49,900 = 1,09,98,000 + 18 % 19,79,640 = 1,29,77,640 → 5,00,96,360 > 5 cr
    err = await fails(carts.add_lines(deps, customer_id=customer, lines=adds(("ELE-KBD-005", 20))))
    assert (err.code, err.field) == (ErrorCode.CART_TOTAL_LIMIT, ["lines"])
    # 19 keyboards: 1,04,48,100 + 18,80,658 = 1,23,28,758 → 4,94,47,478: fine
    view = await carts.add_lines(deps, customer_id=customer, lines=adds(("ELE-KBD-005", 19)))
    assert view.priced.total == 49_447_478
    # a line may always shrink
    keyboards = view.lines[1].line.id
    view = await carts.update_lines(
        deps, customer_id=customer, lines=[LineUpdate(line_id=keyboards, quantity=1)]
    )
    assert skus(view) == [("ELE-MON-004", 10), ("ELE-KBD-005", 1)]


async def test_line_limit(deps: Deps, customer: str) -> None:
    seeded = [p.sku for p in PRODUCTS if p.price <= 300_000]
    extra = 51 - len(seeded)
    created = [
        await admin_catalog.product_upsert(
            deps,
            sku=f"LINE-LIMIT-{uuid.uuid4().hex[:10]}",
            title="Line limit filler",
            category="test-line-limit",
            price=100,
            gst_rate_bp=0,
            stock=10,
        )
        for _ in range(extra)
    ]
    try:
        lines = [LineAdd(product_id=pid(sku), quantity=1) for sku in seeded]
        lines += [LineAdd(product_id=p.id, quantity=1) for p in created]
        view = await carts.add_lines(deps, customer_id=customer, lines=lines[:30])
        view = await carts.add_lines(deps, customer_id=customer, lines=lines[30:50])
        assert len(view.lines) == 50
        err = await fails(carts.add_lines(deps, customer_id=customer, lines=lines[50:]))
        assert (err.code, err.field) == (ErrorCode.LINE_LIMIT, ["lines"])
        view = await carts.add_lines(deps, customer_id=customer, lines=lines[:1])  # merges
        assert view.lines[0].line.quantity == 2
    finally:  # the catalog tests count active products: switch the fillers off again
        for p in created:
            await deps.products.upsert(replace(p, active=False))


# -- two devices at once -------------------------------------------------------------------------


async def test_parallel_adds_of_different_products_keep_every_line(
    deps: Deps, customer: str
) -> None:
    chosen = [p.sku for p in PRODUCTS[:20]]
    views = await asyncio.gather(
        *(carts.add_lines(deps, customer_id=customer, lines=adds((sku, 1))) for sku in chosen)
    )
    assert sorted(v.cart.version for v in views) == list(range(1, 21))
    final = await carts.get_cart(deps, customer_id=customer)
    assert final.cart.version == 20
    assert sorted(skus(final)) == sorted((sku, 1) for sku in chosen)
    # the order is the order in which the adds committed: each saw all earlier lines
    by_version = sorted(views, key=lambda v: v.cart.version)
    assert [skus(v)[-1][0] for v in by_version] == [sku for sku, _ in skus(final)]


async def test_parallel_adds_of_the_same_product_sum_exactly(deps: Deps, customer: str) -> None:
    await asyncio.gather(
        *(
            carts.add_lines(deps, customer_id=customer, lines=adds(("APP-TEE-001", qty)))
            for qty in [1, 2, 3, 4] * 5
        )
    )
    final = await carts.get_cart(deps, customer_id=customer)
    assert skus(final) == [("APP-TEE-001", 50)]
    assert final.cart.version == 20


async def test_parallel_first_use_creates_one_cart(deps: Deps, customer: str) -> None:
    views = await asyncio.gather(
        *(carts.get_cart(deps, customer_id=customer) for _ in range(5)),
        *(
            carts.add_lines(deps, customer_id=customer, lines=adds((sku, 1)))
            for sku in ("GRO-TEA-003", "BOK-NOV-001", "HOM-MUG-003")
        ),
    )
    assert len({v.cart.id for v in views}) == 1


async def test_parallel_changes_on_sqlite_lose_nothing(tmp_path: Path) -> None:
    container = Container(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/carts.db", redis_url=None)
    )
    try:
        await migrate.upgrade(container.engine)
        await seed_catalog(container.sessions)
        chosen = [p.sku for p in PRODUCTS[:20]]
        await asyncio.gather(
            *(
                carts.add_lines(container.deps, customer_id="sqlite-customer", lines=adds((s, 1)))
                for s in chosen
            )
        )
        final = await carts.get_cart(container.deps, customer_id="sqlite-customer")
        assert sorted(skus(final)) == sorted((s, 1) for s in chosen)
        assert final.cart.version == 20
    finally:
        await container.aclose()


# -- coupons -------------------------------------------------------------------------------------


async def test_coupon_below_minimum_reports_the_shortfall_and_discounts_nothing(
    deps: Deps, customer: str
) -> None:
    # FLAT150: ₹150 off orders of ₹999 (99,900 paise) or more
    view = await carts.add_lines(deps, customer_id=customer, lines=adds(("APP-TEE-001", 1)))
    view = await carts.apply_coupon(deps, customer_id=customer, code="flat150")
    coupon = view.priced.coupon
    assert coupon is not None
    assert (coupon.code, coupon.applicable, coupon.reason) == (
        "FLAT150",
        False,
        CouponReason.MIN_SUBTOTAL_NOT_MET,
    )
    assert (coupon.shortfall, coupon.discount, view.priced.discount) == (50_000, 0, 0)
    # 49,900 + 5 % GST 2,495 = 52,395, as if there were no coupon
    assert view.priced.total == 52_395
    assert view.cart.coupon_code == "FLAT150"  # it stays on the cart
    view = await carts.add_lines(deps, customer_id=customer, lines=adds(("APP-TEE-001", 1)))
    assert view.priced.coupon is not None and view.priced.coupon.shortfall == 100
    view = await carts.add_lines(deps, customer_id=customer, lines=adds(("APP-SCK-004", 1)))
    coupon = view.priced.coupon
    assert coupon is not None and coupon.applicable and coupon.discount == 15_000
    assert coupon.reason is None and coupon.shortfall is None


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("NO-SUCH-CODE", CouponReason.NOT_FOUND),
        ("monsoon25", CouponReason.EXPIRED),
        ("GADGET5", CouponReason.NO_ELIGIBLE_ITEMS),  # electronics only; the cart holds books
    ],
)
async def test_coupons_that_do_not_apply_stay_with_a_reason(
    deps: Deps, customer: str, code: str, reason: CouponReason
) -> None:
    await carts.add_lines(deps, customer_id=customer, lines=adds(("BOK-NOV-001", 2)))
    view = await carts.apply_coupon(deps, customer_id=customer, code=code)
    coupon = view.priced.coupon
    assert coupon is not None
    assert (coupon.applicable, coupon.reason, coupon.discount, coupon.shortfall) == (
        False,
        reason,
        0,
        None,
    )
    assert view.priced.total == view.priced.subtotal == 59_800  # books: 0 % GST
    assert (await carts.get_cart(deps, customer_id=customer)).priced.coupon == coupon


async def _redeem(
    container: Container, offer: Offer, *, customer_id: str, status: str, expires_in: int = 0
) -> None:
    now = datetime.now(UTC)
    async with container.sessions() as session, session.begin():
        session.add(
            CouponRedemptionRow(
                offer_id=uuid.UUID(offer.id),
                customer_id=customer_id,
                payment_session_id=uuid.uuid4(),
                status=status,
                expires_at=now + timedelta(seconds=expires_in) if status == "RESERVED" else None,
                created_at=now,
                updated_at=now,
            )
        )


async def test_usage_limits_count_paid_uses_and_live_reservations(
    deps: Deps, customer: str, container: Container
) -> None:
    overall = await admin_catalog.offer_upsert(
        deps, code=unique_code("ONCE"), kind="FLAT", flat=1_000, usage_limit=2
    )
    mine = await admin_catalog.offer_upsert(
        deps, code=unique_code("MINE"), kind="FLAT", flat=1_000, per_customer_limit=1
    )
    await carts.add_lines(deps, customer_id=customer, lines=adds(("BOK-NOV-001", 1)))

    async def reason(offer: Offer) -> CouponReason | None:
        view = await carts.apply_coupon(deps, customer_id=customer, code=offer.code)
        assert view.priced.coupon is not None
        return view.priced.coupon.reason

    # released reservations never count; a PAID use and a held reservation do, even past its
    # expiry time until the session is actually closed (it may still be paid)
    await _redeem(container, overall, customer_id="someone-else", status="RELEASED")
    await _redeem(container, overall, customer_id="someone-else", status="PAID")
    assert await reason(overall) is None
    await _redeem(container, overall, customer_id="a-third", status="RESERVED", expires_in=-1)
    assert await reason(overall) is CouponReason.USAGE_LIMIT_REACHED

    await _redeem(container, mine, customer_id="someone-else", status="PAID")
    assert await reason(mine) is None
    await _redeem(container, mine, customer_id=customer, status="RESERVED", expires_in=600)
    assert await reason(mine) is CouponReason.PER_USER_LIMIT_REACHED
    counts = await deps.coupon_usage.counts(
        offer_id=mine.id, customer_id=customer, now=datetime.now(UTC)
    )
    assert (counts.total_used, counts.customer_used) == (2, 1)


async def test_worked_example_mixed_gst_and_a_capped_category_coupon(
    deps: Deps, customer: str
) -> None:
    """25 % off electronics and beauty, capped at ₹1,500, on a cart with every GST rate.

    line  product             unit     qty  subtotal  GST   eligible
    0     Toor Dal            17,900   3     53,700    0 %  no  (grocery)
    1     Cotton T-Shirt      49,900   2     99,800    5 %  no  (apparel)
    2     Stoneware Mug       59,900   1     59,900   12 %  no  (home)
    3     Wireless Earbuds   299,900   1    299,900   18 %  yes (electronics)
    4     Neem Soap           24,900   3     74,700   18 %  yes (beauty)
    5     Eau de Parfum      349,900   1    349,900   28 %  yes (beauty)

    subtotal = 53,700 + 99,800 + 59,900 + 299,900 + 74,700 + 349,900 = 9,37,900
    E = 299,900 + 74,700 + 349,900 = 7,24,500
    D = floor(7,24,500 × 2500 / 10000) = 1,81,125 → capped at 1,50,000

    Split of 1,50,000 over E (floor, remainder = 1,50,000 × subtotal_i − floor × E):
      earbuds 1,50,000 × 299,900 / 7,24,500 = 62,091.097…  floor 62,091  rem  70,500
      soap    1,50,000 ×  74,700 / 7,24,500 = 15,465.838…  floor 15,465  rem 607,500
      parfum  1,50,000 × 349,900 / 7,24,500 = 72,443.064…  floor 72,443  rem  46,500
    floors sum to 1,49,999: the 1 paisa left goes to the largest remainder (soap) → 15,466.

    Tax = round_half_up((subtotal_i − discount_i) × rate):
      dal      53,700 × 0 %                       =      0
      shirt    99,800 × 5 %                       =  4,990
      mug      59,900 × 12 %                      =  7,188
      earbuds (299,900 − 62,091 = 2,37,809) × 18 % = 42,805.62 → 42,806
      soap    ( 74,700 − 15,466 =   59,234) × 18 % = 10,662.12 → 10,662
      parfum  (349,900 − 72,443 = 2,77,457) × 28 % = 77,687.96 → 77,688
    tax = 0 + 4,990 + 7,188 + 42,806 + 10,662 + 77,688 = 1,43,334
    total = 9,37,900 − 1,50,000 + 1,43,334 = 9,31,234
    """
    offer = await admin_catalog.offer_upsert(
        deps,
        code=unique_code("GLOW25"),
        kind="PERCENT",
        percent_bp=2500,
        max_discount=150_000,
        categories=["electronics", "beauty"],
    )
    await carts.add_lines(
        deps,
        customer_id=customer,
        lines=adds(
            ("GRO-DAL-002", 3),
            ("APP-TEE-001", 2),
            ("HOM-MUG-003", 1),
            ("ELE-EAR-001", 1),
            ("BEA-SOP-003", 3),
            ("BEA-PRF-002", 1),
        ),
    )
    view = await carts.apply_coupon(deps, customer_id=customer, code=offer.code.lower())
    assert [
        (
            line.product.gst_rate_bp,
            line.unit_price,
            line.priced.subtotal,
            line.priced.discount,
            line.priced.tax,
            line.priced.total,
        )
        for line in view.lines
    ] == [
        (0, 17_900, 53_700, 0, 0, 53_700),
        (500, 49_900, 99_800, 0, 4_990, 104_790),
        (1200, 59_900, 59_900, 0, 7_188, 67_088),
        (1800, 299_900, 299_900, 62_091, 42_806, 280_615),
        (1800, 24_900, 74_700, 15_466, 10_662, 69_896),
        (2800, 349_900, 349_900, 72_443, 77_688, 355_145),
    ]
    priced = view.priced
    assert (priced.subtotal, priced.discount, priced.tax, priced.total) == (
        937_900,
        150_000,
        143_334,
        931_234,
    )
    assert priced.coupon is not None
    assert (priced.coupon.code, priced.coupon.applicable, priced.coupon.discount) == (
        offer.code,
        True,
        150_000,
    )
    assert view.offer == offer


async def test_reading_a_cart_costs_a_fixed_number_of_statements(
    deps: Deps, customer: str, container: Container
) -> None:
    await carts.add_lines(
        deps, customer_id=customer, lines=adds(*((p.sku, 1) for p in PRODUCTS[:12]))
    )
    await carts.apply_coupon(deps, customer_id=customer, code="WELCOME10")
    await carts.get_cart(deps, customer_id=customer)  # the offer is now in Redis
    with StatementCounter(container.engine) as counter:
        view = await carts.get_cart(deps, customer_id=customer)
    assert len(view.lines) == 12
    # cart, its lines, their products; the offer comes from Redis and has no usage limits
    assert counter.count == 3, counter.statements
