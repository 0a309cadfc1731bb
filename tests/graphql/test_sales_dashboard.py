"""``salesDashboard(from:, to:)`` over GraphQL on the real services.

Who may read it (admins only), which days it answers (from..to inclusive, every day present,
the merchant's days in Asia/Kolkata), what it refuses (``to`` before ``from``, more than 366
days), and that its numbers are exactly the payments, failures and refunds that happened, to
the paisa: sessions paid, failed and refunded on the Razorpay sandbox at instants the test
chooses (a clock of the test's own), counted by the outbox dispatcher into DynamoDB.

The read-only tests use the module's stack, whose table no test here ever writes sales to:
every day there is zero. The counting test has a stack of its own (database, table, topics),
so the dashboard holds nothing but what the test did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from domain.payments import merchant_date
from infra.local.razorpay_sandbox.control_client import SandboxControl
from resolvers.outbox import dispatch_all
from resolvers.sales import MAX_DAYS
from tests.support.payments_flow import ask_refund, sandbox_payment
from tests.support.shop import GET, create_session, data, fill_cart, verify
from tests.support.stack import GraphQLClient, Stack, bearer
from tests.support.webhooks import deliver, event_body, sandbox_entity, signed_headers

Headers = dict[str, str]

DAY_FIELDS = "date paidCount paidAmount { amount currency } refundedAmount { amount } failedCount"
DASHBOARD = (
    "query($from: Date!, $to: Date!) { salesDashboard(from: $from, to: $to) {"
    f" days {{ {DAY_FIELDS} }} totals {{ {DAY_FIELDS} }} }} }}"
)


def ask(from_: date | str, to: date | str) -> dict[str, Any]:
    return {"from": str(from_), "to": str(to)}


def zero_day(day: date) -> dict[str, Any]:
    return {
        "date": day.isoformat(),
        "paidCount": 0,
        "paidAmount": {"amount": 0, "currency": "INR"},
        "refundedAmount": {"amount": 0},
        "failedCount": 0,
    }


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    """The one error of an answer whose (non-null) salesDashboard could not be given."""
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["path"] == ["salesDashboard"], error
    return dict(error)


# --- who may read it ---------------------------------------------------------------------------


async def test_anonymous_callers_are_unauthenticated(gql: GraphQLClient) -> None:
    error = only_error(await gql(DASHBOARD, ask("2026-03-01", "2026-03-02")))
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_bad_token_is_unauthenticated_not_forbidden(gql: GraphQLClient) -> None:
    body = await gql(DASHBOARD, ask("2026-03-01", "2026-03-02"), headers=bearer("not-a-jwt"))
    assert only_error(body)["extensions"]["code"] == "UNAUTHENTICATED"


async def test_customers_are_forbidden(gql: GraphQLClient, tokens: dict[str, str]) -> None:
    for customer in ("asha", "ravi"):
        body = await gql(
            DASHBOARD, ask("2026-03-01", "2026-03-02"), headers=bearer(tokens[customer])
        )
        assert only_error(body)["extensions"]["code"] == "FORBIDDEN", customer


async def test_permission_is_checked_before_the_arguments(
    gql: GraphQLClient, tokens: dict[str, str]
) -> None:
    """A caller without the role learns nothing about the range rules: not INVALID_INPUT."""
    backwards = ask("2026-03-02", "2026-03-01")
    assert only_error(await gql(DASHBOARD, backwards))["extensions"]["code"] == "UNAUTHENTICATED"
    body = await gql(DASHBOARD, backwards, headers=bearer(tokens["asha"]))
    assert only_error(body)["extensions"]["code"] == "FORBIDDEN"


async def test_admins_read_it(gql: GraphQLClient, tokens: dict[str, str]) -> None:
    body: dict[str, Any] = await gql(
        DASHBOARD, ask("2026-03-01", "2026-03-01"), headers=bearer(tokens["admin"])
    )
    assert "errors" not in body, body
    board = body["data"]["salesDashboard"]
    assert board["days"] == [zero_day(date(2026, 3, 1))]


# --- which days --------------------------------------------------------------------------------


async def test_every_day_from_to_inclusive_is_present_with_zeros(
    gql: GraphQLClient, tokens: dict[str, str]
) -> None:
    # across a month end and 29 February of a leap year
    first, last = date(2028, 2, 26), date(2028, 3, 2)
    board = (await data(gql, DASHBOARD, bearer(tokens["admin"]), **ask(first, last)))[
        "salesDashboard"
    ]
    expected = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    assert [day["date"] for day in board["days"]] == [d.isoformat() for d in expected]
    assert "2028-02-29" in [day["date"] for day in board["days"]]
    assert board["days"] == [zero_day(d) for d in expected]
    assert board["totals"] == zero_day(last)  # totals carry the range's last day as their date


async def test_the_longest_range_is_366_days(gql: GraphQLClient, tokens: dict[str, str]) -> None:
    first = date(2027, 6, 1)
    last = first + timedelta(days=MAX_DAYS - 1)
    assert MAX_DAYS == 366
    board = (await data(gql, DASHBOARD, bearer(tokens["admin"]), **ask(first, last)))[
        "salesDashboard"
    ]
    assert len(board["days"]) == 366
    assert (board["days"][0]["date"], board["days"][-1]["date"]) == (str(first), str(last))
    assert len({day["date"] for day in board["days"]}) == 366
    assert board["totals"] == zero_day(last)


@pytest.mark.parametrize(
    ("from_", "to", "message"),
    [
        (date(2026, 3, 2), date(2026, 3, 1), "to must not be before from"),
        (date(2027, 6, 1), date(2027, 6, 1) + timedelta(days=366), "at most 366 days at a time"),
        (date(2020, 1, 1), date(2026, 1, 1), "at most 366 days at a time"),
    ],
    ids=["to-before-from", "367-days", "six-years"],
)
async def test_bad_ranges_are_invalid_input_on_to(
    gql: GraphQLClient, tokens: dict[str, str], from_: date, to: date, message: str
) -> None:
    error = only_error(await gql(DASHBOARD, ask(from_, to), headers=bearer(tokens["admin"])))
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert error["extensions"]["field"] == ["to"]
    assert error["message"] == message


@pytest.mark.parametrize("bad", ["2026-02-30", "10/03/2026", "2026-03-10T20:00:00Z", ""])
async def test_a_value_that_is_not_a_date_is_refused(
    gql: GraphQLClient, tokens: dict[str, str], bad: str
) -> None:
    body: dict[str, Any] = await gql(
        DASHBOARD, {"from": bad, "to": "2026-03-10"}, headers=bearer(tokens["admin"])
    )
    assert body.get("data") is None, body
    assert body["errors"], body
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", body


# --- what it counts ----------------------------------------------------------------------------


@dataclass
class SetClock:
    """The stack's clock, set by the test: every state change happens at the instant it says."""

    at: datetime

    def now(self) -> datetime:
        return self.at


