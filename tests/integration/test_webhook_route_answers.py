"""``POST /webhooks/razorpay``'s answers, against the real services. Razorpay retries any
non-2xx, so the status codes are the contract:

* 400: a bad or missing signature, or a signed body that cannot be read; nothing is claimed;
* 503: the webhook ledger (DynamoDB) is unavailable; nothing is claimed;
* 500: handling failed; the claim is given back, so the redelivery of the same event id is
  processed, not taken for a duplicate;
* 200 "not ours": a correctly signed event for an order or payment this app does not know.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.container import Container
from app.settings import Settings
from domain.signatures import hmac_sha256_hex
from infra.local.razorpay_sandbox.control_client import SandboxControl
from resolvers.outbox import dispatch_all
from resolvers.reconcile import reconcile
from tests.support.payments_flow import (
    Overriding,
    app_client,
    ask_refund,
    dead_url,
    only_sessions,
    own_product,
    pay_on_sandbox,
    raising,
    retire_product,
    sandbox_payment,
    session_view,
    timeline_types,
)
from tests.support.services import free_port
from tests.support.stack import (
    RAZORPAY_KEY_ID,
    RAZORPAY_KEY_SECRET,
    RAZORPAY_WEBHOOK_SECRET,
    GraphQLClient,
)
from tests.support.webhooks import deliver, event_body, sandbox_entity, signed_headers

Headers = dict[str, str]


@pytest.fixture
def admin(new_customer: Callable[..., Headers]) -> Headers:
    return new_customer("admin")


@pytest.fixture
async def product(gql: GraphQLClient, admin: Headers) -> AsyncIterator[dict[str, Any]]:
    made = await own_product(gql, admin)
    yield made
    await retire_product(gql, admin, made)


@pytest.fixture
async def paid(
    gql: GraphQLClient,
    new_customer: Callable[..., Headers],
    sandbox: SandboxControl,
    product: dict[str, Any],
) -> dict[str, Any]:
    """A fresh customer's session, paid (captured) on the sandbox; the app has heard nothing."""
    customer = new_customer()
    session, _, payment = await pay_on_sandbox(gql, customer, sandbox, product["id"])
    assert payment["status"] == "captured"
    return {"customer": customer, "session": session, "payment": payment}


def answer_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["detail"]


async def untouched(gql: GraphQLClient, paid: dict[str, Any]) -> None:
    """The session is as checkout left it: no payment taken, no status change recorded."""
    found = await session_view(gql, paid["customer"], paid["session"]["id"])
    assert found["status"] == "CREATED"
    assert found["razorpayPaymentId"] is None
    assert [t for t in timeline_types(found) if t.startswith("status.")] == []


async def applied_on_redelivery(
    client: httpx.AsyncClient, gql: GraphQLClient, paid: dict[str, Any], body: bytes, event_id: str
) -> None:
    """Razorpay's retry of the same event id, to the healthy app: processed, then deduped."""
    headers = signed_headers(body, event_id=event_id)
    assert answer_of(await deliver(client, body, headers)) == (200, "applied")
    assert answer_of(await deliver(client, body, headers)) == (200, "duplicate")
    found = await session_view(gql, paid["customer"], paid["session"]["id"])
    assert found["status"] == "PAID"
    assert found["razorpayPaymentId"] == paid["payment"]["id"]


def event_id() -> str:
    return f"evt_{secrets.token_hex(8)}"


# --- 400: signature ------------------------------------------------------------------------


def _bad_signatures(body: bytes) -> dict[str, str | None]:
    return {
        "missing": None,
        "empty": "",
        "junk": "not-a-signature",
        "other-secret": hmac_sha256_hex("not-the-webhook-secret", body),
        "other-body": hmac_sha256_hex(RAZORPAY_WEBHOOK_SECRET, body + b" "),
        "upper-case-of-a-wrong-one": hmac_sha256_hex("x" * 24, body).upper(),
    }


@pytest.mark.parametrize(
    "variant",
    ["missing", "empty", "junk", "other-secret", "other-body", "upper-case-of-a-wrong-one"],
)
async def test_a_bad_or_missing_signature_answers_400_and_claims_nothing(
    variant: str, client: httpx.AsyncClient, gql: GraphQLClient, paid: dict[str, Any]
) -> None:
    body = event_body("payment.captured", payment=paid["payment"])
    evt = event_id()
    headers = signed_headers(body, event_id=evt)
    signature = _bad_signatures(body)[variant]
    if signature is None:
        del headers["x-razorpay-signature"]
    else:
        headers["x-razorpay-signature"] = signature
    refused = await deliver(client, body, headers)
    assert answer_of(refused) == (400, "invalid signature")
    await untouched(gql, paid)
    assert "webhook.payment.captured" not in timeline_types(
        await session_view(gql, paid["customer"], paid["session"]["id"])
    )
    # the refusal claimed nothing: the genuine delivery with the same id is applied
    await applied_on_redelivery(client, gql, paid, body, evt)


