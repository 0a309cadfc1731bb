"""What the benchmark runs against: PostgreSQL and Redis (found as the tests find them), the AWS
emulator and the Razorpay sandbox as processes of their own, the project under uvicorn (one
process per configuration), and the baselines under uvicorn.

Everything is on loopback and made for this run: a database ``storefront_bench_<random>``
(migrated, seeded, dropped with ``FORCE`` at the end), a user pool, a KMS key, SNS topics and a
DynamoDB table in the emulator (which dies with the run), and the Redis keys of the run's
database prefix (deleted at the end).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

import httpx
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.container import Container
from app.settings import Settings, normalise_database_url
from datasources.dynamodb import ensure_table
from datasources.postgres import migrate
from infra.local.cognito import CognitoStack, DemoUser, add_user, sign_in
from infra.local.cognito import provision as provision_cognito
from infra.local.emulator import EmulatorProcess, provision_kms_key, provision_topics
from infra.local.seed import seed_catalog
from tests.support.app_process import app_env
from tests.support.services import free_port, port_answers

ROOT = Path(__file__).resolve().parent.parent
REGION = "ap-south-1"
# test-mode keys of the local sandbox (nothing real accepts them)
RAZORPAY_KEY_ID = "rzp_test_BenchKey000001"
RAZORPAY_KEY_SECRET = "bench-key-secret"  # noqa: S105
RAZORPAY_WEBHOOK_SECRET = "bench-webhook-secret"  # noqa: S105


class BenchError(RuntimeError):
    """Something answered wrongly or did not start: the figures would mean nothing."""


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def bench_database(server_url: str) -> AsyncIterator[tuple[str, str]]:
    """A new database of this run's own (its URL, and the server's version); dropped after."""
    name = f"storefront_bench_{secrets.token_hex(4)}"
    admin = create_async_engine(
        normalise_database_url(_with_database(server_url, "postgres")),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
    )
    try:
        async with admin.connect() as connection:
            version = str(await connection.scalar(text("SHOW server_version")))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield normalise_database_url(_with_database(server_url, name)), version
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


class Process:
    """A child process serving HTTP on a loopback port; its output goes to a log file."""

    def __init__(self, name: str, command: list[str], *, env: dict[str, str] | None, log: Path):
        self.name = name
        self.command = command
        self.env = env
        self.log_path = log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, *, timeout: float = 30.0) -> Process:
        self._log = self.log_path.open("ab")
        command = [part.replace("{port}", str(self.port)) for part in self.command]
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while not port_answers("127.0.0.1", self.port):
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited at start-up:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} did not listen within {timeout} s")
            time.sleep(0.05)
        return self

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def rss_kib(self) -> int:
        """VmRSS of the process, from /proc/<pid>/status."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise BenchError(f"no VmRSS for {self.name}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


def uvicorn_process(name: str, app: str, *, env: dict[str, str] | None, log: Path) -> Process:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return Process(name, command, env=env, log=log)


@dataclass
class Stack:
    settings: Settings  # what the project processes are configured with
    cognito: CognitoStack
    postgres_version: str
    emulator_url: str
    razorpay_url: str
    logs: Path

    def env(self, **extra: object) -> dict[str, str]:
        """The project's environment: rate limits off, log level WARNING, plus ``extra``
        (settings the app may not know yet are ignored by its Settings)."""
        return app_env(self.settings, rate_limits_enabled=False, log_level="WARNING", **extra)

    def new_user(self, *groups: str) -> tuple[str, str]:
        """A new confirmed user in the pool: its access token and its subject (``sub``)."""
        user = DemoUser(
            username=f"bench-{secrets.token_hex(5)}",
            password=f"Pw-{secrets.token_hex(8)}!",
            email=f"{secrets.token_hex(4)}@example.com",
            groups=list(groups),
            phone_number="+919900000099",
        )
        add_user(
            endpoint_url=self.emulator_url,
            region=REGION,
            pool_id=self.cognito.user_pool_id,
            user=user,
        )
        token = sign_in(
            endpoint_url=self.emulator_url,
            region=REGION,
            client_id=self.cognito.client_id,
            username=user.username,
            password=user.password,
        )["AccessToken"]
        return token, _subject(token)


def _subject(token: str) -> str:
    import base64
    import json

    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["sub"])


@contextlib.contextmanager
def emulator(logs: Path) -> Iterator[str]:
    with EmulatorProcess(port=free_port(), log=logs / "emulator.log") as process:
        yield process.url


@contextlib.contextmanager
def razorpay_sandbox(logs: Path) -> Iterator[str]:
    command = [
        sys.executable,
        "-m",
        "infra.local.razorpay_sandbox",
        "--port",
        "{port}",
        "--key-id",
        RAZORPAY_KEY_ID,
        "--key-secret",
        RAZORPAY_KEY_SECRET,
        "--webhook-secret",
        RAZORPAY_WEBHOOK_SECRET,
        "--log-level",
        "warning",
    ]
    process = Process("razorpay sandbox", command, env=None, log=logs / "sandbox.log").start()
    try:
        yield process.url
    finally:
        process.stop()


@contextlib.asynccontextmanager
async def open_stack(
    *, postgres_url: str, redis_url: str, emulator_url: str, razorpay_url: str, logs: Path
) -> AsyncIterator[Stack]:
    """The database (migrated, seeded), the user pool, KMS key, topics and table; the settings
    the project processes run with."""
    async with bench_database(postgres_url) as (database_url, postgres_version):
        cognito = await asyncio.to_thread(
            provision_cognito, endpoint_url=emulator_url, region=REGION
        )
        kms_key_id = await provision_kms_key(endpoint_url=emulator_url, region=REGION)
        topics = await provision_topics(endpoint_url=emulator_url, region=REGION, prefix="bench")
        settings = Settings(
            environment="test",
            database_url=database_url,
            redis_url=redis_url,
            aws_endpoint_url=emulator_url,
            aws_region=REGION,
            kms_key_id=kms_key_id,
            cognito_user_pool_id=cognito.user_pool_id,
            cognito_client_ids=cognito.client_id,
            razorpay_key_id=RAZORPAY_KEY_ID,
            razorpay_key_secret=RAZORPAY_KEY_SECRET,
            razorpay_webhook_secret=RAZORPAY_WEBHOOK_SECRET,
            razorpay_base_url=razorpay_url,
            sns_customer_topic_arn=topics["customer"],
            sns_admin_topic_arn=topics["admin"],
            dynamodb_table="storefront-bench",
            log_level="WARNING",
            rate_limits_enabled=False,
        )
        container = Container(settings)
        try:
            await migrate.upgrade(container.engine)
            await seed_catalog(container.sessions)
            await ensure_table(container.aws, table_name=settings.dynamodb_table)
            yield Stack(
                settings=settings,
                cognito=cognito,
                postgres_version=postgres_version,
                emulator_url=emulator_url,
                razorpay_url=razorpay_url,
                logs=logs,
            )
        finally:
            if container.redis is not None:
                with contextlib.suppress(RedisError, OSError):
                    async for key in container.redis.scan_iter(match=f"{container.cache_prefix}:*"):
                        await container.redis.delete(key)
            await container.aclose()


async def graphql(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, object] | None = None,
    *,
    token: str | None = None,
) -> dict[str, object]:
    """One POST /graphql that must answer 200 without errors: answers its ``data``."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    if response.status_code != 200:
        raise BenchError(f"HTTP {response.status_code}: {response.text[:500]}")
    body = response.json()
    if body.get("errors"):
        raise BenchError(f"errors: {body['errors']}")
    data: dict[str, object] = body["data"]
    return data
