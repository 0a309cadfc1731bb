"""Cognito JWT verification: JWKS client (cached), verifier, Starlette authentication backend.

Wired only in ``app/`` (the composition root creates one :class:`JwksClient` and one
:class:`CognitoJwtVerifier` per process); the rest of the code sees ``domain.identity.Principal``.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auth.backend import (
        AnonymousUser,
        CognitoAuthBackend,
        PrincipalUser,
        TokenVerifier,
        auth_error_of,
        principal_of,
    )
    from auth.jwks import JwksClient, JwksError, JwksUnavailable, UnknownSigningKey
    from auth.verifier import CognitoJwtVerifier

# imported on first use: ``auth.backend`` alone must not load the JWKS client (httpx, PyJWT,
# cryptography), which only a request with a token needs
_HOMES = {
    "AnonymousUser": "auth.backend",
    "CognitoAuthBackend": "auth.backend",
    "PrincipalUser": "auth.backend",
    "TokenVerifier": "auth.backend",
    "auth_error_of": "auth.backend",
    "principal_of": "auth.backend",
    "JwksClient": "auth.jwks",
    "JwksError": "auth.jwks",
    "JwksUnavailable": "auth.jwks",
    "UnknownSigningKey": "auth.jwks",
    "CognitoJwtVerifier": "auth.verifier",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'auth' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(home), name)


__all__ = [
    "AnonymousUser",
    "CognitoAuthBackend",
    "CognitoJwtVerifier",
    "JwksClient",
    "JwksError",
    "JwksUnavailable",
    "PrincipalUser",
    "TokenVerifier",
    "UnknownSigningKey",
    "auth_error_of",
    "principal_of",
]
