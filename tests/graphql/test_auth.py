"""Sign-in through the API: real Cognito tokens from the emulator, forged ones refused."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from app.container import Container
from app.settings import Settings
from schema.build import print_sdl
from tests.conftest import bearer

VIEWER = "{ viewer { id username email groups } products(first: 1) { edges { node { sku } } } }"


async def ask(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": VIEWER}, headers=headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_anonymous_callers_browse_but_have_no_viewer(client: httpx.AsyncClient) -> None:
    body = await ask(client)
    assert body["data"]["viewer"] is None
    assert body["data"]["products"]["edges"]
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["path"] == ["viewer"]


async def test_real_cognito_tokens_identify_the_caller(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    asha = await ask(client, bearer(tokens["asha"]))
    admin = await ask(client, bearer(tokens["admin"]))
    assert "errors" not in asha and "errors" not in admin
    assert asha["data"]["viewer"]["username"] == "asha"
    assert asha["data"]["viewer"]["groups"] == []
    assert admin["data"]["viewer"]["groups"] == ["admin"]
    assert asha["data"]["viewer"]["id"] != admin["data"]["viewer"]["id"]


async def test_id_tokens_are_accepted_too(
    client: httpx.AsyncClient, aws_endpoint_url: str, settings: Settings
) -> None:
    from infra.local.cognito import DEMO_USERS, sign_in

    ravi = next(u for u in DEMO_USERS if u.username == "ravi")
    id_token = sign_in(
        endpoint_url=aws_endpoint_url,
        region=settings.aws_region,
        client_id=settings.client_ids[0],
        username=ravi.username,
        password=ravi.password,
    )["IdToken"]
    body = await ask(client, bearer(id_token))
    assert body["data"]["viewer"]["username"] == "ravi"
    assert body["data"]["viewer"]["email"] == "ravi@example.com"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _forgeries(real: str) -> dict[str, str]:
    header, payload, signature = real.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    return {
        "garbage": "not-a-jwt",
        "alg none": f"{_b64({'alg': 'none', 'kid': 'dummy'})}.{_b64(claims)}.",
        "tampered payload": ".".join(
            (header, _b64(claims | {"username": "admin", "cognito:groups": ["admin"]}), signature)
        ),
        "signed with a key not in the JWKS": jwt.encode(
            claims, own_key, algorithm="RS256", headers={"kid": "dummy"}
        ),
        "expired": jwt.encode(
            claims | {"exp": now - 3600, "iat": now - 7200},
            own_key,
            algorithm="RS256",
            headers={"kid": "dummy"},
        ),
        "issuer rewritten": f"{header}.{_b64(claims | {'iss': 'https://evil.example'})}.{signature}",
        "empty": "",
    }


async def test_forged_tokens_are_unauthenticated_and_browsing_still_works(
    client: httpx.AsyncClient, tokens: dict[str, str], settings: Settings
) -> None:
    for name, token in _forgeries(tokens["asha"]).items():
        body = await ask(client, {"authorization": f"Bearer {token}"})
        assert body["data"]["viewer"] is None, name
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", name
        assert body["data"]["products"]["edges"], name
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "bearer  x y"):
        body = await ask(client, {"authorization": header})
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", header


async def test_jwks_is_fetched_once_for_many_requests(
    container: Container, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    await ask(client, bearer(tokens["asha"]))  # warm
    jwks = container.jwks
    assert jwks is not None
    before = jwks.fetch_count
    bodies = await asyncio.gather(
        *(ask(client, bearer(tokens[name])) for name in ["asha", "ravi", "admin"] * 100)
    )
    assert all("errors" not in b for b in bodies)
    assert jwks.fetch_count == before <= 1


def test_sdl_shows_the_rules() -> None:
    sdl = print_sdl()
    assert "directive @auth(requires: Role! = CUSTOMER) on FIELD_DEFINITION" in sdl
    assert "viewer: Viewer @auth(requires: CUSTOMER)" in sdl
    assert "products(" in sdl and "ProductConnection! @auth" not in sdl


async def test_without_a_user_pool_every_token_is_refused_clearly(settings: Settings) -> None:
    from app.main import create_app

    bare = Container(settings.model_copy(update={"cognito_user_pool_id": None}))
    app = create_app(bare)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            body = await ask(c, {"authorization": "Bearer abc"})
    finally:
        await bare.aclose()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "not configured" in body["errors"][0]["message"]
