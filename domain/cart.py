"""The cart: entities and the pure rules that change it. No I/O; pricing lives in domain.pricing.

A :class:`Cart` is immutable; every rule takes a cart and returns the next one (same ``version``:
the repository stores a changed cart as ``version + 1``, see :func:`has_changes`; a new cart is
version 0, and a call that changes nothing stores nothing and keeps the version). Lines keep the
order in which their product was first added; one product is one line; a product removed and
added again is a new line at the end.

Rules raise :class:`~domain.errors.DomainError` with a code from
:class:`~domain.errors.ErrorCode` and ``field`` naming the mutation input at fault, indexes as
strings (GraphQL ``UserError.field`` is ``[String!]``):

=====================  ======================================  ===================================
code                   when                                    field
=====================  ======================================  ===================================
``QUANTITY_LIMIT``     a quantity (or a merged one) not 1–100  ``["lines", "i", "quantity"]``
``PRODUCT_NOT_FOUND``  unknown, malformed or inactive product  ``["lines", "i", "productId"]``
                       (update: the line's product went away)  ``["lines", "i", "lineId"]``
``OUT_OF_STOCK``       the line's quantity exceeds stock       ``["lines", "i", "quantity"]``
``LINE_NOT_FOUND``     a line id the cart does not hold        ``["lines", "i", "lineId"]`` /
                                                               ``["lineIds", "i"]``
``LINE_LIMIT``         more than 50 lines (or input entries)   ``["lines"]`` / ``["lineIds"]``
``CART_TOTAL_LIMIT``   total above ₹5,00,000 (see below)       ``["lines"]``
``COUPON_INVALID``     a blank, over-long or unprintable code  ``["code"]``
=====================  ======================================  ===================================

The cart total limit is checked by :func:`check_limits` on the total *without* the coupon
(subtotal + tax): a coupon can stop applying at any time (it expires, its uses run out), so a
stored cart must stay within the limit whatever happens to its coupon. Removing a coupon can
therefore never push a cart over the limit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from domain.catalog import Product, parse_id
from domain.errors import DomainError, ErrorCode, InvalidInput, NotFound
from domain.offers import Offer, normalise_code
from domain.pricing import (
    MAX_CART_LINES,
    MAX_CART_TOTAL,
    MAX_LINE_QUANTITY,
    PricedCart,
    PricedLine,
    PricingLine,
    UsageCounts,
    check_cart_limits,
    check_quantity,
    price_cart,
)

MAX_COUPON_CODE_LENGTH = 64  # offers.code is VARCHAR(64): a longer code can never match


@dataclass(frozen=True, slots=True, kw_only=True)
class CartLine:
    id: str
    product_id: str  # canonical uuid string (domain.catalog.parse_id)
    quantity: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Cart:
    """A customer's active cart. ``version`` goes up by one with every stored change."""

    id: str
    customer_id: str
    version: int
    lines: tuple[CartLine, ...] = ()
    coupon_code: str | None = None  # normalised (domain.offers.normalise_code)

    def line(self, line_id: str) -> CartLine | None:
        return next((line for line in self.lines if line.id == line_id), None)

    @property
    def product_ids(self) -> list[str]:
        return [line.product_id for line in self.lines]


@dataclass(frozen=True, slots=True, kw_only=True)
class LineAdd:
    """``CartLineInput``: add ``quantity`` of a product (merging into its line if present)."""

    product_id: str
    quantity: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LineUpdate:
    """``CartLineUpdateInput``: set a line's quantity; 0 removes the line."""

    line_id: str
    quantity: int


def new_line_id() -> str:
    return str(uuid.uuid4())


def has_changes(before: Cart, after: Cart) -> bool:
    """Whether ``after`` differs from ``before`` in anything a customer can see (lines, coupon)."""
    return before.lines != after.lines or before.coupon_code != after.coupon_code


def _field(*parts: str | int) -> list[str]:
    return [str(part) for part in parts]


def _check_input_size(count: int, *, field: str) -> None:
    if count > MAX_CART_LINES:
        raise InvalidInput(
            f"at most {MAX_CART_LINES} entries per call",
            code=ErrorCode.LINE_LIMIT,
            field=[field],
        )


