"""Shared fixtures on real services: PostgreSQL, Redis, the AWS emulator (moto in server mode,
over HTTP) and the Razorpay sandbox (over HTTP), all on loopback.

Each test module owns what it writes: a database cloned from the run's migrated and seeded
template, a DynamoDB table and SNS topics of its own (``tests/support/stack.py``). A test that
moves a clock and runs a job takes ``private_stack``: a database and table of its own. Tests
may reach loopback only (``tests/support/loopback.py``).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from app.container import Container
from app.settings import Settings
from infra.local.cognito import CognitoStack, DemoUser, add_user, sign_in
from infra.local.cognito import provision as provision_cognito
from infra.local.emulator import provision_kms_key, start_emulator
from infra.local.razorpay_sandbox import SandboxConfig, SandboxServer
from infra.local.razorpay_sandbox.control_client import SandboxControl
from tests.support.services import free_port, postgres_server_url, redis_server_url
from tests.support.stack import (
    RAZORPAY_KEY_ID,
    RAZORPAY_KEY_SECRET,
    RAZORPAY_WEBHOOK_SECRET,
    REGION,
    Databases,
    GraphQLClient,
    Stack,
    bearer,
    open_stack,
    own_settings,
)

pytest_plugins = ["tests.support.loopback", "tests.support.metrics"]

TEST_RATE_LIMITS = {
    "rate_limit_principal": "100000000/minute",  # in query cost
    "rate_limit_ip": "100000000/minute",
    "rate_limit_payment_session_create": "10000/minute",
    "rate_limit_coupon_apply": "10000/minute",
    "rate_limit_callback": "10000/minute",
}

# Dummy credentials: every AWS client in tests talks to the emulator on loopback.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "ap-south-1")


def _label(request: pytest.FixtureRequest) -> str:
    """A short name for what a database or table belongs to: the test module's name."""
    return re.sub(r"[^a-z0-9]+", "_", request.node.name.lower().removesuffix(".py"))[-24:]


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    with postgres_server_url() as url:
        yield url


@pytest.fixture(scope="session")
async def databases(pg_server_url: str) -> AsyncIterator[Databases]:
    """This run's databases: a migrated, seeded template and its clones, dropped at the end."""
    databases = Databases(pg_server_url)
    await databases.create_template()
    yield databases
    await databases.drop_all()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server_url() as url:
        yield url


@pytest.fixture(scope="session")
def aws_endpoint_url() -> Iterator[str]:
    server, url = start_emulator(port=free_port())
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def kms_key_id(aws_endpoint_url: str) -> str:
    """The emulator's PII key (``alias/storefront-pii``, as the local stack makes it): every
    app in the run seals customer PII with it."""
    return await provision_kms_key(endpoint_url=aws_endpoint_url, region=REGION)


@pytest.fixture(scope="session")
def cognito(aws_endpoint_url: str) -> CognitoStack:
    """A user pool in the emulator with the demo users (asha, ravi; admin in group admin)."""
    return provision_cognito(endpoint_url=aws_endpoint_url, region=REGION)


@pytest.fixture(scope="session")
def razorpay_sandbox() -> Iterator[SandboxServer]:
    """The Razorpay sandbox over HTTP on loopback, on a compressed clock."""
    config = SandboxConfig(
        key_id=RAZORPAY_KEY_ID,
        key_secret=RAZORPAY_KEY_SECRET,
        webhook_secret=RAZORPAY_WEBHOOK_SECRET,
        time_scale=0.001,
        webhook_timeout=5.0,
    )
    with SandboxServer(config=config) as server:
        yield server


@pytest.fixture
def sandbox(razorpay_sandbox: SandboxServer) -> Iterator[SandboxControl]:
    """Test control of the sandbox, reset before and after each test that asks for it, so
    its config (faults, manual capture) never reaches another test."""
    with SandboxControl(base_url=razorpay_sandbox.base_url) as control:
        control.reset()
        yield control
        control.reset()


