"""Shared GraphQL types and helpers: Money, page info, and a mutation's typed errors.

The GraphQL enums are the domain's own classes: ``strawberry.enum(DomainEnum)`` marks the class
in place (it returns the same class), so a field is annotated with the domain enum and a
resolver hands the domain's members through unconverted. Each is marked in the schema module
of its domain (``ErrorCode`` here, ``OfferKind`` in schema/catalog.py, ...).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import Protocol, TypeVar

import strawberry

from domain.errors import DomainError, ErrorCode
from domain.money import CURRENCY, format_inr
from schema.metrics import count_user_error

# the same prices show on every page: format each once (pure, bounded)
_formatted = lru_cache(maxsize=4096)(format_inr)

T = TypeVar("T")
P = TypeVar("P")


@strawberry.type(description="An amount in paise (like Razorpay), with its currency.")
class Money:
    amount: int = strawberry.field(description="Integer paise: ₹1.00 is 100.")
    currency: str = CURRENCY
    # a plain field, filled when made: resolved like `amount`, without a resolver call
    formatted: str = strawberry.field(default="", description="For display, e.g. ₹1,23,456.78.")

    def __post_init__(self) -> None:
        if not self.formatted:
            self.formatted = _formatted(self.amount)


def money(amount: int) -> Money:
    return Money(amount=amount)


def money_or_none(amount: int | None) -> Money | None:
    return None if amount is None else Money(amount=amount)


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


class Edge(Protocol):
    @property
    def cursor(self) -> str: ...


def page_info(edges: Sequence[Edge], *, has_next_page: bool, has_previous_page: bool) -> PageInfo:
    """A connection's page info: its cursors are its first and last edges' (none if empty)."""
    return PageInfo(
        has_next_page=has_next_page,
        has_previous_page=has_previous_page,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )


strawberry.enum(ErrorCode, description="What went wrong.")


@strawberry.type(description="An expected failure: branch on `code`; `field` points at the input.")
class UserError:
    code: ErrorCode
    field: list[str] | None
    message: str

    @classmethod
    def from_domain(cls, error: DomainError) -> UserError:
        return cls(code=error.code, field=error.field, message=error.message)


def user_errors(error: DomainError) -> list[UserError]:
    """A mutation payload's typed error (counted in the ``Errors`` metric by its code)."""
    count_user_error(error)
    return [UserError.from_domain(error)]


async def payload_of(payload: Callable[..., P], work: Awaitable[T], answer: Callable[[T], P]) -> P:
    """A mutation's payload: ``answer(result)`` of its use case ``work``, or, when that raises a
    :class:`DomainError`, ``payload(errors=...)`` with its typed error (its other fields null).
    Only ``work`` is guarded: an error from ``answer`` is a GraphQL error, as any other."""
    try:
        result = await work
    except DomainError as error:
        return payload(errors=user_errors(error))
    return answer(result)
