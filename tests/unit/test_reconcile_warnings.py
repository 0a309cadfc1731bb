"""Reconciliation warns once about a session Razorpay cannot answer for, saying what to do;
the job runs every minute and must not repeat it (issue: no warning loops)."""

from __future__ import annotations

import logging
import secrets

import pytest

from domain.gateway import PaymentGatewayError, PaymentGatewayRejected
from resolvers.reconcile import REJECTED_HINT, UNAVAILABLE_HINT, warn_unreadable


def _levels(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "resolvers.reconcile"]


def test_an_unknown_order_is_warned_about_once_with_what_to_do(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="resolvers.reconcile")
    session = f"ps_{secrets.token_hex(4)}"
    gone = PaymentGatewayRejected("order payments: The id provided does not exist")
    for _ in range(5):
        warn_unreadable(session, gone)
    [first, *rest] = _levels(caplog)
    assert first[0] == logging.WARNING
    assert session in first[1] and REJECTED_HINT in first[1] and "make run FRESH=1" in first[1]
    assert [level for level, _ in rest] == [logging.DEBUG] * 4


def test_another_session_or_another_error_is_warned_about_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="resolvers.reconcile")
    one, two = f"ps_{secrets.token_hex(4)}", f"ps_{secrets.token_hex(4)}"
    warn_unreadable(one, PaymentGatewayRejected("gone"))
    warn_unreadable(two, PaymentGatewayRejected("gone"))
    warn_unreadable(one, PaymentGatewayError("timed out"))
    warnings = [m for level, m in _levels(caplog) if level == logging.WARNING]
    assert len(warnings) == 3
    assert UNAVAILABLE_HINT in warnings[2]