def _check_stock(*, product: Product, quantity: int, field: list[str]) -> None:
    if quantity > product.stock:
        raise DomainError(
            f"only {product.stock} of {product.title!r} in stock",
            code=ErrorCode.OUT_OF_STOCK,
            field=field,
        )


def _live_product(products: Mapping[str, Product], product_id: str | None) -> Product | None:
    product = products.get(product_id) if product_id is not None else None
    return product if product is not None and product.active else None


def add_lines(
    cart: Cart,
    additions: Sequence[LineAdd],
    *,
    products: Mapping[str, Product],
    new_id: Callable[[], str] = new_line_id,
) -> Cart:
    """Add each entry in order. The same product merges into one line (quantities summed);
    a new product becomes a new line at the end. ``products`` maps canonical ids to products
    (at least those of ``additions``); inactive ones count as missing.
    """
    _check_input_size(len(additions), field="lines")
    lines = list(cart.lines)
    for index, addition in enumerate(additions):
        quantity_field = _field("lines", index, "quantity")
        check_quantity(quantity=addition.quantity, field=quantity_field)
        product_id = parse_id(addition.product_id)
        product = _live_product(products, product_id)
        if product_id is None or product is None:
            raise NotFound(
                "no such product",
                code=ErrorCode.PRODUCT_NOT_FOUND,
                field=_field("lines", index, "productId"),
            )
        position = next((i for i, line in enumerate(lines) if line.product_id == product_id), None)
        merged = addition.quantity + (lines[position].quantity if position is not None else 0)
        if merged > MAX_LINE_QUANTITY:
            raise InvalidInput(
                f"a line holds at most {MAX_LINE_QUANTITY} (this would make {merged})",
                code=ErrorCode.QUANTITY_LIMIT,
                field=quantity_field,
            )
        _check_stock(product=product, quantity=merged, field=quantity_field)
        if position is not None:
            lines[position] = replace(lines[position], quantity=merged)
            continue
        if len(lines) >= MAX_CART_LINES:
            raise InvalidInput(
                f"a cart holds at most {MAX_CART_LINES} lines",
                code=ErrorCode.LINE_LIMIT,
                field=["lines"],
            )
        lines.append(CartLine(id=new_id(), product_id=product_id, quantity=addition.quantity))
    return replace(cart, lines=tuple(lines))


def update_lines(
    cart: Cart, updates: Sequence[LineUpdate], *, products: Mapping[str, Product]
) -> Cart:
    """Set line quantities; 0 removes the line. Every entry is checked; when one line is named
    twice the last entry wins. A positive quantity needs the line's product to be active and to
    have that much stock. Lines keep their places.
    """
    _check_input_size(len(updates), field="lines")
    wanted: dict[str, int] = {}
    for index, update in enumerate(updates):
        quantity_field = _field("lines", index, "quantity")
        line_id = parse_id(update.line_id)
        line = cart.line(line_id) if line_id is not None else None
        if line is None:
            raise NotFound(
                "no such line in the cart",
                code=ErrorCode.LINE_NOT_FOUND,
                field=_field("lines", index, "lineId"),
            )
        if update.quantity != 0:
            check_quantity(quantity=update.quantity, field=quantity_field)
            product = _live_product(products, line.product_id)
            if product is None:
                raise NotFound(
                    "the product of this line is no longer sold",
                    code=ErrorCode.PRODUCT_NOT_FOUND,
                    field=_field("lines", index, "lineId"),
                )
            _check_stock(product=product, quantity=update.quantity, field=quantity_field)
        wanted[line.id] = update.quantity
    lines = tuple(
        replace(line, quantity=wanted.get(line.id, line.quantity))
        for line in cart.lines
        if wanted.get(line.id) != 0
    )
    return replace(cart, lines=lines)


def remove_lines(cart: Cart, line_ids: Sequence[str]) -> Cart:
    """Remove lines by id. Every id must name a line of ``cart``; naming one twice is harmless."""
    _check_input_size(len(line_ids), field="lineIds")
    doomed: set[str] = set()
    for index, raw in enumerate(line_ids):
        line_id = parse_id(raw)
        if line_id is None or cart.line(line_id) is None:
            raise NotFound(
                "no such line in the cart",
                code=ErrorCode.LINE_NOT_FOUND,
                field=_field("lineIds", index),
            )
        doomed.add(line_id)
    return replace(cart, lines=tuple(line for line in cart.lines if line.id not in doomed))


