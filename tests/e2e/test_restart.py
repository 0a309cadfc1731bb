"""`make run`, pay, Ctrl-C, `make run` again: one consistent state (issue 15).

The same demo user signs in and sees the paid session with its timeline, the dashboard agrees
with the sessions, the jobs run without a warning; on SQLite and on PostgreSQL. A fresh start
(`make run FRESH=1`) shows the seeded catalog and nothing else.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from infra.local.seed import product_id
from resolvers.metrics import OUTBOX_BACKLOG
from tests.support.devstack import LocalStack, tokens_of
from tests.support.stack import Databases

SESSION = """query($id: ID!) { paymentSession(id: $id) { id status amount { amount }
  razorpayPaymentId timeline { at type source detail } } }"""
SESSIONS = "{ paymentSessions(first: 50) { edges { node { id status amount { amount } } } } }"
DASHBOARD = """query($d: Date!) { salesDashboard(from: $d, to: $d) {
  totals { paidCount paidAmount { amount } refundedAmount { amount } failedCount } } }"""
NOISE = re.compile(r"^\d\d:\d\d:\d\d (WARNING|ERROR|CRITICAL) ", re.MULTILINE)
BACKLOG = f'"{OUTBOX_BACKLOG}"'
JOB_RUNS = 20  # at --jobs-every 0.5: ten minutes of the default cadence's runs in 10 s


class Client:
    def __init__(self, stack: dict[str, Any], username: str) -> None:
        self.url = stack["graphql_url"]
        self.token = tokens_of(stack, username)["AccessToken"]

    def __call__(self, query: str, **variables: Any) -> Any:
        body = httpx.post(
            self.url,
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {self.token}"},
            timeout=30,
        ).json()
        assert "errors" not in body, body
        return body["data"]


def pay_one(stack: dict[str, Any], customer: Client) -> str:
    customer(
        "mutation($l: [CartLineInput!]!) { cartLinesAdd(lines: $l) { errors { code } } }",
        l=[{"productId": str(product_id("GRO-DAL-002")), "quantity": 2}],
    )
    created = customer(
        "mutation($k: String!) { paymentSessionCreate(input: {idempotencyKey: $k}) {"
        " paymentSession { id razorpayOrderId } errors { code } } }",
        k=f"restart-{secrets.token_hex(6)}",
    )["paymentSessionCreate"]
    assert created["errors"] == [], created
    session = created["paymentSession"]
    rzp = stack["razorpay"]["base_url"]
    paid = httpx.post(
        f"{rzp}/_sandbox/orders/{session['razorpayOrderId']}/pay",
        json={"outcome": "success", "method": "upi"},
        timeout=30,
    ).json()
    assert "razorpay_signature" in paid, paid
    # the webhooks Razorpay sends (authorized, captured, order.paid) land before the restart
    flushed = httpx.post(f"{rzp}/_sandbox/webhooks/flush", json={"timeout": 20}, timeout=30)
    assert flushed.json()["drained"] is True
    status: str = customer(SESSION, id=session["id"])["paymentSession"]["status"]
    assert status == "PAID"
    session_id: str = session["id"]
    return session_id


def seen(stack: dict[str, Any], session_id: str) -> dict[str, Any]:
    """What the customer and the admin see of the stack's money."""
    customer, admin = Client(stack, "asha"), Client(stack, "admin")
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date().isoformat()
    paid = [
        e["node"]
        for e in admin(SESSIONS)["paymentSessions"]["edges"]
        if e["node"]["status"] == "PAID"
    ]
    return {
        "viewer": customer("{ viewer { id username } }")["viewer"],
        "session": customer(SESSION, id=session_id)["paymentSession"],
        "sessions": customer(SESSIONS)["paymentSessions"],
        "dashboard": admin(DASHBOARD, d=today)["salesDashboard"]["totals"],
        "paid": {"count": len(paid), "amount": sum(p["amount"]["amount"] for p in paid)},
    }


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_env(
    request: pytest.FixtureRequest, databases: Databases
) -> AsyncIterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {}
        return
    url = await databases.clone("restart")
    try:
        yield {"DATABASE_URL": url}
    finally:
        await databases.drop(url)


def test_a_restart_keeps_every_store_and_a_fresh_start_empties_them(
    tmp_path: Path, database_env: dict[str, str]
) -> None:
    local = LocalStack(tmp_path / "devstack", args=("--jobs-every", "0.5"), env=database_env)

    with local:
        assert "State             fresh start:" in local.output
        first = local.stack
        old_token = Client(first, "asha").token
        session_id = pay_one(first, Client(first, "asha"))
        before = seen(first, session_id)
    assert local.stop() == 0

    assert before["session"]["status"] == "PAID"
    types = [e["type"] for e in before["session"]["timeline"]]
    assert types[0] == "session.created" and "status.PAID" in types, types
    assert any(t.startswith("webhook.") for t in types), types
    assert before["dashboard"]["paidCount"] == before["paid"]["count"] == 1
    assert before["dashboard"]["paidAmount"]["amount"] == before["paid"]["amount"]

    with local:  # make run again: the same ports, the same state directory
        assert "State             kept, since " in local.output, local.output
        again = local.stack
        assert again["cognito"] == first["cognito"] and again["kms_key_id"] == first["kms_key_id"]
        assert seen(again, session_id) == before
        # a token from before the restart is still the same user's
        viewer = httpx.post(
            again["graphql_url"],
            json={"query": "{ viewer { id } }"},
            headers={"authorization": f"Bearer {old_token}"},
            timeout=10,
        ).json()
        assert viewer["data"]["viewer"]["id"] == before["viewer"]["id"]
        runs = _wait_for_job_runs(local, JOB_RUNS)
        assert not NOISE.findall(local.output), local.output
        assert runs >= JOB_RUNS

    fresh = LocalStack(local.state_dir, ports=local.ports, args=("--fresh",), env=database_env)
    with fresh:
        assert "State             fresh start: asked for (FRESH=1)" in fresh.output
        stack = fresh.stack
        customer = Client(stack, "asha")
        assert customer(SESSIONS)["paymentSessions"]["edges"] == []
        products = customer("{ products(first: 100) { edges { node { sku } } } }")["products"]
        assert len(products["edges"]) >= 24
        today = datetime.now(ZoneInfo("Asia/Kolkata")).date().isoformat()
        totals = Client(stack, "admin")(DASHBOARD, d=today)["salesDashboard"]["totals"]
        assert totals["paidCount"] == 0 and totals["paidAmount"]["amount"] == 0
        assert not NOISE.findall(fresh.output), fresh.output


def _wait_for_job_runs(local: LocalStack, runs: int, *, timeout: float = 60.0) -> int:
    """Each run of the jobs ends with the outbox gauges in the metrics file: count them."""
    metrics = local.state_dir / "metrics.log"
    start = metrics.read_text().count(BACKLOG) if metrics.exists() else 0
    deadline = time.monotonic() + timeout
    while (found := metrics.read_text().count(BACKLOG) - start) < runs:
        assert time.monotonic() < deadline, f"{found} job runs in {timeout:.0f} s"
        time.sleep(0.25)
    return found
