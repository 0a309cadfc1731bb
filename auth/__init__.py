"""Cognito JWT verification: JWKS client (cached), verifier, Starlette authentication backend.

Wired only in ``app/`` (the composition root creates one :class:`JwksClient` and one
:class:`CognitoJwtVerifier` per process); the rest of the code sees ``domain.identity.Principal``.
"""

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
