"""Sandbox configuration: what the CLI, the app factory and ``POST /_sandbox/config`` set."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from infra.local.razorpay_sandbox.errors import ControlError

RefundOutcome = Literal["processed", "pending", "failed"]
REFUND_OUTCOMES: tuple[str, ...] = ("processed", "pending", "failed")


@dataclass(kw_only=True)
class SandboxConfig:
    """Everything that changes how the sandbox behaves.

    Times marked *sandbox seconds* run on the compressible clock: they are multiplied by
    ``time_scale`` before sleeping (``time_scale=0.001`` turns a 5 s backoff into 5 ms).
    Network timeouts and fault delays are real seconds.
    """

    key_id: str = "rzp_test_SandboxKey0001"
    key_secret: str = "sandbox_key_secret"  # noqa: S105 (test-mode default)
    account_id: str = "acc_SandboxAcct001"
    webhook_url: str | None = None
    webhook_secret: str = "sandbox_webhook_secret"  # noqa: S105
    webhook_enabled: bool = True
    auto_capture: bool = True
    time_scale: float = 1.0
    # Webhook delivery: success is any 2xx within ``webhook_timeout`` (real seconds).
    webhook_timeout: float = 5.0
    webhook_backoff_initial: float = 5.0  # sandbox seconds
    webhook_backoff_factor: float = 2.0
    webhook_backoff_max: float = 3600.0  # sandbox seconds
    webhook_retry_window: float = 86400.0  # sandbox seconds; then the webhook is disabled
    webhook_max_attempts: int | None = None  # None = until the retry window is exhausted
    # Refunds: processed at once, pending then processed, or pending then failed.
    refund_outcome: RefundOutcome = "processed"
    refund_processing_delay: float = 5.0  # sandbox seconds, for "pending" and "failed"
    # a SQLite file keeping orders, payments and refunds across restarts (None: memory only);
    # set at start, not through POST /_sandbox/config
    state_file: str | None = None

    def scaled(self, sandbox_seconds: float) -> float:
        """Real seconds to sleep for ``sandbox_seconds`` on the compressible clock."""
        return max(0.0, sandbox_seconds * self.time_scale)

    def backoff(self, *, attempt: int) -> float:
        """Sandbox seconds to wait after failed attempt number ``attempt`` (1-based)."""
        delay = self.webhook_backoff_initial * self.webhook_backoff_factor ** (attempt - 1)
        return float(min(delay, self.webhook_backoff_max))

    def copy(self) -> SandboxConfig:
        return dataclasses.replace(self)

    def public(self) -> dict[str, Any]:
        """The config as JSON (secrets included: this is a test sandbox)."""
        return dataclasses.asdict(self)

    def update(self, *, changes: dict[str, Any]) -> None:
        """Apply a JSON object from ``POST /_sandbox/config`` (``faults`` handled elsewhere)."""
        for name, value in changes.items():
            if name == "faults":
                continue
            if name not in _SETTERS:
                raise ControlError(f"unknown config key {name!r}")
            setattr(self, name, _SETTERS[name](name, value))
        if "webhook_url" in changes or "webhook_secret" in changes:
            self.webhook_enabled = bool(changes.get("webhook_enabled", True))


def _str(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ControlError(f"{name} must be a non-empty string")
    return value


def _opt_str(name: str, value: Any) -> str | None:
    return None if value is None else _str(name, value)


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ControlError(f"{name} must be true or false")
    return value


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ControlError(f"{name} must be a number >= 0")
    return float(value)


def _opt_int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ControlError(f"{name} must be an integer >= 1 or null")
    return value


def _refund_outcome(name: str, value: Any) -> str:
    if value not in REFUND_OUTCOMES:
        raise ControlError(f"{name} must be one of {', '.join(REFUND_OUTCOMES)}")
    return str(value)


_SETTERS: dict[str, Any] = {
    "key_id": _str,
    "key_secret": _str,
    "account_id": _str,
    "webhook_url": _opt_str,
    "webhook_secret": _str,
    "webhook_enabled": _bool,
    "auto_capture": _bool,
    "time_scale": _number,
    "webhook_timeout": _number,
    "webhook_backoff_initial": _number,
    "webhook_backoff_factor": _number,
    "webhook_backoff_max": _number,
    "webhook_retry_window": _number,
    "webhook_max_attempts": _opt_int,
    "refund_outcome": _refund_outcome,
    "refund_processing_delay": _number,
}
