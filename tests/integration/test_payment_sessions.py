"""Payment sessions against real PostgreSQL, Redis, the AWS emulator and the Razorpay sandbox:
idempotency under concurrency, the last unit, single-use coupons, gateway failures, signatures,
manual capture, the checkout callback, cancel and expiry."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.container import Container
from domain.signatures import checkout_signature
from infra.local.razorpay_sandbox import SandboxServer
from infra.local.razorpay_sandbox.control_client import SandboxControl
from infra.local.seed import product_id
from resolvers.payments import expire_due
from tests.support.cleanup import switch_off_test_offers
from tests.support.payments_flow import retire_product
from tests.support.shop import (
    CANCEL,
    GET,
    create_session,
    data,
    fill_cart,
    verify,
)
from tests.support.stack import RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET, GraphQLClient, Stack

Headers = dict[str, str]
STOCK = "query($id: ID!) { product(id: $id) { stock } }"
PRODUCT_UPSERT = """mutation($input: ProductInput!) {
  productUpsert(input: $input) { product { id } errors { code } } }"""
OFFER_UPSERT = """mutation($input: OfferInput!) {
  offerUpsert(input: $input) { offer { id } errors { code } } }"""


@pytest.fixture
def customer(new_customer: Callable[..., Headers]) -> Headers:
    return new_customer()


@pytest.fixture
def admin(new_customer: Callable[..., Headers]) -> Headers:
    return new_customer("admin")


@pytest.fixture(autouse=True)
async def _clean_offers(container: Container, sandbox: SandboxControl) -> AsyncIterator[None]:
    yield
    await switch_off_test_offers(container)


async def stock_of(gql: GraphQLClient, pid: str) -> int:
    body = await gql(STOCK, {"id": pid})
    return int(body["data"]["product"]["stock"])  # type: ignore[index]


@pytest.fixture
async def scarce_product(gql: GraphQLClient, admin: Headers) -> AsyncIterator[dict[str, Any]]:
    """A product with one unit, switched off again afterwards (the catalog stays the seed)."""
    sku = f"T-LAST-{secrets.token_hex(3)}"
    spec = {
        "sku": sku,
        "title": "Last unit",
        "category": "test",
        "price": 150_000,
        "gstRateBp": 1800,
        "stock": 1,
    }
    made = (await data(gql, PRODUCT_UPSERT, admin, input=spec))["productUpsert"]
    assert made["errors"] == []
    yield {"id": made["product"]["id"], "sku": sku}
    await retire_product(gql, admin, {"id": made["product"]["id"], "spec": spec})


async def orders_with_receipt(base_url: str, receipt: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(auth=(RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET)) as client:
        body = (await client.get(f"{base_url}/v1/orders", params={"receipt": receipt})).json()
    items: list[dict[str, Any]] = body["items"]
    return items


async def test_one_key_sent_20_times_at_once_gives_one_session_and_one_order(
    gql: GraphQLClient, customer: Headers, razorpay_sandbox: SandboxServer
) -> None:
    await fill_cart(gql, customer, {"GRO-RCE-001": 1})
    key = f"same-{secrets.token_hex(6)}"
    answers = await asyncio.gather(*(create_session(gql, customer, key=key) for _ in range(20)))
    assert all(a["errors"] == [] for a in answers), [a["errors"] for a in answers]
    ids = {a["paymentSession"]["id"] for a in answers}
    orders = {a["paymentSession"]["razorpayOrderId"] for a in answers}
    assert len(ids) == 1 and len(orders) == 1
    assert len(await orders_with_receipt(razorpay_sandbox.base_url, ids.pop())) == 1


async def test_key_reuse_version_mismatch_and_empty_cart_are_typed_errors(
    gql: GraphQLClient, customer: Headers
) -> None:
    empty = await create_session(gql, customer)
    assert empty["errors"][0]["code"] == "CART_EMPTY"
    cart = await fill_cart(gql, customer, {"GRO-HNY-005": 1})
    stale = await create_session(gql, customer, expectedCartVersion=cart["version"] - 1)
    assert stale["errors"][0]["code"] == "CART_VERSION_MISMATCH"
    first = await create_session(gql, customer, key="reuse-key-0001")
    assert first["errors"] == []
    await fill_cart(gql, customer, {"GRO-DAL-002": 1})
    reused = await create_session(gql, customer, key="reuse-key-0001")
    assert reused["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    bad_key = await create_session(gql, customer, key="short")
    assert bad_key["errors"][0]["code"] == "INVALID_INPUT"


async def test_the_last_unit_goes_to_exactly_one_of_many_concurrent_checkouts(
    gql: GraphQLClient, new_customer: Callable[..., Headers], scarce_product: dict[str, Any]
) -> None:
    customers = [new_customer() for _ in range(8)]
    lines = [{"productId": scarce_product["id"], "quantity": 1}]
    for c in customers:
        added = await data(
            gql,
            "mutation($l: [CartLineInput!]!) { cartLinesAdd(lines: $l) { errors { code } } }",
            c,
            l=lines,
        )
        assert added["cartLinesAdd"]["errors"] == []
    answers = await asyncio.gather(*(create_session(gql, c) for c in customers))
    winners = [a for a in answers if not a["errors"]]
    losers = [a["errors"][0]["code"] for a in answers if a["errors"]]
    assert len(winners) == 1
    assert losers == ["OUT_OF_STOCK"] * 7
    assert await stock_of(gql, scarce_product["id"]) == 0
    # the winner gives up: the unit goes back on the shelf, once
    winner_index = next(i for i, a in enumerate(answers) if not a["errors"])
    session_id = winners[0]["paymentSession"]["id"]
    for _ in range(2):
        cancelled = await data(gql, CANCEL, customers[winner_index], id=session_id)
        assert cancelled["paymentSessionCancel"]["paymentSession"]["status"] == "CANCELLED"
    assert await stock_of(gql, scarce_product["id"]) == 1


async def test_a_single_use_coupon_is_reserved_by_exactly_one_session(
    gql: GraphQLClient, new_customer: Callable[..., Headers], admin: Headers
) -> None:
    code = f"ONCE{secrets.token_hex(3).upper()}"
    made = await data(
        gql,
        OFFER_UPSERT,
        admin,
        input={"code": code, "kind": "FLAT", "flat": 5_000, "usageLimit": 1},
    )
    assert made["offerUpsert"]["errors"] == []
    customers = [new_customer() for _ in range(6)]
    for c in customers:
        await fill_cart(gql, c, {"BOK-KID-004": 1}, coupon=code)
    answers = await asyncio.gather(*(create_session(gql, c) for c in customers))
    ok = [a for a in answers if not a["errors"]]
    assert len(ok) == 1
    assert ok[0]["paymentSession"]["cost"]["discount"] == {"amount": 5_000}
    assert ok[0]["paymentSession"]["couponCode"] == code
    assert sorted(a["errors"][0]["code"] for a in answers if a["errors"]) == ["COUPON_INVALID"] * 5


async def test_gateway_failure_releases_everything_and_the_key_can_be_retried(
    gql: GraphQLClient, customer: Headers, sandbox: SandboxControl
) -> None:
    pid = str(product_id("HOM-BED-001"))
    before = await stock_of(gql, pid)
    await fill_cart(gql, customer, {"HOM-BED-001": 2})
    sandbox.set_faults({"type": "error", "status": 503, "method": "POST", "path": "/v1/orders"})
    failed = await create_session(gql, customer, key="retry-after-503")
    assert failed["errors"][0]["code"] == "GATEWAY_UNAVAILABLE"
    assert await stock_of(gql, pid) == before
    sandbox.set_faults({"type": "timeout", "delay": 6, "method": "POST", "path": "/v1/orders"})
    timed_out = await create_session(gql, customer, key="retry-after-503")
    assert timed_out["errors"][0]["code"] == "GATEWAY_UNAVAILABLE"
    assert await stock_of(gql, pid) == before
    sandbox.set_faults()
    retried = await create_session(gql, customer, key="retry-after-503")
    assert retried["errors"] == [] and retried["paymentSession"]["razorpayOrderId"]
    assert await stock_of(gql, pid) == before - 2


async def test_wrong_signature_and_foreign_payment_change_nothing(
    gql: GraphQLClient, new_customer: Callable[..., Headers], sandbox: SandboxControl
) -> None:
    one, two = new_customer(), new_customer()
    await fill_cart(gql, one, {"GRO-TEA-003": 1})
    await fill_cart(gql, two, {"GRO-TEA-003": 3})
    mine = (await create_session(gql, one))["paymentSession"]
    theirs = (await create_session(gql, two))["paymentSession"]
    paid = sandbox.pay(mine["razorpayOrderId"], outcome="success")
    forged = paid | {"razorpay_signature": "0" * 64}
    refused = await verify(gql, one, mine["id"], forged)
    assert refused["errors"][0]["code"] == "SIGNATURE_INVALID"
    # a real payment of another order, signed for this order id: read back, it does not match
    other = sandbox.pay(theirs["razorpayOrderId"], outcome="success")
    signed = checkout_signature(
        key_secret=RAZORPAY_KEY_SECRET,
        order_id=mine["razorpayOrderId"],
        payment_id=other["razorpay_payment_id"],
    )
    mismatch = await verify(
        gql,
        one,
        mine["id"],
        other | {"razorpay_signature": signed},
    )
    assert mismatch["errors"][0]["code"] == "AMOUNT_MISMATCH"
    session = (await data(gql, GET, one, id=mine["id"]))["paymentSession"]
    assert session["status"] == "CREATED"
    types = [e["type"] for e in session["timeline"]]
    assert "verify.signature_invalid" in types and "payment.mismatch" in types
    # and the genuine verification still works afterwards
    assert (await verify(gql, one, mine["id"], paid))["paymentSession"]["status"] == "PAID"


async def test_manual_capture_accounts_are_captured_on_verify(
    gql: GraphQLClient, customer: Headers, sandbox: SandboxControl
) -> None:
    sandbox.configure(auto_capture=False)
    await fill_cart(gql, customer, {"BEA-SOP-003": 2})
    session = (await create_session(gql, customer))["paymentSession"]
    paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
    verified = await verify(gql, customer, session["id"], paid)
    assert verified["paymentSession"]["status"] == "PAID"
    types = [e["type"] for e in verified["paymentSession"]["timeline"]]
    assert "status.AUTHORIZED" in types and "payment.capture" in types


async def test_checkout_callback_redirects_and_settles(
    gql: GraphQLClient, customer: Headers, sandbox: SandboxControl, client: httpx.AsyncClient
) -> None:
    await fill_cart(gql, customer, {"APP-SCK-004": 1})
    session = (await create_session(gql, customer))["paymentSession"]
    failed = sandbox.pay(session["razorpayOrderId"], outcome="failure")
    error = failed["error"]
    failure_form = {
        "error[code]": error["code"],
        "error[description]": error["description"],
        "error[reason]": error.get("reason", ""),
        "error[metadata]": json.dumps(error["metadata"]),
    }
    answer = await client.post("/payments/razorpay/callback", data=failure_form)
    assert answer.status_code == 303
    assert "reason=payment_failed" in answer.headers["location"]
    attempted = (await data(gql, GET, customer, id=session["id"]))["paymentSession"]
    assert attempted["status"] == "ATTEMPTED"
    paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
    success = await client.post("/payments/razorpay/callback", data=paid)
    assert success.status_code == 303
    assert "status=PAID" in success.headers["location"]
    forged = await client.post(
        "/payments/razorpay/callback", data=paid | {"razorpay_signature": "f" * 64}
    )
    assert "reason=SIGNATURE_INVALID" in forged.headers["location"]
    junk = await client.post("/payments/razorpay/callback", data={"x": "y"})
    assert junk.status_code == 303 and "reason=unknown_order" in junk.headers["location"]


async def test_expiry_releases_and_a_late_capture_is_kept_for_review(
    customer: Headers, sandbox: SandboxControl, private_stack: Stack
) -> None:
    gql, container = private_stack.gql, private_stack.container  # its expiry sees no one else
    pid = str(product_id("BEA-SER-001"))
    before = await stock_of(gql, pid)
    await fill_cart(gql, customer, {"BEA-SER-001": 3})
    session = (await create_session(gql, customer))["paymentSession"]
    assert await stock_of(gql, pid) == before - 3

    class Later:
        def now(self) -> Any:
            return container.deps.clock.now() + timedelta(minutes=31)

    assert await expire_due(replace(container.deps, clock=Later())) == 1
    expired = (await data(gql, GET, customer, id=session["id"]))["paymentSession"]
    assert expired["status"] == "EXPIRED"
    assert await stock_of(gql, pid) == before
    # the customer paid anyway (the Checkout tab was still open): money is never dropped
    paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
    late = await verify(gql, customer, session["id"], paid)
    assert late["paymentSession"]["status"] == "PAID"
    assert "review.needed" in [e["type"] for e in late["paymentSession"]["timeline"]]
    assert await stock_of(gql, pid) == before - 3


async def test_sessions_are_private_to_their_customer_but_admins_see_them(
    gql: GraphQLClient, new_customer: Callable[..., Headers], admin: Headers
) -> None:
    owner, stranger = new_customer(), new_customer()
    await fill_cart(gql, owner, {"BOK-NOV-001": 1})
    session = (await create_session(gql, owner))["paymentSession"]
    assert (await data(gql, GET, stranger, id=session["id"]))["paymentSession"] is None
    cancel = await data(gql, CANCEL, stranger, id=session["id"])
    assert cancel["paymentSessionCancel"]["errors"][0]["code"] == "PAYMENT_SESSION_NOT_FOUND"
    assert (await data(gql, GET, admin, id=session["id"]))["paymentSession"]["id"] == session["id"]
    assert (await data(gql, GET, owner, id="not-an-id"))["paymentSession"] is None
    listing = await data(gql, "{ paymentSessions(first: 5) { edges { node { id } } } }", stranger)
    assert listing["paymentSessions"]["edges"] == []
    mine = await data(
        gql,
        "query($s: PaymentStatus) { paymentSessions(first: 1, status: $s) {"
        " edges { node { id status } } pageInfo { hasNextPage } } }",
        owner,
        s="CREATED",
    )
    assert [e["node"]["id"] for e in mine["paymentSessions"]["edges"]] == [session["id"]]
