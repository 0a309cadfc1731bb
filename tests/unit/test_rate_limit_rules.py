"""What a request is charged: buckets per user and IP, each alias of a limited mutation, a
batch summed; what a refusal says; the limit settings checked at start-up."""

from __future__ import annotations

import pytest
from graphql import parse
from pydantic import ValidationError

from app.settings import Settings
from domain.rate_limits import (
    Bucket,
    Charge,
    RateLimited,
    Subject,
    graphql_charges,
    retry_after_seconds,
)
from schema.rate_limits import Operation, mutation_counts, request_charge, unit_cost

COUPONS = """mutation { a: cartCouponApply(code: "A") { errors { code } }
                       b: cartCouponApply(code: "B") { errors { code } }
                       paymentSessionCreate(input: {idempotencyKey: "k"}) { errors { code } } }"""


def test_each_alias_counts() -> None:
    counts = mutation_counts(parse(COUPONS), None)
    assert counts == {Bucket.COUPON_APPLY: 2, Bucket.PAYMENT_SESSION_CREATE: 1}


def test_fragments_count_and_only_the_operation_that_runs() -> None:
    document = parse(
        """
        mutation Guess { ...F ... on Mutation { c: cartCouponApply(code: "C") { cart { id } } } }
        mutation Other { cartCouponApply(code: "X") { cart { id } } }
        query Browse { offers { code } }
        fragment F on Mutation { d: cartCouponApply(code: "D") { cart { id } } ...F }
        """
    )
    assert mutation_counts(document, "Guess") == {Bucket.COUPON_APPLY: 2}
    assert mutation_counts(document, "Other") == {Bucket.COUPON_APPLY: 1}
    assert mutation_counts(document, "Browse") == {}
    assert mutation_counts(document, None) == {}  # ambiguous: nothing runs
    assert mutation_counts(document, "Missing") == {}


def test_a_batch_is_summed_and_bad_documents_weigh_one() -> None:
    charge = request_charge(
        [
            Operation(COUPONS),
            Operation("{ offers { code } }"),
            Operation("{ broken"),
            Operation(None),
        ],
        cost=unit_cost,
    )
    assert charge.weight == 4
    assert charge.mutations == {Bucket.COUPON_APPLY: 2, Bucket.PAYMENT_SESSION_CREATE: 1}


def test_the_cost_hook_weighs_each_document() -> None:
    charge = request_charge(
        [Operation("{ offers { code } }"), Operation("{ offers { code } }")],
        cost=lambda document, name, variables: 7,
    )
    assert charge.weight == 14


def test_charges_per_ip_and_signed_in_user() -> None:
    anonymous = graphql_charges(user=None, ip="1.2.3.4", weight=3, mutations={})
    assert anonymous == [Charge(bucket=Bucket.REQUESTS, subject=Subject.IP, key="1.2.3.4", cost=3)]
    signed_in = graphql_charges(
        user="sub-1", ip="1.2.3.4", weight=1, mutations={Bucket.COUPON_APPLY: 2}
    )
    assert {(c.bucket, c.subject, c.key, c.cost) for c in signed_in} == {
        (Bucket.REQUESTS, Subject.IP, "1.2.3.4", 1),
        (Bucket.REQUESTS, Subject.USER, "sub-1", 1),
        (Bucket.COUPON_APPLY, Subject.IP, "1.2.3.4", 2),
        (Bucket.COUPON_APPLY, Subject.USER, "sub-1", 2),
    }


def test_a_refusal_says_when_to_come_back() -> None:
    assert retry_after_seconds(reset_at=100.2, now=99.0) == 2
    assert retry_after_seconds(reset_at=90.0, now=99.0) == 1
    assert RateLimited(42).message == "too many requests: try again in 42 s"
    assert RateLimited(42).retry_after == 42


def test_limits_on_by_default_and_checked_at_start_up() -> None:
    settings = Settings()
    assert settings.rate_limits_enabled
    assert (settings.rate_limit_principal, settings.rate_limit_ip) == (
        "20000/minute",
        "40000/minute",
    )
    assert settings.rate_limit_payment_session_create == "10/minute"
    assert settings.rate_limit_coupon_apply == "20/minute"
    assert settings.rate_limit_callback == "30/minute"
    assert settings.trusted_proxy_networks == ()
    assert Settings(rate_limit_ip="5 per second").rate_limit_ip == "5 per second"
    for bad in ({"rate_limit_ip": "lots"}, {"rate_limit_coupon_apply": "0/minute"}):
        with pytest.raises(ValidationError, match="rate limit"):
            Settings(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="not an IP network"):
        Settings(trusted_proxies="10.0.0.0/8,nope")
