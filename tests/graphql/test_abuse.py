"""Inputs meant to hurt: oversized, too broad, control characters, forged callbacks. Each gets
a clear, typed answer and changes nothing it should not."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable

import httpx
import pytest

from infra.local.razorpay_sandbox.control_client import SandboxControl
from tests.support.shop import GET, create_session, data, fill_cart
from tests.support.stack import GraphQLClient

Headers = dict[str, str]


async def test_too_many_aliases_tokens_or_bytes_are_refused(client: httpx.AsyncClient) -> None:
    aliases = " ".join(f"a{i}: offers {{ code }}" for i in range(31))
    body = (await client.post("/graphql", json={"query": "{ " + aliases + " }"})).json()
    assert "aliases" in body["errors"][0]["message"] and body["data"] is None
    tokens = "{ " + " ".join("__typename" for _ in range(2_100)) + " }"
    body = (await client.post("/graphql", json={"query": tokens})).json()
    assert "token" in body["errors"][0]["message"].lower()
    huge = await client.post("/graphql", json={"query": "{ offers { code } }", "x": "y" * 200_000})
    assert huge.status_code == 413
    assert huge.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    # GraphiQL's own introspection still works under the limits
    from graphql import get_introspection_query

    intro = await client.post(
        "/graphql", json={"query": get_introspection_query(descriptions=True)}
    )
    assert "errors" not in intro.json()


async def test_control_characters_are_invalid_input_not_a_crash(
    gql: GraphQLClient, customer_headers: Headers
) -> None:
    query = (
        "query($s: String, $c: String, $a: String) {"
        " products(search: $s, category: $c, after: $a) { edges { cursor } } }"
    )
    nul_cursor = base64.urlsafe_b64encode(b"v1:\x00").decode().rstrip("=")
    for variables in ({"s": "a\u0000b"}, {"c": "bo\u0000oks"}, {"a": nul_cursor}):
        body = await gql(query, variables)
        assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT", variables  # type: ignore[index]
    bad_cursor = base64.urlsafe_b64encode(b"v1:2026-01-01T00:00:00+00:00|not-a-uuid").decode()
    body = await gql(
        "query($a: String) { paymentSessions(after: $a) { edges { cursor } } }",
        {"a": bad_cursor.rstrip("=")},
        headers=customer_headers,
    )
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"  # type: ignore[index]


async def test_forged_callback_cannot_flag_or_annotate_someone_elses_session(
    gql: GraphQLClient,
    client: httpx.AsyncClient,
    new_customer: Callable[..., Headers],
    sandbox: SandboxControl,
) -> None:
    victim, attacker = new_customer(), new_customer()
    await fill_cart(gql, victim, {"BOK-NOV-001": 1})
    await fill_cart(gql, attacker, {"BOK-KID-004": 1})
    target = (await create_session(gql, victim))["paymentSession"]
    own = (await create_session(gql, attacker))["paymentSession"]
    own_payment = sandbox.pay(own["razorpayOrderId"], outcome="success")
    metadata = {
        "order_id": target["razorpayOrderId"],
        "payment_id": own_payment["razorpay_payment_id"],
    }
    forged = await client.post(
        "/payments/razorpay/callback",
        data={
            "error[code]": "BAD_REQUEST_ERROR",
            "error[description]": "<script>pwned</script>",
            "error[metadata]": json.dumps(metadata),
        },
    )
    assert forged.status_code == 303
    session = (await data(gql, GET, victim, id=target["id"]))["paymentSession"]
    assert session["status"] == "CREATED"
    types = [e["type"] for e in session["timeline"]]
    assert "review.needed" not in types and "payment.mismatch" not in types
    assert all("pwned" not in (e["detail"] or "") for e in session["timeline"])


async def test_expected_amount_guards_against_a_total_that_moved(
    gql: GraphQLClient, customer_headers: Headers
) -> None:
    cart = await fill_cart(gql, customer_headers, {"GRO-DAL-002": 2})
    shown = cart["cost"]["total"]["amount"]
    moved = await create_session(gql, customer_headers, expectedAmount=shown + 1)
    assert moved["errors"][0]["code"] == "AMOUNT_MISMATCH"
    ok = await create_session(gql, customer_headers, expectedAmount=shown)
    assert ok["errors"] == [] and ok["paymentSession"]["amount"] == {"amount": shown}


async def test_oversized_webhook_is_refused_before_parsing(client: httpx.AsyncClient) -> None:
    huge = b'{"event": "payment.captured", "pad": "' + b"x" * 300_000 + b'"}'
    answer = await client.post(
        "/webhooks/razorpay",
        content=huge,
        headers={"content-type": "application/json", "x-razorpay-signature": "0" * 64},
    )
    assert answer.status_code == 413
    unsigned = await client.post("/webhooks/razorpay", content=b"{}")
    assert unsigned.status_code == 400


async def test_unreadable_callback_forms_land_on_the_failure_page_without_an_error(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the fuzzer: a NUL in the order id reached PostgreSQL (DBAPIError), metadata
    nested past the stack raised RecursionError, a multipart body without its boundary raised
    from the form parser. Each is the caller's fault: the failure page, and no error logged."""
    signed_nul = {
        "razorpay_order_id": "order_\x00",
        "razorpay_payment_id": "pay_x",
        "razorpay_signature": "0" * 64,
    }
    nested = {"error[code]": "X", "error[metadata]": "[" * 50_000}
    with caplog.at_level(logging.WARNING):
        answers = [
            await client.post("/payments/razorpay/callback", data=signed_nul),
            await client.post("/payments/razorpay/callback", data=nested),
            await client.post(
                "/payments/razorpay/callback",
                content=b"--x\r\n",
                headers={"content-type": "multipart/form-data"},
            ),
        ]
    for answer in answers:
        assert answer.status_code == 303
        assert "failure" in answer.headers["location"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
