"""The GraphiQL page the app renders: the catalog as its default query, and the local stack's
"Sign in as a demo user" helper (locally only) under a CSP that still runs no unhashed script."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from app.graphiql import (
    DEFAULT_QUERY,
    DemoSignIn,
    DemoUser,
    demo_sign_in_of,
    graphiql_csp,
    graphiql_html,
    graphiql_page,
    inline_scripts,
    parse_demo_users,
)
from app.settings import Settings

STATIC_URL = "/static/graphiql"
EMULATOR = "http://127.0.0.1:4566"
USERS = [
    {"username": "asha", "password": "Asha-demo-2026!", "groups": []},
    {"username": "admin", "password": "Admin-demo-2026!", "groups": ["admin"]},
]


def local_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "local",
        "aws_endpoint_url": EMULATOR,
        "cognito_user_pool_id": "ap-south-1_Demo",
        "cognito_client_ids": "client-one,client-two",
        "graphiql_demo_users": json.dumps(USERS),
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


def csp_parts(policy: str) -> dict[str, list[str]]:
    return {p.split()[0]: p.split()[1:] for p in policy.split("; ")}


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def opening_query(html: str) -> str:
    match = re.search(r"const EXAMPLE_QUERY = (\".*?\");\n", html)
    assert match, "the page's EXAMPLE_QUERY statement"
    query: str = json.loads(match.group(1))
    return query


def test_the_page_opens_on_the_catalog_with_a_word_on_signing_in() -> None:
    query = opening_query(graphiql_html(static_url=STATIC_URL))

    assert query == DEFAULT_QUERY
    assert "query Catalog {" in query and "products(first: 10)" in query
    for field in ("id", "title", "category", "price { formatted }", "gstRateBp", "stock"):
        assert field in query
    assert "offers { code description }" in query
    assert "pageInfo { hasNextPage endCursor }" in query
    comments = [line for line in query.splitlines() if line.startswith("#")]
    assert any('"Authorization": "Bearer <token>"' in line for line in comments)
    assert "demo user" not in query  # no helper on this page: not promised
    # short enough not to be cut off in the editor
    assert max(len(line) for line in comments) <= 60


def test_a_default_query_of_ones_own_is_escaped_for_the_script() -> None:
    html = graphiql_html(static_url=STATIC_URL, default_query='{ a } # </script><b>"`${x}')

    assert opening_query(html) == '{ a } # </script><b>"`${x}'
    assert "</script><b>" not in html


def test_the_helper_is_on_locally_with_the_demo_users_of_the_stack() -> None:
    demo = demo_sign_in_of(local_settings())

    assert demo == DemoSignIn(
        endpoint_url=EMULATOR,
        client_id="client-one",
        users=(
            DemoUser("asha", "Asha-demo-2026!", ()),
            DemoUser("admin", "Admin-demo-2026!", ("admin",)),
        ),
    )
    assert demo_sign_in_of(local_settings(environment="test")) is not None


@pytest.mark.parametrize(
    "overrides",
    [
        {"graphiql_demo_users": ""},  # no demo users: not the local stack
        {"graphiql_demo_users": "[]"},
        {"aws_endpoint_url": None},  # real Cognito: no demo users there
        {"cognito_client_ids": ""},
    ],
)
def test_the_helper_is_off_without_what_it_needs(overrides: dict[str, object]) -> None:
    assert demo_sign_in_of(local_settings(**overrides)) is None


def test_the_helper_is_never_on_in_production() -> None:
    # production settings that carry demo users all the same (model_copy: not re-validated)
    production = local_settings().model_copy(
        update={"environment": "production", "graphiql_enabled": True}
    )

    assert demo_sign_in_of(production) is None
    page = graphiql_page(production, static_url=STATIC_URL)
    assert page is not None
    html, policy = page
    assert "demo-sign-in" not in html and "Asha-demo-2026!" not in html
    assert csp_parts(policy)["connect-src"] == ["'self'"]
    assert opening_query(html) == DEFAULT_QUERY


def test_graphiql_off_means_no_page() -> None:
    assert graphiql_page(local_settings(graphiql_enabled=False), static_url=STATIC_URL) is None


def test_the_local_page_has_the_helper_its_users_and_a_strict_csp() -> None:
    page = graphiql_page(local_settings(), static_url=STATIC_URL)
    assert page is not None
    html, policy = page

    config = re.search(
        r'<script type="application/json" id="graphiql-demo-sign-in">(.*?)</script>', html
    )
    assert config
    assert json.loads(config.group(1)) == {
        "endpoint": EMULATOR,
        "clientId": "client-one",
        "users": USERS,
    }
    scripts = inline_scripts(html)
    assert len(scripts) == 2  # strawberry's boot script and the helper
    helper = scripts[1]
    assert "AWSCognitoIdentityProviderService.InitiateAuth" in helper
    assert "application/x-amz-json-1.1" in helper and "USER_PASSWORD_AUTH" in helper
    assert '"Bearer "' in helper
    assert "demo user" in opening_query(html)

    csp = csp_parts(policy)
    assert csp["default-src"] == ["'none'"]
    assert set(csp["script-src"]) == {"'self'"} | {sha256(s) for s in scripts}
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert csp["connect-src"] == ["'self'", EMULATOR]  # the emulator's origin, nothing else
    assert csp["frame-ancestors"] == ["'none'"]


def test_the_helpers_data_cannot_end_its_script_element() -> None:
    users = [{"username": "x</script><script>alert(1)</script>", "password": "<!--", "groups": []}]
    html = graphiql_html(
        static_url=STATIC_URL,
        demo_sign_in=DemoSignIn(
            endpoint_url=EMULATOR,
            client_id="c",
            users=parse_demo_users(json.dumps(users)),
        ),
    )

    assert "alert(1)</script>" not in html and '<!--"' not in html
    config = re.search(r'id="graphiql-demo-sign-in">(.*?)</script>', html)
    assert config and json.loads(config.group(1))["users"] == users


def test_the_csp_takes_only_origins_for_connect_src() -> None:
    html = graphiql_html(static_url=STATIC_URL)
    assert "connect-src 'self' http://[::1]:4566;" in graphiql_csp(
        html, connect_src=["http://[::1]:4566"]
    )
    for bad in ("http://x/path", "*", "http://a; script-src *", "javascript:alert(1)"):
        with pytest.raises(ValueError, match="origin"):
            graphiql_csp(html, connect_src=[bad])


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"username": "a"}',
        '[{"username": "a"}]',
        '[{"username": "", "password": "p"}]',
        '[{"username": "a", "password": "p", "groups": "admin"}]',
    ],
)
def test_malformed_demo_users_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="GRAPHIQL_DEMO_USERS"):
        parse_demo_users(text)


def test_a_demo_sign_in_needs_an_http_endpoint_a_client_and_users() -> None:
    user = DemoUser("a", "p")
    for endpoint, client, users in (
        ("ftp://x", "c", (user,)),
        ("http://", "c", (user,)),
        (EMULATOR, "", (user,)),
        (EMULATOR, "c", ()),
    ):
        with pytest.raises(ValueError):
            DemoSignIn(endpoint_url=endpoint, client_id=client, users=users)
