"""In-memory fakes of the ports, for use-case and GraphQL tests that need no database.

``fake_deps()`` builds a :class:`resolvers.deps.Deps` on them; reach the fakes through its
fields (``deps.products.items``, ``deps.coupon_usage.uses``...) to arrange a scenario.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from domain.cart import Cart
from domain.catalog import Product, check_stock_on_hand
from domain.errors import DomainError, ErrorCode, InvalidInput
from domain.offers import Offer, normalise_code
from domain.pii import SEALED_PREFIX, PiiError, is_sealed
from domain.ports import ProductQuery
from domain.pricing import UsageCounts
from resolvers.deps import Deps


@dataclass
class FixedClock:
    at: datetime = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


@dataclass
class FakeProducts:
    items: dict[str, Product] = field(default_factory=dict)

    async def get_many(self, ids: Sequence[str]) -> list[Product | None]:
        return [self.items.get(i) for i in ids]

    async def list_page(self, query: ProductQuery) -> list[Product]:
        found = sorted(
            (p for p in self.items.values() if p.active), key=lambda product: product.sku
        )
        found = [p for p in found if query.after_sku is None or p.sku > query.after_sku]
        if query.category is not None:
            found = [p for p in found if p.category == query.category]
        if query.search:
            needle = query.search.lower()
            found = [
                p
                for p in found
                if any(needle in t.lower() for t in (p.title, p.description, p.sku))
            ]
        return found[: query.first]

    async def upsert(self, product: Product, *, expected_on_hand: int | None = None) -> Product:
        """Like the SQL one: on hand is set, what sessions hold (on hand − stock) stays held."""
        if any(p.sku == product.sku and p.id != product.id for p in self.items.values()):
            raise InvalidInput("another one already has this sku", field=["sku"])
        stored = self.items.get(product.id)
        on_hand = stored.stock_on_hand if stored is not None else 0
        reserved = on_hand - stored.stock if stored is not None else 0
        check_stock_on_hand(
            new=product.stock_on_hand, current=on_hand, reserved=reserved, expected=expected_on_hand
        )
        product = replace(product, stock=product.stock_on_hand - reserved)
        self.items[product.id] = product
        return product


@dataclass
class FakeOffers:
    items: dict[str, Offer] = field(default_factory=dict)

    async def list_live(self, *, now: datetime) -> list[Offer]:
        return sorted((o for o in self.items.values() if o.is_live(now=now)), key=lambda o: o.code)

    async def list_active(self, *, now: datetime) -> list[Offer]:
        return sorted(
            (o for o in self.items.values() if o.active and (o.ends_at is None or now < o.ends_at)),
            key=lambda o: o.code,
        )

    async def get_many(self, ids: Sequence[str]) -> list[Offer | None]:
        return [self.items.get(i) for i in ids]

    async def get_by_codes(self, codes: Sequence[str]) -> list[Offer | None]:
        by_code = {o.code: o for o in self.items.values()}
        return [by_code.get(normalise_code(code)) for code in codes]

    async def upsert(self, offer: Offer) -> Offer:
        if any(o.code == offer.code and o.id != offer.id for o in self.items.values()):
            raise InvalidInput("another one already has this code", field=["code"])
        self.items[offer.id] = offer
        return offer


class _FakeCartTransaction:
    def __init__(self, carts: FakeCarts, cart: Cart) -> None:
        self._carts = carts
        self._cart = cart

    @property
    def cart(self) -> Cart:
        return self._cart

    async def products(self, ids: Sequence[str]) -> list[Product | None]:
        await asyncio.sleep(0)  # let other changes run into the lock
        return await self._carts.products.get_many(ids)

    async def save(self, cart: Cart) -> Cart:
        if cart.version != self._cart.version:
            raise DomainError("stale cart", code=ErrorCode.CART_VERSION_MISMATCH)
        self._cart = replace(cart, version=cart.version + 1)
        self._carts.items[cart.customer_id] = self._cart
        return self._cart


@dataclass
class FakeCarts:
    products: FakeProducts
    items: dict[str, Cart] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def load(self, *, customer_id: str) -> Cart:
        if customer_id not in self.items:
            self.items[customer_id] = Cart(id=str(uuid.uuid4()), customer_id=customer_id, version=0)
        return self.items[customer_id]

    @asynccontextmanager
    async def lock(self, *, customer_id: str) -> AsyncIterator[_FakeCartTransaction]:
        lock = self._locks.setdefault(customer_id, asyncio.Lock())
        async with lock:
            cart = await self.load(customer_id=customer_id)
            yield _FakeCartTransaction(self, cart)


@dataclass
class FakeCouponUsage:
    """``uses``: (offer_id, customer_id) of PAID uses or live reservations made elsewhere;
    ``sessions``: a payment session's own redemption (offer_id, customer_id, status RESERVED |
    PAID | RELEASED) by session id, kept by the payment fakes as the SQL adapter keeps
    ``coupon_redemptions``. RESERVED and PAID ones count."""

    uses: list[tuple[str, str]] = field(default_factory=list)
    sessions: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    async def counts(
        self,
        *,
        offer_id: str,
        customer_id: str,
        now: datetime,
        excluding_session_id: str | None = None,
    ) -> UsageCounts:
        mine = [u for u in self.uses if u[0] == offer_id] + [
            (offer, customer)
            for session_id, (offer, customer, status) in self.sessions.items()
            if offer == offer_id
            and status in {"RESERVED", "PAID"}
            and session_id != excluding_session_id
        ]
        return UsageCounts(
            total_used=len(mine), customer_used=sum(1 for u in mine if u[1] == customer_id)
        )


class FakePiiVault:
    """Seals reversibly, bound to the customer (tests only: no secrecy, the shape and rules).
    Plain (legacy) values open as they are; a value sealed for another customer does not."""

    async def seal(self, value: str | None, *, customer_id: str) -> str | None:
        if value is None or is_sealed(value):
            return value
        blob = json.dumps([customer_id, value]).encode()
        return SEALED_PREFIX + base64.b64encode(blob).decode()

    async def open(self, value: str | None, *, customer_id: str) -> str | None:
        if value is None or not is_sealed(value):
            return value
        owner, plain = json.loads(base64.b64decode(value[len(SEALED_PREFIX) :]))
        if owner != customer_id:
            raise PiiError("sealed for another customer", retryable=False)
        return str(plain)


class Unwired:
    """A port this fake set does not provide: any use fails the test loudly."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"{self._name}.{attribute} is not wired in fake_deps()")


def fake_deps(*, products: Sequence[Product] = (), offers: Sequence[Offer] = ()) -> Deps:
    catalog = FakeProducts({p.id: p for p in products})
    return Deps(
        products=catalog,
        offers=FakeOffers({o.id: o for o in offers}),
        clock=FixedClock(),
        carts=FakeCarts(catalog),
        coupon_usage=FakeCouponUsage(),
        payments=Unwired("payments"),  # type: ignore[arg-type]
        gateway=Unwired("gateway"),  # type: ignore[arg-type]
        timeline=Unwired("timeline"),  # type: ignore[arg-type]
        checkout=Unwired("checkout"),  # type: ignore[arg-type]
        outbox=Unwired("outbox"),  # type: ignore[arg-type]
        notifier=Unwired("notifier"),  # type: ignore[arg-type]
        sales=Unwired("sales"),  # type: ignore[arg-type]
        pii=FakePiiVault(),
    )
