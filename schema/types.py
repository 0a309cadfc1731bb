"""Shared GraphQL types: Money and page info."""

from __future__ import annotations

from functools import lru_cache

import strawberry

from domain.errors import DomainError, ErrorCode
from domain.money import CURRENCY, format_inr
from schema.metrics import count_user_error

# the same prices show on every page: format each once (pure, bounded)
_formatted = lru_cache(maxsize=4096)(format_inr)


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


ErrorCodeEnum = strawberry.enum(ErrorCode, name="ErrorCode", description="What went wrong.")


@strawberry.type(description="An expected failure: branch on `code`; `field` points at the input.")
class UserError:
    code: ErrorCodeEnum  # type: ignore[valid-type]
    field: list[str] | None
    message: str

    @classmethod
    def from_domain(cls, error: DomainError) -> UserError:
        return cls(code=error.code, field=error.field, message=error.message)


def user_errors(error: DomainError) -> list[UserError]:
    """A mutation payload's typed error (counted in the ``Errors`` metric by its code)."""
    count_user_error(error)
    return [UserError.from_domain(error)]
