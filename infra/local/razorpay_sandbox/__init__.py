"""Razorpay test-mode sandbox: Razorpay's HTTP API on loopback, for the local stack and tests.

Speaks the protocol in ``/work/shared/RAZORPAY.md`` to the official ``razorpay`` SDK
(``razorpay.Client(auth=(key_id, key_secret), base_url=base_url)``), keeps state in memory,
serves a hosted Checkout page, sends signed webhooks with retries on a compressible clock,
and offers a test-control API. Full reference: ``README.md`` next to this file.

Routes
    ``/v1/...``                   Razorpay API (HTTP Basic ``key_id:key_secret``)
    ``POST /v1/checkout/embedded`` hosted Checkout (Pay / Fail / Cancel)
    ``/_sandbox/...``             test control (no auth)

Test control (JSON in, JSON out)
    ``POST /_sandbox/orders/{order_id}/pay``   ``{"outcome": "success"|"failure", "method": "upi"}``
        → what Checkout hands the browser; then sends the webhooks Razorpay would send
    ``GET|POST /_sandbox/config``  ``webhook_url``, ``webhook_secret``, ``auto_capture``,
        ``time_scale``, ``refund_outcome``, ``webhook_timeout``, ``webhook_max_attempts``,
        ``faults`` (a list that replaces the active faults), …
    ``POST /_sandbox/reset``       clear all state, deliveries and faults; restore the config
    ``GET  /_sandbox/webhooks``    deliveries with ``status``, ``status_codes``, ``attempts``
    ``POST /_sandbox/webhooks/flush``    ``{"timeout": 10}`` wait until deliveries drain
    ``POST /_sandbox/webhooks/release``  ``{"order": "fifo"|"reverse"|"shuffle"}`` held events
    ``POST /_sandbox/webhooks/{event_id}/redeliver``  ``{"times": 1, "secret": null}``
    ``POST /_sandbox/refunds/{refund_id}/settle``     ``{"outcome": "processed"|"failed"}``

Run it: ``python -m infra.local.razorpay_sandbox --port 9090 --key-id … --key-secret …
--webhook-url … --webhook-secret …``, or in-process with :class:`SandboxServer`.
"""

from infra.local.razorpay_sandbox.app import create_sandbox_app
from infra.local.razorpay_sandbox.config import SandboxConfig
from infra.local.razorpay_sandbox.control_client import SandboxControl
from infra.local.razorpay_sandbox.ids import checkout_signature, webhook_signature
from infra.local.razorpay_sandbox.runtime import Sandbox
from infra.local.razorpay_sandbox.server import SandboxServer, ThreadedServer

__all__ = [
    "Sandbox",
    "SandboxConfig",
    "SandboxControl",
    "SandboxServer",
    "ThreadedServer",
    "checkout_signature",
    "create_sandbox_app",
    "webhook_signature",
]
