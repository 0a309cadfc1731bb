"""Shared fixtures: one fresh PostgreSQL database per run (migrated from empty to head, dropped
at the end), Redis, the AWS emulator (moto in server mode, over HTTP), and the app on them."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from app.container import Container
from app.main import create_app
from app.settings import Settings, normalise_database_url
from datasources.dynamodb import ensure_table
from datasources.postgres import migrate
from infra.local.cognito import CognitoStack, DemoUser, add_user, sign_in
from infra.local.cognito import provision as provision_cognito
from infra.local.emulator import provision_topics, start_emulator
from infra.local.razorpay_sandbox import SandboxConfig, SandboxServer
from infra.local.razorpay_sandbox.control_client import SandboxControl
from infra.local.seed import seed_catalog
from tests.support.services import free_port, postgres_server_url, redis_server_url

# Dummy credentials: every AWS client in tests talks to the emulator on loopback.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "ap-south-1")
REGION = "ap-south-1"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    with postgres_server_url() as url:
        yield url


@pytest.fixture(scope="session")
async def database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A database of this run's own: runs never collide, and it is dropped at the end."""
    name = f"storefront_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin_dsn = _asyncpg_dsn(normalise_database_url(_with_database(pg_server_url, "postgres")))
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield normalise_database_url(_with_database(pg_server_url, name))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


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
def cognito(aws_endpoint_url: str) -> CognitoStack:
    """A user pool in the emulator with the demo users (asha, ravi; admin in group admin)."""
    return provision_cognito(endpoint_url=aws_endpoint_url, region=REGION)


RAZORPAY_KEY_ID = "rzp_test_Zx98Yw76Vu54Ts"
RAZORPAY_KEY_SECRET = "app-suite-key-secret"
RAZORPAY_WEBHOOK_SECRET = "app-suite-webhook-secret"


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
    """Test control of the sandbox, reset for each test that asks for it."""
    with SandboxControl(base_url=razorpay_sandbox.base_url) as control:
        control.reset()
        yield control


@pytest.fixture(scope="session")
async def sns_topics(aws_endpoint_url: str) -> dict[str, str]:
    """A customer and an admin topic in the emulator, each with an SQS queue subscribed so
    tests can read back exactly what was published."""
    return await provision_topics(
        endpoint_url=aws_endpoint_url, region=REGION, prefix=f"t{secrets.token_hex(4)}"
    )


@pytest.fixture(scope="session")
def settings(
    database_url: str,
    redis_url: str,
    aws_endpoint_url: str,
    cognito: CognitoStack,
    razorpay_sandbox: SandboxServer,
    sns_topics: dict[str, str],
) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        aws_endpoint_url=aws_endpoint_url,
        aws_region=REGION,
        cognito_user_pool_id=cognito.user_pool_id,
        cognito_client_ids=cognito.client_id,
        dynamodb_table=f"storefront-test-{secrets.token_hex(4)}",
        razorpay_key_id=RAZORPAY_KEY_ID,
        razorpay_key_secret=RAZORPAY_KEY_SECRET,
        razorpay_webhook_secret=RAZORPAY_WEBHOOK_SECRET,
        razorpay_base_url=razorpay_sandbox.base_url,
        razorpay_timeout_seconds=3.0,
        sns_customer_topic_arn=sns_topics["customer"],
        sns_admin_topic_arn=sns_topics["admin"],
        log_level="WARNING",
    )


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


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
async def container(settings: Settings) -> AsyncIterator[Container]:
    container = Container(settings)
    await migrate.upgrade(container.engine)
    await seed_catalog(container.sessions)
    await ensure_table(container.aws, table_name=settings.dynamodb_table)
    yield container
    await container.aclose()


@pytest.fixture(scope="session")
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


class GraphQLClient:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client

    async def __call__(
        self,
        query: str,
        variables: dict[str, object] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> dict[str, object]:
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body


@pytest.fixture(scope="session")
def gql(client: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(client)
