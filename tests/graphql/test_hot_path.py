"""Cache hits answered before the stack (``app/hot_path.py``), through the real app on real
PostgreSQL and Redis: the same bytes and headers as the normal path but for the request id
(fresh per answer, the same as ``X-Request-Id``); never with ``Authorization``, ``Cookie`` or
``Origin``; another query string or ``Accept`` misses; a product save is seen within the
visibility rule (polled with a deadline, never timed); with rate limits on, hits are charged
to the IP bucket and the normal 429 refuses past the limit.

Whether the fast path answered is seen by counting the GraphQL view's calls."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from app.container import Container
from app.hot_path import entry_of, request_key
from app.settings import Settings
from schema.http import GraphQLApp
from tests.graphql.test_response_cache import App, apps, eventually
from tests.support.payments_flow import PRODUCT_UPSERT, own_product
from tests.support.shop import data
from tests.support.stack import GraphQLClient

Headers = dict[str, str]

QUERY = "{ products(first: 2) { edges { node { sku title } } } }"


class ViewCalls:
    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def view_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[ViewCalls]:
    calls = ViewCalls()
    original = GraphQLApp.__call__

    async def counting(self: GraphQLApp, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            calls.count += 1
        await original(self, scope, receive, send)

    monkeypatch.setattr(GraphQLApp, "__call__", counting)
    yield calls


@pytest.fixture
def admin(new_customer: Callable[..., Headers]) -> Headers:
    return new_customer("admin")


async def get(app: App, query: str = QUERY, headers: Headers | None = None) -> httpx.Response:
    return await app.client.get("/graphql", params={"query": query}, headers=headers)


def request_id(response: httpx.Response) -> str:
    value = response.json()["extensions"]["requestId"]
    assert isinstance(value, str)
    return value


def without_id(response: httpx.Response) -> tuple[bytes, dict[str, str]]:
    own = request_id(response)
    assert response.headers["x-request-id"] == own
    assert int(response.headers["content-length"]) == len(response.content)
    headers = {
        k: v for k, v in response.headers.items() if k not in ("x-request-id", "content-length")
    }
    return response.content.replace(own.encode(), b"<id>"), headers


async def test_a_hit_is_the_normal_answer_but_for_its_own_request_id(
    settings: Settings, container: Container, view_calls: ViewCalls
) -> None:
    async with apps(settings) as [app]:
        normal = await get(app)
        hits = [await get(app) for _ in range(3)]
        ticket = await get(app, headers={"x-request-id": "client-ticket-42"})
    assert view_calls.count == 1
    assert normal.status_code == 200, normal.text
    assert normal.headers["cache-control"].startswith("public")
    for hit in [*hits, ticket]:
        assert hit.status_code == 200
        assert without_id(hit) == without_id(normal)
        # the same header list, in the same order
        assert [k for k, _ in hit.headers.multi_items()] == [
            k for k, _ in normal.headers.multi_items()
        ]
    ids = [request_id(r) for r in [normal, *hits]]
    assert len(set(ids)) == len(ids)
    assert request_id(ticket) == ticket.headers["x-request-id"] == "client-ticket-42"
    assert int(ticket.headers["content-length"]) == len(ticket.content)
    for name in ("x-content-type-options", "referrer-policy", "x-frame-options", "vary"):
        assert hits[0].headers[name] == normal.headers[name]


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer not-a-token"},
        {"cookie": "session=1"},
        {"origin": "http://127.0.0.1:8000"},
        {"origin": "https://elsewhere.example"},
    ],
)
async def test_never_with_authorization_cookie_or_origin(
    settings: Settings, container: Container, view_calls: ViewCalls, headers: Headers
) -> None:
    async with apps(settings) as [app]:
        await get(app)
        await get(app)
        assert view_calls.count == 1  # the fast path answers the plain one
        answers = [await get(app, headers=headers) for _ in range(2)]
    assert view_calls.count == 3
    for answer in answers:
        assert answer.status_code == 200, answer.text
    if headers.get("origin") == "http://127.0.0.1:8000":  # the CORS middleware answered
        assert answers[1].headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    if "authorization" in headers:
        assert answers[1].headers["cache-control"].startswith("private")


async def test_another_query_string_or_accept_misses(
    settings: Settings, container: Container, view_calls: ViewCalls
) -> None:
    graphql_response = {"accept": "application/graphql-response+json"}
    async with apps(settings) as [app]:
        await get(app)
        spaced = await get(app, QUERY.replace("{ ", "{  "))
        assert view_calls.count == 2
        wanted = [await get(app, headers=graphql_response) for _ in range(2)]
        assert view_calls.count == 3  # an entry of its own
        plain = await get(app)
    assert view_calls.count == 3
    assert spaced.status_code == 200
    assert {r.headers["content-type"] for r in wanted} == {"application/graphql-response+json"}
    assert plain.headers["content-type"] == "application/json"


async def test_a_product_save_is_seen_through_the_fast_path(
    settings: Settings, container: Container, admin: Headers, view_calls: ViewCalls
) -> None:
    async with apps(settings, count=2) as [one, two]:
        product = await own_product(GraphQLClient(one.client), admin)
        query = f'{{ product(id: "{product["id"]}") {{ title }} }}'

        async def title_in(app: App) -> str:
            return str((await get(app, query)).json()["data"]["product"]["title"])

        assert await title_in(two) == product["spec"]["title"]
        calls = view_calls.count
        assert await title_in(two) == product["spec"]["title"]
        assert view_calls.count == calls  # a hit
        renamed = await data(
            GraphQLClient(one.client),
            PRODUCT_UPSERT,
            admin,
            input=product["spec"] | {"id": product["id"], "title": "Renamed hot"},
        )
        assert renamed["productUpsert"]["errors"] == []
        assert await title_in(one) == "Renamed hot"  # the saving instance: at once

        async def seen_by_two() -> bool:
            return await title_in(two) == "Renamed hot"

        await eventually(seen_by_two)


async def test_with_rate_limits_hits_are_charged_and_refused_as_usual(
    settings: Settings, container: Container, view_calls: ViewCalls
) -> None:
    async with apps(settings, rate_limits_enabled=False) as [probe]:
        weight = int((await get(probe)).json()["extensions"]["cost"]["requested"])
    limit = f"{3 * max(1, weight)}/minute"
    async with apps(settings, rate_limits_enabled=True, rate_limit_ip=limit) as [app]:
        calls = view_calls.count
        admitted = [await get(app) for _ in range(3)]
        assert view_calls.count == calls + 1  # two of them from the fast path
        refused = await get(app)
    assert [r.status_code for r in admitted] == [200] * 3
    assert refused.status_code == 429, refused.text
    assert view_calls.count == calls + 2  # refused by the normal path, in its own shape
    body = refused.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert int(refused.headers["retry-after"]) >= 1
    assert body["extensions"]["requestId"] == refused.headers["x-request-id"]
    assert refused.headers["cache-control"].startswith("private")


def test_only_a_public_answer_with_one_request_id_is_kept() -> None:
    rid = "abc-1"
    public = [(b"content-type", b"application/json"), (b"cache-control", b"public, max-age=30")]
    body = json.dumps(
        {"data": {"x": 1}, "extensions": {"cost": {"requested": 7}, "requestId": rid}},
        separators=(",", ":"),
    ).encode()
    kept = entry_of(status=200, headers=public, body=body, request_id=rid)
    assert kept is not None
    prefix, suffix, head, tail, weight = kept
    assert prefix + rid.encode() + suffix == body and weight == 7
    assert (head, tail) == (tuple(public), ())
    length = [public[0], (b"content-length", b"99"), public[1]]
    split = entry_of(status=200, headers=length, body=body, request_id=rid)
    assert split is not None and split[2:4] == ((public[0],), (public[1],))
    assert entry_of(status=200, headers=public[:1], body=body, request_id=rid) is None
    assert entry_of(status=400, headers=public, body=body, request_id=rid) is None
    assert entry_of(status=200, headers=public, body=body, request_id="other") is None
    twice = body.replace(b'{"x":1}', b'{"requestId":"abc-1"}')
    assert entry_of(status=200, headers=public, body=twice, request_id=rid) is None
    errors = body.replace(b'"data"', b'"errors":[{}],"data"')
    assert entry_of(status=200, headers=public, body=errors, request_id=rid) is None


@pytest.mark.parametrize("name", [b"authorization", b"cookie", b"origin"])
def test_no_key_for_a_request_with_credentials_or_an_origin(name: bytes) -> None:
    scope = {"query_string": b"query=x", "headers": [(b"accept", b"*/*"), (name, b"v")]}
    assert request_key(scope) is None
    assert request_key({"query_string": b"query=x", "headers": [(b"accept", b"*/*")]}) == (
        b"query=x",
        b"*/*",
    )
