"""Secrets at run time (issue 10, API.md "Protection"): read from the emulator's Secrets
Manager through Powertools' cached provider, used by the app, and picked up after a rotation
without a restart; the database login of a new connection comes from its secret, against
real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from app.container import Container
from app.main import create_app
from app.secrets import RuntimeSecrets, SecretsNotReady
from app.settings import Settings
from datasources.aws import AwsClients
from datasources.postgres.engine import REFUSED_LOGIN, _connect_as
from datasources.secrets import SecretsManagerReader, SecretUnavailable
from tests.support.services import free_port
from tests.support.stack import REGION, Databases, asyncpg_dsn, unique

RAZORPAY = {
    "key_id": "rzp_test_rotation01",
    "key_secret": "first-key-secret-value",
    "webhook_secret": "first-webhook-secret",
    "webhook_secret_previous": "",
}


async def new_secret(aws: AwsClients, value: dict[str, Any]) -> str:
    client = await aws.client("secretsmanager")
    answer = await client.create_secret(Name=unique("razorpay"), SecretString=json.dumps(value))
    return str(answer["ARN"])


async def rotate(aws: AwsClients, arn: str, value: dict[str, Any]) -> None:
    client = await aws.client("secretsmanager")
    await client.put_secret_value(SecretId=arn, SecretString=json.dumps(value))


def reader(endpoint: str, max_age: int = 300) -> SecretsManagerReader:
    return SecretsManagerReader(region=REGION, endpoint_url=endpoint, max_age_seconds=max_age)


# --- the reader ------------------------------------------------------------------------------


async def test_a_secret_is_read_once_and_served_from_the_cache_until_it_is_due(
    aws: AwsClients, aws_endpoint_url: str
) -> None:
    arn = await new_secret(aws, RAZORPAY)
    secrets = reader(aws_endpoint_url)
    assert not secrets.is_fresh(arn)
    assert await secrets.aget_json(arn) == RAZORPAY
    assert secrets.is_fresh(arn)
    await rotate(aws, arn, RAZORPAY | {"key_secret": "second"})
    assert (await secrets.aget_json(arn))["key_secret"] == "first-key-secret-value"  # cached
    assert (await secrets.aget_json(arn, force=True))["key_secret"] == "second"


async def test_missing_or_non_json_secrets_are_refused_by_name_never_by_value(
    aws: AwsClients, aws_endpoint_url: str
) -> None:
    client = await aws.client("secretsmanager")
    text = await client.create_secret(Name=unique("plain"), SecretString="hunter2-not-json")
    missing = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{unique('nowhere')}"
    secrets = reader(aws_endpoint_url)
    for arn in (text["ARN"], missing):
        with pytest.raises(SecretUnavailable) as caught:
            await secrets.aget_json(arn)
        assert arn in str(caught.value)
        assert "hunter2" not in str(caught.value)


# --- the app's secrets -------------------------------------------------------------------------


def with_secret(base_settings: Settings, arn: str, **changes: Any) -> Settings:
    return base_settings.model_copy(
        update={
            "razorpay_secret_arn": arn,
            "razorpay_key_id": "",
            "secrets_cache_seconds": 1,
            **changes,
        }
    )


async def test_razorpay_keys_come_from_the_secret_and_a_rotation_is_picked_up_without_restart(
    aws: AwsClients, base_settings: Settings
) -> None:
    arn = await new_secret(aws, RAZORPAY)
    container = Container(with_secret(base_settings, arn))
    try:
        await container.refresh_secrets()
        before = container.deps
        assert (before.checkout.key_id, before.checkout.key_secret) == (
            "rzp_test_rotation01",
            "first-key-secret-value",
        )
        assert before.checkout.webhook_secrets == ("first-webhook-secret",)
        assert container.gateway.key_id == "rzp_test_rotation01"

        rotated = {
            "key_id": "rzp_test_rotation02",
            "key_secret": "second-key-secret-value",
            "webhook_secret": "second-webhook-secret",
            "webhook_secret_previous": "first-webhook-secret",
        }
        await rotate(aws, arn, rotated)
        await container.refresh_secrets()  # not due yet: still the first ones
        assert container.deps.checkout.key_id == "rzp_test_rotation01"
        await asyncio.sleep(1.1)
        await container.refresh_secrets()
        after = container.deps
        assert (after.checkout.key_id, after.checkout.key_secret) == (
            "rzp_test_rotation02",
            "second-key-secret-value",
        )
        assert after.checkout.webhook_secrets == ("second-webhook-secret", "first-webhook-secret")
        assert container.gateway.key_id == "rzp_test_rotation02"
        assert after.gateway is before.gateway  # the same pools, signing with the new pair
    finally:
        await container.aclose()


async def test_a_failed_re_read_keeps_the_last_good_keys(
    aws: AwsClients, base_settings: Settings, aws_endpoint_url: str
) -> None:
    arn = await new_secret(aws, RAZORPAY)
    secrets = RuntimeSecrets(with_secret(base_settings, arn), reader(aws_endpoint_url, 1))
    await secrets.refresh()
    await rotate(aws, arn, {"key_id": "only-an-id"})  # a broken rotation
    await asyncio.sleep(1.1)
    assert await secrets.refresh() is False
    assert secrets.razorpay().key_secret == "first-key-secret-value"


async def test_keys_never_show_in_a_repr(aws: AwsClients, base_settings: Settings) -> None:
    arn = await new_secret(aws, RAZORPAY)
    secrets = RuntimeSecrets(with_secret(base_settings, arn))
    await secrets.refresh()
    shown = repr(secrets.razorpay())
    assert "rzp_test_rotation01" in shown
    assert "first-key-secret-value" not in shown and "first-webhook-secret" not in shown


async def test_without_its_secret_the_app_answers_503_in_json_with_the_request_id(
    base_settings: Settings,
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    settings = with_secret(
        base_settings,
        f"arn:aws:secretsmanager:{REGION}:123456789012:secret:razorpay",
        aws_endpoint_url=nowhere,
    )
    container = Container(settings)
    transport = httpx.ASGITransport(app=create_app(container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            answer = await http.post("/graphql", json={"query": "{ __typename }"})
            health = await http.get("/healthz")
    finally:
        await container.aclose()
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    [error] = answer.json()["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert answer.json()["extensions"]["requestId"] == answer.headers["x-request-id"]
    assert health.status_code == 200


def test_a_secret_without_its_fields_is_not_ready_naming_what_is_missing() -> None:
    from app.secrets import database_login_of, razorpay_keys_of

    with pytest.raises(SecretsNotReady, match="missing key_secret, webhook_secret"):
        razorpay_keys_of({"key_id": "rzp"}, name="arn:x")
    with pytest.raises(SecretsNotReady, match="not text: key_secret"):
        razorpay_keys_of({"key_id": "a", "key_secret": 5, "webhook_secret": "w"}, name="arn:x")
    with pytest.raises(SecretsNotReady, match="missing password"):
        database_login_of({"username": "app"}, name="arn:db")


# --- the database login ------------------------------------------------------------------------


@pytest.fixture
async def two_roles(databases: Databases) -> AsyncIterator[tuple[str, str, str]]:
    """A database of its own and two roles that may use it (trust auth on this machine: the
    password is not checked, the user is)."""
    url = await databases.clone("secrets")
    first, second = (f"app_{uuid.uuid4().hex[:8]}" for _ in range(2))
    admin = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for role in (first, second):
            await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'p-{role}'")
            await admin.execute(f"GRANT ALL ON SCHEMA public TO {role}")
    finally:
        await admin.close()
    yield url, first, second
    await databases.drop(url)
    admin = await asyncpg.connect(asyncpg_dsn(databases.server_url))
    try:
        for role in (first, second):
            await admin.execute(f"DROP ROLE IF EXISTS {role}")
    finally:
        await admin.close()


async def test_new_connections_log_in_with_the_database_secret_current_after_a_rotation(
    aws: AwsClients, base_settings: Settings, two_roles: tuple[str, str, str]
) -> None:
    url, first, second = two_roles
    client = await aws.client("secretsmanager")
    arn = (
        await client.create_secret(
            Name=unique("db"), SecretString=json.dumps({"username": first, "password": "p1"})
        )
    )["ARN"]
    settings = base_settings.model_copy(
        update={"database_url": url, "database_secret_arn": arn, "secrets_cache_seconds": 1}
    )
    container = Container(settings)
    try:
        await container.refresh_secrets()
        async with container.engine.connect() as connection:
            assert (await connection.exec_driver_sql("SELECT current_user")).scalar() == first
        await client.put_secret_value(
            SecretId=arn, SecretString=json.dumps({"username": second, "password": "p2"})
        )
        await asyncio.sleep(1.1)
        await container.refresh_secrets()
        await container.engine.dispose()  # the pool's connections were opened as the first
        async with container.engine.connect() as connection:
            assert (await connection.exec_driver_sql("SELECT current_user")).scalar() == second
    finally:
        await container.aclose()


class _Refused(Exception):
    sqlstate = "28P01"


class _Dialect:
    def __init__(self, accepted: str) -> None:
        self.accepted = accepted
        self.tried: list[str] = []

    def connect(self, *_: Any, **cparams: Any) -> str:
        self.tried.append(cparams["password"])
        if cparams["password"] != self.accepted:
            raise _Refused("password authentication failed")
        return "connection"


def test_a_refused_password_is_read_again_once_and_retried() -> None:
    reads: list[bool] = []

    def login(force: bool) -> tuple[str | None, str]:
        reads.append(force)
        return ("app", "new" if force else "old")

    dialect = _Dialect(accepted="new")
    params: dict[str, Any] = {}
    assert _connect_as(login)(dialect, None, (), params) == "connection"
    assert (reads, dialect.tried, params["user"]) == ([False, True], ["old", "new"], "app")
    assert "28P01" in REFUSED_LOGIN


def test_a_password_refused_twice_raises_and_other_errors_are_not_retried() -> None:
    dialect = _Dialect(accepted="never")
    with pytest.raises(_Refused):
        _connect_as(lambda force: ("app", "same"))(dialect, None, (), {})
    assert dialect.tried == ["same"]  # the secret did not change: no second attempt

    class _Down(Exception):
        sqlstate = "08006"

    class _Broken(_Dialect):
        def connect(self, *_: Any, **cparams: Any) -> str:
            self.tried.append(cparams["password"])
            raise _Down("connection failure")

    broken = _Broken(accepted="x")
    with pytest.raises(_Down):
        _connect_as(lambda force: ("app", "new" if force else "old"))(broken, None, (), {})
    assert broken.tried == ["old"]
