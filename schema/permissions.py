"""Field rules: ``@auth(requires: CUSTOMER|ADMIN)`` in the SDL, enforced by the same object.

A protected field says so once, with :func:`auth_field`; the rule is both checked and printed
(PermissionExtension adds the permission's schema directive to the field). Anonymous callers get
``UNAUTHENTICATED`` (with the reason when their token failed), signed-in callers without the role
``FORBIDDEN``. Ownership is not checked here but in the use cases.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.schema_directive import Location
from strawberry.types import Info

from domain.identity import Principal, Role, authorize

strawberry.enum(Role, description="CUSTOMER: any signed-in user; ADMIN: group admin.")


@strawberry.schema_directive(
    name="auth",
    locations=[Location.FIELD_DEFINITION],
    description="Who may read this field: any signed-in CUSTOMER, or ADMIN (Cognito group).",
)
class AuthDirective:
    requires: Role = Role.CUSTOMER


class Requires(BasePermission):
    message = "not allowed"

    def __init__(self, role: Role) -> None:
        self.role = role
        self._directive = AuthDirective(requires=role)

    @property
    def schema_directive(self) -> object:
        return self._directive

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        context = info.context
        authorize(context.principal, role=self.role, auth_error=context.auth_error)
        return True


def auth_field(*, requires: Role = Role.CUSTOMER, **kwargs: Any) -> Any:
    """``strawberry.field`` that requires a role (and shows it in the SDL)."""
    extension = PermissionExtension(permissions=[Requires(requires)], use_directives=True)
    return strawberry.field(extensions=[extension], **kwargs)


def auth_mutation(*, requires: Role = Role.CUSTOMER, **kwargs: Any) -> Any:
    extension = PermissionExtension(permissions=[Requires(requires)], use_directives=True)
    return strawberry.mutation(extensions=[extension], **kwargs)


def caller(info: Info) -> Principal:
    """The signed-in caller of a field guarded by :func:`auth_field`."""
    principal: Principal | None = info.context.principal
    if principal is None:  # unreachable behind auth_field; kept as a guard
        return authorize(None, auth_error=info.context.auth_error)
    return principal
