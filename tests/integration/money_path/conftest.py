"""Fixtures of the money-path defect tests: an admin, and a stack whose clock the test sets."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.money_path.support import SetClock, install_clock
from tests.support.stack import Stack

Headers = dict[str, str]


@pytest.fixture
def admin(new_customer: Callable[..., Headers]) -> Headers:
    return new_customer("admin")


@pytest.fixture
def clock(private_stack: Stack) -> SetClock:
    """The private stack's clock, set by the test (starts at the real time)."""
    return install_clock(private_stack)