# --- 400: signed, but unreadable -----------------------------------------------------------


def _malformed(payment: dict[str, Any]) -> dict[str, bytes]:
    return {
        "not-json": b"{this is not json",
        "not-utf8": b"\xff\xfe\x00garbage",
        "json-array": b"[]",
        "no-event-name": json.dumps({"entity": "event", "payload": {}}).encode(),
        "payment-event-without-payment": event_body("payment.captured"),
        "amount-not-an-integer": event_body(
            "payment.captured", payment=payment | {"amount": str(payment["amount"])}
        ),
        "payment-without-id": event_body(
            "payment.captured", payment={k: v for k, v in payment.items() if k != "id"}
        ),
        "refund-event-without-refund": event_body("refund.processed", payment=payment),
    }


@pytest.mark.parametrize(
    "variant",
    [
        "not-json",
        "not-utf8",
        "json-array",
        "no-event-name",
        "payment-event-without-payment",
        "amount-not-an-integer",
        "payment-without-id",
        "refund-event-without-refund",
    ],
)
async def test_a_signed_but_malformed_body_answers_400_and_claims_nothing(
    variant: str, client: httpx.AsyncClient, gql: GraphQLClient, paid: dict[str, Any]
) -> None:
    bad = _malformed(paid["payment"])[variant]
    evt = event_id()
    refused = await deliver(client, bad, signed_headers(bad, event_id=evt))
    status, detail = answer_of(refused)
    assert status == 400
    assert detail.startswith("malformed event: ")
    await untouched(gql, paid)
    # nothing was claimed under that id: a readable event with the same id is processed
    good = event_body("payment.captured", payment=paid["payment"])
    await applied_on_redelivery(client, gql, paid, good, evt)


class Later:
    """The clock some minutes on: messages waiting out a backoff are due."""

    def __init__(self, *, minutes: int) -> None:
        self._delta = timedelta(minutes=minutes)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._delta


# --- 503: the database is unreachable; 200 even with DynamoDB and SNS down -----------------


async def test_an_unreachable_database_answers_503_and_changes_nothing(
    settings: Settings, client: httpx.AsyncClient, gql: GraphQLClient, paid: dict[str, Any]
) -> None:
    body = event_body("payment.captured", payment=paid["payment"])
    evt = event_id()
    dead_db = dead_url("postgresql+asyncpg", free_port(), "/nowhere").replace(
        "://", "://postgres@", 1
    )
    async with app_client(Container(settings.model_copy(update={"database_url": dead_db}))) as c:
        refused = await deliver(c, body, signed_headers(body, event_id=evt))
    assert answer_of(refused) == (503, "try again")
    await untouched(gql, paid)
    await applied_on_redelivery(client, gql, paid, body, evt)


async def test_with_dynamodb_and_sns_down_the_event_is_applied_and_its_effects_wait(
    settings: Settings,
    container: Container,
    gql: GraphQLClient,
    paid: dict[str, Any],
) -> None:
    """The event's one transaction is in PostgreSQL: the answer is 200 and the session PAID;
    the timeline, counters and notifications wait in the outbox for the dispatcher."""
    body = event_body("payment.captured", payment=paid["payment"])
    evt = event_id()
    dead_aws = dead_url("http", free_port())
    async with app_client(
        Container(settings.model_copy(update={"aws_endpoint_url": dead_aws}))
    ) as broken:
        answer = await deliver(broken, body, signed_headers(body, event_id=evt))
    assert answer_of(answer) == (200, "applied")
    found = await session_view(gql, paid["customer"], paid["session"]["id"])
    assert found["status"] == "PAID"
    assert "status.PAID" not in [e["type"] for e in found["timeline"]]  # not written yet
    mine = replace(container.deps, clock=Later(minutes=15))
    await dispatch_all(mine)  # the healthy dispatcher, after the backoff
    found = await session_view(gql, paid["customer"], paid["session"]["id"])
    assert [e["type"] for e in found["timeline"]].count("status.PAID") == 1


# --- 500: handling failed, nothing recorded ------------------------------------------------


async def test_a_failed_handling_answers_500_and_the_redelivery_is_processed(
    settings: Settings,
    container: Container,
    client: httpx.AsyncClient,
    gql: GraphQLClient,
    paid: dict[str, Any],
) -> None:
    """The broken app shares the healthy one's database: an event id it recorded would make
    the healthy app answer the redelivery "duplicate"."""
    body = event_body("payment.captured", payment=paid["payment"])
    evt = event_id()
    crashing = Overriding(
        container.deps.payments, lock=raising(RuntimeError("worker died mid-event"))
    )
    broken = app_client(Container(settings), borrow_from=container, payments=crashing)
    async with broken as c:
        failed = await deliver(c, body, signed_headers(body, event_id=evt))
    assert answer_of(failed) == (500, "failed")
    await untouched(gql, paid)
    await applied_on_redelivery(client, gql, paid, body, evt)


