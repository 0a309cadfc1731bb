"""Customer PII at rest (API.md "Protection"): a checkout by a customer whose ID token carries
an e-mail and a phone, on real PostgreSQL, the emulator's KMS, DynamoDB and SNS, and the
Razorpay sandbox.

Neither value is in plain text in ``payment_sessions``, the outbox or the DynamoDB timeline
(read raw: SQL and a table scan); the customer's SNS message still carries both, opened at send
time; the owner and admins see them as Checkout's prefill, nobody else does; and
``python -m app.encrypt_pii`` seals rows from before encryption, idempotently.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from app.encrypt_pii import encrypt_pii
from datasources.postgres.pii_backfill import Sealed
from domain.identity import Principal
from domain.pii import is_sealed
from infra.local.cognito import CognitoStack, DemoUser, add_user, sign_in
from infra.local.razorpay_sandbox.control_client import SandboxControl
from resolvers import payments
from tests.support.jobs import run_jobs_until_outbox_empty
from tests.support.payments_flow import open_session, own_product, retire_product
from tests.support.published import drain
from tests.support.shop import GET, data, verify
from tests.support.stack import REGION, Stack, asyncpg_dsn, bearer

PREFILL = """query($id: ID!) { paymentSession(id: $id) {
  id checkout { prefillEmail prefillContact } } }"""

Customer = tuple[dict[str, str], str, str]  # headers, e-mail, phone


@pytest.fixture
def customer_with_phone(aws_endpoint_url: str, cognito: CognitoStack) -> Callable[[], Customer]:
    """A fresh customer signed in with an ID token (it carries ``email`` and
    ``phone_number``, as Cognito's does): answers its headers, e-mail and phone."""

    def make() -> Customer:
        digits = "".join(secrets.choice("0123456789") for _ in range(9))
        user = DemoUser(
            username=f"pii-{secrets.token_hex(5)}",
            password=f"Pw-{secrets.token_hex(8)}!",
            email=f"pii.{secrets.token_hex(4)}@example.com",
            phone_number=f"+919{digits}",
        )
        add_user(
            endpoint_url=aws_endpoint_url, region=REGION, pool_id=cognito.user_pool_id, user=user
        )
        tokens = sign_in(
            endpoint_url=aws_endpoint_url,
            region=REGION,
            client_id=cognito.client_id,
            username=user.username,
            password=user.password,
        )
        assert user.phone_number is not None
        return bearer(tokens["IdToken"]), user.email, user.phone_number

    return make


async def session_row(database_url: str, session_id: str) -> dict[str, Any]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        row = await connection.fetchrow(
            "SELECT * FROM payment_sessions WHERE id = $1::uuid", session_id
        )
    finally:
        await connection.close()
    assert row is not None
    return dict(row)


async def outbox_payloads(database_url: str) -> list[tuple[str, dict[str, Any]]]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch("SELECT kind, payload::text AS payload FROM outbox")
    finally:
        await connection.close()
    return [(row["kind"], json.loads(row["payload"])) for row in rows]


async def timeline_items(stack: Stack, session_id: str) -> list[dict[str, Any]]:
    """Every DynamoDB item of the session (entries and their id markers), raw."""
    dynamodb = await stack.container.aws.client("dynamodb")
    answer = await dynamodb.query(
        TableName=stack.settings.dynamodb_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"SESSION#{session_id}"}},
        ConsistentRead=True,
    )
    items: list[dict[str, Any]] = answer["Items"]
    return items


def plain_in(text: str, *values: str) -> list[str]:
    return [v for v in values if v in text or v.lstrip("+") in text]


