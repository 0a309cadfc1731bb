"""The kill test (issue 9, "Checked by"): the app runs as a real process (uvicorn), a signed
``payment.captured`` reaches it while Razorpay's API answers slowly (the sandbox's ``slow``
fault on ``/v1/payments/*``, 30 s), and the process is SIGKILLed while it handles the event:

* ``before_commit``: the test holds the session's row lock (``SELECT … FOR UPDATE``), so the
  handler blocks inside its transaction; killed there, then the lock is let go;
* ``between_commit_and_answer``: the database already shows the session PAID and the HTTP
  answer has not arrived (what the app sends the AWS emulator is held 1 s a request, and the
  inline dispatch may take up to ``WEBHOOK_INLINE_DISPATCH_SECONDS``, set generously here);
  skipped if the answer beats the kill;
* ``after_answer``: the event was answered; the dispatcher (the app's own, or a run of the
  scheduled jobs as a process) is inside the slowed Razorpay call; skipped if no dispatcher
  calls Razorpay for this event.

Then the app starts again, Razorpay is fast again, the same event (same
``X-Razorpay-Event-Id``) is redelivered as Razorpay would, and the jobs run until the outbox is
empty. Applied exactly once: the session PAID, the dashboard counts it once to the paisa, each
notification was published once, the stock was committed once, the timeline shows each state
change once.

Black box: only the HTTP API, the webhook route, the sandbox's control API, SQL reads of the
test's own database, the SQS queues subscribed to the topics and the scheduled jobs.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from infra.local.razorpay_sandbox.control_client import SandboxControl
from infra.local.razorpay_sandbox.testing import WebhookReceiver
from tests.support.app_process import AppProcess, HoldingProxy, JobProcess, app_env
from tests.support.jobs import run_jobs_until_outbox_empty
from tests.support.payments_flow import open_session, own_product, session_view, timeline_types
from tests.support.published import dashboard_totals, drain, repeated
from tests.support.shop import data
from tests.support.stack import GraphQLClient, Stack, asyncpg_dsn

Headers = dict[str, str]

SLOW_CALLS = 1000  # the slow fault's count: how many it has used tells how many calls came in
STOCK = "query($id: ID!) { product(id: $id) { stock } }"
STOCK_ON_HAND = "query($id: ID!) { product(id: $id) { stock stockOnHand } }"

DEFECT_1 = (
    "issue 9 defect 1: the event id is claimed in DynamoDB before the event is handled and "
    "the claim of a killed worker stays, so Razorpay's redelivery answers 200 'duplicate' and "
    "what the dead worker had not done is never done"
)


async def wait_until(condition: Callable[[], Awaitable[bool]], *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.02)


async def post_webhook(base_url: str, body: bytes, headers: Headers) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=90) as client:
        return await client.post("/webhooks/razorpay", content=body, headers=headers)


def slow_calls_taken(sandbox: SandboxControl) -> int:
    """How many Razorpay API calls the slow fault has caught so far (each one sleeps 30 s)."""
    faults = [f for f in sandbox.config()["faults"] if f["type"] == "slow"]
    return SLOW_CALLS - (faults[0]["count"] if faults else 0)


async def pay_and_catch_the_capture(
    gql: GraphQLClient, customer: Headers, sandbox: SandboxControl, product_id: str
) -> tuple[dict[str, Any], bytes, Headers]:
    """A session paid on the sandbox, whose webhooks went to a receiver of the test's own:
    answers the session and the signed ``payment.captured`` as Razorpay sent it."""
    session = await open_session(gql, customer, product_id, quantity=2)
    with WebhookReceiver() as receiver:
        sandbox.configure(webhook_url=receiver.webhook_url)
        paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
        assert "razorpay_payment_id" in paid, paid
        sandbox.flush(timeout=30)
        deliveries = receiver.received()
    sandbox.configure(webhook_url=None)
    [captured] = [d for d in deliveries if json.loads(d.body)["event"] == "payment.captured"]
    headers = {
        k: v for k, v in captured.headers.items() if k.startswith(("x-razorpay", "content-type"))
    } | {"user-agent": "Razorpay-Webhook/v1"}
    return session, captured.body, headers


async def stock_of(gql: GraphQLClient, admin: Headers, product_id: str) -> dict[str, int]:
    """``stock`` (what customers can still buy), and ``stockOnHand`` where the schema has it."""
    body = await gql(STOCK_ON_HAND, {"id": product_id}, headers=admin)
    if "errors" in body and "stockOnHand" in json.dumps(body["errors"]):
        body = await gql(STOCK, {"id": product_id}, headers=admin)
    assert "errors" not in body, body
    product: dict[str, int] = body["data"]["product"]  # type: ignore[index]
    return product


@pytest.mark.parametrize(
    "kill_point",
    [
        "before_commit",
        "between_commit_and_answer",
        "after_answer",
    ],
)
async def test_a_worker_killed_while_it_handles_a_capture_loses_nothing_and_adds_nothing(
    kill_point: str,
    private_stack: Stack,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    aws_endpoint_url: str,
    tmp_path: Path,
) -> None:
    settings = private_stack.settings  # a database, table and topics of the test's own
    dsn = asyncpg_dsn(settings.database_url)
    proxy = await HoldingProxy(aws_endpoint_url).start()
    inline = 20 if kill_point == "between_commit_and_answer" else 1
    dying = AppProcess(
        app_env(
            settings,
            aws_endpoint_url=proxy.url,
            razorpay_timeout_seconds=45,  # the slowed call is still running when the kill lands
            webhook_inline_dispatch_seconds=inline,
            log_level="WARNING",
        ),
        log=tmp_path / "app-killed.log",
    ).start()
    job: JobProcess | None = None
    watcher = await asyncpg.connect(dsn)
    try:
        async with httpx.AsyncClient(base_url=dying.base_url, timeout=60) as http:
            gql = GraphQLClient(http)
            admin, customer = new_customer("admin"), new_customer()
            product = await own_product(gql, admin, stock=5)
            session, body, headers = await pay_and_catch_the_capture(
                gql, customer, sandbox, product["id"]
            )
        session_id, amount = session["id"], session["amount"]["amount"]

        async def status() -> str:
            found = await watcher.fetchval(
                "SELECT status FROM payment_sessions WHERE id = $1", uuid.UUID(session_id)
            )
            return str(found)

        sandbox.set_faults(
            {"type": "slow", "path": "/v1/payments/*", "delay": 30.0, "count": SLOW_CALLS}
        )

        if kill_point == "before_commit":
            locker = await asyncpg.connect(dsn)
            try:
                lock = locker.transaction()
                await lock.start()
                await locker.execute(
                    "SELECT id FROM payment_sessions WHERE id = $1 FOR UPDATE",
                    uuid.UUID(session_id),
                )
                me = await locker.fetchval("SELECT pg_backend_pid()")
                sending = asyncio.create_task(post_webhook(dying.base_url, body, headers))

                async def inside() -> bool:
                    assert not sending.done(), f"answered with the row locked: {sending.result()}"
                    waiting = await watcher.fetchval(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE $1 = ANY(pg_blocking_pids(pid))",
                        me,
                    )
                    return bool(waiting) or slow_calls_taken(sandbox) > 0

                await wait_until(
                    inside, within=30, what="the handler waiting on the row lock or Razorpay"
                )
                dying.kill()
                await lock.rollback()
            finally:
                await locker.close()
            assert await status() == "CREATED"  # nothing of the dead handler was committed
            answer = (await asyncio.gather(sending, return_exceptions=True))[0]
            assert isinstance(answer, httpx.TransportError), answer

        elif kill_point == "between_commit_and_answer":
            proxy.delay = 1.0  # every request to the AWS emulator waits 1 s
            sending = asyncio.create_task(post_webhook(dying.base_url, body, headers))
            killed = False
            while not sending.done():
                if await status() == "PAID":
                    dying.kill()
                    killed = True
                    break
                await asyncio.sleep(0.002)
            # what the dead process had sent the emulator and was still held is dropped, as if
            # the kill had come just before it was sent; then the emulator is fast again
            await asyncio.sleep(proxy.delay + 0.5)
            proxy.delay = 0.0
            answer = (await asyncio.gather(sending, return_exceptions=True))[0]
            if isinstance(answer, httpx.Response):
                assert 200 <= answer.status_code < 300, answer.text
            if not killed or isinstance(answer, httpx.Response):
                pytest.skip(
                    "the webhook was answered before the kill could land between commit and "
                    f"answer (answer: {answer!r})"
                )
            assert isinstance(answer, httpx.TransportError), answer

        else:  # after_answer
            answer = await post_webhook(dying.base_url, body, headers)
            assert 200 <= answer.status_code < 300, answer.text
            if slow_calls_taken(sandbox) == 0:
                # the app's own dispatcher made no Razorpay call: a run of the jobs may
                job = JobProcess(dying.env, log=tmp_path / "job-killed.log")
                deadline = time.monotonic() + 30
                while slow_calls_taken(sandbox) == 0 and job.running():
                    assert time.monotonic() < deadline, "the job run neither ended nor called"
                    await asyncio.sleep(0.05)
            if slow_calls_taken(sandbox) == 0:
                pytest.skip(
                    "no dispatcher called Razorpay for this payment.captured after the answer "
                    "(neither the app nor a job run): there is no slowed call to kill it in"
                )
            dying.kill()
            if job is not None:
                job.kill()

        # --- the app again, Razorpay fast again, and Razorpay's redelivery ---------------------
        sandbox.set_faults()
        again = AppProcess(
            app_env(settings, razorpay_timeout_seconds=10, webhook_inline_dispatch_seconds=5),
            log=tmp_path / "app-again.log",
        ).start()
        try:
            redelivered = await post_webhook(again.base_url, body, headers)
            assert 200 <= redelivered.status_code < 300, redelivered.text
            await run_jobs_until_outbox_empty(private_stack)

            async with httpx.AsyncClient(base_url=again.base_url, timeout=60) as http:
                gql = GraphQLClient(http)
                found = await session_view(gql, customer, session_id)
                board = await dashboard_totals(gql, admin)
                stock = await stock_of(gql, admin, product["id"])
                cart = await data(gql, "{ cart { lines { quantity } } }", customer)
        finally:
            again.stop()

        assert found["status"] == "PAID", (
            found["status"],
            timeline_types(found),
            f"redelivery answered {redelivered.status_code} {redelivered.text}",
        )
        assert found["refundedAmount"]["amount"] == 0
        changes = [t for t in timeline_types(found) if t.startswith("status.")]
        assert changes.count("status.PAID") == 1, timeline_types(found)
        assert len(changes) == len(set(changes)), timeline_types(found)
        assert board == {
            "paidCount": 1,
            "paidAmount": amount,
            "refundedAmount": 0,
            "failedCount": 0,
        }
        # 5 on hand, 2 paid for: committed once (neither released nor taken twice)
        assert stock["stock"] == 3, stock
        if "stockOnHand" in stock:
            assert stock["stockOnHand"] == 3, stock
        assert cart["cart"]["lines"] == []  # the lines paid for left the cart
        to_customer = await drain(private_stack, "customer")
        to_admins = await drain(private_stack, "admin")
        assert repeated(to_customer + to_admins) == {}
        assert len([m for m in to_customer if m.about(session_id)]) == 1, to_customer
        assert len([m for m in to_admins if m.about(session_id)]) == 1, to_admins
    finally:
        if job is not None:
            job.kill()
        dying.kill()
        sandbox.set_faults()
        await watcher.close()
        await proxy.aclose()
