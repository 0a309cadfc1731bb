"""Offers (coupons): what an offer is, when it is valid, and which cart lines it covers.

Pure rules only; the arithmetic of a discount lives in :mod:`domain.pricing`.

An :class:`Offer` is always valid once constructed: ``__post_init__`` runs
:func:`validate_offer`, which raises :class:`~domain.errors.InvalidInput` with ``field`` set to
the ``OfferInput`` field at fault (``["percentBp"]``, ``["endsAt"]``, ...). Build offers from
admin input with :meth:`Offer.validated`, which normalises first (code upper-cased and stripped,
duplicate product ids and categories dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Required, TypedDict, Unpack

from domain.errors import InvalidInput
from domain.money import BASIS_POINTS
from domain.text import check_text


class OfferKind(StrEnum):
    PERCENT = "PERCENT"
    FLAT = "FLAT"


class CouponReason(StrEnum):
    """Why a coupon does not apply to a cart (``AppliedCoupon.reason``)."""

    NOT_FOUND = "NOT_FOUND"
    NOT_STARTED = "NOT_STARTED"
    EXPIRED = "EXPIRED"
    MIN_SUBTOTAL_NOT_MET = "MIN_SUBTOTAL_NOT_MET"
    NO_ELIGIBLE_ITEMS = "NO_ELIGIBLE_ITEMS"
    USAGE_LIMIT_REACHED = "USAGE_LIMIT_REACHED"
    PER_USER_LIMIT_REACHED = "PER_USER_LIMIT_REACHED"


def normalise_code(code: str) -> str:
    """The canonical form of a coupon code: surrounding whitespace stripped, upper case.

    Codes are stored in this form and looked up by it, so lookup is case-insensitive.
    """
    return code.strip().upper()


def _require_aware(value: datetime | None, *, field: str) -> None:
    if value is not None and value.utcoffset() is None:
        raise InvalidInput(f"{field} must carry a time zone", field=[field])


class OfferFields(TypedDict, total=False):
    """An offer as admin input gives it (``OfferInput``; every field but ``id``), before
    :meth:`Offer.validated` normalises it: ``code`` and ``kind`` are required, ``kind`` may be
    its name, ``None`` means empty and ``active`` defaults to true."""

    code: Required[str]
    kind: Required[OfferKind | str]
    description: str | None
    percent_bp: int | None
    flat: int | None
    max_discount: int | None
    min_subtotal: int | None
    starts_at: datetime | None
    ends_at: datetime | None
    product_ids: Sequence[str] | None
    categories: Sequence[str] | None
    usage_limit: int | None
    per_customer_limit: int | None
    active: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """A coupon. Amounts are paise; ``percent_bp`` is basis points (10000 = 100 %).

    ``starts_at``/``ends_at`` bound the half-open window ``[starts_at, ends_at)``; ``None`` leaves
    that side open. Empty ``product_ids`` and ``categories`` mean the offer covers every line.
    """

    id: str
    code: str
    kind: OfferKind
    description: str = ""
    percent_bp: int | None = None
    flat: int | None = None
    max_discount: int | None = None
    min_subtotal: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    product_ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    usage_limit: int | None = None
    per_customer_limit: int | None = None
    active: bool = True

    def __post_init__(self) -> None:
        validate_offer(self)

    @classmethod
    def validated(cls, *, id: str, **fields: Unpack[OfferFields]) -> Offer:
        """Normalise admin input (``OfferInput``) and build a valid offer, or raise InvalidInput."""
        kind = fields["kind"]
        try:
            offer_kind = OfferKind(kind)
        except ValueError:
            raise InvalidInput(f"unknown offer kind {kind!r}", field=["kind"]) from None
        check_text(fields["code"], field=["code"])
        for category in fields.get("categories") or ():
            check_text(category, field=["categories"])
        return cls(
            id=id,
            code=normalise_code(fields["code"]),
            kind=offer_kind,
            description=check_text(
                fields.get("description") or "", field=["description"], multiline=True
            ),
            percent_bp=fields.get("percent_bp"),
            flat=fields.get("flat"),
            max_discount=fields.get("max_discount"),
            min_subtotal=fields.get("min_subtotal"),
            starts_at=fields.get("starts_at"),
            ends_at=fields.get("ends_at"),
            product_ids=tuple(dict.fromkeys(fields.get("product_ids") or ())),
            categories=tuple(dict.fromkeys(fields.get("categories") or ())),
            usage_limit=fields.get("usage_limit"),
            per_customer_limit=fields.get("per_customer_limit"),
            active=fields.get("active", True),
        )

    @property
    def covers_everything(self) -> bool:
        """True when the offer names neither products nor categories."""
        return not self.product_ids and not self.categories

    def applies_to(self, *, product_id: str, category: str) -> bool:
        """Whether a line for this product is eligible (exact, case-sensitive matches)."""
        if self.covers_everything:
            return True
        return product_id in self.product_ids or category in self.categories

    def availability(self, *, now: datetime) -> CouponReason | None:
        """``None`` when the offer may be used at ``now``; otherwise why not.

        An inactive (switched-off) offer answers ``NOT_FOUND``: customers cannot see it, so it
        behaves exactly like a code that does not exist. ``now == starts_at`` is live;
        ``now == ends_at`` is expired.
        """
        if now.utcoffset() is None:
            raise ValueError("now must carry a time zone")
        if not self.active:
            return CouponReason.NOT_FOUND
        if self.starts_at is not None and now < self.starts_at:
            return CouponReason.NOT_STARTED
        if self.ends_at is not None and now >= self.ends_at:
            return CouponReason.EXPIRED
        return None

    def is_live(self, *, now: datetime) -> bool:
        """Active and ``now ∈ [starts_at, ends_at)``."""
        return self.availability(now=now) is None


def validate_offer(offer: Offer) -> None:
    """Raise :class:`InvalidInput` (with ``field``) for the first rule ``offer`` breaks.

    Rules: the code is non-empty and already normalised; PERCENT needs ``percentBp`` in
    0..10000 and no ``flat``; FLAT needs ``flat`` and neither ``percentBp`` nor ``maxDiscount``
    (API.md caps only PERCENT discounts, so a FLAT cap would be silently ignored); amounts are
    not negative; dates carry a time zone and ``endsAt`` is after ``startsAt``; limits are ≥ 1;
    product ids and categories are non-blank.
    """
    if not offer.code:
        raise InvalidInput("code must not be empty", field=["code"])
    if offer.code != normalise_code(offer.code):
        raise InvalidInput(
            "code must be stripped and upper case (use Offer.validated)", field=["code"]
        )
    if not isinstance(offer.kind, OfferKind):
        raise InvalidInput(f"unknown offer kind {offer.kind!r}", field=["kind"])
    _validate_kind_fields(offer)
    for name, field, value in (
        ("flat", "flat", offer.flat),
        ("max_discount", "maxDiscount", offer.max_discount),
        ("min_subtotal", "minSubtotal", offer.min_subtotal),
    ):
        if value is not None and value < 0:
            raise InvalidInput(f"{name} must not be negative", field=[field])
    _require_aware(offer.starts_at, field="startsAt")
    _require_aware(offer.ends_at, field="endsAt")
    if (
        offer.starts_at is not None
        and offer.ends_at is not None
        and offer.ends_at <= offer.starts_at
    ):
        raise InvalidInput("endsAt must be after startsAt", field=["endsAt"])
    if offer.usage_limit is not None and offer.usage_limit < 1:
        raise InvalidInput("usageLimit must be at least 1", field=["usageLimit"])
    if offer.per_customer_limit is not None and offer.per_customer_limit < 1:
        raise InvalidInput("perCustomerLimit must be at least 1", field=["perCustomerLimit"])
    if any(not product_id.strip() for product_id in offer.product_ids):
        raise InvalidInput("product ids must not be blank", field=["productIds"])
    if any(not category.strip() for category in offer.categories):
        raise InvalidInput("categories must not be blank", field=["categories"])


def _validate_kind_fields(offer: Offer) -> None:
    if offer.kind is OfferKind.PERCENT:
        if offer.percent_bp is None:
            raise InvalidInput("a PERCENT offer needs percentBp", field=["percentBp"])
        if not 0 <= offer.percent_bp <= BASIS_POINTS:
            raise InvalidInput("percentBp must be between 0 and 10000", field=["percentBp"])
        if offer.flat is not None:
            raise InvalidInput("a PERCENT offer takes no flat amount", field=["flat"])
    else:
        if offer.flat is None:
            raise InvalidInput("a FLAT offer needs flat", field=["flat"])
        if offer.percent_bp is not None:
            raise InvalidInput("a FLAT offer takes no percentBp", field=["percentBp"])
        if offer.max_discount is not None:
            raise InvalidInput(
                "a FLAT offer takes no maxDiscount (its cap is flat itself)",
                field=["maxDiscount"],
            )
