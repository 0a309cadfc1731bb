"""The gap between storing a session and attaching its Razorpay order: a process that dies
there, and a cancel that lands there."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from app.container import Container
from domain.errors import DomainError, ErrorCode
from domain.gateway import GatewayOrder
from domain.identity import Principal
from domain.payments import PaymentStatus
from infra.local.razorpay_sandbox.control_client import SandboxControl
from resolvers import checkout, payments
from resolvers.reconcile import reconcile
from tests.support.shop import fill_cart
from tests.support.stack import GraphQLClient, Stack

Headers = dict[str, str]


class DiesAfterOrder:
    """A gateway whose process 'dies' (the task is cancelled) right after Razorpay made the
    order, or before, as Lambda's timeout would do."""

    def __init__(self, real: Any, *, make_order: bool) -> None:
        self._real = real
        self._make_order = make_order

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def create_order(
        self, *, amount: int, currency: str, receipt: str, notes: Mapping[str, str]
    ) -> GatewayOrder:
        if self._make_order:
            await self._real.create_order(
                amount=amount, currency=currency, receipt=receipt, notes=notes
            )
        raise asyncio.CancelledError


async def principal_of(gql: GraphQLClient, headers: Headers) -> Principal:
    body = await gql("{ viewer { id username email groups } }", headers=headers)
    viewer = body["data"]["viewer"]  # type: ignore[index]
    return Principal(subject=viewer["id"], username=viewer["username"], email=viewer["email"])


@pytest.mark.parametrize("order_made", [False, True])
async def test_a_session_stranded_without_its_order_is_recovered(
    order_made: bool,
    gql: GraphQLClient,
    new_customer: Callable[..., Headers],
    container: Container,
    sandbox: SandboxControl,
) -> None:
    headers = new_customer()
    principal = await principal_of(gql, headers)
    await fill_cart(gql, headers, {"GRO-HNY-005": 1})
    dying = replace(
        container.deps, gateway=DiesAfterOrder(container.deps.gateway, make_order=order_made)
    )
    with pytest.raises(asyncio.CancelledError):
        await checkout.create_session(dying, principal=principal, idempotency_key="stranded-01")
    [stranded] = (
        await payments.list_sessions(
            container.deps, principal=principal, first=1, after=None, status=None
        )
    ).sessions
    assert stranded.awaiting_order
    quick = replace(
        container.deps, checkout=replace(container.deps.checkout, order_wait_seconds=0.3)
    )
    if order_made:
        # a replay that waited long enough finds the order Razorpay made and carries on
        replay = await checkout.create_session(
            quick, principal=principal, idempotency_key="stranded-01"
        )
        assert replay.id == stranded.id and replay.razorpay_order_id is not None
    else:
        with pytest.raises(DomainError) as gave_up:
            await checkout.create_session(quick, principal=principal, idempotency_key="stranded-01")
        assert gave_up.value.code is ErrorCode.GATEWAY_UNAVAILABLE
        closed = await container.deps.payments.get(stranded.id)
        assert closed is not None and closed.status is PaymentStatus.FAILED
        fresh = await checkout.create_session(
            container.deps, principal=principal, idempotency_key="stranded-01"
        )
        assert fresh.id != stranded.id and fresh.razorpay_order_id is not None


async def test_reconciliation_attaches_the_order_of_a_stranded_session(
    new_customer: Callable[..., Headers],
    sandbox: SandboxControl,
    private_stack: Stack,
) -> None:
    # the job below runs over the whole database: this test's own
    gql, container = private_stack.gql, private_stack.container
    headers = new_customer()
    principal = await principal_of(gql, headers)
    await fill_cart(gql, headers, {"GRO-TEA-003": 1})
    dying = replace(container.deps, gateway=DiesAfterOrder(container.deps.gateway, make_order=True))
    with pytest.raises(asyncio.CancelledError):
        await checkout.create_session(dying, principal=principal, idempotency_key="stranded-02")
    [stranded] = (
        await payments.list_sessions(
            container.deps, principal=principal, first=1, after=None, status=None
        )
    ).sessions

    class Later:
        def now(self) -> Any:
            return container.deps.clock.now() + timedelta(minutes=6)

    assert await reconcile(replace(container.deps, clock=Later())) == 1
    recovered = await container.deps.payments.get(stranded.id)
    assert recovered is not None and recovered.razorpay_order_id is not None
    assert recovered.status is PaymentStatus.CREATED


async def test_a_cancel_while_the_order_is_being_made_wins(
    gql: GraphQLClient,
    new_customer: Callable[..., Headers],
    container: Container,
    sandbox: SandboxControl,
) -> None:
    headers = new_customer()
    principal = await principal_of(gql, headers)
    await fill_cart(gql, headers, {"BOK-NOV-002": 1})
    sandbox.set_faults({"type": "slow", "delay": 1.0, "method": "POST", "path": "/v1/orders"})
    creating = asyncio.create_task(
        checkout.create_session(container.deps, principal=principal, idempotency_key="cancel-race")
    )
    while True:
        found = (
            await payments.list_sessions(
                container.deps, principal=principal, first=1, after=None, status=None
            )
        ).sessions
        if found:
            break
        await asyncio.sleep(0.02)
    cancelled = await payments.cancel(container.deps, principal=principal, session_id=found[0].id)
    assert cancelled.status is PaymentStatus.CANCELLED
    with pytest.raises(DomainError) as closed:
        await creating
    assert closed.value.code is ErrorCode.PAYMENT_SESSION_CLOSED
    after = await container.deps.payments.get(found[0].id)
    assert after is not None and after.status is PaymentStatus.CANCELLED
    assert after.razorpay_order_id is None


@pytest.mark.parametrize("auto_capture", [True, False])
async def test_reconciliation_settles_a_payment_whose_webhooks_were_lost(
    auto_capture: bool,
    new_customer: Callable[..., Headers],
    sandbox: SandboxControl,
    private_stack: Stack,
) -> None:
    """The customer paid and closed the browser; no verify, no webhook ever arrived."""
    # the job below runs over the whole database: this test's own
    gql, container = private_stack.gql, private_stack.container
    sandbox.configure(auto_capture=auto_capture)
    headers = new_customer()
    principal = await principal_of(gql, headers)
    await fill_cart(gql, headers, {"APP-TEE-001": 1})
    session = await checkout.create_session(
        container.deps, principal=principal, idempotency_key=f"lost-webhook-{auto_capture}"
    )
    assert session.razorpay_order_id is not None
    sandbox.pay(session.razorpay_order_id, outcome="success")  # webhooks go nowhere

    class Later:
        def now(self) -> Any:
            return container.deps.clock.now() + timedelta(minutes=6)

    assert await reconcile(replace(container.deps, clock=Later())) == 1
    settled = await container.deps.payments.get(session.id)
    assert settled is not None and settled.status is PaymentStatus.PAID
    assert settled.captured_amount == session.amount
    assert await reconcile(replace(container.deps, clock=Later())) == 0  # again: nothing changes
    again = await container.deps.payments.get(session.id)
    assert again is not None and again.status is PaymentStatus.PAID
