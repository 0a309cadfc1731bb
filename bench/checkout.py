"""Checkout against its I/O floor, sequentially (one at a time), alternating the two.

- ``app``: ``paymentSessionCreate`` POSTed to the project's uvicorn process by a customer whose
  cart holds one line (a customer of its own per iteration: no earlier session to cancel).
- ``floor``: the I/O the mutation cannot avoid, timed directly in the bench process on the
  project's own adapters: the checkout transaction of ``PaymentSessionRepository.checkout``
  (customer lock, idempotency look-up, open sessions, cart and products, stock reservation,
  session insert: ``resolvers.checkout._reserve_and_store`` runs inside it, as the mutation
  does), one Razorpay order create against the sandbox (``RazorpayGateway``, the SDK in a worker
  thread, as the app calls it) and the ``attach_order`` update. Not in the floor: HTTP, JWT
  verification, GraphQL, the PII sealing and the two payment-timeline records in DynamoDB.
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

import httpx

from app.container import Container
from bench.stack import BenchError
from datasources.postgres.engine import StatementCounter
from domain.identity import Principal
from domain.payment_session import order_notes
from resolvers.checkout import _reserve_and_store

CREATE = """mutation($input: PaymentSessionCreateInput!) { paymentSessionCreate(input: $input) {
  paymentSession { id status amount { amount } razorpayOrderId } errors { code message } } }"""
ADD = """mutation($lines: [CartLineInput!]!) {
  cartLinesAdd(lines: $lines) { cart { version } errors { code } } }"""


async def fill_cart(http: httpx.AsyncClient, token: str, product_id: str) -> None:
    answer = await http.post(
        "/graphql",
        json={"query": ADD, "variables": {"lines": [{"productId": product_id, "quantity": 1}]}},
        headers={"authorization": f"Bearer {token}"},
    )
    body = answer.json()
    if answer.status_code != 200 or body.get("errors") or body["data"]["cartLinesAdd"]["errors"]:
        raise BenchError(f"cartLinesAdd failed: {answer.text[:500]}")


async def app_once(http: httpx.AsyncClient, token: str) -> float:
    key = f"bench-{uuid.uuid4()}"
    started = time.perf_counter()
    answer = await http.post(
        "/graphql",
        json={"query": CREATE, "variables": {"input": {"idempotencyKey": key}}},
        headers={"authorization": f"Bearer {token}"},
    )
    took = time.perf_counter() - started
    body = answer.json()
    payload = (body.get("data") or {}).get("paymentSessionCreate") or {}
    if answer.status_code != 200 or body.get("errors") or payload.get("errors"):
        raise BenchError(f"paymentSessionCreate failed: {answer.text[:500]}")
    if not payload["paymentSession"]["razorpayOrderId"]:
        raise BenchError(f"paymentSessionCreate answered no order: {answer.text[:500]}")
    return took


async def floor_once(container: Container, subject: str) -> float:
    deps = container.deps
    key = f"bench-floor-{uuid.uuid4()}"
    principal = Principal(subject=subject, username=subject)
    started = time.perf_counter()
    async with deps.payments.checkout(customer_id=subject, idempotency_key=key) as tx:
        if await tx.existing() is not None:
            raise BenchError("the floor's idempotency key was taken")
        if await tx.open_sessions():
            raise BenchError("the floor's customer has an open session")
        cart, products = await tx.cart()
        session = await _reserve_and_store(
            deps,
            tx,
            principal=principal,
            key=key,
            contact=(None, None),
            expected=None,
            expected_amount=None,
            cart=cart,
            products=products,
        )
    order = await deps.gateway.create_order(
        amount=session.amount,
        currency=session.currency,
        receipt=session.id,
        notes=order_notes(session),
    )
    if not await deps.payments.attach_order(session.id, order_id=order.id, now=deps.clock.now()):
        raise BenchError("attach_order found no session")
    return time.perf_counter() - started


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "median_ms": statistics.median(ordered) * 1000,
        "p90_ms": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
    }


async def checkout_vs_floor(
    *,
    http: httpx.AsyncClient,
    container: Container,
    app_tokens: list[str],
    floor_subjects: list[str],
    floor_tokens: list[str],
    product_id: str,
    warmup: int = 2,
) -> dict[str, Any]:
    """Alternating app and floor, one at a time; the first ``warmup`` of each unmeasured."""
    for token in [*app_tokens, *floor_tokens]:
        await fill_cart(http, token, product_id)
    app_samples: list[float] = []
    floor_samples: list[float] = []
    with StatementCounter(container.engine) as counter:
        for index, (token, subject) in enumerate(zip(app_tokens, floor_subjects, strict=True)):
            if index % 2 == 0:
                a, f = await app_once(http, token), await floor_once(container, subject)
            else:
                f, a = await floor_once(container, subject), await app_once(http, token)
            if index >= warmup:
                app_samples.append(a)
                floor_samples.append(f)
    floor_statements = counter.count / len(floor_subjects)
    app, floor = summary(app_samples), summary(floor_samples)
    return {
        "app": app,
        "floor": floor,
        "floor_sql_statements": floor_statements,
        "ratio_median": app["median_ms"] / floor["median_ms"],
    }
