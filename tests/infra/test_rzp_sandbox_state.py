"""The sandbox's state file: what the API answered is there after a restart (the local stack
keeps ``.devstack/razorpay-sandbox.db``), and a reset empties it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from infra.local.razorpay_sandbox import SandboxConfig, create_sandbox_app
from infra.local.razorpay_sandbox.runtime import Sandbox
from infra.local.razorpay_sandbox.store import Attempt, Store
from infra.local.razorpay_sandbox.validation import OrderRequest, RefundRequest

KEY_ID = "rzp_test_StateFile0001"
KEY_SECRET = "state-file-key-secret"


def _order(store: Store, amount: int = 50_000) -> str:
    request = OrderRequest(
        amount=amount, currency="INR", receipt="ps_1", notes={"k": "v"}, payment_capture=None
    )
    order_id: str = store.create_order(request)["id"]
    return order_id


def test_a_new_store_on_the_same_file_has_every_entity_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.db"
    store = Store(path)
    paid = _order(store)
    store.pay(order_id=paid, attempt=Attempt(success=False), auto_capture=True)
    payment, _ = store.pay(order_id=paid, attempt=Attempt(success=True), auto_capture=True)
    refund_request = RefundRequest(amount=10_000, speed="normal", notes={}, receipt=None)
    refund, _, _ = store.create_refund(
        payment_id=payment["id"], request=refund_request, idempotency_key="rk-1", outcome="pending"
    )
    open_order = _order(store, amount=100)
    before = {
        "orders": [store.order(paid), store.order(open_order)],
        "payments": store.order_payments(paid),
        "refund": store.refund(refund["id"]),
    }
    store.close()

    again = Store(path)
    assert {
        "orders": [again.order(paid), again.order(open_order)],
        "payments": again.order_payments(paid),
        "refund": again.refund(refund["id"]),
    } == before
    assert [p["status"] for p in again.order_payments(paid)] == ["captured", "failed"]
    assert again.pending_refunds() == [refund["id"]]
    # the refund's idempotency key is kept: the same request answers the same refund
    same, events, _ = again.create_refund(
        payment_id=payment["id"], request=refund_request, idempotency_key="rk-1", outcome="pending"
    )
    assert same["id"] == refund["id"] and events == []
    # a change after the restart is kept too
    again.settle_refund(refund_id=refund["id"], outcome="processed")
    again.close()
    assert Store(path).refund(refund["id"])["status"] == "processed"


def test_a_store_without_a_file_keeps_nothing(tmp_path: Path) -> None:
    store = Store()
    _order(store)
    assert not store.persistent and list(tmp_path.iterdir()) == []


@contextlib.asynccontextmanager
async def _sandbox(config: SandboxConfig) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox app in-process, from start-up to shut-down (as one run of it)."""
    app = create_sandbox_app(config=config)
    sandbox: Sandbox = app.state.sandbox
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sandbox", auth=(KEY_ID, KEY_SECRET)
        ) as http:
            yield http
    finally:
        await sandbox.close()


async def test_the_app_on_a_state_file_answers_the_same_after_a_restart(tmp_path: Path) -> None:
    config = SandboxConfig(
        key_id=KEY_ID, key_secret=KEY_SECRET, state_file=str(tmp_path / "sandbox.db")
    )
    async with _sandbox(config) as http:
        created = await http.post("/v1/orders", json={"amount": 500, "currency": "INR"})
        order_id = created.json()["id"]
        await http.post(f"/_sandbox/orders/{order_id}/pay", json={"outcome": "success"})
        payments = (await http.get(f"/v1/orders/{order_id}/payments")).json()
        assert payments["count"] == 1

    async with _sandbox(config) as http:
        assert (await http.get(f"/v1/orders/{order_id}/payments")).json() == payments
        await http.post("/_sandbox/reset")

    async with _sandbox(config) as http:  # the reset emptied the file too
        assert (await http.get(f"/v1/orders/{order_id}")).status_code == 400
