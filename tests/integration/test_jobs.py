"""The scheduled jobs (``app/jobs.py``) on the real services: each job has its own budget and
one failing or overrunning never stops the others, and a run touches only its own stack.

Every scenario runs on a stack of the test's own whose clock the test sets: three sessions
checked out at ``T0`` and the jobs run 31 minutes later, when

* one session was never paid (the expiry job closes it),
* one was paid and verified (its three outbox messages wait for the dispatcher),
* one was paid on Razorpay's Checkout but the app never heard (reconciliation finds it PAID,
  three more outbox messages).

A broken job is swapped into ``app.jobs.JOBS`` (and a short budget into ``BUDGETS``); the
other two are the real ones and must still give their real results.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app import jobs
from app.container import Container
from app.jobs import run_scheduled
from infra.local.razorpay_sandbox.control_client import SandboxControl
from resolvers.deps import Deps
from resolvers.outbox import dispatch_all
from resolvers.payments import expire_due
from tests.support.payments_flow import only_sessions
from tests.support.shop import GET, create_session, data, fill_cart, verify
from tests.support.stack import GraphQLClient, Stack

Headers = dict[str, str]
T0 = datetime(2026, 4, 1, 6, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=31)  # past the 30-minute expiry


@dataclass
class SetClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


@dataclass(frozen=True, slots=True)
class Scenario:
    stack: Stack
    clock: SetClock
    unpaid: tuple[Headers, str]
    verified: tuple[Headers, str]
    unheard: tuple[Headers, str]


async def status_of(gql: GraphQLClient, who: Headers, session_id: str) -> str:
    return str((await data(gql, GET, who, id=session_id))["paymentSession"]["status"])


async def checkout(gql: GraphQLClient, customer: Headers, sku: str) -> dict[str, Any]:
    await fill_cart(gql, customer, {sku: 1})
    created = await create_session(gql, customer)
    assert created["errors"] == [], created
    session: dict[str, Any] = created["paymentSession"]
    return session


async def arrange(
    stack: Stack, sandbox: SandboxControl, new_customer: Callable[..., Headers]
) -> Scenario:
    container, gql = stack.container, stack.gql
    clock = SetClock(T0)
    container.__dict__["deps"] = replace(container.deps, clock=clock)

    unpaid_buyer, verified_buyer, unheard_buyer = new_customer(), new_customer(), new_customer()
    unpaid = await checkout(gql, unpaid_buyer, "GRO-TEA-003")
    verified = await checkout(gql, verified_buyer, "GRO-DAL-002")
    paid = sandbox.pay(verified["razorpayOrderId"], outcome="success")
    answer = await verify(gql, verified_buyer, verified["id"], paid)
    assert answer["paymentSession"]["status"] == "PAID", answer
    unheard = await checkout(gql, unheard_buyer, "GRO-TEA-003")
    assert "razorpay_payment_id" in sandbox.pay(unheard["razorpayOrderId"], outcome="success")
    assert await status_of(gql, unheard_buyer, unheard["id"]) == "CREATED"

    clock.at = LATER
    return Scenario(
        stack=stack,
        clock=clock,
        unpaid=(unpaid_buyer, unpaid["id"]),
        verified=(verified_buyer, verified["id"]),
        unheard=(unheard_buyer, unheard["id"]),
    )


async def statuses(scenario: Scenario) -> dict[str, str]:
    gql = scenario.stack.gql
    return {
        "unpaid": await status_of(gql, *scenario.unpaid),
        "verified": await status_of(gql, *scenario.verified),
        "unheard": await status_of(gql, *scenario.unheard),
    }


async def test_the_real_jobs_give_their_results(
    private_stack: Stack, sandbox: SandboxControl, new_customer: Callable[..., Headers]
) -> None:
    scenario = await arrange(private_stack, sandbox, new_customer)
    results = await run_scheduled(private_stack.container)
    # reconciliation carries out what it changed itself; the expiry's timeline entry is left
    assert results == {"reconciled": 1, "expired": 1, "published": 1}
    assert await statuses(scenario) == {"unpaid": "EXPIRED", "verified": "PAID", "unheard": "PAID"}
    # a second run finds nothing left to do
    again = await run_scheduled(private_stack.container)
    assert again == {"reconciled": 0, "expired": 0, "published": 0}


class Hanging:
    """A job that never finishes on its own; notes that it started and was cut off."""

    def __init__(self) -> None:
        self.started = False
        self.cancelled = False

    async def __call__(self, deps: Deps) -> int:
        self.started = True
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return 0


async def raising(deps: Deps) -> int:
    raise RuntimeError("the job blew up")


# what the other two (real) jobs give when one of them is broken, and where the sessions end
WITHOUT = {
    # no reconciliation: the unheard payment's session runs out of time like the unpaid one
    # (money captured after expiry is the late-payment path's business, a later run)
    "reconciled": (
        {"expired": 2, "published": 2},  # the two expiries' timeline entries
        {"unpaid": "EXPIRED", "verified": "PAID", "unheard": "EXPIRED"},
    ),
    "expired": (
        {"reconciled": 1, "published": 0},  # reconciliation carried its effects out
        {"unpaid": "CREATED", "verified": "PAID", "unheard": "PAID"},
    ),
    "published": (
        {"reconciled": 1, "expired": 1},
        {"unpaid": "EXPIRED", "verified": "PAID", "unheard": "PAID"},
    ),
}


@pytest.mark.parametrize("broken", list(WITHOUT))
async def test_a_job_that_overruns_its_budget_is_cut_off_and_the_others_run(
    private_stack: Stack,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    broken: str,
) -> None:
    scenario = await arrange(private_stack, sandbox, new_customer)
    hanging = Hanging()
    monkeypatch.setitem(jobs.JOBS, broken, hanging)
    monkeypatch.setitem(jobs.BUDGETS, broken, 0.05)
    with caplog.at_level(logging.WARNING, logger="app.jobs"):
        results = await run_scheduled(private_stack.container)

    others, where = WITHOUT[broken]
    assert results == {broken: -1, **others}
    assert list(results) == list(jobs.JOBS)  # every job answered, in the table's order
    assert hanging.started and hanging.cancelled  # cut off, not left running
    assert await statuses(scenario) == where
    assert any(
        r.levelno == logging.WARNING and f"job {broken} ran out of its 0.05 s budget" in r.message
        for r in caplog.records
    ), caplog.records
    await assert_nothing_lost(scenario, broken)


@pytest.mark.parametrize("broken", list(WITHOUT))
async def test_a_job_that_raises_does_not_stop_the_others(
    private_stack: Stack,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    broken: str,
) -> None:
    scenario = await arrange(private_stack, sandbox, new_customer)
    monkeypatch.setitem(jobs.JOBS, broken, raising)
    with caplog.at_level(logging.WARNING, logger="app.jobs"):
        results = await run_scheduled(private_stack.container)

    others, where = WITHOUT[broken]
    assert results == {broken: -1, **others}
    assert await statuses(scenario) == where
    [failure] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.getMessage() == f"job {broken} failed; the others still run"
    assert failure.exc_info is not None and isinstance(failure.exc_info[1], RuntimeError)
    await assert_nothing_lost(scenario, broken)


async def assert_nothing_lost(scenario: Scenario, broken: str) -> None:
    """What the broken job left undone is still there for the next run of the real one."""
    deps = scenario.stack.container.deps
    if broken == "expired":
        assert await expire_due(deps) == 1
        assert await status_of(scenario.stack.gql, *scenario.unpaid) == "EXPIRED"
    elif broken == "published":
        assert (await dispatch_all(deps)).sent == 1  # the expiry's timeline entry


async def test_a_run_on_a_private_stack_touches_only_that_stack(
    container: Container,
    gql: GraphQLClient,
    private_stack: Stack,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
) -> None:
    """The module's stack has a session due to expire; the jobs run (for real) on a private
    stack whose clock is past that expiry: only the private stack's own session expires."""
    module_buyer = new_customer()
    theirs = await checkout(gql, module_buyer, "GRO-TEA-003")
    own = private_stack.container
    clock = SetClock(datetime.now(UTC))
    own.__dict__["deps"] = replace(own.deps, clock=clock)
    own_buyer = new_customer()
    mine = await checkout(private_stack.gql, own_buyer, "GRO-TEA-003")

    clock.at += timedelta(minutes=31)
    results = await run_scheduled(own)

    assert results == {"reconciled": 0, "expired": 1, "published": 1}
    assert await status_of(private_stack.gql, own_buyer, mine["id"]) == "EXPIRED"
    assert await status_of(gql, module_buyer, theirs["id"]) == "CREATED"
    # it was due: the module's own expiry, at the same instant, closes it
    module_deps = replace(
        container.deps,
        clock=SetClock(clock.at),
        payments=only_sessions(container.deps.payments, [theirs["id"]]),
    )
    assert await expire_due(module_deps) == 1
    assert await status_of(gql, module_buyer, theirs["id"]) == "EXPIRED"


async def test_money_captured_before_a_cut_off_reconciliation_is_found_by_the_next_run(
    private_stack: Stack,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """app/jobs.py: "reconcile first: money Razorpay took must win over the 30-minute clock".
    When reconciliation runs out of its budget, the expiry closes the session whose payment
    Razorpay captured (no webhook reached the app); the next run, with reconciliation working
    again, must bring that money in (API.md: captured money for an expired session is never
    dropped: PAID when its stock can still be taken, else refunded in full)."""
    scenario = await arrange(private_stack, sandbox, new_customer)
    with monkeypatch.context() as patch:
        patch.setitem(jobs.JOBS, "reconciled", Hanging())
        patch.setitem(jobs.BUDGETS, "reconciled", 0.05)
        first = await run_scheduled(private_stack.container)
    assert first == {"reconciled": -1, "expired": 2, "published": 2}
    assert await status_of(private_stack.gql, *scenario.unheard) == "EXPIRED"

    scenario.clock.at += timedelta(minutes=1)
    await run_scheduled(private_stack.container)  # the real jobs, the next minute
    assert await status_of(private_stack.gql, *scenario.unheard) in {"PAID", "REFUNDED"}
