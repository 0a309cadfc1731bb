"""The demo storefront (the top-level ``storefront/`` folder) at ``/shop/``, as the local stack
serves it; in production S3 + CloudFront serve the same files and the deploy writes the same
``config.json`` (``storefront_config``) beside them.

The pages are static and talk only to ``/graphql``. What they cannot know by themselves comes
from ``/shop/config.json``: where Cognito answers (the emulator locally, ``cognito-idp`` in
production) and which app client to sign in with, and how to open Razorpay Checkout (the
sandbox's hosted page locally, ``checkout.js`` in production). Its Content-Security-Policy
names exactly those origins and nothing else.
"""

from __future__ import annotations

import pathlib
from typing import Any, Final
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.settings import Settings

STOREFRONT_DIR: Final = pathlib.Path(__file__).resolve().parent.parent / "storefront"
STOREFRONT_URL: Final = "/shop"
CHECKOUT_JS: Final = "https://checkout.razorpay.com/v1/checkout.js"
# checkout.js opens its payment form in a frame from api.razorpay.com
RAZORPAY_FRAMES: Final = ("https://api.razorpay.com", "https://checkout.razorpay.com")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def cognito_endpoint(*, region: str, emulator_url: str | None = None) -> str:
    """Where the browser sends Cognito's ``InitiateAuth`` (the emulator when there is one)."""
    if emulator_url:
        return emulator_url.rstrip("/") + "/"
    return f"https://cognito-idp.{region}.amazonaws.com/"


def config_for(
    *,
    region: str,
    client_id: str,
    merchant_name: str,
    emulator_url: str | None = None,
    sandbox_url: str | None = None,
) -> dict[str, Any]:
    """``config.json``: what the static pages need to sign in and to pay. ``sandbox_url``: the
    local Razorpay sandbox (its hosted Checkout page); without it, Razorpay's checkout.js."""
    if sandbox_url:
        checkout: dict[str, Any] = {
            "mode": "hosted",
            "url": sandbox_url.rstrip("/") + "/v1/checkout/embedded",
        }
    else:
        checkout = {"mode": "checkout.js", "script": CHECKOUT_JS}
    return {
        "graphqlUrl": "/graphql",
        "merchantName": merchant_name,
        "cognito": {
            "endpoint": cognito_endpoint(region=region, emulator_url=emulator_url),
            "region": region,
            "clientId": client_id,
        },
        "checkout": checkout,
    }


def storefront_config(settings: Settings) -> dict[str, Any]:
    """The app's own ``config.json`` (the local stack's): from its settings."""
    pool = settings.cognito_user_pool_id or ""
    client_ids = settings.client_ids
    return config_for(
        region=pool.split("_", 1)[0] if "_" in pool else settings.aws_region,
        client_id=client_ids[0] if client_ids else "",
        merchant_name=settings.merchant_name,
        emulator_url=settings.aws_endpoint_url,
        sandbox_url=settings.razorpay_base_url,
    )


def csp_for(config: dict[str, Any]) -> str:
    """The storefront's Content-Security-Policy for ``config``: scripts and styles from the
    site itself; requests to the site and Cognito; forms posted to the site and, locally, the
    sandbox's Checkout page; Razorpay's own script and frames when Checkout is checkout.js."""
    connect = ["'self'", _origin(config["cognito"]["endpoint"])]
    forms = ["'self'"]
    scripts = ["'self'"]
    frames = ["'none'"]
    if config["checkout"]["mode"] == "hosted":
        forms.append(_origin(config["checkout"]["url"]))
    else:
        scripts.append(_origin(CHECKOUT_JS))
        frames = list(RAZORPAY_FRAMES)
        connect.extend(RAZORPAY_FRAMES)
    return (
        "default-src 'none'; "
        f"script-src {' '.join(scripts)}; style-src 'self'; img-src 'self' data: https:; "
        f"connect-src {' '.join(connect)}; form-action {' '.join(forms)}; "
        f"frame-src {' '.join(frames)}; base-uri 'none'; frame-ancestors 'none'"
    )


class _WithHeaders:
    """Adds fixed headers to every answer of ``app`` (the CSP, and no caching of the pages:
    a new deploy of the files is seen at once)."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *[(k, v) for k, v in message.get("headers", []) if k not in self._names],
                    *self.headers,
                ]
            await send(message)

        await self.app(scope, receive, sending)

    @property
    def _names(self) -> set[bytes]:
        return {k for k, _ in self.headers}


def storefront_mount(settings: Settings) -> Mount:
    """``/shop``: ``config.json`` from the settings, the rest from ``storefront/``."""
    config = storefront_config(settings)

    async def config_json(_: Request) -> JSONResponse:
        return JSONResponse(config)

    files = StaticFiles(directory=STOREFRONT_DIR, html=True)
    router = Router(
        routes=[
            Route("/config.json", config_json, methods=["GET", "HEAD"]),
            Mount("/", app=files),
        ]
    )
    headers = [
        (b"content-security-policy", csp_for(config).encode()),
        (b"cache-control", b"no-cache"),
    ]
    return Mount(STOREFRONT_URL, app=_WithHeaders(router, headers), name="storefront")
