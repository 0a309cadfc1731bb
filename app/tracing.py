"""X-Ray tracing of the Lambda handler with Powertools' Tracer, on Lambda only.

Outside Lambda (no ``AWS_LAMBDA_FUNCTION_NAME`` in the settings) there is no tracer at all, and
the X-Ray SDK is never imported. On Lambda it is imported on the first invocation (its import
creates botocore clients: 0.1 to 0.25 s of the cold start, measured), unless Powertools says
tracing is off (``POWERTOOLS_TRACE_DISABLED=true``, SAM local). Patched: aiobotocore
(DynamoDB, SNS), requests (the Razorpay SDK) and httpx (the JWKS fetch); PostgreSQL (asyncpg)
and Redis have no X-Ray patch. Responses are not captured as metadata: they carry customers' data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.settings import Settings

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

PATCHED = ("aiobotocore", "requests", "httpx")


def traced(handler: Handler, *, settings: Settings) -> Handler:
    """``handler`` in an X-Ray subsegment of its own (``## _answer``, annotated with
    ``ColdStart`` and ``Service``), on Lambda."""
    if settings.aws_lambda_function_name is None:
        return handler
    from aws_lambda_powertools import Tracer

    if Tracer._is_tracer_disabled():
        # Powertools' own rule (POWERTOOLS_TRACE_DISABLED, SAM local, no LAMBDA_TASK_ROOT):
        # a disabled Tracer would still import the X-Ray SDK, so none is made
        return handler
    tracer = Tracer(service=settings.service_name, patch_modules=PATCHED)
    wrapped: Handler = tracer.capture_lambda_handler(handler, capture_response=False)
    return wrapped
