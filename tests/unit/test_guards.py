"""The answer guards (app/guards.py) around tiny ASGI apps: the timeout stops at the answer's
start (a webhook's background work after it is not cut), a TimeoutError that is not the
deadline's is an unexpected error (500), and an exception after the answer started is
re-raised (nothing more can be said)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from app.guards import ErrorBoundary, RequestTimeout
from app.middleware import RequestIdMiddleware


def client(app: Any) -> httpx.AsyncClient:
    guarded = RequestIdMiddleware(ErrorBoundary(app))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=guarded), base_url="http://t")


async def answer_then(scope: Scope, send: Send, then: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
    await then()


async def test_the_deadline_stops_when_the_answer_starts() -> None:
    done = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async def background() -> None:
            await asyncio.sleep(0.3)  # longer than the deadline
            done.set()

        await answer_then(scope, send, background)

    async with client(RequestTimeout(app, seconds=0.1)) as c:
        response = await c.get("/")
    assert (response.status_code, response.text) == (200, "ok")
    assert done.is_set()


async def test_a_slow_answer_is_a_504_with_the_request_id() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(5)

    async with client(RequestTimeout(app, seconds=0.05)) as c:
        response = await c.get("/", headers={"x-request-id": "slow-1"})
    assert response.status_code == 504
    assert response.json()["extensions"] == {"requestId": "slow-1"}
    assert response.json()["errors"][0]["extensions"] == {"code": "TIMEOUT"}


async def test_a_timeout_error_of_the_apps_own_is_an_unexpected_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise TimeoutError("a client library's own timeout")

    async with client(RequestTimeout(app, seconds=5)) as c:
        response = await c.get("/")
    assert response.status_code == 500
    assert response.json()["errors"][0]["message"] == "internal error"
    assert "client library" not in response.text


async def test_after_the_answer_started_the_exception_goes_on() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async def fail() -> None:
            raise RuntimeError("after the answer")

        await answer_then(scope, send, fail)

    async with client(app) as c:
        with pytest.raises(RuntimeError, match="after the answer"):
            await c.get("/")
