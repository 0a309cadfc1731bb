"""Fixtures for the Razorpay sandbox suite: one sandbox and one webhook receiver per session.

Both run with uvicorn in background threads on free loopback ports; every test starts from a
reset sandbox whose webhooks point at a cleared receiver.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import razorpay

from infra.local.razorpay_sandbox import SandboxConfig, SandboxServer
from infra.local.razorpay_sandbox.control_client import SandboxControl
from infra.local.razorpay_sandbox.testing import WebhookReceiver


@pytest.fixture(scope="session")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


@pytest.fixture(scope="session")
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        key_id="rzp_test_Ab12Cd34Ef56Gh",
        key_secret="sandbox-test-key-secret",
        webhook_secret="sandbox-test-webhook-secret",
        time_scale=0.001,  # a 5 s webhook backoff takes 5 ms
        webhook_timeout=2.0,
    )


@pytest.fixture(scope="session")
def sandbox_server(sandbox_config: SandboxConfig) -> Iterator[SandboxServer]:
    with SandboxServer(config=sandbox_config) as server:
        yield server


@pytest.fixture
def base_url(sandbox_server: SandboxServer) -> str:
    return sandbox_server.base_url


@pytest.fixture
def control(sandbox_server: SandboxServer, receiver: WebhookReceiver) -> Iterator[SandboxControl]:
    """Test control, on a freshly reset sandbox whose webhooks go to the cleared receiver."""
    with SandboxControl(base_url=sandbox_server.base_url) as client:
        client.reset()
        receiver.clear()
        client.configure(webhook_url=receiver.webhook_url)
        yield client


@pytest.fixture
def rzp(
    sandbox_server: SandboxServer, sandbox_config: SandboxConfig, control: SandboxControl
) -> Iterator[razorpay.Client]:
    """The official SDK pointed at the sandbox (pass ``timeout=`` on every call)."""
    client = razorpay.Client(
        auth=(sandbox_config.key_id, sandbox_config.key_secret), base_url=sandbox_server.base_url
    )
    yield client
    client.session.close()
