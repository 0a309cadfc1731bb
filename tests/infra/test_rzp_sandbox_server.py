"""The app factory in-process, the control API's reset/config, and the ``python -m`` entry."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import razorpay

from infra.local.razorpay_sandbox import SandboxConfig, create_sandbox_app
from infra.local.razorpay_sandbox.control_client import SandboxControl
from infra.local.razorpay_sandbox.runtime import Sandbox

ROOT = Path(__file__).resolve().parents[2]
KEY_ID = "rzp_test_Zx98Yw76Vu54Ts"
KEY_SECRET = "entry-point-key-secret"

SDK_TIMEOUT = 5  # seconds; the SDK has no default timeout


async def test_app_factory_in_process() -> None:
    config = SandboxConfig(key_id=KEY_ID, key_secret=KEY_SECRET, time_scale=0.001)
    app = create_sandbox_app(config=config)
    sandbox: Sandbox = app.state.sandbox
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            created = await http.post(
                "/v1/orders", json={"amount": 500, "currency": "INR"}, auth=(KEY_ID, KEY_SECRET)
            )
            assert created.status_code == 200
            order_id = created.json()["id"]
            paid = await http.post(f"/_sandbox/orders/{order_id}/pay", json={"outcome": "success"})
            assert "razorpay_signature" in paid.json()
            flushed = await http.post("/_sandbox/webhooks/flush", json={"timeout": 1})
            assert flushed.json()["drained"] is True
            assert sandbox.store.order(order_id)["status"] == "paid"
    finally:
        await sandbox.close()


def test_reset_and_config(rzp: razorpay.Client, control: SandboxControl) -> None:
    rzp.order.create({"amount": 500, "currency": "INR"}, timeout=SDK_TIMEOUT)
    config = control.configure(auto_capture=False, faults=[{"type": "slow", "delay": 0.01}])
    assert config["auto_capture"] is False and config["faults"][0]["type"] == "slow"
    assert {"webhook_url", "webhook_secret", "time_scale", "refund_outcome"} <= set(config)
    control.reset()
    config = control.config()
    assert config["auto_capture"] is True and config["faults"] == []
    assert rzp.order.all(timeout=SDK_TIMEOUT)["count"] == 0
    assert control.webhooks() == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_module_entry_point() -> None:
    port = _free_port()
    command = [
        sys.executable, "-m", "infra.local.razorpay_sandbox", "--host", "127.0.0.1",
        "--port", str(port), "--key-id", KEY_ID, "--key-secret", KEY_SECRET,
        "--webhook-url", "http://127.0.0.1:9/webhooks", "--webhook-secret", "whsec",
        "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/_sandbox/config", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.05)
        config = response.json()
        assert (config["key_id"], config["webhook_secret"]) == (KEY_ID, "whsec")
        assert config["webhook_url"] == "http://127.0.0.1:9/webhooks"
    finally:
        process.terminate()
        process.communicate(timeout=10)
