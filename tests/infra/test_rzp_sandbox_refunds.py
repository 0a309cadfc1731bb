"""Refunds through the SDK: partial, full, over-refund, idempotency, pending and failed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import razorpay
from razorpay.errors import BadRequestError

from infra.local.razorpay_sandbox import SandboxConfig
from infra.local.razorpay_sandbox.control_client import SandboxControl

AMOUNT = 100_000

SDK_TIMEOUT = 5  # seconds; the SDK has no default timeout


def captured_payment(rzp: razorpay.Client, control: SandboxControl) -> str:
    order = rzp.order.create({"amount": AMOUNT, "currency": "INR"}, timeout=SDK_TIMEOUT)
    payment_id: str = control.pay(order["id"])["razorpay_payment_id"]
    return payment_id


def refund(
    rzp: razorpay.Client, payment_id: str, *, amount: int | None = None, key: str | None = None
) -> dict[str, object]:
    data = {} if amount is None else {"amount": amount}
    headers = {} if key is None else {"X-Refund-Idempotency": key}
    result: dict[str, object] = rzp.payment.refund(
        payment_id, data, headers=headers, timeout=SDK_TIMEOUT
    )
    return result


def test_partial_then_full_refund(rzp: razorpay.Client, control: SandboxControl) -> None:
    payment_id = captured_payment(rzp, control)
    first = refund(rzp, payment_id, amount=30_000)
    assert str(first["id"]).startswith("rfnd_") and len(str(first["id"])) == 19
    assert first["entity"] == "refund" and first["status"] == "processed"
    assert (first["amount"], first["currency"], first["payment_id"]) == (30_000, "INR", payment_id)
    assert (first["speed_requested"], first["speed_processed"]) == ("normal", "normal")
    payment = rzp.payment.fetch(payment_id, timeout=SDK_TIMEOUT)
    assert (payment["status"], payment["refund_status"]) == ("captured", "partial")
    assert payment["amount_refunded"] == 30_000

    rest = refund(rzp, payment_id)  # no amount: the rest
    assert rest["amount"] == 70_000
    payment = rzp.payment.fetch(payment_id, timeout=SDK_TIMEOUT)
    assert (payment["status"], payment["refund_status"]) == ("refunded", "full")
    assert payment["amount_refunded"] == AMOUNT
    assert rzp.refund.fetch(first["id"], timeout=SDK_TIMEOUT) == first
    listed = rzp.payment.fetch_multiple_refund(payment_id, timeout=SDK_TIMEOUT)
    assert listed["count"] == 2 and {r["id"] for r in listed["items"]} == {first["id"], rest["id"]}
    with pytest.raises(BadRequestError, match="fully refunded"):
        refund(rzp, payment_id, amount=100)


def test_over_refund_is_rejected(rzp: razorpay.Client, control: SandboxControl) -> None:
    payment_id = captured_payment(rzp, control)
    with pytest.raises(BadRequestError, match="greater than"):
        refund(rzp, payment_id, amount=AMOUNT + 1)
    refund(rzp, payment_id, amount=60_000)
    with pytest.raises(BadRequestError, match="greater than"):
        refund(rzp, payment_id, amount=40_001)
    assert rzp.payment.fetch(payment_id, timeout=SDK_TIMEOUT)["amount_refunded"] == 60_000


def test_only_captured_payments_are_refunded(rzp: razorpay.Client, control: SandboxControl) -> None:
    control.configure(auto_capture=False)
    payment_id = captured_payment(rzp, control)  # authorized only
    with pytest.raises(BadRequestError, match="captured"):
        refund(rzp, payment_id)
    with pytest.raises(BadRequestError, match="does not exist"):
        refund(rzp, "pay_AAAAAAAAAAAAAA")


def test_idempotency_header(rzp: razorpay.Client, control: SandboxControl) -> None:
    payment_id = captured_payment(rzp, control)
    first = refund(rzp, payment_id, amount=10_000, key="refund-key-0001")
    again = refund(rzp, payment_id, amount=10_000, key="refund-key-0001")
    assert again["id"] == first["id"]
    other = refund(rzp, payment_id, amount=10_000, key="refund-key-0002")
    assert other["id"] != first["id"]
    payment = rzp.payment.fetch(payment_id, timeout=SDK_TIMEOUT)
    assert payment["amount_refunded"] == 20_000
    with pytest.raises(BadRequestError, match="different"):
        refund(rzp, payment_id, amount=5_000, key="refund-key-0001")
    with pytest.raises(BadRequestError, match="at least 10"):
        refund(rzp, payment_id, amount=5_000, key="short")


# A pending refund settles refund_processing_delay sandbox seconds after it is made: 5 ms on this
# suite's clock, too short to observe. Tests that look at the pending state make it last a day
# (86.4 s here) and end it by hand; tests of the sandbox settling it by itself look only at the
# answer to the create (taken when it was made) and, after flush(), at the settled state.
A_DAY = 86_400


def test_pending_refund_processes_later(rzp: razorpay.Client, control: SandboxControl) -> None:
    control.configure(refund_outcome="pending")
    payment_id = captured_payment(rzp, control)
    created = refund(rzp, payment_id, amount=10_000)
    assert created["status"] == "pending" and created["speed_processed"] is None
    control.flush()  # waits for the refund to settle as well as for the webhooks
    assert rzp.refund.fetch(created["id"], timeout=SDK_TIMEOUT)["status"] == "processed"
    events = [d["event"] for d in control.webhooks()]
    assert events[-2:] == ["refund.created", "refund.processed"]


def test_a_pending_refund_holds_the_amount(rzp: razorpay.Client, control: SandboxControl) -> None:
    control.configure(refund_outcome="pending", refund_processing_delay=A_DAY)
    payment_id = captured_payment(rzp, control)
    created = refund(rzp, payment_id, amount=10_000)
    assert rzp.refund.fetch(created["id"], timeout=SDK_TIMEOUT)["status"] == "pending"
    payment = rzp.payment.fetch(payment_id, timeout=SDK_TIMEOUT)
    assert (payment["status"], payment["amount_refunded"]) == ("captured", 10_000)
    assert not control.webhooks(event="refund.processed")
    control.settle_refund(str(created["id"]), outcome="processed")
    assert rzp.refund.fetch(created["id"], timeout=SDK_TIMEOUT)["status"] == "processed"
    assert rzp.payment.fetch(payment_id, timeout=SDK_TIMEOUT)["amount_refunded"] == 10_000


def test_failed_refund_gives_the_amount_back(rzp: razorpay.Client, control: SandboxControl) -> None:
    control.configure(refund_outcome="failed", refund_processing_delay=A_DAY)
    payment_id = captured_payment(rzp, control)
    created = refund(rzp, payment_id)
    # while it is pending the whole amount is held: the payment reads refunded
    assert rzp.refund.fetch(created["id"], timeout=SDK_TIMEOUT)["status"] == "pending"
    payment = rzp.payment.fetch(payment_id, timeout=SDK_TIMEOUT)
    assert (payment["status"], payment["amount_refunded"]) == ("refunded", AMOUNT)
    control.settle_refund(str(created["id"]), outcome="failed")
    assert rzp.refund.fetch(created["id"], timeout=SDK_TIMEOUT)["status"] == "failed"
    payment = rzp.payment.fetch(payment_id, timeout=SDK_TIMEOUT)
    assert (payment["status"], payment["amount_refunded"], payment["refund_status"]) == (
        "captured",
        0,
        None,
    )
    assert [d["event"] for d in control.webhooks()][-2:] == ["refund.created", "refund.failed"]


def test_a_refund_fails_by_itself(rzp: razorpay.Client, control: SandboxControl) -> None:
    control.configure(refund_outcome="failed")  # settles 5 sandbox seconds later
    payment_id = captured_payment(rzp, control)
    created = refund(rzp, payment_id)
    assert created["status"] == "pending"
    control.flush()
    assert rzp.refund.fetch(created["id"], timeout=SDK_TIMEOUT)["status"] == "failed"
    payment = rzp.payment.fetch(payment_id, timeout=SDK_TIMEOUT)
    assert (payment["status"], payment["amount_refunded"]) == ("captured", 0)
    assert control.webhooks(event="refund.failed")


def test_settle_pending_refund_by_hand(rzp: razorpay.Client, control: SandboxControl) -> None:
    control.configure(refund_outcome="pending", refund_processing_delay=86_400)
    payment_id = captured_payment(rzp, control)
    created = refund(rzp, payment_id, amount=10_000)
    settled = control.settle_refund(str(created["id"]), outcome="processed")
    assert settled["status"] == "processed"
    response = control.http.post(f"/_sandbox/refunds/{created['id']}/settle", json={})
    assert response.status_code == 400  # no longer pending


def test_concurrent_refunds_never_exceed_the_capture(
    rzp: razorpay.Client, control: SandboxControl, sandbox_config: SandboxConfig
) -> None:
    payment_id = captured_payment(rzp, control)
    auth = (sandbox_config.key_id, sandbox_config.key_secret)

    def attempt(_: int) -> int:
        client = razorpay.Client(auth=auth, base_url=control.base_url)
        try:
            refund(client, payment_id, amount=30_000)
            return 1
        except BadRequestError:
            return 0
        finally:
            client.session.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        succeeded = sum(pool.map(attempt, range(8)))
    assert succeeded == 3
    payment = rzp.payment.fetch(payment_id, timeout=SDK_TIMEOUT)
    assert payment["amount_refunded"] == 90_000
