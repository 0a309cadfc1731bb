"""A small sync client for the ``/_sandbox`` test-control API (tests, scripts, the stack)."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx


class SandboxControl:
    """``SandboxControl(base_url=...)``: pay orders, set config and faults, drive webhooks."""

    def __init__(self, *, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)  # raw access

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.post(f"/_sandbox{path}", json=body or {})
        response.raise_for_status()
        return response.json()

    def pay(
        self, order_id: str, *, outcome: str = "success", method: str = "upi", **extra: Any
    ) -> dict[str, Any]:
        """What Checkout hands the browser: the three ``razorpay_*`` fields, or ``{"error"}``."""
        body = {"outcome": outcome, "method": method, **extra}
        result: dict[str, Any] = self._post(f"/orders/{order_id}/pay", body)
        return result

    def configure(self, **changes: Any) -> dict[str, Any]:
        config: dict[str, Any] = self._post("/config", changes)
        return config

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = self.http.get("/_sandbox/config").raise_for_status().json()
        return config

    def set_faults(self, *faults: dict[str, Any]) -> None:
        self._post("/config", {"faults": list(faults)})

    def reset(self) -> None:
        self._post("/reset")

    def webhooks(self, **filters: str) -> list[dict[str, Any]]:
        response = self.http.get("/_sandbox/webhooks", params=filters).raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def flush(self, *, timeout: float = 10.0, release_held: bool = False) -> dict[str, Any]:
        """Wait until every webhook delivery (and pending refund) has finished."""
        result: dict[str, Any] = self._post(
            "/webhooks/flush", {"timeout": timeout, "release_held": release_held}
        )
        if not result["drained"]:
            raise TimeoutError(f"webhooks did not drain: {result}")
        return result

    def release(self, *, order: str = "fifo", seed: int | None = None) -> int:
        released: int = self._post("/webhooks/release", {"order": order, "seed": seed})["released"]
        return released

    def redeliver(
        self, event_id: str, *, times: int = 1, secret: str | None = None
    ) -> list[dict[str, Any]]:
        result = self._post(f"/webhooks/{event_id}/redeliver", {"times": times, "secret": secret})
        items: list[dict[str, Any]] = result["items"]
        return items

    def settle_refund(self, refund_id: str, *, outcome: str = "processed") -> dict[str, Any]:
        refund: dict[str, Any] = self._post(f"/refunds/{refund_id}/settle", {"outcome": outcome})
        return refund

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
