"""The one validated settings object. Nothing else in the project reads ``os.environ``.

Read lazily with :func:`get_settings` (never at import), so a Lambda cold start pays for it
once and tests can build their own ``Settings(...)``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

import limits
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.client_ip import IPNetwork, parse_networks
from domain.outbox import MAX_ATTEMPTS

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///.devstack/storefront.db"
# the storefront's origins the browser may call the API from, when CORS_ALLOWED_ORIGINS is unset
# outside production (the local stack serves the storefront itself)
LOCAL_CORS_ORIGINS = ("http://127.0.0.1:8000", "http://localhost:8000")


def normalise_database_url(url: str) -> str:
    """Map the URLs people write (``postgres://``, ``sqlite:///``…) to the async drivers."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    environment: Literal["local", "test", "production"] = "local"
    log_level: str = "INFO"
    service_name: str = "storefront-gateway"

    # PostgreSQL (RDS) in production; SQLite only as the zero-setup local default. In
    # production the URL carries no password: the user and password come from the secret
    # DATABASE_SECRET_ARN (RDS's managed master secret, JSON "username"/"password"), read
    # for each new connection, so an RDS rotation is picked up without a restart.
    database_url: str = DEFAULT_SQLITE_URL
    database_secret_arn: str | None = None
    database_pool_size: int = Field(default=5, ge=1, le=100)
    database_echo: bool = False

    # Redis (ElastiCache); None = in-process cache (local stack only, never the truth).
    redis_url: str | None = None

    # AWS: the endpoint points every client at the local emulator; None = real AWS.
    aws_region: str = "ap-south-1"
    aws_endpoint_url: str | None = None
    dynamodb_table: str = "storefront-payments"  # timeline, sales counters
    sns_customer_topic_arn: str = ""
    sns_admin_topic_arn: str = ""
    # KMS: customer PII (e-mail, phone) is sealed with data keys of this key (envelope
    # encryption, the customer id as encryption context). Required in production; without
    # it (local only) PII is not stored at all. Data keys are reused per customer for at
    # most this long and this many values (and this many customers at once).
    kms_key_id: str | None = None
    pii_data_key_max_age_seconds: float = Field(default=300, gt=0, le=3600)
    pii_data_key_max_uses: int = Field(default=100, ge=1, le=100_000)
    pii_data_key_cache_customers: int = Field(default=1000, ge=1, le=100_000)

    # Cognito: the user pool whose tokens the API accepts. The issuer always names the real
    # AWS host (the emulator's tokens do too); the JWKS URL follows aws_endpoint_url when set.
    cognito_user_pool_id: str | None = None
    cognito_client_ids: str = ""  # comma-separated app client ids
    cognito_issuer: str | None = None
    cognito_jwks_url: str | None = None
    jwks_cache_ttl_seconds: int = Field(default=3600, ge=60)
    jwks_min_refetch_seconds: int = Field(default=60, ge=0)
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)

    # Razorpay: keys and webhook secrets (from Secrets Manager in production). base_url None is
    # Razorpay itself; the local stack and tests point it at the sandbox.
    razorpay_key_id: str = ""
    razorpay_key_secret: SecretStr = SecretStr("")
    razorpay_webhook_secret: SecretStr = SecretStr("")
    razorpay_webhook_previous_secret: SecretStr = SecretStr("")  # accepted during a rotation
    # or all four from one Secrets Manager secret (JSON "key_id", "key_secret",
    # "webhook_secret", "webhook_secret_previous"), which wins over the four above
    razorpay_secret_arn: str | None = None
    # how long a secret read from Secrets Manager is used before it is read again
    secrets_cache_seconds: int = Field(default=300, ge=1, le=3600)
    razorpay_base_url: str | None = None
    razorpay_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    # Checkout and payment sessions
    merchant_name: str = "Demo Storefront"
    public_base_url: str = "http://127.0.0.1:8000"  # where Razorpay posts the checkout callback
    storefront_success_url: str = "http://127.0.0.1:8000/shop/checkout/success.html"
    storefront_failure_url: str = "http://127.0.0.1:8000/shop/checkout/failure.html"
    # the demo storefront (storefront/) at /shop/: unset = served by the app locally; in
    # production S3 + CloudFront serve it and the app does not
    storefront_served: bool | None = Field(default=None, validate_default=True)
    payment_session_ttl_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # a verify, callback or cancel carries out its own outbox effects (a manual capture,
    # notifications) for at most this long before it answers; the dispatcher does the rest
    payment_inline_dispatch_seconds: float = Field(default=2.0, ge=0, le=25)
    # the same for a webhook before its answer: 0 answers right after the commit
    webhook_inline_dispatch_seconds: float = Field(default=0.0, ge=0, le=25)
    # after a webhook's answer, carry out its effects in the background (uvicorn). Unset: yes,
    # except on Lambda, whose invocation (and so the answer) would wait for it; there the
    # scheduled job does it.
    webhook_dispatch_after_answer: bool | None = None
    aws_lambda_function_name: str | None = None  # set by the Lambda runtime itself
    currency: str = "INR"

    # a deploy's own functions (app/deploy_hooks.py) need only their part of production's
    # settings: "migrate" the database's, "pre-traffic" the new version to smoke-test
    deploy_task: Literal["migrate", "pre-traffic"] | None = None
    smoke_test_function_arn: str | None = None

    # Outbox: a message whose delivery failed this many times is parked (the dead letter)
    outbox_max_attempts: int = Field(default=MAX_ATTEMPTS, ge=1, le=1000)

    # GraphQL. GraphiQL and introspection: unset = on locally, off in production (an explicit
    # true is allowed there, and logged at start-up)
    graphiql_enabled: bool | None = Field(default=None, validate_default=True)
    # the local stack's demo users (JSON, stack.json's "users"), offered by GraphiQL's "Sign in
    # as a demo user" against the emulator's Cognito; never shown in production
    graphiql_demo_users: str = ""
    introspection_enabled: bool | None = Field(default=None, validate_default=True)
    max_page_size: int = Field(default=100, ge=1, le=1000)
    default_page_size: int = Field(default=20, ge=1, le=100)
    max_query_depth: int = Field(default=12, ge=1)
    # Query cost (schema/cost.py: scalar 0, object 1, a DynamoDB read 10, lists × `first`,
    # else × the default page size). The heaviest query the apps send, an admin's page of
    # payment sessions with every field (lines, refunds, checkout, timeline: 61 a session),
    # costs 1,223 at the default 20 a page; the storefront's catalog page (50 products) 153.
    # 5,000 leaves 4× headroom over it (a 100-session page of that costs 6,103: ask for 80)
    # and refuses 5 aliases of `paymentSessions(first: 100) { edges { node { timeline … } } }`
    # (1,102 each, 100 DynamoDB queries): the 30 of them (3,000 queries) ask 33,060.
    max_query_cost: int = Field(default=5_000, ge=1)

    # Hardening (API.md "Protection"): the browser origins CORS allows (comma-separated; unset
    # outside production: the local storefront's), and how long a request may take before it
    # answers 504 (a webhook's work after its answer is not counted)
    cors_allowed_origins: str = ""
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=900)

    # Rate limits (sliding windows in Redis; in process while it is down), in ``limits``'
    # notation ("300/minute", "10 per second"). GraphQL requests by cost, per user and per IP
    # (IPv6 by /64); the two mutations per occurrence (aliases count), per user and per IP;
    # the anonymous checkout callback per IP.
    rate_limits_enabled: bool = True
    # in query cost (schema/cost.py): a catalog page of 50 products costs 153, a cart 24, a
    # `{ __typename }` 1: a user may load ~130 catalog pages a minute, an address (NAT, an
    # office) twice that; the costliest query allowed (5,000) four times a minute per user
    rate_limit_principal: str = "20000/minute"
    rate_limit_ip: str = "40000/minute"
    rate_limit_payment_session_create: str = "10/minute"
    rate_limit_coupon_apply: str = "20/minute"
    rate_limit_callback: str = "30/minute"
    # Response cache (API.md "Caching and persisted queries"): anonymous catalog-only queries
    # (products, product, offers) answered from an in-process L1 and Redis (L2), keyed on the
    # catalog version that product/offer saves and stock moves bump (seen everywhere within
    # 1 s); false: every request runs (the benchmark's "cold" variant). L2 entries live this
    # long; L1 holds at most this many answers for at most this long.
    response_cache_enabled: bool = True
    response_cache_ttl_seconds: int = Field(default=30, ge=1, le=3600)
    response_cache_local_ttl_seconds: float = Field(default=10.0, gt=0, le=3600)
    response_cache_local_size: int = Field(default=1000, ge=1, le=100_000)
    # automatic persisted queries: how long Redis remembers a query text it was sent
    persisted_query_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60, le=30 * 24 * 3600)

    # comma-separated CIDRs of the proxies whose X-Forwarded-For is believed (in production
    # CloudFront's origin-facing ranges); empty: the header is never read
    trusted_proxies: str = ""

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("graphiql_enabled", "introspection_enabled", "storefront_served")
    @classmethod
    def _on_except_in_production(cls, value: bool | None, info: ValidationInfo) -> bool:
        return value if value is not None else info.data.get("environment") != "production"

    @field_validator(
        "rate_limit_principal",
        "rate_limit_ip",
        "rate_limit_payment_session_create",
        "rate_limit_coupon_apply",
        "rate_limit_callback",
    )
    @classmethod
    def _a_rate_limit(cls, value: str) -> str:
        try:
            item = limits.parse(value)
        except ValueError as exc:
            raise ValueError(
                f"not a rate limit ('300/minute', '10 per second'): {value!r}"
            ) from exc
        if item.amount < 1:
            raise ValueError(f"a rate limit allows at least 1: {value!r}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.trusted_proxies)

    @model_validator(mode="after")
    def _production_needs_its_secrets(self) -> Settings:
        """``ENVIRONMENT=production`` refuses to start without what it needs (API.md
        "Protection"): every missing piece is named at once, no value is ever printed."""
        if self.environment == "production":
            missing = production_gaps(self)
            if missing:
                raise ValueError(
                    "ENVIRONMENT=production cannot start: " + "; ".join(missing) + " (see the "
                    "README, Deploy to AWS)"
                )
        return self

    @property
    def dispatch_after_webhook_answer(self) -> bool:
        if self.webhook_dispatch_after_answer is not None:
            return self.webhook_dispatch_after_answer
        return self.aws_lambda_function_name is None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def cors_origins(self) -> list[str]:
        origins = [o.strip().rstrip("/") for o in self.cors_allowed_origins.split(",")]
        origins = [o for o in origins if o]
        if not origins and self.environment != "production":
            return list(LOCAL_CORS_ORIGINS)
        return origins

    @property
    def client_ids(self) -> list[str]:
        return [c.strip() for c in self.cognito_client_ids.split(",") if c.strip()]

    @property
    def issuer(self) -> str | None:
        if self.cognito_issuer:
            return self.cognito_issuer
        pool = self.cognito_user_pool_id
        if not pool:
            return None
        region = pool.split("_", 1)[0] if "_" in pool else self.aws_region
        return f"https://cognito-idp.{region}.amazonaws.com/{pool}"

    @property
    def jwks_url(self) -> str | None:
        if self.cognito_jwks_url:
            return self.cognito_jwks_url
        pool, issuer = self.cognito_user_pool_id, self.issuer
        if not pool or not issuer:
            return None
        if self.aws_endpoint_url:
            return f"{self.aws_endpoint_url.rstrip('/')}/{pool}/.well-known/jwks.json"
        return f"{issuer}/.well-known/jwks.json"


def _is_local_url(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    return host in {"127.0.0.1", "localhost", "0.0.0.0", "::1", "[::1]"}  # noqa: S104


def _database_gaps(s: Settings) -> list[str]:
    if s.is_sqlite:
        return ["DATABASE_URL is SQLite (the local default): set the RDS Proxy's URL"]
    if s.database_secret_arn is None and not urlsplit(s.database_url).password:
        return ["no database credentials: set DATABASE_SECRET_ARN"]
    return []


def _cors_gaps(s: Settings) -> list[str]:
    origins = s.cors_origins
    if not origins:
        return ["CORS_ALLOWED_ORIGINS is not set: list the storefront's https:// origins"]
    if "*" in origins:
        return ["CORS_ALLOWED_ORIGINS must not be '*' (CORS open to every site)"]
    bad = [
        o
        for o in origins
        if not o.startswith("https://") or _is_local_url(o) or urlsplit(o).path or "*" in o
    ]
    if bad:
        return [
            "CORS_ALLOWED_ORIGINS must list public https:// origins only (scheme and host, no "
            "path): not " + ", ".join(bad)
        ]
    return []


def _kms_gaps(s: Settings) -> list[str]:
    if not s.kms_key_id:
        return ["KMS_KEY_ID is not set (customer PII is encrypted with it)"]
    return []


def production_gaps(s: Settings) -> list[str]:
    """What a production deployment lacks, in words (empty: nothing)."""
    if s.deploy_task == "migrate":  # it also seals PII left plain (app/encrypt_pii.py)
        return _database_gaps(s) + _kms_gaps(s)
    if s.deploy_task == "pre-traffic":
        return [] if s.smoke_test_function_arn else ["SMOKE_TEST_FUNCTION_ARN is not set"]
    gaps = _database_gaps(s)
    gaps += _kms_gaps(s)
    if not s.redis_url:
        gaps.append("REDIS_URL is not set")
    if s.razorpay_secret_arn is None:
        gaps.append("RAZORPAY_SECRET_ARN is not set (Razorpay's keys and webhook secrets)")
    if not (s.cognito_user_pool_id and s.client_ids):
        gaps.append("COGNITO_USER_POOL_ID and COGNITO_CLIENT_IDS are not both set")
    if not (s.sns_customer_topic_arn and s.sns_admin_topic_arn):
        gaps.append("SNS_CUSTOMER_TOPIC_ARN and SNS_ADMIN_TOPIC_ARN are not both set")
    for name in ("public_base_url", "storefront_success_url", "storefront_failure_url"):
        url = getattr(s, name)
        if not url.startswith("https://") or _is_local_url(url):
            gaps.append(f"{name.upper()} must be the site's public https:// URL")
    gaps += _cors_gaps(s)
    if s.database_echo:
        gaps.append("DATABASE_ECHO is on: it would log every SQL statement and its values")
    return gaps


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
