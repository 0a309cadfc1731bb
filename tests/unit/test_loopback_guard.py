"""The loopback guard (tests/support/loopback.py) fails a test that dials out, saying where,
even when the code under test swallows the connection error."""

from __future__ import annotations

import socket

import pytest

from tests.support import loopback

pytest_plugins = ["pytester"]

DIALS_OUT = """
import socket

from tests.support import loopback


_connect = loopback._real_connect


def _only_loopback(self, address):
    if not str(address[0]).startswith("127."):
        raise AssertionError("the guard let a connection through")
    return _connect(self, address)


loopback._real_connect = _only_loopback  # nothing may leave, even if the guard broke


def test_swallows_its_error():
    try:
        socket.create_connection(("192.0.2.10", 443), timeout=0.1)
    except OSError:
        pass  # like a library that retries, or an outbox that logs and carries on


def test_looks_up_a_real_host():
    try:
        socket.getaddrinfo("api.razorpay.com", 443)
    except OSError:
        pass


def test_stays_on_loopback():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    with socket.create_connection(server.getsockname(), timeout=1):
        pass
    server.close()
"""


def test_a_test_that_dials_out_fails_and_says_where(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_dial=DIALS_OUT)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_inprocess("-p", "tests.support.loopback", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    assert "test_swallows_its_error tried to leave loopback" in out
    assert "a connection to ('192.0.2.10', 443)" in out
    assert "test_looks_up_a_real_host tried to leave loopback" in out
    assert "a name look-up of 'api.razorpay.com'" in out
    assert "test_dial.py" in out  # where: the test's own line
    assert "the guard let a connection through" not in out
    assert socket.socket.connect is loopback._guarded_connect  # still guarding this run


@pytest.mark.parametrize(
    ("family", "address", "outside"),
    [
        (socket.AF_INET, ("127.0.0.1", 5432), False),
        (socket.AF_INET, ("127.8.9.10", 80), False),
        (socket.AF_INET, ("localhost", 80), False),
        (socket.AF_INET6, ("::1", 80, 0, 0), False),
        (socket.AF_INET6, ("::ffff:127.0.0.1", 80, 0, 0), False),
        (socket.AF_INET, ("10.0.0.1", 5432), True),
        (socket.AF_INET, ("192.168.1.1", 80), True),
        (socket.AF_INET, ("13.235.1.1", 443), True),
        (socket.AF_INET6, ("2001:db8::1", 443, 0, 0), True),
        (socket.AF_INET6, ("::ffff:10.0.0.1", 80, 0, 0), True),
        (socket.AF_INET, ("dynamodb.ap-south-1.amazonaws.com", 443), True),
    ],
)
def test_only_loopback_addresses_pass(
    family: int, address: tuple[object, ...], outside: bool
) -> None:
    assert (loopback.outside_loopback(family, address) is not None) is outside
