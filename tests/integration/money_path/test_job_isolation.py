"""Issue 9 defect 8: one session that raises does not stop the rest of a job's batch.

API.md "Payment sessions": "A session expires after 30 minutes unpaid, releasing its
reservations", and money Razorpay captured is brought in by reconciliation; app/jobs.py: each
job runs every minute. One broken session must not hold every other session hostage, run
after run.
"""

from __future__ import annotations

from collections.abc import Callable

from infra.local.razorpay_sandbox.control_client import SandboxControl
from tests.integration.money_path.support import (
    SetClock,
    database,
    run_jobs,
    status_of,
    stock_of,
)
from tests.support.payments_flow import open_session, own_product
from tests.support.stack import Stack

Headers = dict[str, str]


async def test_a_session_that_breaks_does_not_stop_the_batch(
    private_stack: Stack,
    clock: SetClock,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    admin: Headers,
) -> None:
    """Defect 8. The oldest session's row cannot be changed (a database trigger raises, as a
    broken row would); it is due for both reconciliation (paid at Razorpay) and expiry. The
    jobs still reconcile the next session (captured at Razorpay, never heard of: PAID) and
    expire the other one (unpaid: EXPIRED, its stock back), on the first run and the next."""
    gql = private_stack.gql
    product = await own_product(gql, admin, stock=10)
    broken_buyer, paid_buyer, unpaid_buyer = new_customer(), new_customer(), new_customer()
    broken = await open_session(gql, broken_buyer, product["id"])
    sandbox.pay(broken["razorpayOrderId"], outcome="success")
    clock.advance(seconds=5)
    paid = await open_session(gql, paid_buyer, product["id"])
    sandbox.pay(paid["razorpayOrderId"], outcome="success")  # no webhook reaches the app
    clock.advance(seconds=5)
    unpaid = await open_session(gql, unpaid_buyer, product["id"])
    assert await stock_of(gql, admin, product["id"]) == 7

    async with database(private_stack) as connection:
        await connection.execute(
            """
            CREATE FUNCTION refuse_broken_session() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'session % is broken', OLD.id; END $$;
            """
        )
        await connection.execute(
            f"""
            CREATE TRIGGER broken_session BEFORE UPDATE ON payment_sessions FOR EACH ROW
            WHEN (OLD.id = '{broken["id"]}'::uuid) EXECUTE FUNCTION refuse_broken_session();
            """
        )

    await run_jobs(private_stack, clock, minutes=31)  # past every session's expiry
    assert await status_of(gql, paid_buyer, paid["id"]) == "PAID"
    assert await status_of(gql, unpaid_buyer, unpaid["id"]) == "EXPIRED"
    assert await status_of(gql, broken_buyer, broken["id"]) == "CREATED"
    assert await stock_of(gql, admin, product["id"]) == 8  # unpaid's unit back, paid's sold
    await run_jobs(private_stack, clock, minutes=1)  # the next run: nothing changes
    assert await status_of(gql, paid_buyer, paid["id"]) == "PAID"
    assert await status_of(gql, unpaid_buyer, unpaid["id"]) == "EXPIRED"
