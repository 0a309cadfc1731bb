"""Sign-in through the API: real Cognito tokens from the emulator, forged ones refused."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.container import Container
from app.settings import Settings
from schema.build import print_sdl
from tests.support.jwt_forgery import (
    JwksServer,
    b64,
    jwk,
    new_key,
    serve_jwks,
    sign,
    unverified_claims,
    with_payload,
)
from tests.support.stack import bearer

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


# -- forgeries ---------------------------------------------------------------------------------
#
# Each forged token is refused for one reason, and the test asserts that reason (the GraphQL
# error's message is the verifier's, see auth.verifier). Forgeries of claims are signed with a
# test key the app trusts (its JWKS URL points at a JWKS of ours, tests.support.jwt_forgery)
# and made from a real Cognito token's claims with one change, so they fail on that change only:
# the unchanged copy signs the caller in (test_our_test_key_signs_in_the_real_claims).

TRUSTED_KID = "test-kid-trusted"
BAD_ALG = "unsupported token algorithm"
BAD_HEADER = "Authorization header must be 'Bearer <token>'"
NOT_OURS = "token was not issued to this app client"


@pytest.fixture(scope="module")
def trusted_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="module")
def own_jwks(trusted_key: rsa.RSAPrivateKey) -> Iterator[JwksServer]:
    with serve_jwks({"keys": [jwk(trusted_key, TRUSTED_KID)]}) as server:
        yield server


@pytest.fixture
async def trusting_client(
    settings: Settings, container: Container, own_jwks: JwksServer
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the same database and user pool, trusting the keys of ``own_jwks`` only.

    ``container`` is asked for so the shared database is migrated and seeded.
    """
    from app.main import create_app

    trusting = Container(settings.model_copy(update={"cognito_jwks_url": own_jwks.url}))
    try:
        transport = httpx.ASGITransport(app=create_app(trusting))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client
    finally:
        await trusting.aclose()


def _claim_forgeries(real: str, trusted: rsa.RSAPrivateKey) -> dict[str, tuple[str, str]]:
    """name -> (token, the reason it must be refused for)."""
    claims = unverified_claims(real)
    now = int(time.time())
    stranger = new_key()

    def ours(**changes: Any) -> str:
        return sign(claims | changes, key=trusted, kid=TRUSTED_KID)

    escalated = claims | {"username": "admin", "cognito:groups": ["admin"]}
    return {
        "expired": (ours(exp=now - 3600, iat=now - 7200), "token expired"),
        "not yet valid": (ours(nbf=now + 3600), "token not yet valid"),
        "wrong issuer": (
            ours(iss="https://cognito-idp.ap-south-1.amazonaws.com/ap-south-1_Forged"),
            "invalid token issuer",
        ),
        "another app client": (ours(client_id="some-other-client"), NOT_OURS),
        "unknown signing key": (
            sign(claims, key=stranger, kid="test-kid-not-in-the-jwks"),
            "unknown signing key",
        ),
        "another key under a trusted kid": (
            sign(claims, key=stranger, kid=TRUSTED_KID),
            "invalid token signature",
        ),
        "tampered payload": (with_payload(ours(), escalated), "invalid token signature"),
    }


def _token_forgeries(real: str) -> dict[str, tuple[str, str]]:
    """Forgeries refused before a key is looked up, or tampering with a real token."""
    claims = unverified_claims(real)
    escalated = claims | {"username": "admin", "cognito:groups": ["admin"]}
    alg_none = f"{b64(json.dumps({'alg': 'none', 'kid': 'any'}).encode())}."
    return {
        "garbage": ("not-a-jwt", "malformed token"),
        "alg none": (alg_none + b64(json.dumps(claims).encode()) + ".", BAD_ALG),
        "real token, tampered payload": (with_payload(real, escalated), "invalid token signature"),
        "real token, issuer rewritten": (
            with_payload(real, claims | {"iss": "https://evil.example"}),
            "invalid token signature",  # the signature is checked first, and it no longer fits
        ),
    }


def assert_refused(body: dict[str, Any], reason: str, case: str) -> None:
    assert body["data"]["viewer"] is None, case
    assert body["data"]["products"]["edges"], case  # browsing still works
    [error] = body["errors"]
    assert error["path"] == ["viewer"], case
    assert error["extensions"]["code"] == "UNAUTHENTICATED", case
    assert error["message"] == reason, case


async def test_our_test_key_signs_in_the_real_claims(
    trusting_client: httpx.AsyncClient, tokens: dict[str, str], trusted_key: rsa.RSAPrivateKey
) -> None:
    """The control for the claim forgeries: unchanged, they are a valid token."""
    copy = sign(unverified_claims(tokens["asha"]), key=trusted_key, kid=TRUSTED_KID)
    body = await ask(trusting_client, bearer(copy))
    assert "errors" not in body
    assert body["data"]["viewer"]["username"] == "asha"


async def test_forged_claims_are_refused_for_their_reason(
    trusting_client: httpx.AsyncClient, tokens: dict[str, str], trusted_key: rsa.RSAPrivateKey
) -> None:
    for case, (token, reason) in _claim_forgeries(tokens["asha"], trusted_key).items():
        assert_refused(await ask(trusting_client, bearer(token)), reason, case)


async def test_forged_tokens_are_refused_for_their_reason(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    for case, (token, reason) in _token_forgeries(tokens["asha"]).items():
        assert_refused(await ask(client, bearer(token)), reason, case)
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "bearer  x y"):
        assert_refused(await ask(client, {"authorization": header}), BAD_HEADER, header)


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
