"""Starlette authentication backend for ``Authorization: Bearer <Cognito JWT>``.

Contract (what ``request.user`` / ``request.auth`` hold after ``AuthenticationMiddleware``)::

    request                               request.user                    request.auth.scopes
    ------------------------------------  ------------------------------  ----------------------
    no Authorization header               AnonymousUser(auth_error=None)  []
    header not "Bearer <token>"           AnonymousUser(auth_error=...)   []
    token fails verification              AnonymousUser(auth_error=...)   []
    valid token                           PrincipalUser(principal)        ["authenticated",
                                                                           "CUSTOMER"[, "ADMIN"]]

The backend never raises and never answers at the HTTP level: a bad token makes the request
anonymous, so fields anyone may read (products, offers) still work, and the failure travels in
``AnonymousUser.auth_error`` (a :class:`domain.errors.Unauthenticated`) so that a protected field
can answer ``UNAUTHENTICATED`` with the reason. :func:`principal_of` and :func:`auth_error_of`
read both back; the composition root passes them to the GraphQL context, where
``domain.identity.authorize(principal, role=..., auth_error=...)`` enforces roles.

Failures are logged at INFO with the reason only, never the token.
"""

from __future__ import annotations

import logging
from typing import Final, Protocol

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    UnauthenticatedUser,
)
from starlette.requests import HTTPConnection

from domain.errors import Unauthenticated
from domain.identity import Principal

AUTHENTICATED_SCOPE: Final = "authenticated"

logger = logging.getLogger(__name__)


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal: ...


class PrincipalUser(BaseUser):
    """A caller with a verified token."""

    def __init__(self, *, principal: Principal) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.principal.username

    @property
    def identity(self) -> str:
        return self.principal.subject


class AnonymousUser(UnauthenticatedUser):
    """A caller without a (valid) token; ``auth_error`` says why a token was refused."""

    def __init__(self, *, auth_error: Unauthenticated | None = None) -> None:
        self.auth_error = auth_error


class CognitoAuthBackend(AuthenticationBackend):
    def __init__(self, *, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser]:
        values = conn.headers.getlist("authorization")
        if not values:
            return AuthCredentials(), AnonymousUser()
        try:
            token = bearer_token(values)
            principal = await self._verifier.verify(token)
        except Unauthenticated as exc:
            logger.info("authentication failed: %s", exc.message)
            return AuthCredentials(), AnonymousUser(auth_error=exc)
        except Exception:  # a bug, not a bad token: log it, keep anonymous fields working
            logger.exception("token verification crashed")
            error = Unauthenticated("token could not be verified")
            return AuthCredentials(), AnonymousUser(auth_error=error)
        scopes = [AUTHENTICATED_SCOPE, *sorted(role.value for role in principal.roles)]
        return AuthCredentials(scopes), PrincipalUser(principal=principal)


def bearer_token(values: list[str]) -> str:
    """The token of exactly one ``Authorization: Bearer <token>`` header (any case of Bearer)."""
    if len(values) != 1:
        raise Unauthenticated("multiple Authorization headers")
    parts = values[0].split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise Unauthenticated("Authorization header must be 'Bearer <token>'")
    return parts[1]


def principal_of(user: BaseUser) -> Principal | None:
    """The verified caller behind ``request.user``, or ``None`` when anonymous."""
    return user.principal if isinstance(user, PrincipalUser) else None


def auth_error_of(user: BaseUser) -> Unauthenticated | None:
    """Why the request's token was refused, or ``None`` (no token, or a valid one)."""
    return user.auth_error if isinstance(user, AnonymousUser) else None
