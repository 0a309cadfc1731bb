"""Cart pricing, exactly as API.md "Pricing" states it. Pure: integers in, integers out.

For line i: ``subtotal_i = unit_price_i × qty_i``. Eligible lines are those whose product id or
category the offer names (both empty: every line); ``E = Σ eligible subtotal_i``.

- PERCENT: ``D = floor(E × percentBp / 10000)``, capped at ``maxDiscount`` when set.
  FLAT: ``D = min(flat, E)``.
- ``D`` is split over the eligible lines by :func:`split_proportionally` (largest remainder,
  ties to the earlier line). Ineligible lines get no discount.
- ``tax_i = round_half_up((subtotal_i − discount_i) × gstRateBp_i / 10000)``.
- ``total_i = subtotal_i − discount_i + tax_i``; cart figures are the sums of line figures, so
  ``total = subtotal − D + tax``.

A coupon that does not apply gives a discount of 0 everywhere. When several reasons hold, the
first in this order is reported (things the cart cannot fix first, so a customer is never told
to add items to a coupon that could not apply anyway):

1. ``NOT_FOUND``: a code is set but no offer has it, or the offer is switched off.
2. ``NOT_STARTED`` (now < startsAt) / ``EXPIRED`` (now ≥ endsAt).
3. ``USAGE_LIMIT_REACHED``: ``usage.total_used ≥ usageLimit``.
4. ``PER_USER_LIMIT_REACHED``: ``usage.customer_used ≥ perCustomerLimit``.
5. ``NO_ELIGIBLE_ITEMS``: ``E == 0`` (no eligible line, or only zero-priced ones).
6. ``MIN_SUBTOTAL_NOT_MET``: ``E < minSubtotal``; only this reason carries a ``shortfall``.

All rounding goes through :mod:`domain.money`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.errors import ErrorCode, InvalidInput
from domain.money import (
    apply_basis_points_floor,
    apply_basis_points_half_up,
    div_floor,
    format_inr,
)
from domain.offers import CouponReason, Offer, OfferKind, normalise_code

# API.md "Limits".
MIN_LINE_QUANTITY = 1
MAX_LINE_QUANTITY = 100
MAX_CART_LINES = 50
MAX_CART_TOTAL = 50_000_000  # paise: ₹5,00,000


@dataclass(frozen=True, slots=True, kw_only=True)
class PricingLine:
    """One cart line as pricing needs it. ``unit_price`` is tax-exclusive paise."""

    line_id: str
    product_id: str
    category: str
    unit_price: int
    quantity: int
    gst_rate_bp: int

    def __post_init__(self) -> None:
        if self.unit_price < 0:
            raise ValueError(f"line {self.line_id}: unit_price must not be negative")
        if self.quantity < 1:
            raise ValueError(f"line {self.line_id}: quantity must be at least 1")
        if self.gst_rate_bp < 0:
            raise ValueError(f"line {self.line_id}: gst_rate_bp must not be negative")

    @property
    def subtotal(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageCounts:
    """Uses of one offer: PAID sessions plus live reservations, overall and by this customer.

    The caller must not count the reservation held by the very session being priced.
    """

    total_used: int
    customer_used: int

    def __post_init__(self) -> None:
        if self.total_used < 0 or self.customer_used < 0:
            raise ValueError("usage counts must not be negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class PricedLine:
    line_id: str
    subtotal: int
    discount: int
    tax: int
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CouponResult:
    """``AppliedCoupon``: ``discount`` is the whole cart discount ``D`` (0 unless applicable)."""

    code: str
    applicable: bool
    reason: CouponReason | None
    discount: int
    shortfall: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PricedCart:
    lines: tuple[PricedLine, ...]
    subtotal: int
    discount: int
    tax: int
    total: int
    coupon: CouponResult | None


def split_proportionally(*, amount: int, weights: Sequence[int]) -> list[int]:
    """Split ``amount`` paise in proportion to ``weights`` by the largest-remainder method.

    Each share starts at ``floor(amount × w_i / W)``; the leftover paise go one at a time to the
    largest remainders, ties to the earlier index. The shares sum to ``amount`` exactly, each is
    within one paisa of its exact proportion, and a zero weight always gets 0.
    """
    if amount < 0:
        raise ValueError("amount must not be negative")
    if any(weight < 0 for weight in weights):
        raise ValueError("weights must not be negative")
    total_weight = sum(weights)
    if total_weight == 0:
        if amount == 0:
            return [0] * len(weights)
        raise ValueError("cannot split a positive amount over zero total weight")
    shares = [div_floor(amount * weight, total_weight) for weight in weights]
    remainders = [
        amount * weight - share * total_weight
        for weight, share in zip(weights, shares, strict=True)
    ]
    leftover = amount - sum(shares)  # < number of non-zero remainders, so never to weight 0
    by_remainder = sorted(range(len(weights)), key=lambda index: (-remainders[index], index))
    for index in by_remainder[:leftover]:
        shares[index] += 1
    return shares


def offer_discount(*, offer: Offer, eligible_subtotal: int) -> int:
    """``D`` for an applicable offer on eligible subtotal ``E`` (never more than ``E``)."""
    if offer.kind is OfferKind.PERCENT:
        assert offer.percent_bp is not None  # guaranteed by validate_offer
        discount = apply_basis_points_floor(eligible_subtotal, offer.percent_bp)
        if offer.max_discount is not None:
            discount = min(discount, offer.max_discount)
        return discount
    assert offer.flat is not None  # guaranteed by validate_offer
    return min(offer.flat, eligible_subtotal)


def evaluate_coupon(
    *,
    code: str,
    offer: Offer | None,
    eligible_subtotal: int,
    now: datetime,
    usage: UsageCounts | None,
) -> CouponResult:
    """Decide whether ``offer`` applies, with the reason precedence in the module docstring."""
    code = normalise_code(code)

    def rejected(reason: CouponReason, shortfall: int | None = None) -> CouponResult:
        return CouponResult(
            code=code, applicable=False, reason=reason, discount=0, shortfall=shortfall
        )

    if offer is None:
        return rejected(CouponReason.NOT_FOUND)
    if offer.code != code:
        raise ValueError(f"offer {offer.id} has code {offer.code!r}, not {code!r}")
    if (offer.usage_limit is not None or offer.per_customer_limit is not None) and usage is None:
        raise ValueError(f"offer {offer.id} has usage limits: usage counts are required")
    window = offer.availability(now=now)
    if window is not None:
        return rejected(window)
    if usage is not None:
        if offer.usage_limit is not None and usage.total_used >= offer.usage_limit:
            return rejected(CouponReason.USAGE_LIMIT_REACHED)
        if offer.per_customer_limit is not None and usage.customer_used >= offer.per_customer_limit:
            return rejected(CouponReason.PER_USER_LIMIT_REACHED)
    if eligible_subtotal <= 0:
        return rejected(CouponReason.NO_ELIGIBLE_ITEMS)
    if offer.min_subtotal is not None and eligible_subtotal < offer.min_subtotal:
        return rejected(
            CouponReason.MIN_SUBTOTAL_NOT_MET,
            shortfall=offer.min_subtotal - eligible_subtotal,
        )
    discount = offer_discount(offer=offer, eligible_subtotal=eligible_subtotal)
    return CouponResult(code=code, applicable=True, reason=None, discount=discount, shortfall=None)


def price_cart(
    *,
    lines: Sequence[PricingLine],
    offer: Offer | None,
    coupon_code: str | None,
    now: datetime,
    usage: UsageCounts | None,
) -> PricedCart:
    """Price a cart. ``lines`` must be in cart order (it decides remainder ties).

    ``coupon_code`` is the code on the cart (``None``: no coupon, and then ``offer`` must be
    ``None`` too); ``offer`` is the offer found for that code, or ``None`` when there is none.
    """
    if len({line.line_id for line in lines}) != len(lines):
        raise ValueError("line ids must be unique")
    discounts = [0] * len(lines)
    coupon: CouponResult | None = None
    if coupon_code is None:
        if offer is not None:
            raise ValueError("an offer was given without a coupon code")
    else:
        coupon, discounts = _apply_coupon(
            lines, code=coupon_code, offer=offer, now=now, usage=usage
        )
    priced = tuple(
        _price_line(line, discount=discount)
        for line, discount in zip(lines, discounts, strict=True)
    )
    return PricedCart(
        lines=priced,
        subtotal=sum(line.subtotal for line in priced),
        discount=sum(line.discount for line in priced),
        tax=sum(line.tax for line in priced),
        total=sum(line.total for line in priced),
        coupon=coupon,
    )


def _apply_coupon(
    lines: Sequence[PricingLine],
    *,
    code: str,
    offer: Offer | None,
    now: datetime,
    usage: UsageCounts | None,
) -> tuple[CouponResult, list[int]]:
    """The coupon's verdict on the eligible subtotal ``E``, and each line's share of ``D``
    (all 0 when it does not apply)."""
    subtotals = [line.subtotal for line in lines]
    eligible = [
        offer is not None and offer.applies_to(product_id=line.product_id, category=line.category)
        for line in lines
    ]
    eligible_subtotal = sum(
        subtotal for subtotal, is_eligible in zip(subtotals, eligible, strict=True) if is_eligible
    )
    coupon = evaluate_coupon(
        code=code,
        offer=offer,
        eligible_subtotal=eligible_subtotal,
        now=now,
        usage=usage,
    )
    if not coupon.applicable:
        return coupon, [0] * len(lines)
    weights = [
        subtotal if is_eligible else 0
        for subtotal, is_eligible in zip(subtotals, eligible, strict=True)
    ]
    return coupon, split_proportionally(amount=coupon.discount, weights=weights)


def _price_line(line: PricingLine, *, discount: int) -> PricedLine:
    """Tax on the discounted subtotal, rounded half up; the line's total includes it."""
    subtotal = line.subtotal
    tax = apply_basis_points_half_up(subtotal - discount, line.gst_rate_bp)
    return PricedLine(
        line_id=line.line_id,
        subtotal=subtotal,
        discount=discount,
        tax=tax,
        total=subtotal - discount + tax,
    )


