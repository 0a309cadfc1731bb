"""Fault injection: rules set through ``POST /_sandbox/config {"faults": [...]}``.

API faults (``error``, ``slow``, ``timeout``) apply to the next ``count`` matching ``/v1``
calls; webhook faults (``webhook_duplicate``, ``webhook_reorder``, ``webhook_sign_with``) to
the next ``count`` matching events. ``count: null`` means every match until the faults are
replaced or the sandbox is reset.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.local.razorpay_sandbox.errors import ControlError, server_error

API_KINDS = ("error", "slow", "timeout")
WEBHOOK_KINDS = ("webhook_duplicate", "webhook_reorder", "webhook_sign_with")
ORDERS = ("fifo", "reverse", "shuffle")
CHECKOUT_PREFIX = "/v1/checkout/"


@dataclass(kw_only=True)
class FaultRule:
    type: str
    count: int | None = 1
    method: str | None = None  # API faults: HTTP method to match (any if None)
    path: str | None = None  # API faults: fnmatch pattern (default: every /v1 API route)
    event: str | None = None  # webhook faults: fnmatch pattern on the event name
    status: int = 500  # error
    code: str = "SERVER_ERROR"  # error: error.code in the JSON body
    body: str | None = None  # error: raw non-JSON body instead (e.g. a proxy's HTML page)
    delay: float = 30.0  # slow / timeout: real seconds
    process: bool = False  # timeout: apply the request, then lose the answer
    times: int = 2  # webhook_duplicate: deliveries per event
    order: str = "reverse"  # webhook_reorder: release order
    seed: int | None = None  # webhook_reorder: shuffle seed
    secret: str | None = None  # webhook_sign_with: the secret to sign with

    @classmethod
    def parse(cls, data: Any) -> FaultRule:
        if not isinstance(data, dict):
            raise ControlError("each fault must be a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ControlError(f"unknown fault fields: {', '.join(unknown)}")
        try:
            rule = cls(**data)
        except TypeError as exc:
            raise ControlError(str(exc)) from None
        for name, value in data.items():
            if not _typed(name, value):
                raise ControlError(f"fault field {name} has the wrong type")
        kind = rule.type
        if kind not in API_KINDS + WEBHOOK_KINDS:
            raise ControlError(f"unknown fault type {kind!r}")
        if rule.count is not None and (not isinstance(rule.count, int) or rule.count < 1):
            raise ControlError("count must be an integer >= 1 or null")
        if kind == "error" and not 500 <= rule.status <= 599 and rule.body is None:
            raise ControlError("error faults answer a 5xx status")
        if kind == "slow" and "delay" not in data:
            raise ControlError("slow faults need a delay (seconds)")
        if kind == "webhook_reorder" and rule.order not in ORDERS:
            raise ControlError(f"order must be one of {', '.join(ORDERS)}")
        if kind == "webhook_sign_with" and not rule.secret:
            raise ControlError("webhook_sign_with needs a secret")
        if kind == "webhook_duplicate" and rule.times < 1:
            raise ControlError("times must be >= 1")
        return rule

    def matches_call(self, *, method: str, path: str) -> bool:
        if self.type not in API_KINDS:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is None:
            return path.startswith("/v1/") and not path.startswith(CHECKOUT_PREFIX)
        return fnmatch.fnmatchcase(path, self.path)

    def matches_event(self, *, kind: str, event: str) -> bool:
        return self.type == kind and (self.event is None or fnmatch.fnmatchcase(event, self.event))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "type": (str,),
    "count": (int, type(None)),
    "method": (str, type(None)),
    "path": (str, type(None)),
    "event": (str, type(None)),
    "status": (int,),
    "code": (str,),
    "body": (str, type(None)),
    "delay": (int, float),
    "process": (bool,),
    "times": (int,),
    "order": (str,),
    "seed": (int, type(None)),
    "secret": (str, type(None)),
}


def _typed(name: str, value: Any) -> bool:
    kinds = _FIELD_TYPES[name]
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


class FaultBook:
    """The active rules; each match uses one ``count``; used-up rules are dropped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def replace(self, raw: Any) -> None:
        if not isinstance(raw, list):
            raise ControlError("faults must be a list")
        rules = [FaultRule.parse(item) for item in raw]
        with self._lock:
            self._rules = rules

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def public(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.to_json() for rule in self._rules]

    def _take(self, predicate: Callable[[FaultRule], bool]) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if predicate(rule):
                    if rule.count is not None:
                        rule.count -= 1
                        if rule.count == 0:
                            self._rules.remove(rule)
                    return rule
            return None

    def take_call(self, *, method: str, path: str) -> FaultRule | None:
        return self._take(lambda rule: rule.matches_call(method=method, path=path))

    def take_event(self, *, kind: str, event: str) -> FaultRule | None:
        """The next matching webhook rule; ``rule.count == 0`` afterwards means it is used up."""
        return self._take(lambda rule: rule.matches_event(kind=kind, event=event))


Sleep = Callable[[float], Awaitable[bool]]


class FaultMiddleware:
    """Pure ASGI middleware answering 5xx, slowly, or not at all, per the matching rule."""

    def __init__(self, app: ASGIApp, *, book: Callable[[], FaultBook], sleep: Sleep) -> None:
        self.app = app
        self.book = book
        self.sleep = sleep  # resolves True if it slept fully, False if aborted (reset/stop)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = self.book().take_call(method=scope["method"], path=scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
        elif rule.type == "error":
            await _send_error(send, rule=rule)
        elif rule.type == "slow":  # the request arrives whole, then the server dawdles
            replay = await _buffered(receive)
            await self.sleep(rule.delay)
            await self.app(scope, replay, send)
        elif rule.process:
            held: list[Message] = []

            async def keep(message: Message) -> None:
                held.append(message)

            await self.app(scope, receive, keep)
            await self.sleep(rule.delay)
            for message in held:
                await send(message)
        else:
            await self.sleep(rule.delay)
            await _send_error(send, rule=FaultRule(type="error", status=504))


async def _buffered(receive: Receive) -> Receive:
    """Read the whole request body now; answer a receive() that replays it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    messages: list[Message] = [{"type": "http.request", "body": b"".join(chunks)}]

    async def replay() -> Message:
        if messages:
            return messages.pop()
        return await receive()

    return replay


async def _send_error(send: Send, *, rule: FaultRule) -> None:
    if rule.body is not None:
        payload, content_type = rule.body.encode(), b"text/html; charset=utf-8"
    else:
        response = server_error(status=rule.status, code=rule.code).response()
        payload, content_type = bytes(response.body), b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": rule.status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
