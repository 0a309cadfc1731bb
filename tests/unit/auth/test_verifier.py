"""CognitoJwtVerifier, JwksClient and CognitoAuthBackend against a real JWKS server on loopback.

The JWKS is served by ``http.server`` on 127.0.0.1 (a free port) in a thread
(tests.support.jwt_forgery); the JWKS client's clock is a fake so that the refetch floor and the
cache TTL are tested without sleeping. Every refusal names its reason: ``refused`` takes the
message the verifier must give, so a token refused for another reason fails the test.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from auth.backend import CognitoAuthBackend, auth_error_of, principal_of
from auth.jwks import JwksClient, JwksError, JwksUnavailable, parse_jwks
from auth.verifier import CognitoJwtVerifier
from domain.errors import ErrorCode, Forbidden, Unauthenticated
from domain.identity import Principal, Role, authorize
from tests.support.jwt_forgery import JwksServer, b64, jwk, serve_jwks

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TESTPOOL"
CLIENT_ID = "app-client-1"
FLOOR = 60.0
TTL = 3600.0
DROP = object()  # claim value meaning "leave this claim out"
BAD_ALG, BAD_SIGNATURE = "unsupported token algorithm", "invalid token signature"


class In(int):
    """A time claim ``n`` seconds from when the token is made."""


class Keys:
    """``a`` is the pool's key (kid-a), ``b`` its next one, ``stranger`` nobody's."""

    def __init__(self) -> None:
        self.a, self.b, self.stranger = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)
        )


def claims(token_use: str = "access", **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    body: dict[str, Any] = {"iss": ISSUER, "sub": "sub-asha", "token_use": token_use, "iat": now}
    body |= {"auth_time": now, "exp": now + 3600, "jti": "j-1", "cognito:groups": ["admin"]}
    if token_use == "id":
        body |= {"aud": CLIENT_ID, "cognito:username": "asha", "email": "asha@example.com"}
    else:
        body |= {"client_id": CLIENT_ID, "username": "asha"}
    body |= {
        name: now + value if isinstance(value, In) else value for name, value in overrides.items()
    }
    return {name: value for name, value in body.items() if value is not DROP}


def sign(payload: dict[str, Any], *, key: rsa.RSAPrivateKey, kid: str = "kid-a") -> str:
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"


def hs256_with_public_pem(keys: Keys) -> str:
    pem = keys.a.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    signing_input = unsigned({"alg": "HS256", "typ": "JWT", "kid": "kid-a"}, claims())
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def tampered(keys: Keys) -> str:
    header, _, signature = sign(claims(), key=keys.a).split(".")
    return f"{header}.{b64(json.dumps(claims(sub='sub-mallory')).encode())}.{signature}"


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[JwksServer]:
    with serve_jwks() as server:
        yield server


@dataclass
class Env:
    verifier: CognitoJwtVerifier
    jwks: JwksClient
    server: JwksServer
    clock: FakeClock
    keys: Keys

    @property
    def fetches(self) -> tuple[int, int]:  # as the JWKS client counts them, as the server saw them
        return self.jwks.fetch_count, self.server.hits


@pytest.fixture
async def env(jwks_server: JwksServer, keys: Keys) -> AsyncIterator[Env]:
    jwks_server.reset(document={"keys": [jwk(keys.a, "kid-a")]})
    clock = FakeClock()
    async with JwksClient(
        url=jwks_server.url,
        cache_ttl_seconds=TTL,
        min_refetch_interval_seconds=FLOOR,
        timeout_seconds=0.5,
        clock=clock,
    ) as jwks:
        verifier = CognitoJwtVerifier(issuer=ISSUER, jwks=jwks, client_ids=[CLIENT_ID], clock=clock)
        yield Env(verifier=verifier, jwks=jwks, server=jwks_server, clock=clock, keys=keys)


async def refused(verifier: CognitoJwtVerifier, token: str, *, reason: str) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(token)
    assert caught.value.code is ErrorCode.UNAUTHENTICATED
    assert caught.value.message == reason
    return caught.value


async def test_valid_access_token_gives_principal(env: Env) -> None:
    principal = await env.verifier.verify(sign(claims(), key=env.keys.a))
    assert principal == Principal(subject="sub-asha", username="asha", groups=frozenset({"admin"}))
    assert principal.roles == {Role.CUSTOMER, Role.ADMIN} and principal.is_admin


async def test_valid_id_token_gives_principal(env: Env) -> None:
    token = sign(claims("id", **{"cognito:groups": DROP}), key=env.keys.a)
    principal = await env.verifier.verify(token)
    assert principal == Principal(subject="sub-asha", username="asha", email="asha@example.com")
    assert principal.roles == {Role.CUSTOMER} and not principal.is_admin


async def test_expiry_within_leeway_is_accepted(env: Env) -> None:
    token = sign(claims(exp=In(-10), iat=In(-3600)), key=env.keys.a)
    assert (await env.verifier.verify(token)).username == "asha"


NOT_OURS = "token was not issued to this app client"
# Signed with the pool's real key; something in the claims is wrong.
BAD_CLAIMS: dict[str, tuple[dict[str, Any], str]] = {
    "expired": ({"exp": In(-120)}, "token expired"),
    "nbf in future": ({"nbf": In(120)}, "token not yet valid"),
    "iat in future": ({"iat": In(120)}, "token not yet valid"),
    "no exp": ({"exp": DROP}, "token is missing claim exp"),
    "wrong issuer": ({"iss": ISSUER + "x"}, "invalid token issuer"),
    "wrong client_id": ({"client_id": "other"}, NOT_OURS),
    "wrong aud": ({"token_use": "id", "aud": "other", "cognito:username": "a"}, NOT_OURS),
    "access token with aud only": ({"client_id": DROP, "aud": CLIENT_ID}, NOT_OURS),
    "token_use refresh": ({"token_use": "refresh"}, "unsupported token_use"),
    "no token_use": ({"token_use": DROP}, "token is missing claim token_use"),
    "no sub": ({"sub": DROP}, "token is missing claim sub"),
    "no username": ({"username": DROP}, "token is missing claim username"),
    "groups not a list": ({"cognito:groups": "admin"}, "malformed token claim cognito:groups"),
}
# Forged or broken tokens.
FORGERIES: dict[str, tuple[Callable[[Keys], str], str]] = {
    "alg none": (lambda k: unsigned({"alg": "none", "kid": "kid-a"}, claims()) + ".", BAD_ALG),
    "HS256 with public key": (hs256_with_public_pem, BAD_ALG),
    "key not in JWKS": (
        lambda k: sign(claims(), key=k.stranger, kid="kid-x"),
        "unknown signing key",
    ),
    "wrong kid": (lambda k: sign(claims(), key=k.stranger, kid="kid-a"), BAD_SIGNATURE),
    "tampered payload": (tampered, BAD_SIGNATURE),
    "no kid": (lambda k: jwt.encode(claims(), k.a, algorithm="RS256"), "token has no key id"),
    "malformed header": (lambda k: "eyJhbGciOi.e30.c2ln", "malformed token"),
    "header not an object": (lambda k: b64(b"[1]") + ".e30.c2ln", "malformed token"),
    "garbage": (lambda k: "not-a-jwt", "malformed token"),
    "empty": (lambda k: "", "missing token"),
    "huge": (lambda k: "a" * 20_000, "token too large"),
} | {
    case: ((lambda k, c=changes: sign(claims(**c), key=k.a)), message)
    for case, (changes, message) in BAD_CLAIMS.items()
}


@pytest.mark.parametrize("case", FORGERIES)
async def test_bad_tokens_are_unauthenticated(case: str, env: Env) -> None:
    make, message = FORGERIES[case]
    token = make(env.keys)
    error = await refused(env.verifier, token, reason=message)
    assert not isinstance(error.__cause__, Unauthenticated)
    if token:
        assert token not in str(error) and "asha" not in str(error)
    assert env.jwks.fetch_count <= 1


async def test_many_concurrent_verifications_fetch_jwks_once(env: Env) -> None:
    tokens = [sign(claims(sub=f"sub-{i}"), key=env.keys.a) for i in range(200)]
    principals = await asyncio.gather(*(env.verifier.verify(token) for token in tokens))
    assert [p.subject for p in principals] == [f"sub-{i}" for i in range(200)]
    assert env.fetches == (1, 1)


async def test_unknown_kids_refetch_at_most_once_per_floor(env: Env) -> None:
    await env.verifier.verify(sign(claims(), key=env.keys.a))
    garbage = [sign(claims(), key=env.keys.stranger, kid=f"kid-{i}") for i in range(100)]
    # within the floor: no refetch; past it: one refetch, then the floor again
    for advance, expected in ((0, 1), (0, 1), (FLOOR, 2), (0, 2), (FLOOR / 2, 2)):
        env.clock.now += advance
        verifications = (env.verifier.verify(token) for token in garbage)
        results = await asyncio.gather(*verifications, return_exceptions=True)
        assert {str(r) for r in results} == {"unknown signing key"}
        assert all(isinstance(r, Unauthenticated) for r in results)
        assert env.fetches == (expected, expected)


async def test_key_rotation_is_picked_up_after_the_floor(env: Env) -> None:
    old, new = sign(claims(), key=env.keys.a), sign(claims(), key=env.keys.b, kid="kid-b")
    await env.verifier.verify(old)
    env.server.document = {"keys": [jwk(env.keys.b, "kid-b")]}  # rotated; kid-a dropped
    await refused(env.verifier, new, reason="unknown signing key")
    env.clock.now += FLOOR
    assert (await env.verifier.verify(new)).subject == "sub-asha"
    assert env.fetches == (2, 2)
    await refused(env.verifier, old, reason="unknown signing key")


async def test_keys_are_refetched_after_the_ttl(env: Env) -> None:
    for n, (advance, expected) in enumerate(((0, 1), (TTL - 1, 1), (2, 2))):
        env.clock.now += advance
        # a new token each time: a verified one is remembered and needs no key
        await env.verifier.verify(sign(claims(jti=f"j-{n}"), key=env.keys.a))
        assert env.fetches == (expected, expected)


async def test_last_good_keys_carry_over_a_failed_refresh(env: Env) -> None:
    token = sign(claims(), key=env.keys.a)
    await env.verifier.verify(token)
    env.clock.now += TTL + 1  # the cached keys expire just as the endpoint breaks
    env.server.status = 500
    assert (await env.verifier.verify(token)).subject  # served from the last good keys
    assert (await env.verifier.verify(token)).subject  # and within the floor, no new request
    assert env.fetches == (2, 2)
    # a kid never seen, within the floor and with the endpoint failing: no keys to judge by
    unknown = sign(claims(), key=env.keys.b, kid="kid-never-seen")
    error = await refused(env.verifier, unknown, reason="signing keys unavailable")
    assert isinstance(error.__cause__, JwksUnavailable)
    assert env.fetches == (2, 2)


JWKS_FAILURES: dict[str, tuple[int, bytes | None, float]] = {
    "JWKS request failed: HTTP 500": (500, None, 0.0),
    "JWKS response is not JSON": (200, b"<html>", 0.0),
    "no usable RS256 key": (200, b'{"keys": [{"kty": "EC", "kid": "e"}]}', 0.0),
    "JWKS request timed out": (200, None, 2.0),
}


@pytest.mark.parametrize("reason", JWKS_FAILURES)
async def test_jwks_failures_are_typed_and_floored(env: Env, reason: str) -> None:
    env.server.status, env.server.body, env.server.delay = JWKS_FAILURES[reason]
    token = sign(claims(), key=env.keys.a)
    error = await refused(env.verifier, token, reason="signing keys unavailable")
    assert isinstance(error.__cause__, JwksUnavailable) and reason in str(error.__cause__)
    # within the floor: fails fast, no new request
    with pytest.raises(JwksUnavailable, match="waiting before the next attempt"):
        await env.jwks.get_signing_key(kid="kid-a")
    assert env.fetches == (1, 1)
    env.server.status, env.server.body, env.server.delay = 200, None, 0.0
    env.clock.now += FLOOR
    assert await env.verifier.verify(token)


async def test_unreachable_jwks_endpoint_is_typed() -> None:
    async with JwksClient(url="http://127.0.0.1:9/jwks.json", timeout_seconds=1) as client:
        with pytest.raises(JwksUnavailable, match="JWKS request failed: ConnectError"):
            await client.get_signing_key(kid="kid-a")


def test_parse_jwks_keeps_only_public_rs256_signing_keys(keys: Keys) -> None:
    good = jwk(keys.a, "ok")
    private = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys.b)), "kid": "priv"}
    bad = [{**good, "use": "enc"}, {**good, "alg": "HS256"}, {**good, "kid": ""}, private, "junk"]
    assert set(parse_jwks({"keys": [good, *bad]})) == {"ok"}
    with pytest.raises(JwksUnavailable, match=r"^JWKS document has no 'keys' list$"):
        parse_jwks({"keys": "nope"})
    with pytest.raises(JwksError, match=r"^JWKS document has no 'keys' list$"):
        parse_jwks([])
    with pytest.raises(JwksUnavailable, match=r"^JWKS document has no usable RS256 key$"):
        parse_jwks({"keys": bad})


def test_authorize_maps_roles_to_errors() -> None:
    customer = Principal(subject="s", username="u")
    admin = Principal(subject="a", username="a", groups=frozenset({"admin", "ops"}))
    assert authorize(customer) is customer and authorize(admin, role=Role.ADMIN) is admin
    with pytest.raises(Forbidden, match=r"^requires role ADMIN$"):
        authorize(customer, role=Role.ADMIN)
    with pytest.raises(Unauthenticated, match=r"^authentication required$"):
        authorize(None)
    with pytest.raises(Unauthenticated, match=r"^token expired$"):
        authorize(None, auth_error=Unauthenticated("token expired"))


async def whoami(request: Request) -> JSONResponse:
    principal, error = principal_of(request.user), auth_error_of(request.user)
    subject, message = principal and principal.subject, error and error.message
    body = {"authenticated": request.user.is_authenticated, "scopes": request.auth.scopes}
    return JSONResponse(body | {"subject": subject, "error": message})


BAD_HEADER = "Authorization header must be 'Bearer <token>'"
BACKEND_CASES: dict[str, tuple[list[str], str | None]] = {
    "no header": ([], None),
    "bearer": (["Bearer {token}"], None),
    "lowercase scheme, spaces": (["bearer   {token}"], None),
    "basic": (["Basic dXNlcjpwYXNz"], BAD_HEADER),
    "no token": (["Bearer"], BAD_HEADER),
    "bad token": (["Bearer not.a.jwt"], "malformed token"),
    "two headers": (["Bearer {token}"] * 2, "multiple Authorization headers"),
}


@pytest.mark.parametrize("case", BACKEND_CASES)
async def test_backend_never_fails_the_request(case: str, env: Env) -> None:
    backend = CognitoAuthBackend(verifier=env.verifier)
    middleware = [Middleware(AuthenticationMiddleware, backend=backend)]
    app = Starlette(routes=[Route("/whoami", whoami)], middleware=middleware)
    values, error = BACKEND_CASES[case]
    token = sign(claims(), key=env.keys.a)
    headers = [("authorization", value.format(token=token)) for value in values]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/whoami", headers=headers)
    assert response.status_code == 200
    signed_in = bool(values) and error is None
    assert response.json() == {
        "authenticated": signed_in,
        "scopes": ["authenticated", "ADMIN", "CUSTOMER"] if signed_in else [],
        "subject": "sub-asha" if signed_in else None,
        "error": error,
    }


async def test_a_verified_token_is_remembered_until_its_expiry(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same token again costs no parse, no key look-up and no RSA check; never past its
    own exp (+ leeway), never for another token, and a refused token is not remembered."""
    env.clock.now = time.time()  # the verifier's clock and PyJWT's agree here
    token = sign(claims(exp=int(env.clock.now) + 100), key=env.keys.a)
    decoded: list[str] = []
    real_decode = CognitoJwtVerifier._decode

    def counting(self: CognitoJwtVerifier, token: str, *, key: Any) -> dict[str, Any]:
        decoded.append(token)
        return real_decode(self, token, key=key)

    monkeypatch.setattr(CognitoJwtVerifier, "_decode", counting)
    first = await env.verifier.verify(token)
    assert await env.verifier.verify(token) == first
    assert len(decoded) == 1
    other = sign(claims(sub="sub-ravi", username="ravi"), key=env.keys.a)
    assert (await env.verifier.verify(other)).subject == "sub-ravi"
    assert len(decoded) == 2
    await refused(env.verifier, tampered(env.keys), reason="invalid token signature")
    await refused(env.verifier, tampered(env.keys), reason="invalid token signature")
    # past exp + leeway by the verifier's clock: verified again, not answered from memory
    # (PyJWT's own clock, which did not move, then judges its exp: tested above)
    env.clock.now += 100 + 30 + 1
    await env.verifier.verify(token)
    assert decoded.count(token) == 2