async def test_a_refund_event_after_a_worker_died_is_applied_on_redelivery(
    container: Container,
    client: httpx.AsyncClient,
    gql: GraphQLClient,
    admin: Headers,
    sandbox: SandboxControl,
    paid: dict[str, Any],
) -> None:
    session, payment = paid["session"], paid["payment"]
    captured = event_body("payment.captured", payment=payment)
    assert answer_of(await deliver(client, captured, signed_headers(captured))) == (
        200,
        "applied",
    )
    sandbox.configure(refund_outcome="pending")
    asked = await ask_refund(gql, admin, session["id"], f"refund-{secrets.token_hex(6)}")
    assert asked["refund"]["status"] == "PENDING", asked
    sandbox.flush()  # Razorpay processes it on its own clock
    refund = await sandbox_entity(
        sandbox.base_url, f"refunds/{asked['refund']['razorpayRefundId']}"
    )
    assert refund["status"] == "processed"
    body = event_body("refund.processed", refund=refund, payment=payment)
    evt = event_id()
    # a worker took the event and died (Lambda timeout, OOM) before committing: nothing of
    # it was recorded; Razorpay redelivers (it never got an answer), and the jobs run
    redelivered = await deliver(client, body, signed_headers(body, event_id=evt))
    assert redelivered.status_code == 200
    mine = replace(container.deps, payments=only_sessions(container.deps.payments, [session["id"]]))
    await reconcile(mine, older_than=timedelta(0))
    found = await session_view(gql, paid["customer"], session["id"])
    assert [r["status"] for r in found["refunds"]] == ["PROCESSED"]
    assert found["status"] == "REFUNDED"


# --- 200: not ours -------------------------------------------------------------------------


async def foreign_payment(sandbox: SandboxControl) -> dict[str, Any]:
    """A payment of an order this app never made (another integration on the same account),
    left authorized: manual capture."""
    sandbox.configure(auto_capture=False)
    async with httpx.AsyncClient(auth=(RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET)) as http:
        order = (
            await http.post(
                f"{sandbox.base_url}/v1/orders",
                json={"amount": 4_200, "currency": "INR", "receipt": f"elsewhere-{event_id()}"},
            )
        ).json()
    paid = sandbox.pay(order["id"], outcome="success")
    payment = await sandbox_payment(sandbox, paid["razorpay_payment_id"])
    assert payment["status"] == "authorized"
    return payment


@pytest.mark.parametrize(
    "name", ["payment.authorized", "payment.captured", "payment.failed", "order.paid"]
)
async def test_a_signed_payment_event_for_an_order_not_ours_answers_200_and_changes_nothing(
    name: str, client: httpx.AsyncClient, container: Container, sandbox: SandboxControl
) -> None:
    payment = await foreign_payment(sandbox)
    entity = payment
    if name == "payment.captured":
        entity = payment | {"status": "captured", "captured": True}
    elif name == "payment.failed":
        entity = payment | {"status": "failed"}
    entities: dict[str, dict[str, Any]] = {"payment": entity}
    if name == "order.paid":
        entities["order"] = {"id": payment["order_id"], "status": "paid"}
    body = event_body(name, **entities)
    answer = await deliver(client, body, signed_headers(body, event_id=event_id()))
    assert answer_of(answer) == (200, "not ours")
    # nothing was made of it here, and the app did not touch the payment at Razorpay
    assert await container.deps.payments.get_by_order(payment["order_id"]) is None
    assert await container.deps.payments.get_by_payment(payment["id"]) is None
    after = await sandbox_payment(sandbox, payment["id"])
    assert (after["status"], after["captured"], after["amount_refunded"]) == (
        "authorized",
        False,
        0,
    )


async def test_a_signed_refund_event_for_a_payment_not_ours_answers_200_and_adopts_nothing(
    client: httpx.AsyncClient, container: Container, sandbox: SandboxControl
) -> None:
    payment = await foreign_payment(sandbox)
    refund = {
        "id": f"rfnd_{secrets.token_hex(7)}",
        "entity": "refund",
        "amount": 1_000,
        "currency": "INR",
        "payment_id": payment["id"],
        "notes": [],
        "status": "processed",
        "speed_processed": "normal",
        "created_at": 1_736_943_000,
    }
    for name in ("refund.created", "refund.processed", "refund.failed"):
        body = event_body(name, refund=refund, payment=payment)
        answer = await deliver(client, body, signed_headers(body, event_id=event_id()))
        assert answer_of(answer) == (200, "not ours"), name
    assert await container.deps.payments.refund_by_gateway_id(refund["id"]) is None
    assert await container.deps.payments.get_by_payment(payment["id"]) is None


async def test_a_signed_event_of_a_kind_not_handled_answers_200_ignored(
    client: httpx.AsyncClient, gql: GraphQLClient, paid: dict[str, Any]
) -> None:
    body = event_body("payment.dispute.created", payment=paid["payment"])
    answer = await deliver(client, body, signed_headers(body, event_id=event_id()))
    assert answer_of(answer) == (200, "ignored")
    await untouched(gql, paid)