async def checkout(
    stack: Stack, customer: dict[str, str], admin: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    product = await own_product(stack.gql, admin, price=50_000)
    try:
        return await open_session(stack.gql, customer, product["id"]), product
    finally:
        await retire_product(stack.gql, admin, product)


async def test_a_checkout_keeps_email_and_phone_sealed_everywhere_but_the_message(
    private_stack: Stack,
    tokens: dict[str, str],
    sandbox: SandboxControl,
    customer_with_phone: Callable[[], Customer],
    new_customer: Callable[..., dict[str, str]],
) -> None:
    stack, admin = private_stack, bearer(tokens["admin"])
    customer, email, phone = customer_with_phone()
    session, _ = await checkout(stack, customer, admin)
    # the owner sees the prefill in plain text, right in the create's answer and later
    assert session["checkout"]["prefillEmail"] == email
    shown = (await data(stack.gql, PREFILL, customer, id=session["id"]))["paymentSession"]
    assert shown["checkout"] == {"prefillEmail": email, "prefillContact": phone}

    row = await session_row(stack.settings.database_url, session["id"])
    assert is_sealed(row["customer_email"]) and is_sealed(row["customer_contact"])
    assert plain_in(repr(row), email, phone) == []

    paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
    verified = await verify(stack.gql, customer, session["id"], paid)
    assert verified["errors"] == [] and verified["paymentSession"]["status"] == "PAID", verified
    await run_jobs_until_outbox_empty(stack)

    # the customer's notification carries both, opened at send time
    [message] = [m for m in await drain(stack, "customer") if m.about(session["id"])]
    body = json.loads(message.body)
    assert (body["email"], body["contact"]) == (email, phone)
    assert plain_in(str([m.body for m in await drain(stack, "admin")]), email, phone) == []

    # the outbox kept them sealed; nothing else in it names them
    payloads = await outbox_payloads(stack.settings.database_url)
    notified = [p for kind, p in payloads if kind == "notify.customer"]
    assert notified and all(is_sealed(p["email"]) and is_sealed(p["contact"]) for p in notified)
    assert plain_in(json.dumps(payloads), email, phone) == []

    # the DynamoDB timeline, read raw, holds neither
    items = await timeline_items(stack, session["id"])
    assert len(items) > 3
    assert plain_in(json.dumps(items), email, phone) == []

    # an admin sees the prefill; another customer not even the session
    as_admin = (await data(stack.gql, PREFILL, admin, id=session["id"]))["paymentSession"]
    assert as_admin["checkout"] == {"prefillEmail": email, "prefillContact": phone}
    other = new_customer()
    assert (await data(stack.gql, GET, other, id=session["id"]))["paymentSession"] is None
    entity = await stack.container.deps.payments.get(session["id"])
    assert entity is not None
    stranger = Principal(subject="someone-else", username="someone")
    nothing = await payments.prefill(stack.container.deps, principal=stranger, session=entity)
    assert nothing == payments.Prefill()


async def test_encrypt_pii_seals_rows_from_before_and_is_idempotent(
    private_stack: Stack,
    tokens: dict[str, str],
    customer_with_phone: Callable[[], Customer],
) -> None:
    stack, admin = private_stack, bearer(tokens["admin"])
    customer, _, _ = customer_with_phone()
    session, _ = await checkout(stack, customer, admin)
    legacy_email, legacy_phone = "legacy.asha@example.com", "+919811122233"
    connection = await asyncpg.connect(asyncpg_dsn(stack.settings.database_url))
    try:
        # rows as the code before encryption wrote them: plain e-mail, a plain notification
        await connection.execute(
            "UPDATE payment_sessions SET customer_email = $2, customer_contact = $3"
            " WHERE id = $1::uuid",
            session["id"],
            legacy_email,
            legacy_phone,
        )
        customer_id = (await session_row(stack.settings.database_url, session["id"]))["customer_id"]
        await connection.execute(
            "INSERT INTO outbox (id, kind, dedupe_key, payload, attempts, created_at,"
            " next_attempt_at, sent_at) VALUES (gen_random_uuid(), 'notify.customer', $1,"
            " $2::json, 0, now(), now(), now())",
            f"legacy:{session['id']}",
            json.dumps({"customer_id": customer_id, "email": legacy_email, "subject": "Paid"}),
        )
    finally:
        await connection.close()

    first = await encrypt_pii(stack.container)
    assert first == Sealed(sessions=1, outbox_messages=1)
    row = await session_row(stack.settings.database_url, session["id"])
    assert is_sealed(row["customer_email"]) and is_sealed(row["customer_contact"])
    vault = stack.container.pii
    assert await vault.open(row["customer_email"], customer_id=customer_id) == legacy_email
    assert await vault.open(row["customer_contact"], customer_id=customer_id) == legacy_phone
    [legacy] = [
        p
        for kind, p in await outbox_payloads(stack.settings.database_url)
        if p.get("subject") == "Paid" and kind == "notify.customer"
    ]
    assert await vault.open(legacy["email"], customer_id=customer_id) == legacy_email

    again = await encrypt_pii(stack.container)
    assert again == Sealed(sessions=0, outbox_messages=0)
    assert await session_row(stack.settings.database_url, session["id"]) == row
    shown = (await data(stack.gql, PREFILL, customer, id=session["id"]))["paymentSession"]
    assert shown["checkout"] == {"prefillEmail": legacy_email, "prefillContact": legacy_phone}
