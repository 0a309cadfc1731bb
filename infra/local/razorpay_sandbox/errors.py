"""Razorpay error bodies, and the exceptions the sandbox raises to produce them."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

AUTH_FAILED_BODY: dict[str, Any] = {
    "error": {"code": "BAD_REQUEST_ERROR", "description": "Authentication failed"}
}
ID_NOT_FOUND = "The id provided does not exist"


class ApiError(Exception):
    """An error answered by a ``/v1`` route in Razorpay's error shape."""

    def __init__(
        self,
        description: str,
        *,
        field: str | None = None,
        status: int = 400,
        code: str = "BAD_REQUEST_ERROR",
        source: str = "business",
        step: str = "payment_initiation",
        reason: str = "input_validation_failed",
    ) -> None:
        super().__init__(description)
        self.description = description
        self.field = field
        self.status = status
        self.code = code
        self.source = source
        self.step = step
        self.reason = reason

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code,
            "description": self.description,
            "source": self.source,
            "step": self.step,
            "reason": self.reason,
            "metadata": {},
        }
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


def not_found() -> ApiError:
    """Razorpay's answer for an unknown (or malformed) id."""
    return ApiError(ID_NOT_FOUND, source="NA", step="NA", reason="NA")


def server_error(*, status: int = 500, code: str = "SERVER_ERROR") -> ApiError:
    return ApiError(
        "The server encountered an error. The incident has been reported to admins.",
        status=status,
        code=code,
        source="NA",
        step="NA",
        reason="NA",
    )


class ControlError(Exception):
    """A bad request to the ``/_sandbox`` test-control API (answered 400 ``{"detail"}``)."""

    def response(self) -> JSONResponse:
        return JSONResponse({"detail": str(self)}, status_code=400)
