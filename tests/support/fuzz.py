"""What every fuzzed answer must be, and the tally the fuzz tests report.

An answer passes when it is not a server error (no 5xx, no ``INTERNAL_SERVER_ERROR`` in a
GraphQL body), is JSON where the route answers JSON, carries ``extensions.requestId``, gives
every error a known code, and shows nothing of the implementation (no traceback, no driver or
SDK names, no exception class names).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from domain.errors import ErrorCode

# the codes an error may leave with: the schema's own, and the HTTP layer's and graphql-core's
KNOWN_CODES = {c.value for c in ErrorCode} | {
    "GRAPHQL_VALIDATION_FAILED",
    "BAD_REQUEST",
    "PAYLOAD_TOO_LARGE",
    "QUERY_TOO_COMPLEX",
    "PERSISTED_QUERY_NOT_FOUND",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "UNSUPPORTED_MEDIA_TYPE",
    "NOT_ACCEPTABLE",
}
SERVER_ERROR = "INTERNAL_SERVER_ERROR"

# what a message leaking the implementation would show
LEAK = re.compile(
    r"Traceback|File \"|\.py\b|sqlalchemy|asyncpg|aiosqlite|botocore|aioboto|redis\.|"
    r"\b(?:Key|Type|Attribute|Value|Index|Recursion|Runtime|Assertion|Lookup)Error\b|"
    r"Exception\b|object at 0x",
)


@dataclass
class Tally:
    """Counts per route of what the fuzzer sent and what came back (printed at the end)."""

    statuses: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)

    def note(self, route: str, response: httpx.Response, codes: list[str]) -> None:
        self.sent[route] += 1
        self.statuses[f"{route} {response.status_code}"] += 1
        for code in codes:
            self.codes[f"{route} {code}"] += 1

    def report(self) -> str:
        return json.dumps(
            {"sent": self.sent, "statuses": self.statuses, "codes": self.codes},
            indent=1,
            sort_keys=True,
        )


def _problem(condition: bool, what: str, response: httpx.Response, sent: object) -> None:
    if condition:
        return
    raise AssertionError(
        f"{what}\nsent: {sent!r:.2000}\nanswer {response.status_code}: {response.text[:2000]}"
    )


def error_codes(body: dict[str, Any], response: httpx.Response, sent: object) -> list[str]:
    codes = []
    for error in body.get("errors") or []:
        _problem(isinstance(error, dict), "an error that is not an object", response, sent)
        message = error.get("message")
        code = (error.get("extensions") or {}).get("code")
        _problem(isinstance(message, str), "an error without a message", response, sent)
        _problem(code != SERVER_ERROR, "a server error", response, sent)
        _problem(code in KNOWN_CODES, f"an unknown error code {code!r}", response, sent)
        _problem(not LEAK.search(message), "a message showing the implementation", response, sent)
        codes.append(code)
    return codes


def check_json_answer(response: httpx.Response, sent: object) -> list[str]:
    """A JSON answer (GraphQL or an HTTP-level error): no server error, a request id, known
    codes, nothing leaked. Answers the error codes."""
    _problem(response.status_code < 500, "a 5xx answer", response, sent)
    _problem(
        "json" in response.headers.get("content-type", ""), "an answer not in JSON", response, sent
    )
    try:
        body = response.json()
    except ValueError:
        _problem(False, "a body that is not JSON", response, sent)
    _problem(isinstance(body, dict), "a JSON answer that is not an object", response, sent)
    request_id = (body.get("extensions") or {}).get("requestId")
    _problem(
        request_id == response.headers.get("x-request-id") and bool(request_id),
        "no extensions.requestId equal to the X-Request-Id header",
        response,
        sent,
    )
    return error_codes(body, response, sent)


def check_webhook_answer(response: httpx.Response, sent: object) -> None:
    """Razorpay reads only the status (2xx: delivered; anything else: retried later)."""
    _problem(response.status_code < 500, "a 5xx answer", response, sent)
    _problem(
        "json" in response.headers.get("content-type", ""), "an answer not in JSON", response, sent
    )
    _problem(bool(response.headers.get("x-request-id")), "no X-Request-Id", response, sent)


def check_callback_answer(
    response: httpx.Response, sent: object, *, pages: tuple[str, ...]
) -> None:
    """The browser lands on the storefront's success or failure page, always (or is told to
    slow down: 429 in JSON)."""
    if response.status_code == 429:
        check_json_answer(response, sent)
        return
    _problem(response.status_code == 303, "not a 303 to the storefront", response, sent)
    location = response.headers.get("location", "")
    _problem(location.startswith(pages), f"a redirect to {location!r}", response, sent)
