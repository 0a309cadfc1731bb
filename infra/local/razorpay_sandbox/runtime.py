"""The sandbox's moving parts in one object: config, state, faults, webhooks, checkout."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from infra.local.razorpay_sandbox.config import SandboxConfig
from infra.local.razorpay_sandbox.entities import JSON, Event
from infra.local.razorpay_sandbox.faults import FaultBook
from infra.local.razorpay_sandbox.ids import checkout_signature, new_id
from infra.local.razorpay_sandbox.store import Attempt, Store
from infra.local.razorpay_sandbox.validation import RefundRequest
from infra.local.razorpay_sandbox.webhooks import Dispatcher


@dataclass(frozen=True, kw_only=True)
class CheckoutSession:
    id: str
    order_id: str
    callback_url: str
    cancel_url: str | None
    email: str
    contact: str
    fields: dict[str, str]


class Sandbox:
    def __init__(self, *, config: SandboxConfig) -> None:
        self._initial = config.copy()
        self.config = config.copy()
        self.store = Store(config.state_file)
        self.faults = FaultBook()
        self.webhooks = Dispatcher(config=lambda: self.config, faults=self.faults)
        self.checkouts: dict[str, CheckoutSession] = {}
        self._abort: asyncio.Event | None = None

    # -- payments, as Checkout and the API do them ---------------------------------------

    def emit(self, events: list[Event]) -> None:
        for event in events:
            self.webhooks.emit(event)

    def pay(self, *, order_id: str, attempt: Attempt) -> tuple[JSON, JSON]:
        """Pay ``order_id``; answer the payment and what Checkout hands the browser."""
        payment, events = self.store.pay(
            order_id=order_id, attempt=attempt, auto_capture=self.config.auto_capture
        )
        self.emit(events)
        return payment, self.browser_result(payment)

    def browser_result(self, payment: JSON) -> JSON:
        if payment["status"] == "failed":
            return {
                "error": {
                    "code": payment["error_code"],
                    "description": payment["error_description"],
                    "source": payment["error_source"],
                    "step": payment["error_step"],
                    "reason": payment["error_reason"],
                    "metadata": {"order_id": payment["order_id"], "payment_id": payment["id"]},
                }
            }
        return {
            "razorpay_payment_id": payment["id"],
            "razorpay_order_id": payment["order_id"],
            "razorpay_signature": checkout_signature(
                key_secret=self.config.key_secret,
                order_id=payment["order_id"],
                payment_id=payment["id"],
            ),
        }

    def capture(self, *, payment_id: str, amount: int, currency: str | None) -> JSON:
        payment, events = self.store.capture(
            payment_id=payment_id, amount=amount, currency=currency
        )
        self.emit(events)
        return payment

    def refund(
        self, *, payment_id: str, request: RefundRequest, idempotency_key: str | None
    ) -> JSON:
        outcome = self.config.refund_outcome
        refund, events, pending = self.store.create_refund(
            payment_id=payment_id,
            request=request,
            idempotency_key=idempotency_key,
            outcome=outcome,
        )
        self.emit(events)
        if pending:
            delay = self.config.scaled(self.config.refund_processing_delay)
            self.webhooks.track(self._settle_later(refund["id"], outcome=outcome, delay=delay))
        return refund

    async def _settle_later(self, refund_id: str, *, outcome: str, delay: float) -> None:
        await asyncio.sleep(delay)
        self.settle_refund(refund_id=refund_id, outcome=outcome)

    def settle_refund(self, *, refund_id: str, outcome: str) -> bool:
        events = self.store.settle_refund(
            refund_id=refund_id, outcome="failed" if outcome == "failed" else "processed"
        )
        self.emit(events)
        return bool(events)

    # -- hosted checkout ---------------------------------------------------------------------

    def open_checkout(self, *, order_id: str, form: dict[str, str]) -> CheckoutSession:
        session = CheckoutSession(
            id=new_id("chk"),
            order_id=order_id,
            callback_url=form["callback_url"],
            cancel_url=form.get("cancel_url") or None,
            email=form.get("prefill[email]") or "void@razorpay.com",
            contact=form.get("prefill[contact]") or "+919999999999",
            fields=dict(form),
        )
        self.checkouts[session.id] = session
        return session

    # -- the test-control side ---------------------------------------------------------------

    async def sleep(self, seconds: float) -> bool:
        """Sleep real ``seconds``; return False early if the sandbox is reset or stopped."""
        if self._abort is None:
            self._abort = asyncio.Event()
        abort = self._abort
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(abort.wait(), seconds)
            return False
        return True

    def abort_sleepers(self) -> None:
        if self._abort is not None:
            self._abort.set()
            self._abort = None

    def configure(self, changes: dict[str, Any]) -> None:
        candidate = self.config.copy()
        candidate.update(changes=changes)
        if "faults" in changes:
            self.faults.replace(changes["faults"])
        self.config = candidate

    def reset(self) -> None:
        self.abort_sleepers()
        self.webhooks.reset()
        self.store.reset()
        self.faults.clear()
        self.checkouts.clear()
        self.config = self._initial.copy()

    async def close(self) -> None:
        self.abort_sleepers()
        await self.webhooks.close()
        self.store.close()


def error_metadata_json(result: JSON) -> str:
    """``error[metadata]`` as Checkout form-posts it: a JSON string."""
    return json.dumps(result["error"]["metadata"], separators=(",", ":"))
