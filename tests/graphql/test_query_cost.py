"""Query cost (API.md "Protection"): priced on the parsed document with its variables, before it
runs; over ``max_query_cost`` refused with ``QUERY_TOO_COMPLEX``; every response carries
``extensions.cost``. And the validation rules are built once, so a document seen before is not
validated again."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import strawberry.schema.schema as strawberry_schema
from graphql import GraphQLSchema, get_introspection_query, parse

from resolvers import payments
from schema.build import build_schema
from schema.cost import FIELD_WEIGHTS, QUERY_COST_STATE_KEY, query_cost
from tests.support.shop import CART, GET
from tests.support.stack import GraphQLClient

Headers = dict[str, str]

LIMIT = 5_000
CATALOG_PAGE = """{ products(first: 50) { edges { cursor node { id title category
  price { amount currency formatted } gstRateBp offers { code } } }
  pageInfo { hasNextPage endCursor } } }"""
SESSIONS_PAGE = """{ paymentSessions(first: 20) { edges { node { id status amount { amount }
  timeline { at type source detail } } } } }"""
TIMELINES = "paymentSessions(first: 100) { edges { node { timeline { type } } } }"
ATTACK = "{ " + " ".join(f"a{i}: {TIMELINES}" for i in range(30)) + " }"


@pytest.fixture(scope="module")
def graphql_schema() -> GraphQLSchema:
    return build_schema()._schema


def cost_of(schema: GraphQLSchema, query: str, variables: dict[str, Any] | None = None) -> int:
    return query_cost(
        schema, parse(query), operation_name=None, variables=variables, default_page_size=20
    )


# -- the walk, on the schema alone ---------------------------------------------------------------


def test_the_costs_of_the_queries_the_apps_send(graphql_schema: GraphQLSchema) -> None:
    assert cost_of(graphql_schema, CATALOG_PAGE) == 153  # 3 + 50 × (node, price, offers)
    assert cost_of(graphql_schema, CART) == 24
    assert cost_of(graphql_schema, GET) == 61  # a session with everything, its timeline 10
    assert cost_of(graphql_schema, SESSIONS_PAGE) == 242
    assert cost_of(graphql_schema, get_introspection_query(descriptions=True)) == 100
    assert cost_of(graphql_schema, "{ offers { code } __typename }") == 1  # scalars: 0


def test_the_issues_attack_is_far_over_the_limit(graphql_schema: GraphQLSchema) -> None:
    assert cost_of(graphql_schema, "{ " + TIMELINES + " }") == 1_102
    assert cost_of(graphql_schema, ATTACK) == 30 * 1_102 > LIMIT


def test_first_comes_from_variables_their_defaults_or_the_default_page(
    graphql_schema: GraphQLSchema,
) -> None:
    query = "query($n: Int) { products(first: $n) { edges { node { id price { amount } } } } }"
    assert cost_of(graphql_schema, query, {"n": 5}) == 1 + 1 + 5 * 2
    assert cost_of(graphql_schema, query, {}) == 1 + 1 + 20 * 2
    with_default = query.replace("$n: Int", "$n: Int = 7")
    assert cost_of(graphql_schema, with_default, {}) == 1 + 1 + 7 * 2
    assert cost_of(graphql_schema, with_default, {"n": 3}) == 1 + 1 + 3 * 2
    assert cost_of(graphql_schema, "{ products { nodes { id price { amount } } } }") == 22


def test_fragments_and_inline_fragments_count_like_their_fields(
    graphql_schema: GraphQLSchema,
) -> None:
    plain = "{ products(first: 10) { edges { node { id price { amount } offers { code } } } } }"
    spread = """fragment P on Product { id price { amount } offers { code } }
      { products(first: 10) { edges { node { ...P } } } }"""
    inline = """{ products(first: 10) { edges { node {
      ... on Product { id price { amount } } ... { offers { code } } } } } }"""
    nested = """fragment M on Money { amount } fragment P on Product { price { ...M } ...O }
      fragment O on Product { offers { code } }
      { products(first: 10) { edges { node { id ...P } } } }"""
    assert cost_of(graphql_schema, plain) == 1 + 1 + 10 * 3
    for query in (spread, inline, nested):
        assert cost_of(graphql_schema, query) == cost_of(graphql_schema, plain), query


def test_only_the_operation_that_runs_is_priced(graphql_schema: GraphQLSchema) -> None:
    document = parse("query Cheap { offers { code } } query Heavy " + ATTACK)
    heavy = query_cost(
        graphql_schema, document, operation_name="Heavy", variables=None, default_page_size=20
    )
    cheap = query_cost(
        graphql_schema, document, operation_name="Cheap", variables=None, default_page_size=20
    )
    assert (cheap, heavy) == (1, 33_060)


def test_every_weighted_field_exists(graphql_schema: GraphQLSchema) -> None:
    """A rename must not silently drop a weight."""
    for type_name, field_name in FIELD_WEIGHTS:
        type_ = graphql_schema.get_type(type_name)
        assert type_ is not None and field_name in type_.fields, (type_name, field_name)  # type: ignore[attr-defined]


async def test_the_cost_is_the_requests_weight_in_its_scope_state() -> None:
    """``scope["state"]["query_cost"]``: what the rate limiter reads; a batch's operations add
    up (each runs with the same request)."""
    request = SimpleNamespace(scope={})
    context = SimpleNamespace(request=request, request_id="t")
    schema = build_schema()
    for _ in range(2):
        result = await schema.execute("{ __schema { queryType { name } } }", context_value=context)
        assert result.errors is None and result.extensions == {
            "cost": {"requested": 100, "limit": LIMIT}
        }
    assert request.scope["state"][QUERY_COST_STATE_KEY] == 200


# -- through the app ----------------------------------------------------------------------------


async def test_the_attack_is_refused_before_anything_runs(
    client: httpx.AsyncClient, customer_headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    real = payments.list_sessions

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return await real(*args, **kwargs)

    monkeypatch.setattr(payments, "list_sessions", counted)
    answer = await client.post("/graphql", json={"query": ATTACK}, headers=customer_headers)
    body = answer.json()
    assert body["data"] is None and calls == []
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "33060" in error["message"]
    assert body["extensions"]["cost"] == {"requested": 33_060, "limit": LIMIT}
    assert body["extensions"]["requestId"]
    # the same over the GraphQL-over-HTTP media type: a request error, 400
    strict = await client.post(
        "/graphql",
        json={"query": ATTACK},
        headers={**customer_headers, "accept": "application/graphql-response+json"},
    )
    assert strict.status_code == 400
    assert strict.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_ordinary_queries_pass_and_carry_their_cost(
    gql: GraphQLClient, customer_headers: Headers
) -> None:
    for query, cost in ((CATALOG_PAGE, 153), (CART, 24), (SESSIONS_PAGE, 242)):
        body = await gql(query, headers=customer_headers)
        assert "errors" not in body, body
        assert body["extensions"] == {
            "cost": {"requested": cost, "limit": LIMIT},
            "requestId": body["extensions"]["requestId"],  # type: ignore[index]
        }


async def test_graphiqls_introspection_query_is_allowed(gql: GraphQLClient) -> None:
    body = await gql(get_introspection_query(descriptions=True))
    assert "errors" not in body
    assert body["extensions"]["cost"] == {"requested": 100, "limit": LIMIT}  # type: ignore[index]


async def test_every_answer_carries_the_cost(gql: GraphQLClient) -> None:
    # a field error (cart needs a signed-in caller): priced, it ran
    failed = await gql("{ cart { id } }")
    assert failed["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"  # type: ignore[index]
    assert failed["extensions"]["cost"] == {"requested": 1, "limit": LIMIT}  # type: ignore[index]
    # invalid or unparsable: nothing was priced, nothing ran
    for query in ("{ nope }", "{ offers { "):
        body = await gql(query)
        assert body["errors"]
        assert body["extensions"]["cost"] == {"requested": 0, "limit": LIMIT}, query  # type: ignore[index]


async def test_variables_decide_the_cost_of_the_same_document(
    gql: GraphQLClient, customer_headers: Headers
) -> None:
    """Validation is cached per document; the price is not: it depends on ``first``."""
    query = (
        "query($n: Int) { "
        + " ".join(
            f"a{i}: paymentSessions(first: $n) {{ edges {{ node {{ timeline {{ type }} }} }} }}"
            for i in range(5)
        )
        + " }"
    )
    small = await gql(query, {"n": 2}, headers=customer_headers)
    assert "errors" not in small, small
    assert small["extensions"]["cost"]["requested"] == 5 * (2 + 2 * 11)  # type: ignore[index]
    big = await gql(query, {"n": 100}, headers=customer_headers)
    assert big["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"  # type: ignore[index]
    assert big["extensions"]["cost"]["requested"] == 5 * 1_102  # type: ignore[index]


async def test_a_document_seen_before_is_not_validated_again(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    validations: list[object] = []
    real = strawberry_schema.validate

    def counted(*args: Any, **kwargs: Any) -> Any:
        validations.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(strawberry_schema, "validate", counted)
    fresh = f"x{uuid.uuid4().hex}"  # a text no other test sent: the caches are per process
    query = "{ " + fresh + ": offers { code } }"
    for _ in range(3):
        body = (await client.post("/graphql", json={"query": query})).json()
        assert "errors" not in body and body["data"][fresh]
    assert len(validations) == 1
    # the limits still apply, the second time too (a cached refusal)
    too_deep = "{ " + fresh + ": " + "products { edges { node { " * 7 + "id" + " } } }" * 7 + " }"
    for _ in range(2):
        body = (await client.post("/graphql", json={"query": too_deep})).json()
        assert any("exceeds maximum operation depth" in e["message"] for e in body["errors"])
    aliases = "{ " + " ".join(f"{fresh}{i}: offers {{ code }}" for i in range(31)) + " }"
    for _ in range(2):
        body = (await client.post("/graphql", json={"query": aliases})).json()
        assert "aliases" in body["errors"][0]["message"]
    assert len(validations) == 3
