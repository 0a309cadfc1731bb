"""Worked examples of API.md "Pricing", with the arithmetic spelled out, plus offer rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.errors import ErrorCode, InvalidInput
from domain.offers import CouponReason, Offer, OfferKind, normalise_code
from domain.pricing import (
    MAX_CART_TOTAL,
    CouponResult,
    PricedCart,
    PricedLine,
    PricingLine,
    UsageCounts,
    check_cart_limits,
    check_quantity,
    price_cart,
)

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
NO_USE = UsageCounts(total_used=0, customer_used=0)


def line(
    line_id: str, *, unit: int, qty: int = 1, gst: int = 1800, category: str = "misc"
) -> PricingLine:
    return PricingLine(
        line_id=line_id,
        product_id=f"p-{line_id}",
        category=category,
        unit_price=unit,
        quantity=qty,
        gst_rate_bp=gst,
    )


def offer(**overrides: Any) -> Offer:
    fields: dict[str, Any] = {"id": "o1", "code": "SAVE", "kind": OfferKind.PERCENT}
    fields.update(overrides)
    if fields["kind"] is OfferKind.PERCENT:
        fields.setdefault("percent_bp", 1000)
    return Offer.validated(**fields)


def priced(
    lines: list[PricingLine],
    coupon: Offer | None = None,
    *,
    code: str | None = "SAVE",
    now: datetime = NOW,
    usage: UsageCounts | None = NO_USE,
) -> PricedCart:
    return price_cart(lines=lines, offer=coupon, coupon_code=code, now=now, usage=usage)


def figures(priced: PricedLine) -> tuple[int, int, int, int]:
    return priced.subtotal, priced.discount, priced.tax, priced.total


# --- worked examples -----------------------------------------------------------------------


def test_category_scoped_percent_with_cap_over_every_gst_rate() -> None:
    lines = [
        line("book", unit=49_900, qty=2, gst=0, category="books"),  # 99_800
        line("rice", unit=12_345, qty=3, gst=500, category="grocery"),  # 37_035
        line("shirt", unit=79_999, gst=1200, category="apparel"),  # 79_999
        line("phones", unit=149_900, gst=1800, category="electronics"),  # 149_900
        line("tv", unit=3_299_900, gst=2800, category="electronics"),  # 3_299_900
    ]
    # 10 % on apparel + electronics, capped at ₹3,000.
    coupon = offer(categories=["electronics", "apparel"], max_discount=300_000)
    cart = price_cart(lines=lines, offer=coupon, coupon_code="save", now=NOW, usage=NO_USE)

    # E = 79_999 + 149_900 + 3_299_900 = 3_529_799
    # floor(3_529_799 × 1000 / 10000) = floor(352_979.9) = 352_979 > cap, so D = 300_000.
    # Split of 300_000 over W = 3_529_799:
    #   shirt  300_000 × 79_999    / W =   6_799.169…  → 6_799   (remainder .169)
    #   phones 300_000 × 149_900   / W =  12_740.102…  → 12_740  (remainder .102)
    #   tv     300_000 × 3_299_900 / W = 280_460.728…  → 280_460 (remainder .728)
    #   floors sum to 299_999; the 1 leftover paisa goes to tv (largest remainder).
    # Tax, half up:
    #   book   99_800                × 0 %             = 0
    #   rice   37_035                × 5 %  = 1_851.75 → 1_852
    #   shirt  (79_999 − 6_799)      × 12 % = 8_784.00 → 8_784
    #   phones (149_900 − 12_740)    × 18 % = 24_688.8 → 24_689
    #   tv     (3_299_900 − 280_461) × 28 % = 845_442.92 → 845_443
    assert [figures(p) for p in cart.lines] == [
        (99_800, 0, 0, 99_800),
        (37_035, 0, 1_852, 38_887),
        (79_999, 6_799, 8_784, 81_984),
        (149_900, 12_740, 24_689, 161_849),
        (3_299_900, 280_461, 845_443, 3_864_882),
    ]
    # subtotal 3_666_634; tax 880_768; total = 3_666_634 − 300_000 + 880_768
    assert (cart.subtotal, cart.discount, cart.tax, cart.total) == (
        3_666_634,
        300_000,
        880_768,
        4_247_402,
    )
    assert cart.coupon == CouponResult(
        code="SAVE", applicable=True, reason=None, discount=300_000, shortfall=None
    )


def test_flat_coupon_larger_than_eligible_subtotal_takes_only_e() -> None:
    lines = [line("a", unit=10_000, qty=3, gst=1800), line("b", unit=5_000, gst=500)]
    coupon = offer(kind=OfferKind.FLAT, flat=50_000, product_ids=["p-a"])
    cart = price_cart(lines=lines, offer=coupon, coupon_code="SAVE", now=NOW, usage=NO_USE)
    # E = 30_000 (line a only); D = min(50_000, 30_000) = 30_000: line a is free, tax 0.
    # Line b: 5_000 × 5 % = 250 tax.
    assert [figures(p) for p in cart.lines] == [(30_000, 30_000, 0, 0), (5_000, 0, 250, 5_250)]
    assert (cart.subtotal, cart.discount, cart.tax, cart.total) == (35_000, 30_000, 250, 5_250)
    assert cart.coupon is not None and cart.coupon.discount == 30_000


def test_min_subtotal_not_met_reports_shortfall_and_discounts_nothing() -> None:
    lines = [line("a", unit=25_000, qty=3, gst=1200, category="toys"), line("b", unit=90_000)]
    coupon = offer(categories=["toys"], min_subtotal=100_000)
    cart = price_cart(lines=lines, offer=coupon, coupon_code="SAVE", now=NOW, usage=NO_USE)
    # E = 75_000 (toys only; line b does not count) < 100_000 → shortfall 25_000.
    assert cart.coupon == CouponResult(
        code="SAVE",
        applicable=False,
        reason=CouponReason.MIN_SUBTOTAL_NOT_MET,
        discount=0,
        shortfall=25_000,
    )
    # Tax on undiscounted lines: 75_000 × 12 % = 9_000; 90_000 × 18 % = 16_200.
    assert [figures(p) for p in cart.lines] == [
        (75_000, 0, 9_000, 84_000),
        (90_000, 0, 16_200, 106_200),
    ]
    assert cart.total == 165_000 + 25_200


def test_percent_discount_is_floored() -> None:
    cart = priced([line("a", unit=999, gst=0)], offer(percent_bp=1000))
    # 999 × 1000 / 10000 = 99.9 → D = 99 (floor, never rounded up)
    assert figures(cart.lines[0]) == (999, 99, 0, 900)


def test_equal_lines_tie_goes_to_the_earlier_line() -> None:
    lines = [line(x, unit=1_000, gst=0) for x in "abc"]
    coupon = offer(kind=OfferKind.FLAT, flat=100)
    cart = price_cart(lines=lines, offer=coupon, coupon_code="SAVE", now=NOW, usage=NO_USE)
    # 100 × 1_000 / 3_000 = 33.33 each: floors 33+33+33 = 99, equal remainders → first gets 1.
    assert [p.discount for p in cart.lines] == [34, 33, 33]


@pytest.mark.parametrize(
    ("unit", "gst", "tax"),
    [
        (10, 500, 1),  # 0.5 → 1 (exactly half rounds up)
        (30, 500, 2),  # 1.5 → 2
        (110, 500, 6),  # 5.5 → 6
        (1, 2800, 0),  # 0.28 → 0
        (2, 2800, 1),  # 0.56 → 1
        (50, 1800, 9),  # 9.0 → 9
        (49_900, 0, 0),
    ],
)
def test_tax_rounds_half_up(unit: int, gst: int, tax: int) -> None:
    cart = priced([line("a", unit=unit, gst=gst)], code=None, usage=None)
    assert cart.lines[0].tax == tax
    assert cart.coupon is None


def test_tax_is_on_the_discounted_amount_half_up() -> None:
    coupon = offer(kind=OfferKind.FLAT, flat=975)
    cart = priced([line("a", unit=1_000, gst=1800)], coupon)
    # (1_000 − 975) × 18 % = 4.5 → 5; total 25 + 5 = 30
    assert figures(cart.lines[0]) == (1_000, 975, 5, 30)


# --- applicability and reasons ---------------------------------------------------------------

START = NOW - timedelta(days=1)
END = NOW + timedelta(days=1)
TINY = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (START, None),  # now == startsAt is live
        (START - TINY, CouponReason.NOT_STARTED),
        (END - TINY, None),
        (END, CouponReason.EXPIRED),  # now == endsAt is expired
    ],
)
def test_window_is_half_open(now: datetime, reason: CouponReason | None) -> None:
    coupon = offer(starts_at=START, ends_at=END)
    cart = priced([line("a", unit=1_000)], coupon, now=now)
    assert cart.coupon is not None
    assert cart.coupon.reason == reason
    assert cart.coupon.applicable is (reason is None)
    assert cart.discount == (100 if reason is None else 0)
    assert offer(starts_at=START, ends_at=END).is_live(now=now) is (reason is None)


def price_with(coupon: Offer | None, *, usage: UsageCounts = NO_USE, **kw: Any) -> CouponResult:
    lines = kw.pop("lines", [line("a", unit=1_000, category="toys")])
    coupon_result = priced(lines, coupon, usage=usage).coupon
    assert coupon_result is not None
    return coupon_result


def used(total: int, mine: int) -> UsageCounts:
    return UsageCounts(total_used=total, customer_used=mine)


LIMITED = {"usage_limit": 10, "per_customer_limit": 2}
R = CouponReason


@pytest.mark.parametrize(
    ("coupon", "usage", "reason"),
    [
        (None, NO_USE, R.NOT_FOUND),
        (offer(active=False), NO_USE, R.NOT_FOUND),
        (offer(**LIMITED), used(10, 0), R.USAGE_LIMIT_REACHED),
        (offer(**LIMITED), used(9, 2), R.PER_USER_LIMIT_REACHED),
        (offer(**LIMITED), used(9, 1), None),
        (offer(categories=["books"]), NO_USE, R.NO_ELIGIBLE_ITEMS),
        (offer(min_subtotal=1_000), NO_USE, None),  # E == minSubtotal is enough
        # precedence: offer state > usage > cart contents
        (offer(active=False, ends_at=NOW), NO_USE, R.NOT_FOUND),
        (offer(ends_at=NOW, categories=["books"]), NO_USE, R.EXPIRED),
        (offer(ends_at=NOW, **LIMITED), used(10, 2), R.EXPIRED),
        (offer(min_subtotal=5_000, **LIMITED), used(10, 2), R.USAGE_LIMIT_REACHED),
        (offer(min_subtotal=5_000, **LIMITED), used(0, 2), R.PER_USER_LIMIT_REACHED),
        (offer(categories=["books"], min_subtotal=5_000), NO_USE, R.NO_ELIGIBLE_ITEMS),
    ],
)
def test_reasons_and_precedence(
    coupon: Offer | None, usage: UsageCounts, reason: CouponReason | None
) -> None:
    result = price_with(coupon, usage=usage)
    assert result.reason == reason
    assert result.applicable is (reason is None)
    assert result.shortfall is None
    if reason is not None:
        assert result.discount == 0


def test_zero_priced_eligible_lines_are_no_eligible_items() -> None:
    result = price_with(offer(), lines=[line("a", unit=0)])
    assert result.reason == CouponReason.NO_ELIGIBLE_ITEMS


def test_empty_cart_with_a_coupon() -> None:
    cart = priced([], offer())
    assert (cart.subtotal, cart.discount, cart.tax, cart.total) == (0, 0, 0, 0)
    assert cart.coupon is not None and cart.coupon.reason == CouponReason.NO_ELIGIBLE_ITEMS


def test_code_lookup_is_case_insensitive_and_reported_normalised() -> None:
    assert normalise_code("  diwali10 ") == "DIWALI10"
    assert offer(code=" Save ").code == "SAVE"
    lines = [line("a", unit=1_000)]
    cart = priced(lines, offer(), code=" save ")
    assert cart.coupon is not None and cart.coupon.code == "SAVE" and cart.coupon.applicable
    cart = priced(lines, None, code=" nope ", usage=None)
    assert cart.coupon is not None and cart.coupon.code == "NOPE"


def test_applies_to_product_or_category() -> None:
    scoped = offer(product_ids=["p1"], categories=["toys"])
    assert scoped.applies_to(product_id="p1", category="books")
    assert scoped.applies_to(product_id="p2", category="toys")
    assert not scoped.applies_to(product_id="p2", category="Toys")  # exact match
    assert offer().applies_to(product_id="any", category="any")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"offer": offer(), "coupon_code": None, "usage": NO_USE},  # offer without a code
        {"offer": offer(), "coupon_code": "OTHER", "usage": NO_USE},  # wrong offer for code
        {"offer": offer(usage_limit=1), "coupon_code": "SAVE", "usage": None},  # counts needed
        {"offer": offer(), "coupon_code": "SAVE", "usage": NO_USE, "now": datetime(2025, 1, 1)},
    ],
)
def test_caller_mistakes_raise(kwargs: dict[str, Any]) -> None:
    kwargs.setdefault("now", NOW)
    with pytest.raises(ValueError):
        price_cart(lines=[line("a", unit=1)], **kwargs)


def test_duplicate_line_ids_and_bad_lines_raise() -> None:
    with pytest.raises(ValueError):
        priced([line("a", unit=1), line("a", unit=2)], code=None)
    bad_lines: list[dict[str, Any]] = [{"unit": -1}, {"unit": 1, "qty": 0}, {"unit": 1, "gst": -1}]
    for bad in bad_lines:
        with pytest.raises(ValueError):
            line("x", **bad)
    with pytest.raises(ValueError):
        UsageCounts(total_used=-1, customer_used=0)


# --- offer validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"code": "   "}, "code"),
        ({"kind": "BOGO"}, "kind"),
        ({"percent_bp": None}, "percentBp"),
        ({"percent_bp": -1}, "percentBp"),
        ({"percent_bp": 10_001}, "percentBp"),
        ({"flat": 100}, "flat"),  # PERCENT with a flat amount
        ({"kind": OfferKind.FLAT}, "flat"),
        ({"kind": OfferKind.FLAT, "flat": 100, "percent_bp": 5}, "percentBp"),
        ({"kind": OfferKind.FLAT, "flat": 100, "max_discount": 5}, "maxDiscount"),
        ({"kind": OfferKind.FLAT, "flat": -1}, "flat"),
        ({"max_discount": -1}, "maxDiscount"),
        ({"min_subtotal": -1}, "minSubtotal"),
        ({"starts_at": NOW, "ends_at": NOW}, "endsAt"),
        ({"starts_at": NOW, "ends_at": NOW - TINY}, "endsAt"),
        ({"starts_at": datetime(2025, 1, 1)}, "startsAt"),  # naive
        ({"usage_limit": 0}, "usageLimit"),
        ({"per_customer_limit": 0}, "perCustomerLimit"),
        ({"product_ids": [" "]}, "productIds"),
        ({"categories": [""]}, "categories"),
    ],
)
def test_invalid_offers(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        offer(**overrides)
    assert caught.value.field == [field]
    assert caught.value.code == ErrorCode.INVALID_INPUT


def test_offer_constructor_requires_normalised_code() -> None:
    with pytest.raises(InvalidInput):
        Offer(id="o", code="save", kind=OfferKind.FLAT, flat=1)


def test_valid_edges_and_normalisation() -> None:
    edges = {"max_discount": 0, "min_subtotal": 0, "usage_limit": 1, "per_customer_limit": 1}
    built = offer(percent_bp=10_000, product_ids=["p1", "p1", "p2"], description=None, **edges)
    assert (built.product_ids, built.description) == (("p1", "p2"), "")
    assert offer(percent_bp=0).percent_bp == 0
    assert offer(kind="FLAT", flat=0).kind is OfferKind.FLAT
    assert offer(starts_at=NOW, ends_at=NOW + TINY).is_live(now=NOW)


# --- limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantities", "total", "code"),
    [
        ([1, 100], MAX_CART_TOTAL, None),
        ([1] * 50, 0, None),
        ([0], 0, ErrorCode.QUANTITY_LIMIT),
        ([1, 101], 0, ErrorCode.QUANTITY_LIMIT),
        ([1] * 51, 0, ErrorCode.LINE_LIMIT),
        ([1], MAX_CART_TOTAL + 1, ErrorCode.CART_TOTAL_LIMIT),
    ],
)
def test_cart_limits(quantities: list[int], total: int, code: ErrorCode | None) -> None:
    if code is None:
        check_cart_limits(quantities=quantities, total=total)
        return
    with pytest.raises(InvalidInput) as caught:
        check_cart_limits(quantities=quantities, total=total)
    assert caught.value.code == code


def test_quantity_error_points_at_the_line() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_cart_limits(quantities=[1, 1, 101], total=0)
    assert caught.value.field == ["lines", "2", "quantity"]
    with pytest.raises(InvalidInput) as caught:
        check_quantity(quantity=-3)
    assert caught.value.field == ["quantity"]