def check_quantity(*, quantity: int, field: Sequence[str] = ("quantity",)) -> None:
    """Raise ``QUANTITY_LIMIT`` unless ``1 ≤ quantity ≤ 100``."""
    if not MIN_LINE_QUANTITY <= quantity <= MAX_LINE_QUANTITY:
        raise InvalidInput(
            f"quantity must be between {MIN_LINE_QUANTITY} and {MAX_LINE_QUANTITY}",
            code=ErrorCode.QUANTITY_LIMIT,
            field=field,
        )


def check_cart_limits(*, quantities: Sequence[int], total: int) -> None:
    """Raise the first limit a cart (its line quantities, in cart order) breaks.

    ``total`` is the priced cart's payable ``total`` (after discount, with tax).
    Codes: ``QUANTITY_LIMIT`` (field ``["lines", i, "quantity"]``), ``LINE_LIMIT``,
    ``CART_TOTAL_LIMIT``.
    """
    for index, quantity in enumerate(quantities):
        check_quantity(quantity=quantity, field=("lines", str(index), "quantity"))
    if len(quantities) > MAX_CART_LINES:
        raise InvalidInput(
            f"a cart holds at most {MAX_CART_LINES} lines",
            code=ErrorCode.LINE_LIMIT,
            field=["lines"],
        )
    if total > MAX_CART_TOTAL:
        raise InvalidInput(
            f"a cart total may be at most {format_inr(MAX_CART_TOTAL)}",
            code=ErrorCode.CART_TOTAL_LIMIT,
            field=["lines"],
        )
