"""Tokens from the AWS emulator's Cognito (moto server over HTTP) pass CognitoJwtVerifier.

What moto does (moto 5.2, cognitoidp/models.py ``create_jwt``, urls.py, responses.py):

* ``iss`` is ``https://cognito-idp.{region}.amazonaws.com/{user_pool_id}`` (the real AWS host,
  whatever endpoint served the request); the header is ``{"kid": "dummy", "alg": "RS256"}``.
* the JWKS is served at ``{endpoint}/{user_pool_id}/.well-known/jwks.json`` (one static key for
  every pool), next to ``.well-known/openid-configuration`` whose ``issuer`` is that ``iss``.
* access tokens carry ``client_id`` and ``username``; ID tokens ``aud`` and ``cognito:username``
  plus the attributes the app client may read (``ReadAttributes``); both carry
  ``cognito:groups`` when the user is in a group.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from auth.backend import CognitoAuthBackend, principal_of
from auth.jwks import JwksClient
from auth.verifier import CognitoJwtVerifier
from domain.errors import Unauthenticated
from domain.identity import Principal, Role

REGION = "us-east-1"
PASSWORD = "Correct-Horse-9!"
USERS = {"asha": frozenset[str](), "ravi": frozenset({"admin"})}


@dataclass(frozen=True)
class Pool:
    endpoint: str
    pool_id: str
    client_id: str
    subjects: dict[str, str]  # username -> sub
    tokens: dict[str, dict[str, str]]  # username -> {"access": ..., "id": ...}

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{REGION}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint}/{self.pool_id}/.well-known/jwks.json"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        yield endpoint
    finally:
        server.stop()


def cognito_client(endpoint: str) -> Any:
    return boto3.client(
        "cognito-idp",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def pool(moto_endpoint: str) -> Iterator[Pool]:
    cognito = cognito_client(moto_endpoint)
    pool_id = cognito.create_user_pool(PoolName="storefront")["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="storefront-web",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        ReadAttributes=["email"],
    )["UserPoolClient"]["ClientId"]
    cognito.create_group(UserPoolId=pool_id, GroupName="admin")
    subjects, tokens = {}, {}
    for username, groups in USERS.items():
        user = cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=username,
            UserAttributes=[{"Name": "email", "Value": f"{username}@example.com"}],
            MessageAction="SUPPRESS",
        )["User"]
        subjects[username] = next(a["Value"] for a in user["Attributes"] if a["Name"] == "sub")
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username=username, Password=PASSWORD, Permanent=True
        )
        for group in groups:
            cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)
        result = cognito.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
        )["AuthenticationResult"]
        tokens[username] = {"access": result["AccessToken"], "id": result["IdToken"]}
    yield Pool(
        endpoint=moto_endpoint,
        pool_id=pool_id,
        client_id=client_id,
        subjects=subjects,
        tokens=tokens,
    )
    # moto's state is per process: remove only what this module made, never reset it all.
    cognito.delete_user_pool(UserPoolId=pool_id)


@pytest.fixture
async def jwks(pool: Pool) -> AsyncIterator[JwksClient]:
    async with JwksClient(url=pool.jwks_url, timeout_seconds=5) as client:
        yield client


@pytest.fixture
def verifier(pool: Pool, jwks: JwksClient) -> CognitoJwtVerifier:
    return CognitoJwtVerifier(issuer=pool.issuer, jwks=jwks, client_ids=[pool.client_id])


async def test_emulator_serves_issuer_and_jwks_where_we_expect(pool: Pool) -> None:
    async with httpx.AsyncClient(base_url=pool.endpoint, timeout=5) as http:
        config = (await http.get(f"/{pool.pool_id}/.well-known/openid-configuration")).json()
        keys = (await http.get(f"/{pool.pool_id}/.well-known/jwks.json")).json()["keys"]
    assert config["issuer"] == pool.issuer
    assert config["jwks_uri"] == pool.jwks_url
    assert [(key["kid"], key["kty"], key["alg"]) for key in keys] == [("dummy", "RSA", "RS256")]


@pytest.mark.parametrize("username", USERS)
@pytest.mark.parametrize("token_use", ["access", "id"])
async def test_emulator_tokens_verify(
    pool: Pool, verifier: CognitoJwtVerifier, jwks: JwksClient, username: str, token_use: str
) -> None:
    principal = await verifier.verify(pool.tokens[username][token_use])
    email = f"{username}@example.com" if token_use == "id" else None
    assert principal == Principal(
        subject=pool.subjects[username], username=username, email=email, groups=USERS[username]
    )
    assert principal.is_admin is (username == "ravi")
    assert Role.CUSTOMER in principal.roles
    assert jwks.fetch_count == 1


async def test_many_requests_fetch_the_emulator_jwks_once(
    pool: Pool, verifier: CognitoJwtVerifier, jwks: JwksClient
) -> None:
    tokens = [t for by_use in pool.tokens.values() for t in by_use.values()] * 50
    principals = await asyncio.gather(*(verifier.verify(token) for token in tokens))
    assert len(principals) == 200 and {p.username for p in principals} == set(USERS)
    assert jwks.fetch_count == 1


async def test_tokens_of_another_client_or_pool_are_refused(pool: Pool, jwks: JwksClient) -> None:
    token = pool.tokens["asha"]["access"]
    other_client = CognitoJwtVerifier(issuer=pool.issuer, jwks=jwks, client_ids=["other"])
    with pytest.raises(Unauthenticated, match="not issued to this app client"):
        await other_client.verify(token)
    other_pool = CognitoJwtVerifier(
        issuer=pool.issuer.replace(pool.pool_id, f"{REGION}_other"),
        jwks=jwks,
        client_ids=[pool.client_id],
    )
    with pytest.raises(Unauthenticated, match="invalid token issuer"):
        await other_pool.verify(token)


async def test_backend_with_emulator_tokens(pool: Pool, verifier: CognitoJwtVerifier) -> None:
    async def viewer(request: Request) -> JSONResponse:
        principal = principal_of(request.user)
        return JSONResponse({"username": principal.username if principal else None})

    backend = CognitoAuthBackend(verifier=verifier)
    app = Starlette(
        routes=[Route("/viewer", viewer)],
        middleware=[Middleware(AuthenticationMiddleware, backend=backend)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        bearer = {"Authorization": f"Bearer {pool.tokens['ravi']['id']}"}
        assert (await client.get("/viewer", headers=bearer)).json() == {"username": "ravi"}
        assert (await client.get("/viewer")).json() == {"username": None}
