"""What a use case may reach: the ports, wired by app/ (real adapters) or tests (fakes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from domain.ports import (
    CartRepository,
    Clock,
    CouponUsage,
    OfferRepository,
    ProductRepository,
)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Deps:
    products: ProductRepository
    offers: OfferRepository
    clock: Clock
    carts: CartRepository
    coupon_usage: CouponUsage
    max_page_size: int = 100
