"""The HTTP surface: GraphQL over HTTP, GraphiQL offline, health and readiness, request ids."""

from __future__ import annotations

import json
import re

import httpx

from app.container import Container
from app.main import create_app
from app.settings import Settings
from infra.local.cognito import CognitoStack
from tests.support.services import free_port


async def test_healthz_and_readyz_on_real_services(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "cache": "ok"}}


async def test_readyz_reports_a_dead_cache_with_503(settings: Settings) -> None:
    dead = Container(
        settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    )
    app = create_app(dead)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            ready = await c.get("/readyz")
    finally:
        await dead.aclose()
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["cache"].startswith("unavailable")


async def test_graphiql_page_and_its_assets_come_from_the_app(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "unpkg.com" not in page.text and "/static/graphiql/graphiql.min.js" in page.text
    asset = await client.get("/static/graphiql/graphiql.min.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000


async def test_queries_via_get_work(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ offers { code } }"})
    assert response.status_code == 200
    assert "WELCOME10" in {o["code"] for o in response.json()["data"]["offers"]}


async def test_graphql_response_media_type_and_status_codes(client: httpx.AsyncClient) -> None:
    accept = {"accept": "application/graphql-response+json"}
    ok = await client.post("/graphql", json={"query": "{ offers { code } }"}, headers=accept)
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("application/graphql-response+json")
    invalid = await client.post("/graphql", json={"query": "{ nope }"}, headers=accept)
    assert invalid.status_code == 400
    assert "data" not in invalid.json()
    assert invalid.json()["extensions"]["requestId"]
    # the legacy media type keeps 200 for the same request
    legacy = await client.post("/graphql", json={"query": "{ nope }"})
    assert legacy.status_code == 200 and legacy.headers["content-type"] == "application/json"


async def test_request_id_is_taken_from_a_sane_header_and_echoed(
    client: httpx.AsyncClient,
) -> None:
    mine = await client.post(
        "/graphql", json={"query": "{ offers { code } }"}, headers={"x-request-id": "abc-123"}
    )
    assert mine.json()["extensions"]["requestId"] == "abc-123"
    assert mine.headers["x-request-id"] == "abc-123"
    odd = await client.post(
        "/graphql", json={"query": "{ offers { code } }"}, headers={"x-request-id": "<script>"}
    )
    assert odd.json()["extensions"]["requestId"] != "<script>"
    assert odd.json()["extensions"]["requestId"] == odd.headers["x-request-id"]


async def test_malformed_bodies_get_a_typed_error_not_a_crash(client: httpx.AsyncClient) -> None:
    for content in (b"{not json", b"[1, 2", b"\xff\xfe"):
        response = await client.post(
            "/graphql", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, content
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    no_query = await client.post("/graphql", json={"variables": {}})
    assert no_query.status_code == 400
    wrong_type = await client.post("/graphql", json={"query": "{ product(id: 5) { sku } }"})
    assert wrong_type.json()["data"] == {"product": None}


async def test_deep_queries_are_refused(settings: Settings, container: Container) -> None:
    shallow = Container(settings.model_copy(update={"max_query_depth": 4}))
    shallow.__dict__["engine"] = container.engine  # share the run's pool
    app = create_app(shallow)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            ok = await c.post("/graphql", json={"query": "{ products { edges { node { sku } } } }"})
            deep = await c.post(
                "/graphql",
                json={"query": "{ products { edges { node { offers { flat { amount } } } } } }"},
            )
    finally:
        del shallow.__dict__["engine"]  # the run's: not closed here
        await shallow.aclose()  # what it opened itself (the rate limits' Redis connections)
    assert "errors" not in ok.json()
    assert "exceeds maximum operation depth of 4" in deep.json()["errors"][0]["message"]


def _opening_query(html: str) -> str:
    match = re.search(r"const EXAMPLE_QUERY = (\".*?\");\n", html)
    assert match, "GraphiQL's opening query"
    query: str = json.loads(match.group(1))
    return query


async def test_graphiql_opens_on_the_catalog_and_that_query_runs(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})
    query = _opening_query(page.text)
    assert query.lstrip().startswith("#") and "query Catalog {" in query
    assert "Authorization" in query  # how to sign in
    body = (await client.post("/graphql", json={"query": query})).json()
    assert "errors" not in body, body
    products = body["data"]["products"]
    assert len(products["edges"]) == 10 and products["pageInfo"]["hasNextPage"] is True
    node = products["edges"][0]["node"]
    assert set(node) == {"id", "title", "category", "price", "gstRateBp", "stock", "offers"}
    # the run's settings name no demo users: no helper, no passwords, requests to the app only
    assert "demo-sign-in" not in page.text
    assert "connect-src 'self';" in page.headers["content-security-policy"]


async def _graphiql_page_of(settings: Settings, container: Container) -> httpx.Response:
    own = Container(settings)
    own.__dict__["engine"] = container.engine  # share the run's pool
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(own)), base_url="http://t"
        ) as c:
            return await c.get("/graphql", headers={"accept": "text/html"})
    finally:
        del own.__dict__["engine"]
        await own.aclose()


async def test_graphiql_offers_the_demo_users_locally_and_never_in_production(
    settings: Settings, container: Container, cognito: CognitoStack
) -> None:
    users = cognito.as_json()["users"]
    local = settings.model_copy(update={"graphiql_demo_users": json.dumps(users)})
    page = await _graphiql_page_of(local, container)
    assert page.status_code == 200
    for user in users:
        assert json.dumps(user["username"]) in page.text and user["password"] in page.text
    assert 'id="demo-sign-in"' not in page.text  # the panel is built by the script…
    assert "Sign in as a demo user" in page.text  # …which is on the page
    csp = page.headers["content-security-policy"]
    scripts = csp.split("script-src ", 1)[1].split(";", 1)[0].split()
    assert "'unsafe-inline'" not in scripts and len(scripts) == 3  # 'self' and two hashes
    assert f"connect-src 'self' {settings.aws_endpoint_url};" in csp

    # the same users given to a production app (explicitly with GraphiQL): none of it shows
    production = local.model_copy(update={"environment": "production", "graphiql_enabled": True})
    page = await _graphiql_page_of(production, container)
    assert page.status_code == 200 and "query Catalog {" in _opening_query(page.text)
    assert "Sign in as a demo user" not in page.text
    assert all(user["password"] not in page.text for user in users)
    assert "connect-src 'self';" in page.headers["content-security-policy"]
