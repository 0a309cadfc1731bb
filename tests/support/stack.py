"""The app on real services, as tests build it: databases cloned from a migrated template, a
DynamoDB table and SNS topics of their own, and clients to talk to it.

Isolation is by ownership. The run migrates and seeds one template database; every test module
gets a database cloned from it (``CREATE DATABASE … TEMPLATE``, a file copy that is far faster
than migrating), its own DynamoDB table and SNS topics; a test that moves a clock and runs a
job takes a :func:`open_stack` of its own, so the job sees nothing of anybody else's. Redis
keys are prefixed by the database URL (``Container.cache_prefix``), so a database of one's own
is a Redis key space of one's own too.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from app.container import Container
from app.main import create_app
from app.settings import Settings, normalise_database_url
from datasources.dynamodb import ensure_table
from datasources.postgres import migrate
from infra.local.emulator import provision_topics
from infra.local.seed import seed_catalog

REGION = "ap-south-1"
RAZORPAY_KEY_ID = "rzp_test_Zx98Yw76Vu54Ts"
RAZORPAY_KEY_SECRET = "app-suite-key-secret"
RAZORPAY_WEBHOOK_SECRET = "app-suite-webhook-secret"


def unique(prefix: str) -> str:
    """``prefix`` with a random suffix: a table, topic or secret name no other run shares."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def asyncpg_dsn(url: str) -> str:
    return normalise_database_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


class Databases:
    """Creates and drops this run's databases on one PostgreSQL server.

    ``CREATE DATABASE … TEMPLATE`` needs the template to have no other connection, and two
    clones of one template cannot run at once: clones are serialised by a lock.
    """

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.run = f"st{secrets.token_hex(4)}"
        self.template: str | None = None
        self._lock = asyncio.Lock()
        self._made: list[str] = []

    def url(self, name: str) -> str:
        return normalise_database_url(with_database(self.server_url, name))

    async def _admin(self, statement: str) -> None:
        connection = await asyncpg.connect(asyncpg_dsn(with_database(self.server_url, "postgres")))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    async def create_template(self) -> str:
        """Migrate an empty database to head and seed the demo catalog in it, once a run."""
        name = f"{self.run}_template"
        await self._admin(f'CREATE DATABASE "{name}"')
        self._made.append(name)
        container = Container(Settings(environment="test", database_url=self.url(name)))
        try:
            await migrate.upgrade(container.engine)
            await seed_catalog(container.sessions)
        finally:
            await container.aclose()
        self.template = name
        return name

    async def clone(self, label: str) -> str:
        """A new database, a copy of the template: answers its URL."""
        if self.template is None:
            raise RuntimeError("create_template() first")
        name = f"{self.run}_{label}_{secrets.token_hex(3)}"[:63]
        async with self._lock:
            await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self._made.append(name)
        return self.url(name)

    async def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self._made:
            self._made.remove(name)

    async def drop_all(self) -> None:
        for name in reversed(list(self._made)):
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._made.clear()


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


@dataclass(frozen=True, slots=True)
class Stack:
    """One app on a database, a DynamoDB table and SNS topics of its own."""

    settings: Settings
    container: Container
    client: httpx.AsyncClient
    gql: GraphQLClient
    queues: dict[str, str]  # "customer"/"admin" topic ARNs and "*_queue" SQS queue URLs


async def own_settings(
    base: Settings, *, databases: Databases, label: str, aws_endpoint_url: str
) -> tuple[Settings, dict[str, str]]:
    """``base`` with a cloned database, a new DynamoDB table name and new SNS topics."""
    tag = secrets.token_hex(4)
    topics = await provision_topics(
        endpoint_url=aws_endpoint_url, region=REGION, prefix=f"{label[:12]}{tag}"
    )
    settings = base.model_copy(
        update={
            "database_url": await databases.clone(label),
            "dynamodb_table": f"storefront-{label[:20]}-{tag}",
            "sns_customer_topic_arn": topics["customer"],
            "sns_admin_topic_arn": topics["admin"],
        }
    )
    return settings, topics


@asynccontextmanager
async def open_stack(settings: Settings, queues: dict[str, str]) -> AsyncIterator[Stack]:
    """The app on ``settings`` (whose database is already migrated), with its table made."""
    container = Container(settings)
    try:
        await ensure_table(container.aws, table_name=settings.dynamodb_table)
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Stack(
                settings=settings,
                container=container,
                client=http,
                gql=GraphQLClient(http),
                queues=queues,
            )
    finally:
        await container.aclose()
