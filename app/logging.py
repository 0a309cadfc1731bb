"""JSON logs for CloudWatch in Powertools for AWS Lambda's shape, from every stdlib logger.

The root logger gets one handler writing to stdout with Powertools' ``LambdaPowertoolsFormatter``:
``level``, ``location``, ``message``, ``timestamp`` (UTC, RFC 3339), ``service``, the line's
extras, ``exception`` and ``exception_name`` on errors, ``xray_trace_id`` when traced; and the
keys of what is being served (:func:`log_keys`): ``correlation_id`` (the request id: API
Gateway's on Lambda, see ``app/middleware.py``), ``clientRequestId`` (a client's own
``X-Request-Id``), and on Lambda the invocation's ``cold_start``, ``function_name``,
``function_memory_size``, ``function_arn`` and ``function_request_id``
(:func:`lambda_logging`, what Powertools' ``inject_lambda_context`` adds). The keys live in a
context variable, so concurrent requests under uvicorn never see each other's.
"""

from __future__ import annotations

import copy
import functools
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model

_keys: ContextVar[Mapping[str, object]] = ContextVar("log_keys", default=MappingProxyType({}))

# the Python runtime's own root handlers (awslambdaric: LambdaLoggerHandler, and
# LambdaLoggerHandlerWithFrameType): they would print every line a second time, as text
_LAMBDA_RUNTIME_HANDLER = "LambdaLoggerHandler"


@contextmanager
def log_keys(**keys: object) -> Iterator[None]:
    """Every line logged inside carries these keys (None values are left out)."""
    token = _keys.set({**_keys.get(), **{k: v for k, v in keys.items() if v is not None}})
    try:
        yield
    finally:
        _keys.reset(token)


def current_keys() -> Mapping[str, object]:
    return _keys.get()


class StorefrontFormatter(LambdaPowertoolsFormatter):
    """Powertools' formatter, plus the logger's name and the keys of :func:`log_keys`. A line
    logged with ``extra={"request_id": …}`` names its request itself: that is its
    ``correlation_id``."""

    def __init__(self, *, service: str) -> None:
        super().__init__(service=service, utc=True, use_rfc3339=True, serialize_stacktrace=False)

    def format(self, record: logging.LogRecord) -> str:
        keys: dict[str, object] = {"logger": record.name, **_keys.get()}
        own = record.__dict__.get("request_id")
        if isinstance(own, str) and own:
            keys["correlation_id"] = own
        line = copy.copy(record)  # the record is shared with every other handler
        line.__dict__.pop("request_id", None)
        for key, value in keys.items():
            line.__dict__.setdefault(key, value)
        return super().format(line)


class _Stdout(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is when a line is logged (where Lambda and uvicorn
    expect it; a test capturing stdout sees the lines)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def configure_logging(*, level: str, service: str) -> None:
    """Idempotent: a warm Lambda or a test building many apps configures the root logger once."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler).__name__.startswith(_LAMBDA_RUNTIME_HANDLER):
            root.removeHandler(handler)
    for handler in root.handlers:
        if getattr(handler, "_storefront", False):
            root.setLevel(level)
            return
    handler = _Stdout(sys.stdout)
    handler.setFormatter(StorefrontFormatter(service=service))
    handler._storefront = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

_cold_start = True


def invocation_keys(event: Any, context: Any) -> dict[str, object]:
    """What every line of one Lambda invocation carries: the Lambda context's fields, whether
    the process is new, and the correlation id (API Gateway's request id, or a scheduled
    event's id)."""
    global _cold_start
    keys: dict[str, object] = {"cold_start": _cold_start}
    _cold_start = False
    if context is not None:
        keys.update(build_lambda_context_model(context).__dict__)
    if isinstance(event, dict):
        request = event.get("requestContext")
        request_id = request.get("requestId") if isinstance(request, dict) else None
        correlation_id = request_id or event.get("id")
        if isinstance(correlation_id, str) and correlation_id:
            keys["correlation_id"] = correlation_id
    return keys


def lambda_logging(handler: Handler) -> Handler:
    """``handler`` logging with the invocation's keys (Powertools' ``inject_lambda_context``,
    for the root logger)."""

    @functools.wraps(handler)
    def with_keys(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with log_keys(**invocation_keys(event, context)):
            return handler(event, context)

    return with_keys
