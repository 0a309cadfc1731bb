"""Payment flows for failure tests, on the test's own products and customers.

Every helper works on rows the calling test made itself: a product with a unique SKU
(:func:`own_product`), a fresh customer's cart and session, the sandbox payment of that
session's order. Apps built around a :class:`Container` of the test's own (dead endpoints,
swapped ports) come from :func:`app_client`, which closes only what that container opened.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import replace
from typing import Any

import httpx

from app.container import Container
from app.main import create_app
from infra.local.razorpay_sandbox.control_client import SandboxControl
from tests.support.shop import GET, create_session, data
from tests.support.stack import GraphQLClient
from tests.support.webhooks import sandbox_entity

Headers = dict[str, str]

PRODUCT_UPSERT = """mutation($input: ProductInput!) {
  productUpsert(input: $input) { product { id sku } errors { code message } } }"""
ON_HAND = "query($id: ID!) { product(id: $id) { stockOnHand } }"
ADD_LINES = """mutation($lines: [CartLineInput!]!) {
  cartLinesAdd(lines: $lines) { cart { version } errors { code message } } }"""
REFUND = """mutation($input: RefundCreateInput!) { refundCreate(input: $input) {
  refund { id amount { amount } status razorpayRefundId }
  paymentSession { id status refundedAmount { amount } refunds { amount { amount } status } }
  errors { code field message } } }"""


async def own_product(
    gql: GraphQLClient,
    admin: Headers,
    *,
    price: int = 100_000,
    gst_rate_bp: int = 1800,
    stock: int = 20,
) -> dict[str, Any]:
    """A product of the calling test's own (unique SKU); answers ``{"id", "sku", "spec"}``."""
    sku = f"T-GWF-{secrets.token_hex(5).upper()}"
    spec = {
        "sku": sku,
        "title": f"Failure-test item {sku}",
        "category": "test-failures",
        "price": price,
        "gstRateBp": gst_rate_bp,
        "stock": stock,
    }
    made = (await data(gql, PRODUCT_UPSERT, admin, input=spec))["productUpsert"]
    assert made["errors"] == [], made
    return {"id": made["product"]["id"], "sku": sku, "spec": spec}


async def retire_product(gql: GraphQLClient, admin: Headers, product: dict[str, Any]) -> None:
    """Switch a test's product off again, so no other listing ever shows it. Its units on
    hand stay as they are: sessions the test left open may still hold some."""
    found = (await data(gql, ON_HAND, admin, id=product["id"]))["product"]
    on_hand = found["stockOnHand"] if found is not None else product["spec"]["stock"]
    retired = await data(
        gql,
        PRODUCT_UPSERT,
        admin,
        input=product["spec"] | {"id": product["id"], "active": False, "stock": on_hand},
    )
    assert retired["productUpsert"]["errors"] == [], retired


async def open_session(
    gql: GraphQLClient, customer: Headers, product_id: str, quantity: int = 1
) -> dict[str, Any]:
    """Put ``quantity`` of the product in the customer's cart and open a payment session."""
    lines = [{"productId": product_id, "quantity": quantity}]
    added = (await data(gql, ADD_LINES, customer, lines=lines))["cartLinesAdd"]
    assert added["errors"] == [], added
    created = await create_session(gql, customer)
    assert created["errors"] == [], created
    session: dict[str, Any] = created["paymentSession"]
    return session


async def pay_on_sandbox(
    gql: GraphQLClient,
    customer: Headers,
    sandbox: SandboxControl,
    product_id: str,
    quantity: int = 1,
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """A session whose order the customer paid on Checkout (the app has heard nothing yet):
    the session, what Checkout handed the browser, and the payment as the sandbox has it."""
    session = await open_session(gql, customer, product_id, quantity)
    paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
    assert "razorpay_payment_id" in paid, paid
    payment = await sandbox_entity(sandbox.base_url, f"payments/{paid['razorpay_payment_id']}")
    return session, paid, payment


async def session_view(gql: GraphQLClient, who: Headers, session_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await data(gql, GET, who, id=session_id))["paymentSession"]
    assert found is not None, session_id
    return found


def timeline_types(session: dict[str, Any]) -> list[str]:
    return [entry["type"] for entry in session["timeline"]]


async def sandbox_payment(sandbox: SandboxControl, payment_id: str) -> dict[str, Any]:
    return await sandbox_entity(sandbox.base_url, f"payments/{payment_id}")


async def sandbox_refunds(sandbox: SandboxControl, payment_id: str) -> list[dict[str, Any]]:
    """Every refund Razorpay (the sandbox) made for the payment."""
    items: list[dict[str, Any]] = (
        await sandbox_entity(sandbox.base_url, f"payments/{payment_id}/refunds")
    )["items"]
    return items


async def ask_refund(
    gql: GraphQLClient, admin: Headers, session_id: str, key: str, amount: int | None = None
) -> Any:
    """refundCreate as an admin would call it; answers the payload."""
    refund_input: dict[str, Any] = {"paymentSessionId": session_id, "idempotencyKey": key}
    if amount is not None:
        refund_input["amount"] = amount
    return (await data(gql, REFUND, admin, input=refund_input))["refundCreate"]


def dead_url(scheme: str, port: int, path: str = "") -> str:
    """An address on loopback where nothing listens (``port`` from ``free_port()``)."""
    return f"{scheme}://127.0.0.1:{port}{path}"


class Overriding:
    """A port that delegates to ``inner`` except for the attributes given as overrides."""

    def __init__(self, inner: object, **overrides: Any) -> None:
        self._inner = inner
        self._overrides = overrides

    def __getattr__(self, name: str) -> Any:
        if name in self._overrides:
            return self._overrides[name]
        return getattr(self._inner, name)


def raising(exc: BaseException) -> Callable[..., Any]:
    """A stand-in method that raises when called (before any await or ``async with``)."""

    def call(*_: Any, **__: Any) -> Any:
        raise exc

    return call


def only_sessions(payments: Any, session_ids: Iterable[str]) -> Overriding:
    """The payments repository, but ``due`` and ``to_reconcile`` (what the jobs pick up) see
    only these sessions:
    a job run in a test touches only the test's own sessions."""
    mine = set(session_ids)

    async def due(**kwargs: Any) -> list[str]:
        return [i for i in await payments.due(**kwargs) if i in mine]

    async def to_reconcile(**kwargs: Any) -> list[str]:
        return [i for i in await payments.to_reconcile(**kwargs) if i in mine]

    return Overriding(payments, due=due, to_reconcile=to_reconcile)


@contextlib.asynccontextmanager
async def app_client(
    own: Container, *, borrow_from: Container | None = None, **deps_changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The app around ``own``. With ``borrow_from``, ``own`` uses that container's deps (with
    ``deps_changes`` swapped in) and never closes what it borrowed; otherwise ``own`` builds
    everything from its own settings. Whatever ``own`` opened is closed at the end."""
    if borrow_from is not None:
        own.__dict__["deps"] = replace(borrow_from.deps, **deps_changes)
    elif deps_changes:
        raise ValueError("deps_changes need borrow_from")
    app = create_app(own)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            yield client
    finally:
        # borrowed deps belong to ``borrow_from``; ``own`` closes only what it made itself
        # (e.g. the JWKS client behind a signed-in request)
        own.__dict__.pop("deps", None)
        await own.aclose()
