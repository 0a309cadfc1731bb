"""Rate limits as use cases: charge a request to its buckets or refuse it with
:class:`domain.rate_limits.RateLimited` (what the 429 says). Without a limiter (disabled by
settings) every request is admitted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from domain.rate_limits import Bucket, Charge, RateLimited, callback_charges, graphql_charges
from resolvers import metrics
from resolvers.deps import Deps


async def admit_graphql(
    deps: Deps, *, user: str | None, ip: str, weight: int, mutations: Mapping[Bucket, int]
) -> None:
    """One GraphQL request (a batch is one request: its weights and mutations summed)."""
    await _admit(deps, graphql_charges(user=user, ip=ip, weight=weight, mutations=mutations))


async def admit_callback(deps: Deps, *, ip: str) -> None:
    """Razorpay Checkout's anonymous return to ``/payments/razorpay/callback``."""
    await _admit(deps, callback_charges(ip=ip))


async def _admit(deps: Deps, charges: Sequence[Charge]) -> None:
    if deps.rate_limiter is None:
        return
    verdict = await deps.rate_limiter.hit(charges)
    if not verdict.allowed:
        metrics.record(metrics.ERRORS, code=RateLimited.code.value)
        raise RateLimited(verdict.retry_after)
