"""Razorpay failing under verify, capture and refund, against the real services and the
sandbox's fault injection (5xx answers, non-JSON error pages, timeouts, answers lost after the
work was done):

* ``paymentSessionVerify`` answers ``GATEWAY_UNAVAILABLE`` and changes nothing;
* a manual-capture account whose capture call fails stays AUTHORIZED with a
  ``payment.capture_failed`` entry; a later verify, or the reconciliation job, captures it;
* ``refundCreate`` answers ``GATEWAY_UNAVAILABLE``; retried once the gateway is back, the
  refund is made once, and the whole remaining amount can be refunded; Razorpay never refunds
  more than was captured, nor the same refund twice.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.container import Container
from infra.local.razorpay_sandbox.control_client import SandboxControl
from resolvers.reconcile import reconcile
from tests.support.payments_flow import (
    ask_refund,
    only_sessions,
    own_product,
    pay_on_sandbox,
    retire_product,
    sandbox_payment,
    sandbox_refunds,
    session_view,
    timeline_types,
)
from tests.support.shop import verify
from tests.support.stack import GraphQLClient
from tests.support.webhooks import deliver, event_body, signed_headers

Headers = dict[str, str]
PRICE, GST_BP = 100_000, 1800
TOTAL = 118_000  # 1 × ₹1,000.00 + 18 % GST
TIMEOUT_DELAY = 4.0  # real seconds; the app's Razorpay timeout in tests is 3 s

# One "gateway down" per shape Razorpay (or a proxy in front of it) can fail in.
DOWN = {
    "500-server-error": {"type": "error", "status": 500},
    "503-unavailable": {"type": "error", "status": 503},
    "502-gateway-error": {"type": "error", "status": 502, "code": "GATEWAY_ERROR"},
    "502-html-page": {"type": "error", "status": 502, "body": "<html>Bad Gateway</html>"},
    "timeout": {"type": "timeout", "delay": TIMEOUT_DELAY},
}


def fault(kind: str, *, method: str, path: str, **extra: Any) -> dict[str, Any]:
    """Every matching call fails until the faults are cleared: the gateway is down."""
    return DOWN[kind] | {"method": method, "path": path, "count": None} | extra


@pytest.fixture
def admin(new_customer: Callable[..., Headers]) -> Headers:
    return new_customer("admin")


@pytest.fixture
async def product(gql: GraphQLClient, admin: Headers) -> AsyncIterator[dict[str, Any]]:
    made = await own_product(gql, admin, price=PRICE, gst_rate_bp=GST_BP)
    yield made
    await retire_product(gql, admin, made)


@pytest.fixture
def customer(new_customer: Callable[..., Headers]) -> Headers:
    return new_customer()


def statuses_recorded(session: dict[str, Any]) -> list[str]:
    return [t for t in timeline_types(session) if t.startswith("status.")]


# --- verify --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(DOWN))
async def test_verify_with_the_gateway_down_answers_gateway_unavailable_and_changes_nothing(
    kind: str,
    gql: GraphQLClient,
    customer: Headers,
    sandbox: SandboxControl,
    product: dict[str, Any],
) -> None:
    sandbox.configure(auto_capture=False)  # the app would capture: proves it did not
    session, paid, payment = await pay_on_sandbox(gql, customer, sandbox, product["id"])
    assert payment["status"] == "authorized"
    sandbox.set_faults(fault(kind, method="GET", path="/v1/payments/*"))
    for _ in range(2):  # the customer's retry while it is still down: the same answer
        answer = await verify(gql, customer, session["id"], paid)
        assert answer["paymentSession"] is None
        assert [e["code"] for e in answer["errors"]] == ["GATEWAY_UNAVAILABLE"]
    found = await session_view(gql, customer, session["id"])
    assert found["status"] == "CREATED"
    assert found["razorpayPaymentId"] is None and found["refundedAmount"] == {"amount": 0}
    assert statuses_recorded(found) == []
    sandbox.set_faults()
    at_razorpay = await sandbox_payment(sandbox, payment["id"])
    assert (at_razorpay["status"], at_razorpay["captured"]) == ("authorized", False)
    # once the gateway is back, the same verification goes through, and captures once
    retried = await verify(gql, customer, session["id"], paid)
    assert retried["errors"] == []
    assert retried["paymentSession"]["status"] == "PAID"
    assert retried["paymentSession"]["razorpayPaymentId"] == payment["id"]
    at_razorpay = await sandbox_payment(sandbox, payment["id"])
    assert (at_razorpay["status"], at_razorpay["captured"], at_razorpay["amount"]) == (
        "captured",
        True,
        TOTAL,
    )


# --- capture on a manual-capture account ---------------------------------------------------

CAPTURE_FAILURES = {
    "500-server-error": fault("500-server-error", method="POST", path="/v1/payments/*/capture"),
    "502-html-page": fault("502-html-page", method="POST", path="/v1/payments/*/capture"),
    "timeout": fault("timeout", method="POST", path="/v1/payments/*/capture"),
    # Razorpay captured, but its answer never arrived
    "answer-lost": fault(
        "timeout", method="POST", path="/v1/payments/*/capture", process=True, count=1
    ),
}


async def capture_fails(
    gql: GraphQLClient,
    customer: Headers,
    sandbox: SandboxControl,
    product: dict[str, Any],
    failure: str,
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """Verify on a manual-capture account while capture calls fail: AUTHORIZED, recorded."""
    sandbox.configure(auto_capture=False)
    session, paid, payment = await pay_on_sandbox(gql, customer, sandbox, product["id"])
    sandbox.set_faults(CAPTURE_FAILURES[failure])
    answer = await verify(gql, customer, session["id"], paid)
    assert answer["errors"] == []
    assert answer["paymentSession"]["status"] == "AUTHORIZED"
    sandbox.set_faults()
    found = await session_view(gql, customer, session["id"])
    assert found["status"] == "AUTHORIZED"
    if failure in ("500-server-error", "502-html-page"):  # answered at once: recorded at once
        assert "payment.capture_failed" in timeline_types(found)
    # (a capture that hangs goes on in the dispatcher after the verify's bounded wait)
    assert "status.PAID" not in timeline_types(found)
    at_razorpay = await sandbox_payment(sandbox, payment["id"])
    expected = "captured" if failure == "answer-lost" else "authorized"
    assert at_razorpay["status"] == expected
    return session, paid, payment


async def assert_paid_once(
    gql: GraphQLClient,
    customer: Headers,
    sandbox: SandboxControl,
    session_id: str,
    payment_id: str,
) -> None:
    found = await session_view(gql, customer, session_id)
    assert found["status"] == "PAID"
    assert found["razorpayPaymentId"] == payment_id
    assert statuses_recorded(found).count("status.PAID") == 1
    at_razorpay = await sandbox_payment(sandbox, payment_id)
    assert (at_razorpay["status"], at_razorpay["captured"], at_razorpay["amount"]) == (
        "captured",
        True,
        TOTAL,
    )
    assert at_razorpay["amount_refunded"] == 0


@pytest.mark.parametrize("failure", list(CAPTURE_FAILURES))
async def test_a_failed_capture_leaves_the_session_authorized_and_a_later_verify_captures_it(
    failure: str,
    gql: GraphQLClient,
    customer: Headers,
    sandbox: SandboxControl,
    product: dict[str, Any],
) -> None:
    session, paid, payment = await capture_fails(gql, customer, sandbox, product, failure)
    again = await verify(gql, customer, session["id"], paid)
    assert again["errors"] == []
    assert again["paymentSession"]["status"] == "PAID"
    await assert_paid_once(gql, customer, sandbox, session["id"], payment["id"])
    # a further verify changes nothing
    assert (await verify(gql, customer, session["id"], paid))["paymentSession"]["status"] == "PAID"
    await assert_paid_once(gql, customer, sandbox, session["id"], payment["id"])


@pytest.mark.parametrize("failure", ["500-server-error", "answer-lost"])
async def test_a_failed_capture_is_captured_by_the_reconciliation_job(
    failure: str,
    gql: GraphQLClient,
    customer: Headers,
    sandbox: SandboxControl,
    product: dict[str, Any],
    container: Container,
) -> None:
    session, _, payment = await capture_fails(gql, customer, sandbox, product, failure)
    deps = replace(container.deps, payments=only_sessions(container.deps.payments, [session["id"]]))
    assert await reconcile(deps, older_than=timedelta(0)) == 1
    await assert_paid_once(gql, customer, sandbox, session["id"], payment["id"])
    assert await reconcile(deps, older_than=timedelta(0)) == 0  # PAID is no longer stuck


async def test_an_authorized_webhook_whose_capture_fails_is_applied_and_reconciled_later(
    gql: GraphQLClient,
    client: httpx.AsyncClient,
    customer: Headers,
    sandbox: SandboxControl,
    product: dict[str, Any],
    container: Container,
) -> None:
    """Razorpay will not send this event again: the session records the failed capture and
    the reconciliation job (not a redelivery) finishes the payment."""
    sandbox.configure(auto_capture=False)
    session, _, payment = await pay_on_sandbox(gql, customer, sandbox, product["id"])
    sandbox.set_faults(fault("503-unavailable", method="POST", path="/v1/payments/*/capture"))
    body = event_body("payment.authorized", payment=payment)
    answer = await deliver(client, body, signed_headers(body))
    assert (answer.status_code, answer.json()["detail"]) == (200, "applied")
    found = await session_view(gql, customer, session["id"])
    assert found["status"] == "AUTHORIZED"
    assert "payment.capture_failed" in timeline_types(found)
    assert (await sandbox_payment(sandbox, payment["id"]))["status"] == "authorized"
    sandbox.set_faults()
    deps = replace(container.deps, payments=only_sessions(container.deps.payments, [session["id"]]))
    assert await reconcile(deps, older_than=timedelta(0)) == 1
    await assert_paid_once(gql, customer, sandbox, session["id"], payment["id"])


# --- refunds -------------------------------------------------------------------------------

REFUND_PATH = "/v1/payments/*/refund"
REFUND_FAILURES = {
    "503-unavailable": fault("503-unavailable", method="POST", path=REFUND_PATH),
    "502-html-page": fault("502-html-page", method="POST", path=REFUND_PATH),
    "timeout": fault("timeout", method="POST", path=REFUND_PATH),
    # Razorpay made the refund, but its answer never arrived
    "answer-lost": fault("timeout", method="POST", path=REFUND_PATH, process=True, count=1),
}


async def paid_session(
    gql: GraphQLClient, customer: Headers, sandbox: SandboxControl, product: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    session, paid, payment = await pay_on_sandbox(gql, customer, sandbox, product["id"])
    verified = await verify(gql, customer, session["id"], paid)
    assert verified["paymentSession"]["status"] == "PAID", verified
    assert verified["paymentSession"]["amount"] == {"amount": TOTAL}
    return session, payment


def key(name: str) -> str:
    return f"{name}-{secrets.token_hex(6)}"


@pytest.mark.parametrize("failure", list(REFUND_FAILURES))
async def test_a_refund_with_the_gateway_down_is_a_typed_error_and_is_made_once_on_retry(
    failure: str,
    gql: GraphQLClient,
    customer: Headers,
    admin: Headers,
    sandbox: SandboxControl,
    product: dict[str, Any],
) -> None:
    session, payment = await paid_session(gql, customer, sandbox, product)
    first_key, rest_key = key("refund-part"), key("refund-rest")
    part = 30_000
    sandbox.set_faults(REFUND_FAILURES[failure])
    failed = await ask_refund(gql, admin, session["id"], first_key, amount=part)
    assert failed["refund"] is None and failed["paymentSession"] is None
    assert [e["code"] for e in failed["errors"]] == ["GATEWAY_UNAVAILABLE"]
    found = await session_view(gql, customer, session["id"])
    assert found["status"] == "PAID" and found["refundedAmount"] == {"amount": 0}
    # the outcome is unknown to the app: the amount stays reserved for the retry of that key,
    # so no other request can refund it a second time meanwhile
    assert [(r["amount"]["amount"], r["status"]) for r in found["refunds"]] == [(part, "PENDING")]
    meanwhile = await ask_refund(gql, admin, session["id"], key("refund-all"), amount=TOTAL)
    assert [e["code"] for e in meanwhile["errors"]] == ["REFUND_EXCEEDS_CAPTURED"]
    sandbox.set_faults()
    made_while_down = await sandbox_refunds(sandbox, payment["id"])
    assert len(made_while_down) == (1 if failure == "answer-lost" else 0)

    # the gateway is back: the admin's retries of the same key (a double click) make one refund
    retries = await asyncio.gather(
        *(ask_refund(gql, admin, session["id"], first_key, amount=part) for _ in range(2))
    )
    assert [r["errors"] for r in retries] == [[], []]
    assert {r["refund"]["status"] for r in retries} == {"PROCESSED"}
    assert len({r["refund"]["razorpayRefundId"] for r in retries}) == 1
    if made_while_down:
        assert retries[0]["refund"]["razorpayRefundId"] == made_while_down[0]["id"]
    # and all that is left can be refunded
    rest = await ask_refund(gql, admin, session["id"], rest_key)
    assert rest["errors"] == []
    assert rest["refund"]["amount"] == {"amount": TOTAL - part}
    assert rest["paymentSession"]["status"] == "REFUNDED"
    assert rest["paymentSession"]["refundedAmount"] == {"amount": TOTAL}
    # replays change nothing, here or at Razorpay
    replay = await ask_refund(gql, admin, session["id"], first_key, amount=part)
    assert replay["refund"]["id"] == retries[0]["refund"]["id"]
    refunds = await sandbox_refunds(sandbox, payment["id"])
    assert sorted(r["amount"] for r in refunds) == sorted([part, TOTAL - part])
    assert (await sandbox_payment(sandbox, payment["id"]))["amount_refunded"] == TOTAL
    final = await session_view(gql, customer, session["id"])
    assert final["status"] == "REFUNDED" and final["refundedAmount"] == {"amount": TOTAL}
    assert sorted((r["amount"]["amount"], r["status"]) for r in final["refunds"]) == sorted(
        [(part, "PROCESSED"), (TOTAL - part, "PROCESSED")]
    )


async def test_a_full_refund_that_failed_refunds_everything_once_when_retried(
    gql: GraphQLClient,
    customer: Headers,
    admin: Headers,
    sandbox: SandboxControl,
    product: dict[str, Any],
) -> None:
    session, payment = await paid_session(gql, customer, sandbox, product)
    full_key = key("refund-full")
    sandbox.set_faults(fault("500-server-error", method="POST", path=REFUND_PATH))
    failed = await ask_refund(gql, admin, session["id"], full_key)
    assert [e["code"] for e in failed["errors"]] == ["GATEWAY_UNAVAILABLE"]
    sandbox.set_faults()
    assert await sandbox_refunds(sandbox, payment["id"]) == []
    done = await ask_refund(gql, admin, session["id"], full_key)
    assert done["errors"] == []
    assert done["refund"]["amount"] == {"amount": TOTAL}
    assert done["refund"]["status"] == "PROCESSED"
    assert done["paymentSession"]["status"] == "REFUNDED"
    refunds = await sandbox_refunds(sandbox, payment["id"])
    assert [r["amount"] for r in refunds] == [TOTAL]
    nothing_left = await ask_refund(gql, admin, session["id"], key("refund-more"))
    assert [e["code"] for e in nothing_left["errors"]] == ["REFUND_EXCEEDS_CAPTURED"]
    assert len(await sandbox_refunds(sandbox, payment["id"])) == 1
