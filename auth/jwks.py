"""An async client for a Cognito user pool's JSON Web Key Set, cached and hard to abuse.

Error tree::

    JwksError                     anything that stops us from producing a signing key
     ├── JwksUnavailable          the JWKS could not be fetched or parsed (timeout, HTTP error,
     │                            not JSON, no usable RSA key); ``from`` the httpx/JSON error
     └── UnknownSigningKey        the JWKS was fetched but has no key with that ``kid``

Behaviour:

* Keys are cached in a :class:`cachetools.TTLCache` for ``cache_ttl_seconds`` (default 1 h).
* A ``kid`` that is not cached causes one re-fetch (key rotation), but never sooner than
  ``min_refetch_interval_seconds`` (default 60 s) after the previous attempt, successful or not,
  so tokens with made-up ``kid`` values cannot hammer the JWKS endpoint.
* Concurrent callers share one in-flight fetch (an :class:`asyncio.Lock`); :attr:`fetch_count`
  counts the HTTP fetches this client attempted.
* The :class:`httpx.AsyncClient` is injected (then the caller owns it) or created lazily on first
  use with ``timeout_seconds`` (then :meth:`aclose` closes it). Nothing happens at construction.

One instance per process; the composition root creates it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Final

import httpx
import jwt
from cachetools import TTLCache
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

MAX_KEYS: Final = 64
"""A user pool publishes two keys; a set much bigger than this is not a Cognito JWKS."""


logger = logging.getLogger(__name__)


class JwksError(Exception):
    """No signing key could be produced for a token."""


class JwksUnavailable(JwksError):
    """The JWKS could not be fetched or did not contain a usable key."""


class UnknownSigningKey(JwksError):
    """The JWKS has no key with the requested ``kid``."""


class JwksClient:
    def __init__(
        self,
        *,
        url: str,
        http_client: httpx.AsyncClient | None = None,
        cache_ttl_seconds: float = 3600.0,
        min_refetch_interval_seconds: float = 60.0,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cache_ttl_seconds <= 0 or min_refetch_interval_seconds < 0 or timeout_seconds <= 0:
            raise ValueError("JWKS TTL and timeout must be positive, the refetch floor >= 0")
        if min_refetch_interval_seconds > cache_ttl_seconds:
            raise ValueError("the JWKS refetch floor must not exceed the cache TTL")
        self._url = url
        self._http_client = http_client
        self._owns_http_client = http_client is None
        self._timeout = httpx.Timeout(timeout_seconds)
        self._min_refetch_interval = min_refetch_interval_seconds
        self._clock = clock
        self._keys: TTLCache[str, RSAPublicKey] = TTLCache(
            maxsize=MAX_KEYS, ttl=cache_ttl_seconds, timer=clock
        )
        self._lock = asyncio.Lock()
        self._last_attempt: float | None = None
        self._last_error: JwksUnavailable | None = None
        self._fetch_count = 0
        # the last keys fetched, kept past the TTL: served only while refreshes fail, so one
        # failed refresh at the hourly expiry does not sign everybody out
        self._last_good: dict[str, RSAPublicKey] = {}

    @property
    def url(self) -> str:
        return self._url

    @property
    def fetch_count(self) -> int:
        """How many times this client has requested the JWKS over HTTP."""
        return self._fetch_count

    async def get_signing_key(self, *, kid: str) -> RSAPublicKey:
        """The RSA public key for ``kid``; raises :class:`JwksError` (see the module docstring)."""
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            # Whoever held the lock before us may just have fetched the key we need.
            key = self._keys.get(kid)
            if key is not None:
                return key
            if self._may_fetch():
                try:
                    await self._refresh()
                except JwksUnavailable:
                    stale = self._last_good.get(kid)
                    if stale is None:
                        raise
                    logger.warning("JWKS refresh failed; using the last good keys meanwhile")
                    return stale
                key = self._keys.get(kid)
                if key is not None:
                    return key
            elif self._last_error is not None:
                # the JWKS endpoint is failing: keep signing in with the keys we last saw
                stale = self._last_good.get(kid)
                if stale is not None:
                    return stale
                if not self._keys:
                    raise JwksUnavailable("JWKS unavailable (waiting before the next attempt)")
        raise UnknownSigningKey("no JWKS key for this kid")

    async def aclose(self) -> None:
        """Close the HTTP client if this instance created it."""
        if self._owns_http_client and self._http_client is not None:
            await self._http_client.aclose()
            self._http_client = None

    async def __aenter__(self) -> JwksClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _may_fetch(self) -> bool:
        if self._last_attempt is None:
            return True
        return self._clock() - self._last_attempt >= self._min_refetch_interval

    async def _refresh(self) -> None:
        self._last_attempt = self._clock()
        self._fetch_count += 1
        try:
            keys = parse_jwks(await self._fetch())
        except JwksUnavailable as exc:
            self._last_error = exc
            raise
        self._last_error = None
        self._keys.clear()
        for kid, key in keys.items():
            self._keys[kid] = key
        self._last_good = dict(keys)

    async def _fetch(self) -> Any:
        if self._http_client is None:
            self._http_client = httpx.AsyncClient(timeout=self._timeout)
        try:
            response = await self._http_client.get(
                self._url, timeout=self._timeout, headers={"Accept": "application/json"}
            )
            response.raise_for_status()
            return response.json()
        except httpx.TimeoutException as exc:
            raise JwksUnavailable("JWKS request timed out") from exc
        except httpx.HTTPStatusError as exc:
            raise JwksUnavailable(f"JWKS request failed: HTTP {exc.response.status_code}") from exc
        except httpx.HTTPError as exc:
            raise JwksUnavailable(f"JWKS request failed: {type(exc).__name__}") from exc
        except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError
            raise JwksUnavailable("JWKS response is not JSON") from exc


def parse_jwks(document: Any) -> dict[str, RSAPublicKey]:
    """The RS256 signing keys of a JWKS document, by ``kid``. Other keys are skipped.

    Raises :class:`JwksUnavailable` when the document is not a JWKS or holds no usable key.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksUnavailable("JWKS document has no 'keys' list")
    keys: dict[str, RSAPublicKey] = {}
    for entry in document["keys"][:MAX_KEYS]:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if (
            not isinstance(kid, str)
            or not kid
            or entry.get("kty") != "RSA"
            or entry.get("use", "sig") != "sig"
            or entry.get("alg", "RS256") != "RS256"
            or "d" in entry  # a private key has no business in a public key set
        ):
            continue
        try:
            key = jwt.PyJWK(entry, algorithm="RS256").key
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue
        if isinstance(key, RSAPublicKey):
            keys[kid] = key
    if not keys:
        raise JwksUnavailable("JWKS document has no usable RS256 key")
    return keys