@pytest.fixture(scope="session")
def base_settings(
    redis_url: str,
    aws_endpoint_url: str,
    cognito: CognitoStack,
    razorpay_sandbox: SandboxServer,
    kms_key_id: str,
) -> Settings:
    """What every app in the run shares; database, table and topics are filled in per owner.
    Every endpoint is on loopback: the emulator, the sandbox, PostgreSQL and Redis."""
    return Settings(
        environment="test",
        database_url="postgresql+asyncpg://unset.invalid/none",
        redis_url=redis_url,
        aws_endpoint_url=aws_endpoint_url,
        aws_region=REGION,
        kms_key_id=kms_key_id,
        cognito_user_pool_id=cognito.user_pool_id,
        cognito_client_ids=cognito.client_id,
        razorpay_key_id=RAZORPAY_KEY_ID,
        razorpay_key_secret=RAZORPAY_KEY_SECRET,
        razorpay_webhook_secret=RAZORPAY_WEBHOOK_SECRET,
        razorpay_base_url=razorpay_sandbox.base_url,
        razorpay_timeout_seconds=3.0,
        log_level="WARNING",
        # limits stay on (every request goes through them) but far above what a test module
        # sends from 127.0.0.1; tests/graphql/test_rate_limits.py sets its own low figures
        **TEST_RATE_LIMITS,
    )


@pytest.fixture(scope="module")
async def module_stack(
    request: pytest.FixtureRequest,
    base_settings: Settings,
    databases: Databases,
    aws_endpoint_url: str,
) -> AsyncIterator[Stack]:
    """The app for one test module: its own database, DynamoDB table and SNS topics."""
    settings, topics = await own_settings(
        base_settings, databases=databases, label=_label(request), aws_endpoint_url=aws_endpoint_url
    )
    async with open_stack(settings, topics) as stack:
        yield stack
    await databases.drop(settings.database_url)


@pytest.fixture
async def private_stack(
    request: pytest.FixtureRequest,
    base_settings: Settings,
    databases: Databases,
    aws_endpoint_url: str,
) -> AsyncIterator[Stack]:
    """An app of one test's own (database, table, topics): for fake clocks and the jobs they
    run, and for anything that counts everything in a store."""
    settings, topics = await own_settings(
        base_settings, databases=databases, label="own", aws_endpoint_url=aws_endpoint_url
    )
    async with open_stack(settings, topics) as stack:
        yield stack
    await databases.drop(settings.database_url)


@pytest.fixture(scope="module")
def settings(module_stack: Stack) -> Settings:
    return module_stack.settings


@pytest.fixture(scope="module")
def database_url(module_stack: Stack) -> str:
    return module_stack.settings.database_url


@pytest.fixture(scope="module")
def sns_topics(module_stack: Stack) -> dict[str, str]:
    """The module's customer and admin topics, each with an SQS queue subscribed so tests
    can read back exactly what was published."""
    return module_stack.queues


@pytest.fixture(scope="session")
def tokens(aws_endpoint_url: str, cognito: CognitoStack) -> dict[str, str]:
    """An access token per demo user, from the emulator's Cognito (USER_PASSWORD_AUTH)."""
    return {
        user.username: sign_in(
            endpoint_url=aws_endpoint_url,
            region=REGION,
            client_id=cognito.client_id,
            username=user.username,
            password=user.password,
        )["AccessToken"]
        for user in cognito.users
    }


@pytest.fixture
def new_customer(aws_endpoint_url: str, cognito: CognitoStack) -> Callable[..., dict[str, str]]:
    """Signs up a fresh customer (own cart, own sessions) and answers its bearer header."""

    def make(*groups: str) -> dict[str, str]:
        user = DemoUser(
            username=f"cust-{secrets.token_hex(6)}",
            password=f"Pw-{secrets.token_hex(8)}!",
            email=f"{secrets.token_hex(4)}@example.com",
            groups=list(groups),
        )
        add_user(
            endpoint_url=aws_endpoint_url, region=REGION, pool_id=cognito.user_pool_id, user=user
        )
        token = sign_in(
            endpoint_url=aws_endpoint_url,
            region=REGION,
            client_id=cognito.client_id,
            username=user.username,
            password=user.password,
        )["AccessToken"]
        return bearer(token)

    return make


@pytest.fixture
def customer_headers(new_customer: Callable[..., dict[str, str]]) -> dict[str, str]:
    """A fresh signed-in customer's headers."""
    return new_customer()


@pytest.fixture(scope="module")
def container(module_stack: Stack) -> Container:
    return module_stack.container


@pytest.fixture(scope="module")
def client(module_stack: Stack) -> httpx.AsyncClient:
    return module_stack.client


@pytest.fixture(scope="module")
def gql(module_stack: Stack) -> GraphQLClient:
    return module_stack.gql
