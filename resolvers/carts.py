"""Cart use cases: read the caller's cart, change its lines and coupon, price it.

Each takes the caller's ``customer_id`` (the Cognito ``sub``): a customer only ever reaches
their own active cart, so another customer's cart cannot even be named. Every change runs
inside ``deps.carts.lock``: the cart row stays locked from read to save, so two devices
changing one cart at once lose nothing. A change that alters nothing is not stored and does
not bump the version. Failures raise :class:`~domain.errors.DomainError` (codes and ``field``
paths in :mod:`domain.cart`) and leave the cart as it was.

Every use case returns a :class:`~domain.cart.CartView`: the cart, each line with its product
and priced figures, and the priced cart (``priced.coupon`` is ``AppliedCoupon``). Coupons: a
code that does not apply stays on the cart with ``applicable = False`` and a reason (with a
``shortfall`` for ``MIN_SUBTOTAL_NOT_MET``); a code no offer has stays too, reported as
``NOT_FOUND``. Usage limits count PAID redemptions plus live reservations (``deps.coupon_usage``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from domain import cart as rules
from domain.cart import Cart, CartView, LineAdd, LineUpdate
from domain.catalog import Product, parse_id
from domain.pricing import UsageCounts
from resolvers.deps import Deps

MAX_CUSTOMER_ID_LENGTH = 128  # carts.customer_id VARCHAR(128)

Rule = Callable[[Cart, Mapping[str, Product]], Cart]


def _check_customer(customer_id: str) -> None:
    if not customer_id or len(customer_id) > MAX_CUSTOMER_ID_LENGTH:
        raise ValueError("customer_id must be 1..128 characters")


async def _priced(
    deps: Deps, cart: Cart, products: Mapping[str, Product], *, now: datetime
) -> CartView:
    offer = None
    usage: UsageCounts | None = None
    if cart.coupon_code is not None:
        [offer] = await deps.offers.get_by_codes([cart.coupon_code])
        if offer is not None and (
            offer.usage_limit is not None or offer.per_customer_limit is not None
        ):
            usage = await deps.coupon_usage.counts(
                offer_id=offer.id, customer_id=cart.customer_id, now=now
            )
    return rules.view_cart(cart, products=products, offer=offer, usage=usage, now=now)


async def _change(
    deps: Deps,
    *,
    customer_id: str,
    rule: Rule,
    product_ids: Sequence[str] = (),
    check_limits: bool = False,
) -> CartView:
    """Lock the cart, read its products (and ``product_ids``) in the same transaction, apply
    ``rule``, check the limits when asked, save if anything changed, then price the result."""
    _check_customer(customer_id)
    now = deps.clock.now()
    async with deps.carts.lock(customer_id=customer_id) as tx:
        before = tx.cart
        wanted = list(dict.fromkeys([*before.product_ids, *product_ids]))
        found = await tx.products(wanted) if wanted else []
        products = {pid: p for pid, p in zip(wanted, found, strict=True) if p is not None}
        after = rule(before, products)
        if rules.has_changes(before, after):
            if check_limits:
                rules.check_limits(after, products=products, now=now, before=before)
            after = await tx.save(after)
    return await _priced(deps, after, products, now=now)


async def get_cart(deps: Deps, *, customer_id: str) -> CartView:
    """The caller's active cart, priced (created empty on first use, so its id is stable)."""
    _check_customer(customer_id)
    now = deps.clock.now()
    cart = await deps.carts.load(customer_id=customer_id)
    ids = cart.product_ids
    found = await deps.products.get_many(ids) if ids else []
    products = {pid: p for pid, p in zip(ids, found, strict=True) if p is not None}
    return await _priced(deps, cart, products, now=now)


async def add_lines(deps: Deps, *, customer_id: str, lines: Sequence[LineAdd]) -> CartView:
    """``cartLinesAdd``: same product merges into its line; new products go at the end."""
    product_ids = [pid for pid in (parse_id(line.product_id) for line in lines) if pid]
    return await _change(
        deps,
        customer_id=customer_id,
        rule=lambda cart, products: rules.add_lines(cart, lines, products=products),
        product_ids=product_ids[: rules.MAX_CART_LINES + 1],
        check_limits=True,
    )


async def update_lines(deps: Deps, *, customer_id: str, lines: Sequence[LineUpdate]) -> CartView:
    """``cartLinesUpdate``: set quantities; 0 removes the line."""
    return await _change(
        deps,
        customer_id=customer_id,
        rule=lambda cart, products: rules.update_lines(cart, lines, products=products),
        check_limits=True,
    )


async def remove_lines(deps: Deps, *, customer_id: str, line_ids: Sequence[str]) -> CartView:
    """``cartLinesRemove``: every id must name a line of the caller's cart."""
    return await _change(
        deps,
        customer_id=customer_id,
        rule=lambda cart, _products: rules.remove_lines(cart, line_ids),
    )


async def apply_coupon(deps: Deps, *, customer_id: str, code: str) -> CartView:
    """``cartCouponApply``: put the (normalised) code on the cart, replacing any other."""
    normalised = rules.validate_coupon_code(code)  # COUPON_INVALID before taking the lock
    return await _change(
        deps,
        customer_id=customer_id,
        rule=lambda cart, _products: rules.apply_coupon(cart, normalised),
    )


async def remove_coupon(deps: Deps, *, customer_id: str) -> CartView:
    """``cartCouponRemove``: take the coupon off (a cart without one is left as it is)."""
    return await _change(
        deps,
        customer_id=customer_id,
        rule=lambda cart, _products: rules.remove_coupon(cart),
    )