async def paid_session(
    gql: GraphQLClient, customer: Headers, sandbox: SandboxControl, items: dict[str, int]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Fill the cart, check out, pay on the sandbox's Checkout and verify: a PAID session."""
    await fill_cart(gql, customer, items)
    session = (await create_session(gql, customer))["paymentSession"]
    paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
    verified = await verify(gql, customer, session["id"], paid)
    assert verified["errors"] == [], verified
    assert verified["paymentSession"]["status"] == "PAID", verified
    return verified["paymentSession"], paid


async def test_counts_are_exact_on_the_merchants_days(
    private_stack: Stack,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    tokens: dict[str, str],
) -> None:
    container, gql = private_stack.container, private_stack.gql
    clock = SetClock(datetime(2026, 3, 10, 18, 0, tzinfo=UTC))  # 23:30 on 10 March in India
    container.__dict__["deps"] = replace(container.deps, clock=clock)
    admin = bearer(tokens["admin"])
    day0, day1, day2 = date(2026, 3, 10), date(2026, 3, 11), date(2026, 3, 12)

    # paid at 18:00 UTC = 23:30 IST: 10 March
    first, _ = await paid_session(gql, new_customer(), sandbox, {"GRO-TEA-003": 1})
    assert merchant_date(clock.at) == day0

    # paid at 20:00 UTC on 10 March = 01:30 IST on 11 March: counts on the next Indian day
    clock.at = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)
    second_buyer = new_customer()
    second, second_paid = await paid_session(gql, second_buyer, sandbox, {"GRO-DAL-002": 3})
    again = await verify(gql, second_buyer, second["id"], second_paid)  # a repeat: no change
    assert again["errors"] == [] and again["paymentSession"]["status"] == "PAID", again
    assert first["amount"]["amount"] != second["amount"]["amount"]

    # a failed payment at 20:30 UTC (02:00 IST, 11 March), as Razorpay's webhook reports it,
    # delivered twice (Razorpay redelivers): one failure
    clock.at = datetime(2026, 3, 10, 20, 30, tzinfo=UTC)
    failing = new_customer()
    await fill_cart(gql, failing, {"GRO-TEA-003": 2})
    doomed = (await create_session(gql, failing))["paymentSession"]
    failure = sandbox.pay(doomed["razorpayOrderId"], outcome="failure")
    payment = await sandbox_payment(sandbox, failure["error"]["metadata"]["payment_id"])
    assert payment["status"] == "failed", payment
    body = event_body("payment.failed", payment=payment)
    headers = signed_headers(body)
    for _ in range(2):
        assert (await deliver(private_stack.client, body, headers)).status_code == 200
    status = (await data(gql, GET, failing, id=doomed["id"]))["paymentSession"]["status"]
    assert status == "ATTEMPTED"

    # a partial refund of the first session at 19:00 UTC on 11 March = 00:30 IST on 12 March
    clock.at = datetime(2026, 3, 11, 19, 0, tzinfo=UTC)
    refund_amount = 12_345
    assert refund_amount < first["amount"]["amount"]
    refunded = await ask_refund(gql, admin, first["id"], "dash-refund-0001", refund_amount)
    assert refunded["errors"] == [], refunded
    assert refunded["paymentSession"]["status"] == "PARTIALLY_REFUNDED", refunded
    assert refunded["paymentSession"]["refundedAmount"]["amount"] == refund_amount
    sandbox_refunds = await sandbox_entity(
        sandbox.base_url, f"payments/{first['razorpayPaymentId']}/refunds"
    )
    assert [r["amount"] for r in sandbox_refunds["items"]] == [refund_amount]

    # the dispatcher counts what the outbox holds (the failure's webhook may have sent some)
    clock.at = datetime(2026, 3, 11, 19, 5, tzinfo=UTC)
    dispatched = await dispatch_all(container.deps)
    assert dispatched.failed == 0
    assert (await dispatch_all(container.deps)).sent == 0  # nothing left, nothing twice

    board = (await data(gql, DASHBOARD, admin, **ask(day0 - timedelta(days=1), day2)))[
        "salesDashboard"
    ]
    first_amount, second_amount = first["amount"]["amount"], second["amount"]["amount"]
    assert board["days"] == [
        zero_day(day0 - timedelta(days=1)),
        zero_day(day0)
        | {"paidCount": 1, "paidAmount": {"amount": first_amount, "currency": "INR"}},
        zero_day(day1)
        | {
            "paidCount": 1,
            "paidAmount": {"amount": second_amount, "currency": "INR"},
            "failedCount": 1,
        },
        zero_day(day2) | {"refundedAmount": {"amount": refund_amount}},
    ]
    assert board["totals"] == {
        "date": day2.isoformat(),
        "paidCount": 2,
        "paidAmount": {"amount": first_amount + second_amount, "currency": "INR"},
        "refundedAmount": {"amount": refund_amount},
        "failedCount": 1,
    }

    # totals are the sum of the days of whatever range is asked
    only_day1 = (await data(gql, DASHBOARD, admin, **ask(day1, day1)))["salesDashboard"]
    assert only_day1["days"] == [board["days"][2]]
    assert only_day1["totals"] == board["days"][2]
    # a day outside the range is not counted in it
    before = (await data(gql, DASHBOARD, admin, **ask(day0 - timedelta(days=3), day0)))[
        "salesDashboard"
    ]
    assert before["totals"]["paidCount"] == 1
    assert before["totals"]["paidAmount"]["amount"] == first_amount
    assert before["totals"]["failedCount"] == before["totals"]["refundedAmount"]["amount"] == 0
