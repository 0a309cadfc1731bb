"""GraphQL fuzzed against the live schema (hypothesis-graphql): valid documents built from the
schema the running app introspects, invalid ones, and random variables for the operations that
take input. Each is sent anonymously, as a customer and as an admin. Nothing may answer a
server error or show the implementation (see tests/support/fuzz.py).

The example counts are bounded for CI and the examples are the same on every run (a red CI is
a finding, never chance); ``FUZZ_EXAMPLES=10`` scales the counts and ``FUZZ_RANDOM=1`` draws
new examples, for a longer hunt (``make fuzz``).
"""

from __future__ import annotations

import os
from datetime import UTC
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

from tests.support.fuzz import Tally, check_json_answer
from tests.support.stack import bearer

SCALE = float(os.environ.get("FUZZ_EXAMPLES", "1"))
RANDOM = os.environ.get("FUZZ_RANDOM", "") not in ("", "0")


def examples(n: int) -> Any:
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        database=None,  # the same examples on a clean clone as on a laptop
        derandomize=not RANDOM,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


CUSTOM_SCALARS = {
    "Date": st.dates().map(lambda d: nodes.String(d.isoformat())),
    "DateTime": st.datetimes(timezones=st.just(UTC)).map(lambda d: nodes.String(d.isoformat())),
}


@pytest.fixture(scope="module")
def live_schema(http: httpx.Client) -> graphql.GraphQLSchema:
    answer = http.post("/graphql", json={"query": graphql.get_introspection_query()})
    assert answer.status_code == 200, answer.text
    return graphql.build_client_schema(answer.json()["data"])


@pytest.fixture(scope="module")
def callers(tokens: dict[str, str]) -> dict[str, dict[str, str]]:
    return {"anonymous": {}, "customer": bearer(tokens["asha"]), "admin": bearer(tokens["admin"])}


def send(
    http: httpx.Client, tally: Tally, route: str, payload: dict[str, Any], headers: dict[str, str]
) -> None:
    response = http.post("/graphql", json=payload, headers=headers)
    tally.note(route, response, check_json_answer(response, payload))


@examples(250)
@given(data=st.data())
def test_valid_documents_from_the_live_schema(
    data: st.DataObject,
    http: httpx.Client,
    live_schema: graphql.GraphQLSchema,
    callers: dict[str, dict[str, str]],
    tally: Tally,
) -> None:
    query = data.draw(from_schema(live_schema, custom_scalars=CUSTOM_SCALARS), label="query")
    caller = data.draw(st.sampled_from(sorted(callers)), label="caller")
    send(http, tally, f"graphql valid {caller}", {"query": query}, callers[caller])


@examples(100)
@given(data=st.data())
def test_invalid_documents(
    data: st.DataObject,
    http: httpx.Client,
    live_schema: graphql.GraphQLSchema,
    callers: dict[str, dict[str, str]],
    tally: Tally,
) -> None:
    query = data.draw(
        from_schema(live_schema, custom_scalars=CUSTOM_SCALARS, mode=Mode.NEGATIVE), label="query"
    )
    caller = data.draw(st.sampled_from(sorted(callers)), label="caller")
    send(http, tally, f"graphql invalid {caller}", {"query": query}, callers[caller])


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)

WITH_VARIABLES = [
    "query($first: Int, $after: String, $search: String, $category: String) {"
    " products(first: $first, after: $after, search: $search, category: $category)"
    " { edges { cursor node { id sku price { formatted } } } pageInfo { endCursor } } }",
    "query($id: ID!) { product(id: $id) { id title offers { code } } }",
    "mutation($lines: [CartLineInput!]!) { cartLinesAdd(lines: $lines)"
    " { cart { version cost { total { amount } } } errors { code field message } } }",
    "mutation($lines: [CartLineUpdateInput!]!) { cartLinesUpdate(lines: $lines)"
    " { errors { code } } }",
    "mutation($code: String!) { cartCouponApply(code: $code) { errors { code message } } }",
    "mutation($input: PaymentSessionCreateInput!) { paymentSessionCreate(input: $input)"
    " { session { id status } errors { code } } }",
    "mutation($input: PaymentSessionVerifyInput!) { paymentSessionVerify(input: $input)"
    " { session { status } errors { code } } }",
    "mutation($id: ID!) { paymentSessionCancel(id: $id) { errors { code } } }",
    "query($first: Int, $after: String) { paymentSessions(first: $first, after: $after)"
    " { edges { node { id status timeline { type source } } } } }",
    "query($id: ID!) { paymentSession(id: $id) { id status } }",
]


