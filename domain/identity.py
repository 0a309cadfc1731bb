"""Who is calling: the signed-in :class:`Principal` and the :class:`Role` rules of the API.

Pure: no I/O and no framework or SDK imports. ``auth/`` builds a :class:`Principal` from a
verified Cognito token; the rest of the code only ever sees ``Principal | None``, where ``None``
is the anonymous caller (:data:`ANONYMOUS`).

Roles come from the token's ``cognito:groups``: every signed-in user is a ``CUSTOMER``; members
of the group ``admin`` are also ``ADMIN``. :func:`authorize` is the one place that turns a
missing caller into ``UNAUTHENTICATED`` and a missing role into ``FORBIDDEN``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from domain.errors import Forbidden, Unauthenticated

ADMIN_GROUP: Final = "admin"
"""The Cognito group whose members are :attr:`Role.ADMIN`."""

ANONYMOUS: Final = None
"""The anonymous caller. Code types it as ``Principal | None`` and tests ``principal is None``."""


class Role(StrEnum):
    CUSTOMER = "CUSTOMER"
    ADMIN = "ADMIN"


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """A caller whose token was verified. ``subject`` (Cognito ``sub``) is the stable owner id."""

    subject: str
    username: str
    email: str | None = None
    phone_number: str | None = None  # E.164, from the ID token's phone_number claim
    groups: frozenset[str] = field(default_factory=frozenset)

    @property
    def roles(self) -> frozenset[Role]:
        if ADMIN_GROUP in self.groups:
            return frozenset({Role.CUSTOMER, Role.ADMIN})
        return frozenset({Role.CUSTOMER})

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    @property
    def is_admin(self) -> bool:
        return self.has_role(Role.ADMIN)


def authorize(
    principal: Principal | None,
    *,
    role: Role = Role.CUSTOMER,
    auth_error: Unauthenticated | None = None,
) -> Principal:
    """Return the caller if it holds ``role``.

    Raises :class:`Unauthenticated` for an anonymous caller (``auth_error``, when the request
    carried a token that failed verification, so the client learns why) and :class:`Forbidden`
    for a signed-in caller without the role.
    """
    if principal is None:
        # A fresh error per call: one request may check many fields against the same failure.
        message = auth_error.message if auth_error is not None else "authentication required"
        raise Unauthenticated(message)
    if not principal.has_role(role):
        raise Forbidden(f"requires role {role.value}")
    return principal
