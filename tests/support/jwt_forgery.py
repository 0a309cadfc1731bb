"""Tokens forged on purpose, and a JWKS of our own for the app to trust while we forge them.

A forgery test proves something only if the forged token is valid in every respect but the one
under test. That needs a signing key whose public half is in the JWKS the verifier trusts:
:class:`JwksServer` serves such a JWKS over HTTP on 127.0.0.1 (a free port, in a thread), and
:func:`sign` makes RS256 tokens with the matching private key. A test then points the app's
``cognito_jwks_url`` (or a :class:`auth.jwks.JwksClient`) at :attr:`JwksServer.url`.

The server can also misbehave for JWKS-client tests: ``status``, a raw ``body`` and a ``delay``
(real seconds) apply to every request until :meth:`JwksServer.reset`; ``hits`` counts requests.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    """The public half of ``key`` as a JWKS entry, the way Cognito publishes one."""
    entry: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**entry, "kid": kid, "alg": "RS256", "use": "sig"}


def sign(claims: dict[str, Any], *, key: rsa.RSAPrivateKey, kid: str) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a token, signature not checked: a template for forgeries."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def with_payload(token: str, claims: dict[str, Any]) -> str:
    """``token`` with its payload replaced and its header and signature kept (tampering)."""
    header, _, signature = token.split(".")
    return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"


class _Handler(BaseHTTPRequestHandler):
    server: JwksServer

    def do_GET(self) -> None:
        state = self.server
        with state.lock:
            state.hits += 1
        if state.delay:
            time.sleep(state.delay)
        body = state.body if state.body is not None else json.dumps(state.document).encode()
        self.send_response(state.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class JwksServer(ThreadingHTTPServer):
    """A JWKS endpoint on loopback; run it with :func:`serve_jwks`."""

    daemon_threads = True

    def __init__(self, *, document: dict[str, Any] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.reset(document=document or {"keys": []})

    def reset(self, *, document: dict[str, Any]) -> None:
        self.document, self.hits, self.status, self.delay = document, 0, 200, 0.0
        self.body: bytes | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/.well-known/jwks.json"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up


@contextmanager
def serve_jwks(document: dict[str, Any] | None = None) -> Iterator[JwksServer]:
    server = JwksServer(document=document)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
