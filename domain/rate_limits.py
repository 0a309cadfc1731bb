"""Rate limits: which buckets a request is charged to, and what a refusal says. Pure.

Buckets (each counted per caller over a sliding window; the figures are settings):

* ``requests``: every GraphQL request, weighted by its cost (1 until query cost plugs in),
  per signed-in user and per client IP;
* ``paymentSessionCreate`` and ``cartCouponApply``: each occurrence of the mutation in a
  request (every alias counts), per user and per IP: checkouts and coupon guessing;
* ``callback``: the anonymous ``POST /payments/razorpay/callback``, per IP.

A request is charged to all its buckets at once; it is refused when any of them lacks room
for its cost, and a refused request takes nothing from any bucket (all of it or none).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from domain.errors import DomainError, ErrorCode


class Bucket(StrEnum):
    REQUESTS = "requests"
    PAYMENT_SESSION_CREATE = "paymentSessionCreate"
    COUPON_APPLY = "cartCouponApply"
    CALLBACK = "callback"


class Subject(StrEnum):
    """Who a bucket counts: the signed-in user (Cognito ``sub``) or the client IP."""

    USER = "user"
    IP = "ip"


# root mutation fields with a bucket of their own, by their GraphQL name
MUTATION_BUCKETS: Mapping[str, Bucket] = {
    "paymentSessionCreate": Bucket.PAYMENT_SESSION_CREATE,
    "cartCouponApply": Bucket.COUPON_APPLY,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Charge:
    bucket: Bucket
    subject: Subject
    key: str  # the user's subject or the client's IP key
    cost: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # whole seconds until the refused bucket frees room (refusals only)


ALLOWED = Verdict(allowed=True)


class RateLimiter(Protocol):
    async def hit(self, charges: Sequence[Charge]) -> Verdict:
        """Take each charge from its bucket; refused if any bucket lacks room."""
        ...


class RateLimited(DomainError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(f"too many requests: try again in {self.retry_after} s")


def graphql_charges(
    *, user: str | None, ip: str, weight: int, mutations: Mapping[Bucket, int]
) -> list[Charge]:
    """A GraphQL request's charges: its weight to ``requests`` and each counted mutation to
    its own bucket, per IP and (signed in) per user."""
    subjects = [(Subject.IP, ip)] + ([(Subject.USER, user)] if user else [])
    costs = {Bucket.REQUESTS: max(1, weight), **{b: n for b, n in mutations.items() if n > 0}}
    return [
        Charge(bucket=bucket, subject=subject, key=key, cost=cost)
        for bucket, cost in costs.items()
        for subject, key in subjects
    ]


def callback_charges(*, ip: str) -> list[Charge]:
    return [Charge(bucket=Bucket.CALLBACK, subject=Subject.IP, key=ip, cost=1)]


def retry_after_seconds(*, reset_at: float, now: float) -> int:
    """Whole seconds from ``now`` until ``reset_at``, at least 1 (what ``Retry-After`` says)."""
    return max(1, math.ceil(reset_at - now))
