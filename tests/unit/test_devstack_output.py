"""What `make run` prints (infra/local/devstack.py), and where its servers' access lines go
instead of the terminal: the emulator's (werkzeug) and a threaded uvicorn server's."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from infra.local.devstack import (
    MetricsFile,
    TerminalFormatter,
    banner,
    describe_database,
    not_chatter,
)
from infra.local.emulator import log_requests_to
from infra.local.razorpay_sandbox.server import ThreadedServer

STACK = {
    "graphql_url": "http://127.0.0.1:8000/graphql",
    "storefront_url": "http://127.0.0.1:8000/shop/",
    "aws_endpoint_url": "http://127.0.0.1:4566",
    "razorpay": {"base_url": "http://127.0.0.1:9090"},
    "users": [
        {"username": "asha", "password": "Asha-demo-2026!", "groups": []},
        {"username": "admin", "password": "Admin-demo-2026!", "groups": ["admin"]},
    ],
}


def test_the_banner_lists_urls_database_and_users_aligned() -> None:
    text = banner(STACK, state_dir=Path(".devstack"), database="SQLite, .devstack/storefront.db")
    lines = text.splitlines()

    rows = {
        line.split("  ", 2)[1].strip(): line
        for line in lines
        if line.startswith("  ") and not line.startswith("    ")
    }
    assert rows["Storefront"].split()[-1] == "http://127.0.0.1:8000/shop/"
    assert rows["GraphiQL"].split()[-1] == "http://127.0.0.1:8000/graphql"
    assert "http://127.0.0.1:4566" in rows["AWS emulator"]
    assert rows["AWS emulator"].endswith("log: .devstack/emulator.log")
    assert "http://127.0.0.1:9090" in rows["Razorpay sandbox"]
    assert rows["Razorpay sandbox"].endswith("log: .devstack/razorpay-sandbox.log")
    assert rows["Database"].endswith("SQLite, .devstack/storefront.db")
    # the values start in one column, and so do the logs
    value_columns = {
        line.index("http://")
        for name, line in rows.items()
        if name not in {"Database"} and "http" in line
    }
    assert len(value_columns) == 1
    assert rows["Database"].index("SQLite") in value_columns
    assert rows["AWS emulator"].index("log:") == rows["Razorpay sandbox"].index("log:")

    users = [line.split() for line in lines if line.startswith("    ")]
    assert users == [
        ["username", "password", "groups"],
        ["asha", "Asha-demo-2026!", "-"],
        ["admin", "Admin-demo-2026!", "admin"],
    ]
    table = [line for line in lines if line.startswith("    ")]
    assert len({line.index(row[1]) for line, row in zip(table, users, strict=True)}) == 1
    assert lines[-1] == "Ctrl-C stops" or lines[-2:] == ["Ctrl-C stops", ""]
    assert "\x1b" not in text  # plain: no colours


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite+aiosqlite:///.devstack/storefront.db", "SQLite, .devstack/storefront.db"),
        (
            "postgresql+asyncpg://app:s3cret@db.local:5432/storefront",
            "PostgreSQL, postgresql://app@db.local:5432/storefront",
        ),
        ("postgresql+asyncpg://127.0.0.1/shop", "PostgreSQL, postgresql://127.0.0.1/shop"),
    ],
)
def test_the_database_is_named_without_its_password(url: str, shown: str) -> None:
    assert describe_database(url) == shown


def test_terminal_lines_are_plain_with_their_extras() -> None:
    record = logging.makeLogRecord(
        {"name": "app.jobs", "levelno": logging.INFO, "levelname": "INFO", "msg": "ran %s"}
    )
    record.args = ("jobs",)
    record.results = {"expired": 1}
    line = TerminalFormatter().format(record)
    assert line.endswith("INFO    app.jobs: ran jobs  results={'expired': 1}")
    uvicorn = logging.makeLogRecord(
        {"name": "uvicorn.error", "levelname": "ERROR", "msg": "boom", "color_message": "\x1b[1m"}
    )
    assert TerminalFormatter().format(uvicorn).endswith("ERROR   uvicorn.error: boom")


def test_metrics_go_to_their_file_as_emf_lines(tmp_path: Path) -> None:
    sink = MetricsFile(tmp_path / "metrics.log", service="svc")
    sink.record("OperationLatency", value=1.5, unit="Milliseconds", dimensions={"operation": "q"})
    sink.close()
    sink.record("OperationLatency", value=2, unit="Milliseconds", dimensions={})  # dropped
    (line,) = (tmp_path / "metrics.log").read_text().splitlines()
    blob = json.loads(line)
    assert blob["OperationLatency"] == [1.5] and blob["operation"] == "q"
    assert blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "operation"]]


@pytest.mark.parametrize(
    ("name", "level", "shown"),
    [
        ("botocore.credentials", logging.INFO, False),
        ("httpx", logging.INFO, False),
        ("uvicorn.error", logging.INFO, False),
        ("uvicorn.error", logging.ERROR, True),
        ("uvicorn.access", logging.INFO, True),  # the app's own access lines stay
        ("alembic.runtime.migration", logging.INFO, False),
        ("app.jobs", logging.INFO, True),
        ("httpxish", logging.INFO, True),
    ],
)
def test_the_terminal_leaves_out_chatter_but_not_warnings(
    name: str, level: int, shown: bool
) -> None:
    assert not_chatter(logging.makeLogRecord({"name": name, "levelno": level})) is shown


@pytest.fixture
def werkzeug_logger() -> Iterator[logging.Logger]:
    """werkzeug's logger as it was before the test (the run's emulator logs through it)."""
    werkzeug = logging.getLogger("werkzeug")
    saved = (list(werkzeug.handlers), werkzeug.level, werkzeug.propagate)
    yield werkzeug
    for handler in werkzeug.handlers:
        if handler not in saved[0]:
            handler.close()
    werkzeug.handlers[:], werkzeug.level, werkzeug.propagate = saved


def test_the_emulators_access_lines_go_to_their_file_only(
    tmp_path: Path, werkzeug_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "emulator.log"
    log_requests_to(log)
    log_requests_to(log)  # again: still one handler, each line once
    with caplog.at_level(logging.INFO):
        werkzeug_logger.info('127.0.0.1 - - "\x1b[31m\x1b[1mPOST / HTTP/1.1\x1b[0m" 400 -')

    assert log.read_text().count("POST / HTTP/1.1") == 1
    assert '"POST / HTTP/1.1" 400' in log.read_text()  # werkzeug's colours left out
    assert caplog.records == []  # nothing reached the root logger's handlers


def test_a_threaded_servers_lines_go_to_its_log_and_only_there(tmp_path: Path) -> None:
    async def hello(request: Request) -> PlainTextResponse:
        logging.getLogger("sandbox.app").info("answering %s", request.url.path)
        return PlainTextResponse("hi")

    app = Starlette(routes=[Route("/hello", hello)])
    root = logging.getLogger()
    seen: list[logging.LogRecord] = []
    terminal = logging.Handler()
    terminal.emit = seen.append  # type: ignore[method-assign]
    level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(terminal)
    try:
        server = ThreadedServer(app, log=tmp_path / "server.log")
        terminal.addFilter(lambda record: not server.owns(record))
        with server:
            assert httpx.get(f"{server.base_url}/hello", timeout=5).text == "hi"
            logging.getLogger("elsewhere").info("the main thread's line")
    finally:
        root.removeHandler(terminal)
        root.setLevel(level)

    text = (tmp_path / "server.log").read_text()
    assert '"GET /hello HTTP/1.1" 200' in text  # uvicorn's access line
    assert "sandbox.app answering /hello" in text  # the app's own line, on its thread
    assert "the main thread's line" not in text
    assert "the main thread's line" in [r.getMessage() for r in seen]
    assert not [r for r in seen if r.threadName == f"uvicorn-{server.port}"]
    assert root.handlers.count(terminal) == 0 and not any(
        type(h).__name__ == "ThreadLog" for h in root.handlers
    )  # stop() took its handler away
