"""Settings (``app/settings.py``) and what the app does with them in production.

``environment`` is validated (local, test or production) and read from ``ENVIRONMENT``;
``ENVIRONMENT=production`` refuses to start without what production needs (API.md
"Protection": secrets from Secrets Manager, no SQLite, Redis, Cognito, topics, public https
URLs), naming every gap at once. The SAM template sets ``ENVIRONMENT=production`` and
``GRAPHIQL_ENABLED=false`` (tests/infra/test_aws_template.py), and ``graphiql_enabled=False``
takes the IDE page and its assets off the app while GraphQL itself still answers (POST, and
queries over GET). Without ``aws_endpoint_url`` every AWS client and the Cognito JWKS point at
real AWS. Secrets never show in a repr or a dump.

No I/O: settings are built directly (or from a patched environment) and the app is driven
in-process; ``{ __typename }`` needs no database, and the secrets a production app reads come
from a stand-in for Secrets Manager here (tests/integration/aws/test_secrets.py reads the
emulator's).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from app.container import Container
from app.main import GRAPHIQL_STATIC_URL, create_app
from app.secrets import RuntimeSecrets
from app.settings import Settings, get_settings
from tests.support.production_settings import ARN, PRODUCTION, SITE, production_environment

SECRETS = {
    "razorpay_key_secret": "key-secret-3f9a1c",
    "razorpay_webhook_secret": "webhook-secret-77b2e0",
    "razorpay_webhook_previous_secret": "old-webhook-secret-0d4e5a",
}


@pytest.fixture
def fresh_get_settings() -> Iterator[None]:
    """get_settings() caches one Settings a process: start empty, leave nothing behind."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def production(tmp_path: Path, **changes: object) -> Settings:
    return Settings(**(PRODUCTION | changes))  # type: ignore[arg-type]


class SecretsStandIn:
    """Secrets Manager's answers for a unit test (the reader's interface)."""

    max_age_seconds = 300

    def __init__(self, values: dict[str, dict[str, str]]) -> None:
        self.values = values

    def get_json(self, secret_id: str, *, force: bool = False) -> dict[str, str]:
        return self.values[secret_id]

    async def aget_json(self, secret_id: str, *, force: bool = False) -> dict[str, str]:
        return self.values[secret_id]


def with_secrets(container: Container) -> Container:
    keys = {"key_id": "rzp_live_x", "key_secret": "s", "webhook_secret": "w"}
    reader = SecretsStandIn(
        {
            f"{ARN}:razorpay": keys,
            f"{ARN}:rds-master": {"username": "storefront", "password": "p"},
        }
    )
    container.__dict__["secrets"] = RuntimeSecrets(container.settings, reader)  # type: ignore[arg-type]
    return container


# --- environment -------------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ["local", "test", "production"])
def test_the_three_environments_are_accepted(environment: str) -> None:
    assert Settings(**(PRODUCTION | {"environment": environment})).environment == environment


