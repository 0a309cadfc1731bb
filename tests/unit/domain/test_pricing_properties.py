"""Property tests of cart pricing and the split, against an independent exact-fraction oracle."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.offers import Offer, OfferKind
from domain.pricing import (
    MAX_LINE_QUANTITY,
    PricedCart,
    PricingLine,
    UsageCounts,
    price_cart,
    split_proportionally,
)

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
PRODUCTS = ("p0", "p1", "p2", "p3", "p4")
CATEGORIES = ("books", "toys", "food")
FAST = settings(max_examples=200, deadline=None)


@st.composite
def cart_lines(draw: st.DrawFn) -> list[PricingLine]:
    count = draw(st.integers(min_value=0, max_value=12))
    return [
        PricingLine(
            line_id=f"l{index}",
            product_id=draw(st.sampled_from(PRODUCTS)),
            category=draw(st.sampled_from(CATEGORIES)),
            unit_price=draw(st.one_of(st.integers(0, 200), st.integers(0, 2_000_000))),
            quantity=draw(st.integers(1, MAX_LINE_QUANTITY)),
            gst_rate_bp=draw(
                st.one_of(st.sampled_from([0, 500, 1200, 1800, 2800]), st.integers(0, 10_000))
            ),
        )
        for index in range(count)
    ]


def _maybe(strategy: st.SearchStrategy[int]) -> st.SearchStrategy[int | None]:
    return st.one_of(st.none(), strategy)


@st.composite
def offers(draw: st.DrawFn) -> Offer:
    kind = draw(st.sampled_from(OfferKind))
    start_h = draw(_maybe(st.integers(-3, 3)))
    length_h = draw(st.integers(1, 4))
    end_h = draw(_maybe(st.integers(-3, 3)))
    if start_h is not None and end_h is not None and end_h <= start_h:
        end_h = start_h + length_h
    return Offer.validated(
        id="o1",
        code=draw(st.sampled_from(["SAVE", "save", " Save "])),
        kind=kind,
        percent_bp=draw(st.integers(0, 10_000)) if kind is OfferKind.PERCENT else None,
        flat=draw(st.integers(0, 5_000_000)) if kind is OfferKind.FLAT else None,
        max_discount=draw(_maybe(st.integers(0, 500_000))) if kind is OfferKind.PERCENT else None,
        min_subtotal=draw(_maybe(st.one_of(st.integers(0, 50_000), st.integers(0, 50_000_000)))),
        starts_at=None if start_h is None else NOW + timedelta(hours=start_h),
        ends_at=None if end_h is None else NOW + timedelta(hours=end_h),
        product_ids=draw(st.lists(st.sampled_from(PRODUCTS), max_size=2)),
        categories=draw(st.lists(st.sampled_from(CATEGORIES), max_size=2)),
        usage_limit=draw(_maybe(st.integers(1, 8))),
        per_customer_limit=draw(_maybe(st.integers(1, 4))),
        active=draw(st.sampled_from([True, True, True, False])),
    )


usages = st.builds(UsageCounts, total_used=st.integers(0, 6), customer_used=st.integers(0, 4))


def eligible_flags(offer: Offer, lines: list[PricingLine]) -> list[bool]:
    scoped = bool(offer.product_ids or offer.categories)
    return [
        not scoped or line.product_id in offer.product_ids or line.category in offer.categories
        for line in lines
    ]


def half_up(value: Fraction) -> int:
    """Oracle rounding for non-negative values, independent of domain.money."""
    assert value >= 0
    return math.floor(value + Fraction(1, 2))


def oracle_split(amount: int, weights: list[int]) -> list[int]:
    total = sum(weights)
    exact = [Fraction(amount * w, total) for w in weights]
    shares = [math.floor(x) for x in exact]
    leftover = amount - sum(shares)
    ranked = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in ranked[:leftover]:
        shares[i] += 1
    return shares


def oracle_applicable(offer: Offer, usage: UsageCounts, e: int) -> bool:
    return (
        offer.active
        and (offer.starts_at is None or offer.starts_at <= NOW)
        and (offer.ends_at is None or offer.ends_at > NOW)
        and e > 0
        and (offer.min_subtotal is None or e >= offer.min_subtotal)
        and (offer.usage_limit is None or usage.total_used < offer.usage_limit)
        and (offer.per_customer_limit is None or usage.customer_used < offer.per_customer_limit)
    )


def assert_consistent(cart: PricedCart) -> None:
    for line in cart.lines:
        assert min(line.subtotal, line.discount, line.tax, line.total) >= 0
        assert line.discount <= line.subtotal
        assert line.total == line.subtotal - line.discount + line.tax
    assert cart.subtotal == sum(line.subtotal for line in cart.lines)
    assert cart.discount == sum(line.discount for line in cart.lines)
    assert cart.tax == sum(line.tax for line in cart.lines)
    assert cart.total == sum(line.total for line in cart.lines)
    assert cart.total == cart.subtotal - cart.discount + cart.tax
    assert min(cart.subtotal, cart.discount, cart.tax, cart.total) >= 0


@FAST
@given(lines=cart_lines())
def test_without_coupon_nothing_is_discounted(lines: list[PricingLine]) -> None:
    cart = price_cart(lines=lines, offer=None, coupon_code=None, now=NOW, usage=None)
    assert_consistent(cart)
    assert cart.discount == 0 and cart.coupon is None
    for line, priced in zip(lines, cart.lines, strict=True):
        assert priced.tax == half_up(Fraction(line.subtotal * line.gst_rate_bp, 10_000))


@FAST
@given(lines=cart_lines(), offer=offers(), usage=usages)
def test_cart_figures_add_up_and_match_the_oracle(
    lines: list[PricingLine], offer: Offer, usage: UsageCounts
) -> None:
    cart = price_cart(lines=lines, offer=offer, coupon_code="save", now=NOW, usage=usage)
    assert_consistent(cart)
    assert cart.coupon is not None
    assert cart.coupon.discount == cart.discount

    eligible = eligible_flags(offer, lines)
    e = sum(line.subtotal for line, ok in zip(lines, eligible, strict=True) if ok)
    applicable = oracle_applicable(offer, usage, e)
    assert cart.coupon.applicable is applicable
    assert (cart.coupon.reason is None) is applicable

    if applicable:
        if offer.kind is OfferKind.PERCENT:
            assert offer.percent_bp is not None
            d = math.floor(Fraction(e * offer.percent_bp, 10_000))
            if offer.max_discount is not None:
                d = min(d, offer.max_discount)
        else:
            assert offer.flat is not None
            d = min(offer.flat, e)
        weights = [line.subtotal if ok else 0 for line, ok in zip(lines, eligible, strict=True)]
        expected_discounts = oracle_split(d, weights)
    else:
        expected_discounts = [0] * len(lines)
    assert [p.discount for p in cart.lines] == expected_discounts
    for line, priced, discount in zip(lines, cart.lines, expected_discounts, strict=True):
        assert priced.tax == half_up(
            Fraction((line.subtotal - discount) * line.gst_rate_bp, 10_000)
        )


@FAST
@given(lines=cart_lines(), offer=offers(), usage=usages)
def test_discount_bounds(lines: list[PricingLine], offer: Offer, usage: UsageCounts) -> None:
    cart = price_cart(lines=lines, offer=offer, coupon_code="SAVE", now=NOW, usage=usage)
    eligible = eligible_flags(offer, lines)
    e = sum(line.subtotal for line, ok in zip(lines, eligible, strict=True) if ok)
    assert cart.discount <= e
    if offer.max_discount is not None:
        assert cart.discount <= offer.max_discount
    if offer.flat is not None:
        assert cart.discount <= offer.flat
    for ok, priced in zip(eligible, cart.lines, strict=True):
        if not ok:
            assert priced.discount == 0
        elif cart.discount and e:
            exact = Fraction(cart.discount * priced.subtotal, e)
            assert abs(priced.discount - exact) < 1
    assert cart.coupon is not None
    if cart.coupon.shortfall is not None:
        assert offer.min_subtotal is not None
        assert cart.coupon.shortfall == offer.min_subtotal - e > 0


@FAST
@given(
    amount=st.integers(0, 10_000_000),
    weights=st.lists(st.integers(0, 5_000_000), min_size=1, max_size=30).filter(any),
)
def test_split_sums_exactly_and_stays_within_a_paisa(amount: int, weights: list[int]) -> None:
    shares = split_proportionally(amount=amount, weights=weights)
    assert sum(shares) == amount
    total = sum(weights)
    for share, weight in zip(shares, weights, strict=True):
        assert share >= 0
        assert abs(share - Fraction(amount * weight, total)) < 1
        if weight == 0:
            assert share == 0
    assert shares == oracle_split(amount, weights)


@FAST
@given(amount=st.integers(0, 1_000), weight=st.integers(1, 1_000), count=st.integers(1, 20))
def test_equal_weights_give_extra_paise_to_the_earliest(
    amount: int, weight: int, count: int
) -> None:
    shares = split_proportionally(amount=amount, weights=[weight] * count)
    assert shares == sorted(shares, reverse=True)
    assert max(shares) - min(shares) <= 1


# --- worked examples of the largest-remainder split ---------------------------------------


@pytest.mark.parametrize(
    ("amount", "weights", "expected"),
    [
        (10, [1, 1, 1], [4, 3, 3]),  # 3.33 each; tie → first
        (5, [3, 3, 4], [2, 1, 2]),  # 1.5, 1.5, 2: remainders .5 .5 0 → first .5 wins
        (7, [1, 2, 3, 4], [1, 1, 2, 3]),  # .7 1.4 2.1 2.8: leftover 2 → .8 (idx 3), .7 (idx 0)
        (3, [0, 5, 0, 5], [0, 2, 0, 1]),  # zero weights never get a paisa
        (0, [0, 0], [0, 0]),
        (0, [], []),
        (100, [1], [100]),
    ],
)
def test_split_proportionally_examples(
    amount: int, weights: list[int], expected: list[int]
) -> None:
    assert split_proportionally(amount=amount, weights=weights) == expected


ZERO_WEIGHT = "cannot split a positive amount over zero total weight"


@pytest.mark.parametrize(
    ("amount", "weights", "reason"),
    [
        (-1, [1], "amount must not be negative"),
        (1, [0, 0], ZERO_WEIGHT),
        (1, [], ZERO_WEIGHT),
        (1, [2, -1], "weights must not be negative"),
    ],
)
def test_split_proportionally_rejects(amount: int, weights: list[int], reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        split_proportionally(amount=amount, weights=weights)
    assert str(caught.value) == reason