def validate_coupon_code(code: str) -> str:
    """The normalised code, or ``COUPON_INVALID`` for one that could never name an offer."""
    normalised = normalise_code(code)
    if not normalised:
        raise InvalidInput("enter a coupon code", code=ErrorCode.COUPON_INVALID, field=["code"])
    if len(normalised) > MAX_COUPON_CODE_LENGTH or not normalised.isprintable():
        raise InvalidInput(
            "that is not a coupon code", code=ErrorCode.COUPON_INVALID, field=["code"]
        )
    return normalised


def apply_coupon(cart: Cart, code: str) -> Cart:
    """Put ``code`` on the cart (one coupon per cart: it replaces any other).

    Whether the code names an offer, and whether that offer applies, is decided at pricing time
    and reported as ``AppliedCoupon.applicable``/``reason``: a code that does not apply (even
    ``NOT_FOUND``) stays on the cart, so the customer sees why and it starts to apply by itself
    once the cart qualifies.
    """
    return replace(cart, coupon_code=validate_coupon_code(code))


def remove_coupon(cart: Cart) -> Cart:
    return replace(cart, coupon_code=None)


def pricing_lines(cart: Cart, products: Mapping[str, Product]) -> list[PricingLine]:
    """The cart's lines as :func:`domain.pricing.price_cart` takes them, at today's prices."""
    result: list[PricingLine] = []
    for line in cart.lines:
        product = products.get(line.product_id)
        if product is None:
            raise ValueError(f"product {line.product_id} of line {line.id} was not supplied")
        result.append(
            PricingLine(
                line_id=line.id,
                product_id=line.product_id,
                category=product.category,
                unit_price=product.price,
                quantity=line.quantity,
                gst_rate_bp=product.gst_rate_bp,
            )
        )
    return result


def undiscounted_total(cart: Cart, *, products: Mapping[str, Product], now: datetime) -> int:
    """``subtotal + tax`` of the cart with no coupon: the figure the cart total limit bounds."""
    return price_cart(
        lines=pricing_lines(cart, products), offer=None, coupon_code=None, now=now, usage=None
    ).total


def check_limits(
    cart: Cart,
    *,
    products: Mapping[str, Product],
    now: datetime,
    before: Cart | None = None,
) -> None:
    """API.md "Limits" for a cart about to be stored; the total is taken without the coupon.

    With ``before`` (the cart as it was), a change that does not raise the total is let
    through, so a customer can always shrink a cart that price rises pushed over the limit.
    """
    total = undiscounted_total(cart, products=products, now=now)
    if (
        before is not None
        and total > MAX_CART_TOTAL
        and total <= undiscounted_total(before, products=products, now=now)
    ):
        total = 0  # not this change's doing: only the line checks apply
    check_cart_limits(quantities=[line.quantity for line in cart.lines], total=total)


@dataclass(frozen=True, slots=True, kw_only=True)
class CartLineView:
    line: CartLine
    product: Product
    priced: PricedLine  # subtotal, discount, tax, total of this line

    @property
    def unit_price(self) -> int:
        return self.product.price


@dataclass(frozen=True, slots=True, kw_only=True)
class CartView:
    """A cart priced for display: ``GraphQL Cart``. ``priced.coupon`` is ``AppliedCoupon``
    (``None`` without a code); ``offer`` is the offer the code names, if any.
    """

    cart: Cart
    lines: tuple[CartLineView, ...]
    priced: PricedCart
    offer: Offer | None


def view_cart(
    cart: Cart,
    *,
    products: Mapping[str, Product],
    offer: Offer | None,
    usage: UsageCounts | None,
    now: datetime,
) -> CartView:
    """Price ``cart`` (see :func:`domain.pricing.price_cart`) and pair each line with its product.

    ``offer`` must be the offer named by ``cart.coupon_code`` (or ``None`` when none has it).
    """
    if cart.coupon_code is None:
        offer = None
    priced = price_cart(
        lines=pricing_lines(cart, products),
        offer=offer,
        coupon_code=cart.coupon_code,
        now=now,
        usage=usage,
    )
    lines = tuple(
        CartLineView(line=line, product=products[line.product_id], priced=priced_line)
        for line, priced_line in zip(cart.lines, priced.lines, strict=True)
    )
    return CartView(cart=cart, lines=lines, priced=priced, offer=offer)