@pytest.mark.parametrize("environment", ["staging", "prod", "PRODUCTION", "", "development"])
def test_any_other_environment_is_refused(environment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(environment=environment)
    assert [error["loc"] for error in caught.value.errors()] == [("environment",)]


def test_the_default_environment_is_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    assert Settings().environment == "local"


def test_production_is_read_from_the_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in production_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GRAPHIQL_ENABLED", "false")
    settings = Settings()
    assert settings.environment == "production"
    assert settings.graphiql_enabled is False
    monkeypatch.setenv("ENVIRONMENT", "prod")
    with pytest.raises(ValidationError):
        Settings()


def test_get_settings_reads_the_environment_once(
    monkeypatch: pytest.MonkeyPatch, fresh_get_settings: None
) -> None:
    for name, value in production_environment().items():
        monkeypatch.setenv(name, value)
    first = get_settings()
    monkeypatch.setenv("ENVIRONMENT", "local")
    assert get_settings() is first  # one validated object a process (a warm Lambda)
    assert first.environment == "production"


def test_settings_are_frozen_and_ignore_unknown_names() -> None:
    settings = Settings(**PRODUCTION, not_a_setting="x")
    assert not hasattr(settings, "not_a_setting")
    with pytest.raises(ValidationError):
        settings.environment = "local"  # type: ignore[misc]


# --- what production refuses to start without ----------------------------------------------------


def test_production_leaves_the_storefront_to_s3_and_local_serves_it(tmp_path: Path) -> None:
    assert production(tmp_path).storefront_served is False
    assert Settings(environment="local").storefront_served is True


def test_production_settings_with_everything_start() -> None:
    assert Settings(**PRODUCTION).environment == "production"


def test_bare_production_names_every_gap_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(environment="production")
    message = str(caught.value)
    for gap in (
        "DATABASE_URL is SQLite",
        "REDIS_URL is not set",
        "RAZORPAY_SECRET_ARN is not set",
        "COGNITO_USER_POOL_ID and COGNITO_CLIENT_IDS",
        "SNS_CUSTOMER_TOPIC_ARN and SNS_ADMIN_TOPIC_ARN",
        "KMS_KEY_ID is not set",
        "PUBLIC_BASE_URL must be the site's public https:// URL",
        "STOREFRONT_SUCCESS_URL",
        "STOREFRONT_FAILURE_URL",
    ):
        assert gap in message, gap


@pytest.mark.parametrize(
    ("change", "gap"),
    [
        ({"database_url": "sqlite:///prod.db"}, "SQLite"),
        ({"database_secret_arn": None}, "no database credentials"),
        ({"razorpay_secret_arn": None}, "RAZORPAY_SECRET_ARN"),
        ({"redis_url": None}, "REDIS_URL"),
        ({"cognito_client_ids": ""}, "COGNITO_CLIENT_IDS"),
        ({"sns_admin_topic_arn": ""}, "SNS_ADMIN_TOPIC_ARN"),
        ({"kms_key_id": None}, "KMS_KEY_ID"),
        ({"public_base_url": "http://shop.example.in"}, "PUBLIC_BASE_URL"),
        ({"storefront_success_url": "https://127.0.0.1:8000/ok"}, "STOREFRONT_SUCCESS_URL"),
        ({"storefront_failure_url": "https://localhost/failed"}, "STOREFRONT_FAILURE_URL"),
        ({"cors_allowed_origins": ""}, "CORS_ALLOWED_ORIGINS is not set"),
        ({"cors_allowed_origins": " , "}, "CORS_ALLOWED_ORIGINS is not set"),
        ({"cors_allowed_origins": "*"}, "must not be '\\*'"),
        ({"cors_allowed_origins": f"{SITE},*"}, "must not be '\\*'"),
        ({"cors_allowed_origins": "http://shop.example.in"}, "not http://shop.example.in"),
        ({"cors_allowed_origins": "https://localhost:8000"}, "public https:// origins only"),
        ({"cors_allowed_origins": f"{SITE}/shop"}, "no path"),
        ({"cors_allowed_origins": "https://*.example.in"}, "public https:// origins only"),
        ({"database_echo": True}, "DATABASE_ECHO is on"),
    ],
)
def test_production_refuses_each_gap(change: dict[str, object], gap: str) -> None:
    with pytest.raises(ValidationError, match=gap) as caught:
        Settings(**(PRODUCTION | change))
    assert len(caught.value.errors()) == 1


def test_cors_origins_are_a_list_and_default_to_the_local_storefront_outside_production() -> None:
    several = Settings(**(PRODUCTION | {"cors_allowed_origins": f" {SITE}/, https://m.x.in "}))
    assert several.cors_origins == [SITE, "https://m.x.in"]
    for environment in ("local", "test"):
        assert Settings(environment=environment).cors_origins == [
            "http://127.0.0.1:8000",
            "http://localhost:8000",
        ]
    assert Settings(cors_allowed_origins="http://dev.test:3000").cors_origins == [
        "http://dev.test:3000"
    ]


@pytest.mark.parametrize("name", ["graphiql_enabled", "introspection_enabled"])
def test_graphiql_and_introspection_are_on_locally_and_off_in_production(name: str) -> None:
    unset = {k: v for k, v in PRODUCTION.items() if k != name}
    assert getattr(Settings(**unset), name) is False
    assert getattr(Settings(**(unset | {name: True})), name) is True  # explicitly: allowed
    for environment in ("local", "test"):
        assert getattr(Settings(environment=environment), name) is True
        assert getattr(Settings(environment=environment, **{name: False}), name) is False


def test_the_request_timeout_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().request_timeout_seconds == 10.0
    monkeypatch.setenv("REQUEST_TIMEOUT_SECONDS", "2.5")
    assert Settings().request_timeout_seconds == 2.5
    for refused in ("0", "-1", "1000"):
        monkeypatch.setenv("REQUEST_TIMEOUT_SECONDS", refused)
        with pytest.raises(ValidationError):
            Settings()


def test_a_database_url_with_its_own_login_needs_no_secret_and_secrets_are_not_printed() -> None:
    url = "postgresql://app:pa55word-9f1e@db.internal:5432/shop"
    assert Settings(**(PRODUCTION | {"database_url": url, "database_secret_arn": None}))
    with pytest.raises(ValidationError) as caught:
        Settings(**(PRODUCTION | {"redis_url": None, **SECRETS}))
    for secret in SECRETS.values():
        assert secret not in str(caught.value)


def test_a_deploys_own_functions_need_only_their_part() -> None:
    bare = {"environment": "production"}
    # the migration also seals PII left plain (app/encrypt_pii.py): it needs the key too
    database = {k: PRODUCTION[k] for k in ("database_url", "database_secret_arn", "kms_key_id")}
    assert Settings(**bare, deploy_task="migrate", **database).deploy_task == "migrate"
    with pytest.raises(ValidationError, match="SQLite"):
        Settings(**bare, deploy_task="migrate")
    with pytest.raises(ValidationError, match="KMS_KEY_ID"):
        Settings(**bare, deploy_task="migrate", **(database | {"kms_key_id": None}))
    arn = "arn:aws:lambda:ap-south-1:123456789012:function:gateway:7"
    assert Settings(**bare, deploy_task="pre-traffic", smoke_test_function_arn=arn)
    with pytest.raises(ValidationError, match="SMOKE_TEST_FUNCTION_ARN"):
        Settings(**bare, deploy_task="pre-traffic")
    with pytest.raises(ValidationError):
        Settings(**bare, deploy_task="anything")


def test_other_environments_start_without_any_of_it() -> None:
    for environment in ("local", "test"):
        assert Settings(environment=environment).is_sqlite


# --- GraphiQL ----------------------------------------------------------------------------------


async def answers(settings: Settings) -> dict[str, httpx.Response]:
    # no I/O here: the rate limits would reach for production's Redis (cache.internal)
    container = with_secrets(Container(settings.model_copy(update={"rate_limits_enabled": False})))
    app = create_app(container)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return {
                "ide": await http.get("/graphql", headers={"accept": "text/html"}),
                "asset": await http.get(f"{GRAPHIQL_STATIC_URL}/index.html"),
                "post": await http.post("/graphql", json={"query": "{ __typename }"}),
                "get": await http.get(
                    "/graphql",
                    params={"query": "{ __typename }"},
                    headers={"accept": "application/json"},
                ),
            }
    finally:
        await container.aclose()


async def test_graphiql_off_leaves_no_ide_and_no_assets_but_graphql_answers(
    tmp_path: Path,
) -> None:
    got = await answers(production(tmp_path))
    assert got["ide"].status_code == 404
    assert "text/html" not in got["ide"].headers["content-type"]
    assert "graphiql" not in got["ide"].text.lower()
    assert got["ide"].json()["extensions"]["requestId"]  # a JSON error, like every answer
    assert got["asset"].status_code == 404
    for way in ("post", "get"):
        assert got[way].status_code == 200, got[way].text
        assert got[way].json()["data"] == {"__typename": "Query"}, way


async def test_graphiql_enabled_explicitly_is_served_in_production(tmp_path: Path) -> None:
    got = await answers(production(tmp_path, graphiql_enabled=True))
    assert got["ide"].status_code == 200
    assert got["ide"].headers["content-type"].startswith("text/html")
    assert f"{GRAPHIQL_STATIC_URL}/" in got["ide"].text  # its assets come from the app
    assert got["asset"].status_code == 200
    assert got["post"].json()["data"] == {"__typename": "Query"}


INTROSPECTION = "{ __schema { queryType { name } } }"


async def production_answers(settings: Settings) -> dict[str, httpx.Response]:
    # rate limits off: they would look up production's Redis host (tests stay on loopback)
    container = with_secrets(Container(settings.model_copy(update={"rate_limits_enabled": False})))
    transport = httpx.ASGITransport(app=create_app(container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return {
                "introspection": await http.post("/graphql", json={"query": INTROSPECTION}),
                "type": await http.post(
                    "/graphql", json={"query": '{ __type(name: "Query") { name } }'}
                ),
                "typename": await http.post("/graphql", json={"query": "{ __typename }"}),
                "allowed": await http.options(
                    "/graphql",
                    headers={"origin": SITE, "access-control-request-method": "POST"},
                ),
                "local": await http.post(
                    "/graphql",
                    json={"query": "{ __typename }"},
                    headers={"origin": "http://127.0.0.1:8000"},
                ),
            }
    finally:
        await container.aclose()


async def test_production_refuses_introspection_but_answers_queries(tmp_path: Path) -> None:
    got = await production_answers(production(tmp_path))
    for name in ("introspection", "type"):
        body = got[name].json()
        assert body["data"] is None
        assert "introspection has been disabled" in body["errors"][0]["message"], body
        assert body["extensions"]["requestId"]
    assert got["typename"].json()["data"] == {"__typename": "Query"}
    # HSTS in production, on every answer
    for answer in got.values():
        assert answer.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        assert answer.headers["x-content-type-options"] == "nosniff"
    # CORS: the configured storefront only, never the local default
    assert got["allowed"].headers["access-control-allow-origin"] == SITE
    assert "access-control-allow-origin" not in got["local"].headers


async def test_introspection_enabled_explicitly_works_in_production_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="app.main")
    got = await production_answers(production(tmp_path, introspection_enabled=True))
    assert got["introspection"].json()["data"] == {"__schema": {"queryType": {"name": "Query"}}}
    assert "INTROSPECTION_ENABLED is on in production" in caplog.text
    assert "GRAPHIQL_ENABLED" not in caplog.text


async def test_locally_introspection_works_without_hsts(tmp_path: Path) -> None:
    local = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/never-opened.db")
    got = await production_answers(local)
    assert got["introspection"].json()["data"] == {"__schema": {"queryType": {"name": "Query"}}}
    assert "strict-transport-security" not in got["typename"].headers
    assert got["local"].headers["access-control-allow-origin"] == "http://127.0.0.1:8000"


# --- real AWS or the emulator ------------------------------------------------------------------


def test_without_an_endpoint_clients_and_keys_are_real_aws(tmp_path: Path) -> None:
    settings = production(tmp_path)
    issuer = "https://cognito-idp.ap-south-1.amazonaws.com/ap-south-1_AbC123xyz"
    assert settings.issuer == issuer
    assert settings.jwks_url == f"{issuer}/.well-known/jwks.json"
    container = Container(settings)
    assert container.aws.endpoint_url is None  # botocore's own endpoints: real AWS
    assert container.aws.region == "ap-south-1"


def test_with_the_emulator_only_the_jwks_moves_the_issuer_stays_aws() -> None:
    settings = Settings(
        cognito_user_pool_id="eu-west-1_Pool0001",
        aws_region="ap-south-1",
        aws_endpoint_url="http://127.0.0.1:4566/",
    )
    # the pool id names its region; the emulator's tokens carry the real AWS issuer too
    assert settings.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool0001"
    assert settings.jwks_url == "http://127.0.0.1:4566/eu-west-1_Pool0001/.well-known/jwks.json"
    assert Container(settings).aws.endpoint_url == "http://127.0.0.1:4566/"


def test_explicit_issuer_and_jwks_win_and_no_pool_means_no_sign_in() -> None:
    explicit = Settings(
        cognito_user_pool_id="ap-south-1_Pool",
        cognito_issuer="https://issuer.example/pool",
        cognito_jwks_url="https://keys.example/jwks.json",
    )
    assert (explicit.issuer, explicit.jwks_url) == (
        "https://issuer.example/pool",
        "https://keys.example/jwks.json",
    )
    nothing = Settings(cognito_user_pool_id=None)
    assert (nothing.issuer, nothing.jwks_url) == (None, None)
    assert Settings(cognito_client_ids=" a1, ,b2 ,").client_ids == ["a1", "b2"]


# --- secrets -----------------------------------------------------------------------------------


def test_secrets_never_show_in_a_repr_or_a_dump(tmp_path: Path) -> None:
    settings = production(tmp_path, **SECRETS)
    shown = [repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())]
    for name, secret in SECRETS.items():
        assert getattr(settings, name).get_secret_value() == secret
        for text in shown:
            assert secret not in text, name


def test_secrets_from_the_environment_are_kept_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, secret in SECRETS.items():
        monkeypatch.setenv(name.upper(), secret)
    settings = Settings(**PRODUCTION)
    for name, secret in SECRETS.items():
        assert getattr(settings, name).get_secret_value() == secret
        assert secret not in repr(settings)


# --- outbox ------------------------------------------------------------------------------------


def test_outbox_max_attempts_reaches_the_dispatcher(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from domain.outbox import MAX_ATTEMPTS

    url = f"sqlite+aiosqlite:///{tmp_path}/never-opened.db"
    assert Settings(database_url=url).outbox_max_attempts == MAX_ATTEMPTS
    monkeypatch.setenv("OUTBOX_MAX_ATTEMPTS", "5")
    settings = Settings(database_url=url)
    assert settings.outbox_max_attempts == 5
    assert Container(settings).deps.outbox_max_attempts == 5
    for refused in ("0", "-1", "many"):
        monkeypatch.setenv("OUTBOX_MAX_ATTEMPTS", refused)
        with pytest.raises(ValidationError):
            Settings(database_url=url)


def test_a_webhooks_effects_run_after_its_answer_except_on_lambda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvicorn sends the answer before a background task; on Lambda the invocation (and so
    Razorpay's answer) would wait for it, so there the scheduled job carries effects out."""
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert Settings().dispatch_after_webhook_answer is True
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "storefront-gateway-api")
    assert Settings().dispatch_after_webhook_answer is False
    monkeypatch.setenv("WEBHOOK_DISPATCH_AFTER_ANSWER", "true")  # an explicit choice wins
    assert Settings().dispatch_after_webhook_answer is True
