"""Cache hits answered before the stack: repeated anonymous catalog GETs for a few ASGI calls.

:class:`CachedAnswers` sits right inside :class:`app.middleware.RequestIdMiddleware` (the
request id and its log keys are set) and outside everything else. It keeps the bytes of the
answers the normal path judged cacheable (status 200 with ``Cache-Control: public``: an
anonymous catalog-only GET query answered without errors, ``schema/http.py``), keyed on the
exact raw query string and ``Accept`` header, and answers a request with the same pair
without entering the rest of the stack, when all of these hold (else the normal path answers):

* ``GET /graphql`` with no ``Authorization``, ``Cookie`` or ``Origin`` header (CORS answers
  differ per origin: those go through the CORS middleware);
* the entry was stored under the current catalog version, read through the response cache's
  own memoised reader (re-read at most every 0.5 s: a save is seen within 1 s here too). An
  answer is kept under the version the response cache made it at (``scope["state"]``), and
  only if that is still the current one once it is sent. Nothing here reads the version for a
  request without an entry;
* it is younger than the response cache's L1 TTL (``RESPONSE_CACHE_LOCAL_TTL_SECONDS``), in a
  bounded ``TTLCache`` (``RESPONSE_CACHE_LOCAL_SIZE`` entries);
* with rate limits on, the client's IP bucket (the key :class:`app.rate_limits.ClientAddress`
  would find) admits the answer's weight (its ``extensions.cost.requested``, at least 1, what
  the view charges). Refused, nothing is taken (the limiter's rule) and the normal path
  answers: it charges again and refuses with the usual 429 (or admits, if the window moved).

The stored body is cut around its request id (the answer's one ``"requestId":"…"``): each
answer gets its own id spliced in (the same as its ``X-Request-Id``, which the request-id
middleware adds), and its own ``Content-Length``; every other header (the security headers,
``Cache-Control``, ``Vary``, ``Content-Type``) is the normal path's, computed once per entry.
``OperationLatency`` is still recorded per answer, with the operation the normal path named.
Skipped here: the secrets refresh (a catalog answer needs none), the body limit (a GET), the
request deadline and the error boundary (nothing here waits or fails).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cachetools import TTLCache
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.rate_limits import client_key
from domain.client_ip import IPNetwork
from domain.ports import CatalogVersion
from domain.rate_limits import RateLimiter, graphql_charges
from resolvers import metrics
from schema.metrics import operation_of
from schema.response_cache import CATALOG_VERSION_STATE_KEY

logger = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
# a longer query string or a bigger answer is never kept here (the response cache still is)
MAX_QUERY_STRING_BYTES = 32 * 1024
MAX_BODY_BYTES = 512 * 1024
_REFUSED_HEADERS = frozenset({b"authorization", b"cookie", b"origin"})
_ID_KEY = b'"requestId":"'

Key = tuple[bytes, bytes | None]
HeaderList = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class Entry:
    version: int
    prefix: bytes  # the body up to the request id's value
    suffix: bytes  # and after it
    # the normal path's headers, in its order, split where its Content-Length was (each answer
    # gets its own); X-Request-Id is the request id middleware's
    head: tuple[tuple[bytes, bytes], ...]
    tail: tuple[tuple[bytes, bytes], ...]
    operation: str
    weight: int


def request_key(scope: Scope) -> Key | None:
    """The entry a ``GET /graphql`` may be answered from; None: it never is."""
    query_string = scope.get("query_string", b"")
    if len(query_string) > MAX_QUERY_STRING_BYTES:
        return None
    accept: bytes | None = None
    for name, value in scope.get("headers", ()):
        if name in _REFUSED_HEADERS:
            return None
        if name == b"accept":
            accept = value if accept is None else accept + b"," + value
    return (bytes(query_string), accept)


def entry_of(
    *, status: int, headers: Sequence[tuple[bytes, bytes]], body: bytes, request_id: str
) -> tuple[bytes, bytes, HeaderList, HeaderList, int] | None:
    """(prefix, suffix, headers before and after Content-Length, weight) of an answer that
    may be kept, else None."""
    if status != 200 or len(body) > MAX_BODY_BYTES:
        return None
    cache_control = b""
    for name, value in headers:
        if name == b"cache-control":
            cache_control = value
    if not cache_control.startswith(b"public"):
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    if not isinstance(answer, dict) or answer.get("errors") or answer.get("data") is None:
        return None
    extensions = answer.get("extensions")
    if not isinstance(extensions, dict) or extensions.get("requestId") != request_id:
        return None
    needle = _ID_KEY + request_id.encode() + b'"'
    if body.count(needle) != 1:
        return None
    before, after = body.split(needle)
    cost = extensions.get("cost")
    requested = cost.get("requested") if isinstance(cost, dict) else None
    weight = max(1, requested) if isinstance(requested, int) else 1
    kept = [(n, v) for n, v in headers if n != b"x-request-id"]
    at = next((i for i, (n, _) in enumerate(kept) if n == b"content-length"), len(kept))
    head, tail = tuple(kept[:at]), tuple(kept[at + 1 :])
    return before + _ID_KEY, b'"' + after, head, tail, weight


class CachedAnswers:
    def __init__(
        self,
        app: ASGIApp,
        *,
        enabled: bool,
        version: Callable[[], CatalogVersion],
        rate_limiter: Callable[[], RateLimiter | None],
        trusted: Sequence[IPNetwork],
        ttl_seconds: float,
        maxsize: int,
        path: str = "/graphql",
    ) -> None:
        self.app = app
        self.enabled = enabled
        self.version = version
        self.rate_limiter = rate_limiter
        self.trusted = tuple(trusted)
        self.path = path
        self.entries: TTLCache[Key, Entry] = TTLCache(maxsize=maxsize, ttl=ttl_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not self.enabled
            or scope["type"] != "http"
            or scope.get("method") != "GET"
            or scope.get("path") != self.path
        ):
            await self.app(scope, receive, send)
            return
        key = request_key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        entry = self.entries.get(key)
        if (
            entry is not None
            and await self.version().current() == entry.version
            and await self._admitted(scope, entry)
        ):
            await self._answer(scope, send, entry, started)
            return
        await self._fill(scope, receive, send, key)

    async def _admitted(self, scope: Scope, entry: Entry) -> bool:
        limiter = self.rate_limiter()
        if limiter is None:
            return True
        charges = graphql_charges(
            user=None,
            ip=client_key(scope, trusted=self.trusted),
            weight=entry.weight,
            mutations={},
        )
        try:
            return (await limiter.hit(charges)).allowed
        except Exception:  # the normal path charges it, and answers whatever happens
            logger.warning("fast path: the rate limiter failed", exc_info=True)
            return False

    @staticmethod
    async def _answer(scope: Scope, send: Send, entry: Entry, started: float) -> None:
        request_id = str((scope.get("state") or {}).get("request_id") or "")
        body = entry.prefix + request_id.encode() + entry.suffix
        headers = [*entry.head, (b"content-length", str(len(body)).encode()), *entry.tail]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        metrics.record(
            metrics.OPERATION_LATENCY,
            value=round((time.perf_counter() - started) * 1000, 3),
            unit="Milliseconds",
            operation=entry.operation,
        )

    async def _fill(self, scope: Scope, receive: Receive, send: Send, key: Key) -> None:
        """The normal path; its answer kept when it is cacheable and its version current."""
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        public = False

        async def capturing_send(message: Message) -> None:
            nonlocal status, headers, public
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", ()))
                public = status == 200 and any(
                    n == b"cache-control" and v.startswith(b"public") for n, v in headers
                )
            elif message["type"] == "http.response.body" and public:
                chunks.append(bytes(message.get("body", b"")))
            await send(message)

        await self.app(scope, receive, capturing_send)
        state = scope.get("state") or {}
        version = state.get(CATALOG_VERSION_STATE_KEY)
        if not public or not isinstance(version, int) or isinstance(version, bool):
            return
        request_id = str(state.get("request_id") or "")
        body = b"".join(chunks)
        kept = entry_of(status=status, headers=headers, body=body, request_id=request_id)
        if kept is None or await self.version().current() != version:
            return
        prefix, suffix, head, tail, weight = kept
        self.entries[key] = Entry(
            version=version,
            prefix=prefix,
            suffix=suffix,
            head=head,
            tail=tail,
            operation=operation_of(scope) or ANONYMOUS,
            weight=weight,
        )
