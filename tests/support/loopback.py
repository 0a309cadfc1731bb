"""A pytest plugin: tests talk to loopback only (127.0.0.0/8, ::1), and a test that dials out
fails, saying where.

Every ``socket.connect``/``connect_ex`` to an address outside loopback, and every name
look-up of a host that is not ``localhost``, is refused before anything leaves the machine
(``ConnectionRefusedError``/``socket.gaierror``, as a closed network would answer) and written
down with the test that was running and the code that dialled. Libraries that swallow
connection errors (retries, outboxes, "log and carry on") cannot hide it: after each test the
plugin fails it if anything was refused while it ran, background threads included.

This is the project's own equivalent of pytest-socket's ``--allow-hosts``: it also guards name
look-ups and failures swallowed inside the code under test, which pytest-socket does not.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import traceback
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True, slots=True)
class DialOut:
    target: str
    where: str

    def describe(self) -> str:
        return f"refused {self.target}, from:\n{self.where}"


class DialOutRefused(ConnectionRefusedError):
    """What a guarded connection to outside loopback raises."""


_refused: list[DialOut] = []
_lock = threading.Lock()
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback_host(host: object) -> bool:
    if host is None or host == "":
        return True  # a wildcard bind or a local service name
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].lower()
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if address.is_unspecified:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _LOOPBACK)


def outside_loopback(family: int, address: Any) -> str | None:
    """The target as text when ``address`` is not on loopback (``None`` when it is)."""
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None  # Unix sockets and the like never leave the machine
    if isinstance(address, tuple) and address and _is_loopback_host(address[0]):
        return None
    return f"a connection to {address!r}"


_ROOT = str(Path(__file__).resolve().parents[2])


def _where() -> str:
    """The project's own frames that led to the call (tests and app code), innermost last."""
    frames = traceback.extract_stack()[:-3]
    own = [f for f in frames if f.filename.startswith(_ROOT) and "/.venv/" not in f.filename]
    shown = own[-8:] + [f for f in frames[-2:] if f not in own]
    return "".join(traceback.format_list(shown))


def _note(target: str) -> DialOut:
    where = _where()
    dial = DialOut(target=target, where=where)
    with _lock:
        _refused.append(dial)
    return dial


def _guarded_connect(self: socket.socket, address: Any) -> None:
    target = outside_loopback(self.family, address)
    if target is not None:
        raise DialOutRefused(f"tests may only reach loopback: {_note(target).target} refused")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    target = outside_loopback(self.family, address)
    if target is not None:
        _note(target)
        return 111  # ECONNREFUSED
    return _real_connect_ex(self, address)


def _is_ip_literal(host: Any) -> bool:
    try:
        ipaddress.ip_address(str(host).strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    """Names other than localhost are refused (no DNS query leaves); an IP literal needs no
    look-up, and the connect that follows is guarded."""
    if not _is_loopback_host(host) and not _is_ip_literal(host):
        _note(f"a name look-up of {host!r}")
        raise socket.gaierror(socket.EAI_NONAME, f"tests may only reach loopback: {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


_installed = 0


def install() -> None:
    """Guard the process (nested sessions, e.g. pytester's, count: the last one out restores)."""
    global _installed
    _installed += 1
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo


def uninstall() -> None:
    global _installed
    _installed -= 1
    if _installed > 0:
        return
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _real_getaddrinfo


def take_refused() -> list[DialOut]:
    with _lock:
        taken = list(_refused)
        _refused.clear()
    return taken


def pytest_configure(config: pytest.Config) -> None:
    install()


def pytest_unconfigure(config: pytest.Config) -> None:
    uninstall()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    take_refused()  # what fixtures of earlier tests did at teardown is theirs
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when in ("call", "teardown"):
        refused = take_refused()
        if refused:
            report.outcome = "failed"
            lines = [f"{item.nodeid} tried to leave loopback ({len(refused)}x):"]
            lines += [dial.describe() for dial in refused[:3]]
            report.longrepr = "\n".join(lines)
    return report
