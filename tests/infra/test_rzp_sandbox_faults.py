"""API fault injection as the SDK sees it: 5xx, non-JSON bodies, slow answers, timeouts."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import razorpay
import requests
from razorpay.errors import BadRequestError, GatewayError, ServerError

from infra.local.razorpay_sandbox.control_client import SandboxControl

ORDER = {"amount": 50_000, "currency": "INR", "receipt": "ps_fault"}

SDK_TIMEOUT = 5  # seconds; the SDK has no default timeout


def test_next_calls_answer_5xx(rzp: razorpay.Client, control: SandboxControl) -> None:
    control.set_faults({"type": "error", "status": 503, "count": 2, "method": "POST"})
    order = None
    for _ in range(2):
        with pytest.raises(ServerError):
            rzp.order.create(ORDER, timeout=SDK_TIMEOUT)
    order = rzp.order.create(ORDER, timeout=SDK_TIMEOUT)
    assert rzp.order.all({"receipt": "ps_fault"}, timeout=SDK_TIMEOUT)["items"] == [order]
    assert control.config()["faults"] == []


def test_fault_matches_route_and_method(rzp: razorpay.Client, control: SandboxControl) -> None:
    order = rzp.order.create(ORDER, timeout=SDK_TIMEOUT)
    control.set_faults(
        {"type": "error", "status": 502, "code": "GATEWAY_ERROR", "path": "/v1/orders/*",
         "method": "GET", "count": None},
    )  # fmt: skip
    rzp.order.create(ORDER, timeout=SDK_TIMEOUT)  # POST /v1/orders: not matched
    for _ in range(3):
        with pytest.raises(GatewayError):
            rzp.order.fetch(order["id"], timeout=SDK_TIMEOUT)
    control.set_faults()
    assert rzp.order.fetch(order["id"], timeout=SDK_TIMEOUT)["id"] == order["id"]


def test_non_json_error_body(rzp: razorpay.Client, control: SandboxControl) -> None:
    control.set_faults({"type": "error", "status": 502, "body": "<html>502 Bad Gateway</html>"})
    with pytest.raises(ValueError):  # requests' JSONDecodeError
        rzp.order.create(ORDER, timeout=SDK_TIMEOUT)


SLOW = 1.0  # real seconds the sandbox dawdles; the clients below wait 5× longer or 5× shorter


def eventually(check: Callable[[], bool], *, within: float = 10.0) -> None:
    """Poll until ``check()`` holds; ``within`` only bounds the wait, it is not a measurement."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.02)


def test_slow_answer(rzp: razorpay.Client, control: SandboxControl) -> None:
    control.set_faults(
        {"type": "slow", "delay": SLOW, "path": "/v1/orders", "method": "POST", "count": 2}
    )
    patient = rzp.order.create(ORDER, timeout=SLOW * 5)  # waits it out and gets the answer
    assert patient["receipt"] == "ps_fault"
    with pytest.raises(requests.exceptions.ReadTimeout):  # gives up before the answer
        rzp.order.create(ORDER, timeout=SLOW / 5)
    assert control.config()["faults"] == []  # both calls were slowed
    # the request the impatient client gave up on still completes on the server
    eventually(lambda: rzp.order.all({"receipt": "ps_fault"}, timeout=SDK_TIMEOUT)["count"] == 2)


def test_timeout_loses_the_request(rzp: razorpay.Client, control: SandboxControl) -> None:
    control.set_faults({"type": "timeout", "delay": 30})
    with pytest.raises(requests.exceptions.ReadTimeout):
        rzp.order.create(ORDER, timeout=0.3)
    assert rzp.order.all({"receipt": "ps_fault"}, timeout=SDK_TIMEOUT)["count"] == 0


def test_timeout_after_processing(rzp: razorpay.Client, control: SandboxControl) -> None:
    control.set_faults({"type": "timeout", "delay": 30, "process": True, "method": "POST"})
    with pytest.raises(requests.exceptions.ReadTimeout):
        rzp.order.create(ORDER, timeout=0.3)
    (created,) = rzp.order.all({"receipt": "ps_fault"}, timeout=SDK_TIMEOUT)["items"]
    assert created["amount"] == 50_000  # the order exists: look it up by receipt, never re-create


def test_faults_do_not_hide_validation(rzp: razorpay.Client, control: SandboxControl) -> None:
    control.set_faults({"type": "slow", "delay": 0.05})
    with pytest.raises(BadRequestError):
        rzp.order.create({"amount": 1, "currency": "INR"}, timeout=SDK_TIMEOUT)


@pytest.mark.parametrize(
    "fault",
    [
        {"type": "explode"},
        {"type": "error", "status": 404},
        {"type": "slow"},
        {"type": "error", "count": 0},
        {"type": "webhook_reorder", "order": "sideways"},
        {"type": "webhook_sign_with"},
        {"type": "error", "colour": "red"},
        {"type": "slow", "delay": "1"},
        {"type": "error", "count": True},
    ],
)
def test_bad_faults_are_rejected(control: SandboxControl, fault: dict[str, object]) -> None:
    response = control.http.post("/_sandbox/config", json={"faults": [fault]})
    assert response.status_code == 400
    assert control.config()["faults"] == []
