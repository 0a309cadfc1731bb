"""Find PostgreSQL and Redis for a test run, or start throwaway ones from the installed servers.

Order: ``DATABASE_URL``/``REDIS_URL`` if set; else the standard local ports if they answer;
else a throwaway server started from the installed binaries (PostgreSQL through
``initdb``/``pg_ctl``, run as the ``postgres`` user when the suite runs as root, since the
server refuses root; Redis through pytest-redis's executor). ``TEST_SERVICES=throwaway``
forces the last. Where a server is not installed at all the run stops with a message naming it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_INSTALL_HINT = (
    "PostgreSQL is not running and its server binaries (initdb, pg_ctl) are not installed. "
    "Install it (Debian/Ubuntu: apt-get install postgresql) or set DATABASE_URL."
)
REDIS_INSTALL_HINT = (
    "Redis is not running and redis-server is not installed. "
    "Install it (Debian/Ubuntu: apt-get install redis-server) or set REDIS_URL."
)


def port_answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _forced_throwaway() -> bool:
    return os.environ.get("TEST_SERVICES", "") == "throwaway"


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return str(candidates[0]) if candidates else None


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.exit(PG_INSTALL_HINT, returncode=3)
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    workdir = Path(tempfile.mkdtemp(prefix="storefront-pg-"))
    if as_root:
        shutil.chown(workdir, user="postgres")
    data, port = workdir / "data", free_port()
    user = "postgres"
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-U", user, "-A", "trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *prefix,
            pg_ctl,
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(workdir / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], check=False)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def postgres_server_url() -> Iterator[str]:
    """A URL of a PostgreSQL server (its ``postgres`` database) for this run."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql")):
        yield url
        return
    if not _forced_throwaway() and port_answers("127.0.0.1", 5432):
        yield "postgresql://postgres@127.0.0.1:5432/postgres"
        return
    with throwaway_postgres() as url:
        yield url


@contextlib.contextmanager
def throwaway_redis() -> Iterator[str]:
    executable = shutil.which("redis-server")
    if not executable:
        pytest.exit(REDIS_INSTALL_HINT, returncode=3)
    from pytest_redis.executor import RedisExecutor

    workdir = Path(tempfile.mkdtemp(prefix="storefront-redis-"))
    executor = RedisExecutor(
        executable,
        databases=16,
        redis_timeout=30,
        loglevel="warning",
        host="127.0.0.1",
        port=free_port(),
        startup_timeout=30,
        save="",
        datadir=workdir,
    )
    with executor:
        yield f"redis://127.0.0.1:{executor.port}/0"
    shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def redis_server_url() -> Iterator[str]:
    if url := os.environ.get("REDIS_URL"):
        yield url
        return
    if not _forced_throwaway() and port_answers("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379/0"
        return
    with throwaway_redis() as url:
        yield url


def wait_until(predicate: object, *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.05)
    raise TimeoutError("condition not met in time")
