"""What a use case may reach: the ports, wired by app/ (real adapters) or tests (fakes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from domain.gateway import PaymentGateway
from domain.outbox import MAX_ATTEMPTS
from domain.payment_ports import (
    Notifier,
    PaymentTimeline,
    SalesCounters,
)
from domain.payment_session import CheckoutConfig
from domain.pii import PiiVault
from domain.ports import (
    CartRepository,
    CatalogVersion,
    Clock,
    CouponUsage,
    OfferRepository,
    Outbox,
    PaymentSessionRepository,
    ProductRepository,
)
from domain.rate_limits import RateLimiter


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
    payments: PaymentSessionRepository
    gateway: PaymentGateway
    timeline: PaymentTimeline
    checkout: CheckoutConfig
    outbox: Outbox
    notifier: Notifier
    sales: SalesCounters
    pii: PiiVault  # seals the customer's e-mail and phone; opens them for owner, admin, sends
    max_page_size: int = 100
    outbox_max_attempts: int = MAX_ATTEMPTS  # failed deliveries before a message is parked
    rate_limiter: RateLimiter | None = None  # None: rate limits off (RATE_LIMITS_ENABLED=false)
    catalog_version: CatalogVersion | None = None  # bumped on product/offer saves (cache keys)
