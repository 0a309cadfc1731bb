"""Verify Cognito user pool tokens (access or ID) and turn them into a :class:`Principal`.

Checks, in order (the first failure wins; every failure is :class:`Unauthenticated`)::

    shape          a string of at most MAX_TOKEN_LENGTH, three base64url parts, JSON header
    header         alg == RS256 (no "none", no HS256 signed with the public key), a string kid
    key            the kid is in the pool's JWKS (see auth.jwks: cached, rate-limited refetch)
    signature      RS256 with that key (PyJWT, algorithms=["RS256"])
    time           exp (required), nbf (if present) and iat (required, not in the future),
                   each with ``leeway_seconds``
    issuer         iss == the configured issuer, exactly
    token_use      "access" -> client_id in client_ids; "id" -> aud in client_ids
    claims         sub and username (access) / cognito:username (id) are non-empty strings;
                   email and phone_number strings if present; cognito:groups a list of
                   strings if present

Messages name the failed check ("token expired", "unknown signing key") and never echo the
token, a claim value or key material. The PyJWT/JWKS exception is chained as ``__cause__`` for
logs. Tokens revoked in Cognito (GlobalSignOut) stay valid here until they expire: verification
is local by design.

A token that verified is remembered (by its SHA-256, at most ``VERIFIED_CACHE_SIZE`` tokens,
each for ``VERIFIED_CACHE_SECONDS`` and never past its own ``exp`` + leeway), so a signed-in
client's every request does not parse and RSA-verify the same token again. What that can
change: a key removed from the JWKS keeps its tokens valid for up to that long.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, NoReturn

import jwt
from cachetools import TTLCache
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from auth.jwks import JwksClient, JwksUnavailable, UnknownSigningKey
from domain.errors import Unauthenticated
from domain.identity import Principal

ALGORITHM: Final = "RS256"
MAX_TOKEN_LENGTH: Final = 16 * 1024
"""Cognito tokens are a few KiB even with many groups; anything larger is refused unparsed."""
VERIFIED_CACHE_SIZE: Final = 10_000
VERIFIED_CACHE_SECONDS: Final = 60.0

# token_use -> (the claim naming the app client, the claim holding the username)
TOKEN_USES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {"access": ("client_id", "username"), "id": ("aud", "cognito:username")}
)

# PyJWT error -> message. Order matters: subclasses before their bases.
_JWT_ERRORS: Final[tuple[tuple[type[jwt.PyJWTError], str], ...]] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidSignatureError, "invalid token signature"),
    (jwt.InvalidIssuerError, "invalid token issuer"),
    (jwt.InvalidAlgorithmError, "unsupported token algorithm"),
    (jwt.InvalidIssuedAtError, "invalid token issue time"),
    (jwt.DecodeError, "malformed token"),
)


class CognitoJwtVerifier:
    """Verifies tokens of one user pool for a set of app clients. Safe to share per process."""

    def __init__(
        self,
        *,
        issuer: str,
        jwks: JwksClient,
        client_ids: Sequence[str],
        leeway_seconds: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not issuer:
            raise ValueError("issuer is required")
        if isinstance(client_ids, str) or not client_ids or not all(client_ids):
            raise ValueError("client_ids must be a non-empty sequence of app client ids")
        if leeway_seconds < 0:
            raise ValueError("leeway_seconds must be >= 0")
        self._issuer = issuer
        self._jwks = jwks
        self._client_ids = frozenset(client_ids)
        self._leeway = leeway_seconds
        self._clock = clock
        # sha256(token) -> (the principal, when it expires, leeway included)
        self._verified: TTLCache[bytes, tuple[Principal, float]] = TTLCache(
            maxsize=VERIFIED_CACHE_SIZE, ttl=VERIFIED_CACHE_SECONDS, timer=clock
        )

    @property
    def issuer(self) -> str:
        return self._issuer

    async def verify(self, token: str) -> Principal:
        """The caller the token names; raises :class:`Unauthenticated` for any bad token."""
        if not isinstance(token, str) or not token:
            raise Unauthenticated("missing token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("token too large")
        digest = hashlib.sha256(token.encode()).digest()
        remembered = self._verified.get(digest)
        if remembered is not None:
            principal, expires = remembered
            if self._clock() <= expires:
                return principal
            self._verified.pop(digest, None)  # past its exp: verified again, and refused
        kid = _signing_kid(token)
        try:
            key = await self._jwks.get_signing_key(kid=kid)
        except UnknownSigningKey as exc:
            raise Unauthenticated("unknown signing key") from exc
        except JwksUnavailable as exc:
            raise Unauthenticated("signing keys unavailable") from exc
        claims = self._decode(token, key=key)
        principal = self._principal(claims)
        self._verified[digest] = (principal, float(claims["exp"]) + self._leeway)
        return principal

    def _decode(self, token: str, *, key: RSAPublicKey) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key=key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                leeway=self._leeway,
                options={
                    "require": ["exp", "iat", "iss", "sub", "token_use"],
                    "verify_signature": True,
                    "verify_exp": True,
                    "verify_nbf": True,
                    "verify_iat": True,
                    "verify_iss": True,
                    # Cognito access tokens have no aud; the client is checked below.
                    "verify_aud": False,
                },
            )
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"token is missing claim {exc.claim}") from exc
        except jwt.PyJWTError as exc:
            _raise_for(exc)
        except Exception as exc:  # whatever a crafted token makes a parser raise
            raise Unauthenticated("malformed token") from exc

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        token_use = claims.get("token_use")
        if not isinstance(token_use, str) or token_use not in TOKEN_USES:
            raise Unauthenticated("unsupported token_use")
        client_claim, username_claim = TOKEN_USES[token_use]
        client = claims.get(client_claim)
        if not isinstance(client, str) or client not in self._client_ids:
            raise Unauthenticated("token was not issued to this app client")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise Unauthenticated("token is missing claim sub")
        username = claims.get(username_claim)
        if not isinstance(username, str) or not username:
            raise Unauthenticated(f"token is missing claim {username_claim}")
        email = claims.get("email")
        if email is not None and not isinstance(email, str):
            raise Unauthenticated("malformed token claim email")
        phone = claims.get("phone_number")
        if phone is not None and not isinstance(phone, str):
            raise Unauthenticated("malformed token claim phone_number")
        groups = claims.get("cognito:groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise Unauthenticated("malformed token claim cognito:groups")
        return Principal(
            subject=subject,
            username=username,
            email=email or None,
            phone_number=phone or None,
            groups=frozenset(groups),
        )


def _signing_kid(token: str) -> str:
    """The ``kid`` of an RS256 token, from its (not yet verified) header."""
    try:
        header = jwt.get_unverified_header(token)
    except Exception as exc:  # jwt.DecodeError, or whatever a crafted header makes a parser raise
        raise Unauthenticated("malformed token") from exc
    if header.get("alg") != ALGORITHM:
        raise Unauthenticated("unsupported token algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthenticated("token has no key id")
    return kid


def _raise_for(exc: jwt.PyJWTError) -> NoReturn:
    for error_type, message in _JWT_ERRORS:
        if isinstance(exc, error_type):
            raise Unauthenticated(message) from exc
    raise Unauthenticated("invalid token") from exc
