"""Process-scoped clients, created lazily on first use and reused across warm invocations."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from app.secrets import RuntimeSecrets
from app.settings import Settings, get_settings
from auth.backend import TokenVerifier
from domain.errors import Unauthenticated
from domain.gateway import PaymentGateway
from domain.identity import Principal
from domain.payment_ports import NotificationTopic, Notifier, PaymentTimeline, SalesCounters
from domain.payment_session import CheckoutConfig
from domain.pii import PiiVault
from domain.ports import (
    CartRepository,
    CatalogVersion,
    CouponUsage,
    OfferRepository,
    Outbox,
    PaymentSessionRepository,
    PersistedQueryStore,
    ProductRepository,
    ResponseStore,
)
from domain.rate_limits import Bucket, Subject
from resolvers.deps import Deps, SystemClock

# The adapters (and the SDKs under them: SQLAlchemy and asyncpg, redis, aiobotocore, the
# Razorpay SDK, cryptography, httpx) are imported where they are first built, not here: a
# Lambda cold start answering `{ __typename }` imports none of what it does not use.
if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from auth.jwks import JwksClient
    from datasources.aws import AwsClients
    from datasources.dynamodb.timeline import DynamoPaymentTimeline
    from datasources.razorpay.gateway import RazorpayGateway
    from datasources.redis.rate_limits import LimitsRateLimiter
    from datasources.sns.notifier import SnsNotifier

logger = logging.getLogger(__name__)


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def secrets(self) -> RuntimeSecrets:
        return RuntimeSecrets(self.settings)

    async def refresh_secrets(self) -> None:
        """Before each request and job run: re-read the secrets that are due and, when
        Razorpay's changed (a rotation), sign and verify with the new ones from now on."""
        if not self.secrets.configured or not await self.secrets.refresh():
            return
        if self.settings.razorpay_secret_arn is None:
            return
        keys = self.secrets.razorpay()
        if "gateway" in self.__dict__:
            self.gateway.use_keys(key_id=keys.key_id, key_secret=keys.key_secret)
        if "checkout" in self.__dict__:
            checkout = replace(
                self.checkout,
                key_id=keys.key_id,
                key_secret=keys.key_secret,
                webhook_secrets=keys.webhook_secrets,
            )
            self.__dict__["checkout"] = checkout
            if "deps" in self.__dict__:
                self.__dict__["deps"] = replace(self.deps, checkout=checkout)

    def _database_login(self, force: bool) -> tuple[str | None, str] | None:
        login = self.secrets.database_login(force=force)
        return None if login is None else (login.username, login.password)

    @cached_property
    def engine(self) -> AsyncEngine:
        from datasources.postgres.engine import create_engine

        s = self.settings
        return create_engine(
            url=s.database_url,
            pool_size=s.database_pool_size,
            echo=s.database_echo,
            login=self._database_login if s.database_secret_arn else None,
        )

    @cached_property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        from datasources.postgres.engine import create_session_factory

        return create_session_factory(self.engine)

    @cached_property
    def redis(self) -> Redis | None:
        if not self.settings.redis_url:
            return None
        from redis.asyncio import Redis

        return Redis.from_url(
            self.settings.redis_url,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            health_check_interval=30,
        )

    @cached_property
    def jwks(self) -> JwksClient | None:
        from auth.jwks import JwksClient

        s = self.settings
        if not s.jwks_url:
            return None
        return JwksClient(
            url=s.jwks_url,
            cache_ttl_seconds=s.jwks_cache_ttl_seconds,
            min_refetch_interval_seconds=s.jwks_min_refetch_seconds,
        )

    @cached_property
    def verifier(self) -> TokenVerifier:
        s = self.settings
        if self.jwks is None or not s.issuer or not s.client_ids:
            return SignInNotConfigured()
        from auth.verifier import CognitoJwtVerifier

        return CognitoJwtVerifier(
            issuer=s.issuer,
            jwks=self.jwks,
            client_ids=s.client_ids,
            leeway_seconds=s.jwt_leeway_seconds,
        )

    @cached_property
    def cache_prefix(self) -> str:
        """Redis key prefix: the service and its database, so two databases (test runs, a
        staging copy) sharing one Redis never read each other's entries."""
        database = hashlib.sha256(self.settings.database_url.encode()).hexdigest()[:12]
        return f"{self.settings.service_name}:{database}"

    @cached_property
    def offers(self) -> OfferRepository:
        """Offers read through Redis (or, without REDIS_URL, an in-process cache)."""
        from datasources.postgres.catalog import SqlOfferRepository
        from datasources.redis.offers_cache import LocalOfferCache, RedisOfferCache

        database = SqlOfferRepository(self.sessions)
        if self.redis is None:
            return LocalOfferCache(database)
        return RedisOfferCache(database, redis=self.redis, prefix=f"{self.cache_prefix}:offers:v1")

    @cached_property
    def persisted_queries(self) -> PersistedQueryStore:
        """Automatic persisted queries in Redis (``<cache prefix>:apq:<sha256>``), shared by
        every instance; in process without REDIS_URL."""
        from datasources.redis.persisted_queries import (
            LocalPersistedQueries,
            RedisPersistedQueries,
        )

        ttl = self.settings.persisted_query_ttl_seconds
        if self.redis is None:
            return LocalPersistedQueries(ttl_seconds=ttl)
        return RedisPersistedQueries(
            redis=self.redis, prefix=f"{self.cache_prefix}:apq", ttl_seconds=ttl
        )

    @cached_property
    def catalog_version(self) -> CatalogVersion:
        """Bumped by product/offer saves and stock moves (``<cache prefix>:catalog:version``)."""
        from datasources.redis.response_cache import LocalCatalogVersion, RedisCatalogVersion

        if self.redis is None:
            return LocalCatalogVersion()
        return RedisCatalogVersion(redis=self.redis, prefix=f"{self.cache_prefix}:catalog")

    @cached_property
    def response_store(self) -> ResponseStore | None:
        """Anonymous catalog answers: in process (L1) and in Redis (L2, ``<cache prefix>:rc``);
        None when RESPONSE_CACHE_ENABLED is false."""
        from datasources.redis.response_cache import TwoLevelResponseStore

        s = self.settings
        if not s.response_cache_enabled:
            return None
        return TwoLevelResponseStore(
            redis=self.redis,
            prefix=f"{self.cache_prefix}:rc",
            ttl_seconds=s.response_cache_ttl_seconds,
            local_ttl_seconds=min(s.response_cache_local_ttl_seconds, s.response_cache_ttl_seconds),
            local_maxsize=s.response_cache_local_size,
        )

    @cached_property
    def rate_limiter(self) -> LimitsRateLimiter | None:
        """Sliding windows in Redis (``<cache prefix>:ratelimit``), in process without it."""
        s = self.settings
        if not s.rate_limits_enabled:
            return None
        from datasources.redis.rate_limits import LimitsRateLimiter

        return LimitsRateLimiter(
            policy={
                (Bucket.REQUESTS, Subject.USER): s.rate_limit_principal,
                (Bucket.REQUESTS, Subject.IP): s.rate_limit_ip,
                (Bucket.PAYMENT_SESSION_CREATE, Subject.USER): s.rate_limit_payment_session_create,
                (Bucket.PAYMENT_SESSION_CREATE, Subject.IP): s.rate_limit_payment_session_create,
                (Bucket.COUPON_APPLY, Subject.USER): s.rate_limit_coupon_apply,
                (Bucket.COUPON_APPLY, Subject.IP): s.rate_limit_coupon_apply,
                (Bucket.CALLBACK, Subject.IP): s.rate_limit_callback,
            },
            redis_url=s.redis_url,
            prefix=f"{self.cache_prefix}:ratelimit",
        )

    @cached_property
    def aws(self) -> AwsClients:
        from datasources.aws import AwsClients

        return AwsClients(
            region=self.settings.aws_region, endpoint_url=self.settings.aws_endpoint_url
        )

    @cached_property
    def timeline(self) -> DynamoPaymentTimeline:
        from datasources.dynamodb.timeline import DynamoPaymentTimeline

        return DynamoPaymentTimeline(clients=self.aws, table_name=self.settings.dynamodb_table)

    @cached_property
    def gateway(self) -> RazorpayGateway:
        from datasources.razorpay.gateway import RazorpayGateway

        s, keys = self.settings, self.secrets.razorpay()
        return RazorpayGateway(
            key_id=keys.key_id,
            key_secret=keys.key_secret,
            base_url=s.razorpay_base_url,
            timeout_seconds=s.razorpay_timeout_seconds,
        )

    @cached_property
    def checkout(self) -> CheckoutConfig:
        s, keys = self.settings, self.secrets.razorpay()
        return CheckoutConfig(
            key_id=keys.key_id,
            key_secret=keys.key_secret,
            merchant_name=s.merchant_name,
            callback_url=f"{s.public_base_url.rstrip('/')}/payments/razorpay/callback",
            success_url=s.storefront_success_url,
            failure_url=s.storefront_failure_url,
            currency=s.currency,
            ttl_minutes=s.payment_session_ttl_minutes,
            order_wait_seconds=s.razorpay_timeout_seconds + 5,
            inline_dispatch_seconds=s.payment_inline_dispatch_seconds,
            webhook_inline_dispatch_seconds=s.webhook_inline_dispatch_seconds,
            webhook_secrets=keys.webhook_secrets,
        )

    @cached_property
    def notifier(self) -> SnsNotifier:
        from datasources.sns.notifier import SnsNotifier

        s = self.settings
        return SnsNotifier(
            clients=self.aws,
            topic_arns={
                NotificationTopic.CUSTOMER: s.sns_customer_topic_arn,
                NotificationTopic.ADMIN: s.sns_admin_topic_arn,
            },
        )

    @cached_property
    def pii(self) -> PiiVault:
        """Customer PII sealed with KMS_KEY_ID's data keys; without a key (never production)
        it is not stored at all, never stored in plain text."""
        from datasources.kms.envelope import DropPii, KmsEnvelope, KmsPiiVault

        s = self.settings
        if not s.kms_key_id:
            return DropPii()
        return KmsPiiVault(
            KmsEnvelope(
                clients=self.aws,
                key_id=s.kms_key_id,
                max_age_seconds=s.pii_data_key_max_age_seconds,
                max_uses=s.pii_data_key_max_uses,
                max_customers=s.pii_data_key_cache_customers,
            )
        )

    @cached_property
    def products(self) -> ProductRepository:
        from datasources.postgres.catalog import SqlProductRepository

        return SqlProductRepository(self.sessions)

    @cached_property
    def carts(self) -> CartRepository:
        from datasources.postgres.carts import SqlCartRepository

        return SqlCartRepository(self.sessions)

    @cached_property
    def coupon_usage(self) -> CouponUsage:
        from datasources.postgres.carts import SqlCouponUsage

        return SqlCouponUsage(self.sessions)

    @cached_property
    def payment_sessions(self) -> PaymentSessionRepository:
        from datasources.postgres.payments import SqlPaymentSessions

        return SqlPaymentSessions(self.sessions, on_stock_change=self.catalog_version.bump)

    @cached_property
    def outbox(self) -> Outbox:
        from datasources.postgres.outbox import SqlOutbox

        return SqlOutbox(self.sessions)

    @cached_property
    def sales(self) -> SalesCounters:
        from datasources.dynamodb.sales import DynamoSalesCounters

        return DynamoSalesCounters(clients=self.aws, table_name=self.settings.dynamodb_table)

    @cached_property
    def deps(self) -> Deps:
        """The ports, each adapter built (its modules imported) on its first use: a request
        that reads no table never loads SQLAlchemy, one that sends nothing never loads
        aiobotocore, and so on."""
        return Deps(
            products=cast(ProductRepository, Deferred(self, "products")),
            offers=cast(OfferRepository, Deferred(self, "offers")),
            clock=SystemClock(),
            carts=cast(CartRepository, Deferred(self, "carts")),
            coupon_usage=cast(CouponUsage, Deferred(self, "coupon_usage")),
            payments=cast(PaymentSessionRepository, Deferred(self, "payment_sessions")),
            gateway=cast(PaymentGateway, Deferred(self, "gateway")),
            timeline=cast(PaymentTimeline, Deferred(self, "timeline")),
            checkout=self.checkout,
            outbox=cast(Outbox, Deferred(self, "outbox")),
            notifier=cast(Notifier, Deferred(self, "notifier")),
            sales=cast(SalesCounters, Deferred(self, "sales")),
            pii=cast(PiiVault, Deferred(self, "pii")),
            max_page_size=self.settings.max_page_size,
            outbox_max_attempts=self.settings.outbox_max_attempts,
            rate_limiter=self.rate_limiter,
            catalog_version=self.catalog_version,
        )

    async def readiness(self) -> dict[str, Any]:
        """Each dependency: "ok" or the reason it is not. Bounded in time."""
        from sqlalchemy import text

        checks: dict[str, Any] = {}
        try:
            async with asyncio.timeout(2):
                async with self.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # readiness reports, it never raises
            checks["database"] = f"unavailable: {type(exc).__name__}"
        if self.redis is None:
            checks["cache"] = "ok (in-process)"
        else:
            try:
                async with asyncio.timeout(1):
                    await self.redis.ping()
                checks["cache"] = "ok"
            except Exception as exc:
                checks["cache"] = f"unavailable: {type(exc).__name__}"
        return checks

    async def aclose(self) -> None:
        if "aws" in self.__dict__:
            await self.aws.aclose()
        if "gateway" in self.__dict__:
            self.gateway.close()
        if "jwks" in self.__dict__ and self.jwks is not None:
            await self.jwks.aclose()
        if "redis" in self.__dict__ and self.redis is not None:
            await self.redis.aclose()
        if "rate_limiter" in self.__dict__ and self.rate_limiter is not None:
            await self.rate_limiter.aclose()
        if "engine" in self.__dict__:
            await self.engine.dispose()


class Deferred:
    """A port of the Deps standing for the container's adapter ``name``: the adapter is built
    on the first attribute read (a method call), and every read goes to the container's
    current one."""

    __slots__ = ("_container", "_name")

    def __init__(self, container: Container, name: str) -> None:
        self._container = container
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(getattr(self._container, self._name), attribute)

    def __repr__(self) -> str:
        return f"Deferred({self._name})"


class SignInNotConfigured:
    """The verifier when no user pool is configured: every token is refused, clearly."""

    async def verify(self, token: str) -> Principal:
        raise Unauthenticated("sign-in is not configured on this server")


_container: Container | None = None


def get_container() -> Container:
    """The process's container (one per warm Lambda, one per uvicorn worker)."""
    global _container
    if _container is None:
        _container = Container(get_settings())
    return _container