@examples(150)
@given(data=st.data())
def test_random_variables_for_the_operations_that_take_input(
    data: st.DataObject,
    http: httpx.Client,
    callers: dict[str, dict[str, str]],
    tally: Tally,
) -> None:
    query = data.draw(st.sampled_from(WITH_VARIABLES), label="query")
    variables = data.draw(
        st.one_of(
            JSON,
            st.dictionaries(
                st.sampled_from(
                    ["first", "after", "search", "category", "id", "lines", "code", "input"]
                ),
                JSON,
                max_size=4,
            ),
        ),
        label="variables",
    )
    caller = data.draw(st.sampled_from(["anonymous", "customer"]), label="caller")
    send(
        http,
        tally,
        f"graphql variables {caller}",
        {"query": query, "variables": variables},
        callers[caller],
    )


TEXT = st.text() | st.sampled_from(
    ["", "\x00", "' OR 1=1 --", "%", "_", "é" * 300, "🙂", "a" * 5000]
)
INT = st.integers() | st.sampled_from([0, -1, 2**31 - 1, 2**31, -(2**31), 10**6])
ID = TEXT | st.uuids().map(str) | st.sampled_from(["prod_", "ps_", "gid://x/1"])
TYPED = {
    WITH_VARIABLES[0]: st.fixed_dictionaries(
        {}, optional={"first": INT, "after": TEXT, "search": TEXT, "category": TEXT}
    ),
    WITH_VARIABLES[1]: st.fixed_dictionaries({"id": ID}),
    WITH_VARIABLES[2]: st.fixed_dictionaries(
        {"lines": st.lists(st.fixed_dictionaries({"productId": ID, "quantity": INT}), max_size=60)}
    ),
    WITH_VARIABLES[3]: st.fixed_dictionaries(
        {"lines": st.lists(st.fixed_dictionaries({"lineId": ID, "quantity": INT}), max_size=5)}
    ),
    WITH_VARIABLES[4]: st.fixed_dictionaries({"code": TEXT}),
    WITH_VARIABLES[5]: st.fixed_dictionaries(
        {
            "input": st.fixed_dictionaries(
                {"idempotencyKey": TEXT},
                optional={"expectedCartVersion": INT, "expectedAmount": INT},
            )
        }
    ),
    WITH_VARIABLES[6]: st.fixed_dictionaries(
        {
            "input": st.fixed_dictionaries(
                {
                    "paymentSessionId": ID,
                    "razorpayOrderId": TEXT,
                    "razorpayPaymentId": TEXT,
                    "razorpaySignature": TEXT,
                }
            )
        }
    ),
    WITH_VARIABLES[7]: st.fixed_dictionaries({"id": ID}),
    WITH_VARIABLES[8]: st.fixed_dictionaries({}, optional={"first": INT, "after": TEXT}),
    WITH_VARIABLES[9]: st.fixed_dictionaries({"id": ID}),
}


@examples(200)
@given(data=st.data())
def test_well_typed_variables_with_hostile_values(
    data: st.DataObject,
    http: httpx.Client,
    callers: dict[str, dict[str, str]],
    tally: Tally,
) -> None:
    """Variables of the right shape with edge values (NUL, 2**31, huge strings, SQL and LIKE
    metacharacters): these reach the resolvers and the stores."""
    query = data.draw(st.sampled_from(WITH_VARIABLES), label="query")
    variables = data.draw(TYPED[query], label="variables")
    caller = data.draw(st.sampled_from(["customer", "anonymous"]), label="caller")
    payload = {"query": query, "variables": variables}
    send(http, tally, f"graphql typed {caller}", payload, callers[caller])
