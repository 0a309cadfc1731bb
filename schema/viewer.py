"""Who is calling: ``viewer``."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from schema.context import Context
from schema.permissions import auth_field, caller


@strawberry.type(description="The signed-in caller, from the Cognito token.")
class Viewer:
    id: strawberry.ID
    username: str
    email: str | None
    groups: list[str]


@strawberry.type
class ViewerQuery:
    @auth_field(description="The signed-in caller.")
    def viewer(self, info: Info[Context, None]) -> Viewer | None:
        principal = caller(info)
        return Viewer(
            id=strawberry.ID(principal.subject),
            username=principal.username,
            email=principal.email,
            groups=sorted(principal.groups),
        )
