"""A deploy's hooks (app/deploy_hooks.py): the migration custom resource against real
PostgreSQL, answering CloudFormation at its ResponseURL (a loopback HTTP server here), and the
pre-traffic check against the real Lambda handler."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import pytest

import app.deploy_hooks as hooks
import datasources.deployment
from app.settings import Settings, get_settings
from datasources.postgres.migrate import head_revision
from tests.integration.test_lambda_handler import invoke, lambda_env  # noqa: F401 (a fixture)
from tests.support.services import free_port
from tests.support.stack import Databases, asyncpg_dsn


class CloudFormation:
    """Where a custom resource answers: records each PUT body."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        answers = self.answers

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["content-length"])
                answers.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/signed?X-Amz-Signature=abc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def event(self, request_type: str) -> dict[str, Any]:
        return {
            "RequestType": request_type,
            "ResponseURL": self.url,
            "StackId": "arn:aws:cloudformation:ap-south-1:123456789012:stack/shop/1",
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": "DatabaseMigration",
            "ResourceType": "Custom::DatabaseMigration",
            "ResourceProperties": {"Version": "7"},
            **({"PhysicalResourceId": hooks.PHYSICAL_ID} if request_type != "Create" else {}),
        }


@pytest.fixture
def cloudformation() -> Iterator[CloudFormation]:
    cfn = CloudFormation()
    yield cfn
    cfn.server.shutdown()
    cfn.server.server_close()


@pytest.fixture
async def empty_database(databases: Databases) -> AsyncIterator[str]:
    name = f"{databases.run}_empty_{uuid.uuid4().hex[:6]}"
    await databases._admin(f'CREATE DATABASE "{name}"')
    yield databases.url(name)
    await databases._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, empty_database: str) -> Iterator[str]:
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("DATABASE_URL", empty_database)
    get_settings.cache_clear()
    yield empty_database
    get_settings.cache_clear()


async def tables(url: str) -> set[str]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    return {row["tablename"] for row in rows}


def run_in_thread(fn: Any, *args: Any) -> Any:
    """Handlers run their own event loop, as on Lambda: not on the test's."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(fn(*args)))
    thread.start()
    thread.join(120)
    return result[0]


async def test_every_deploy_migrates_to_the_head_and_answers_cloudformation(
    cloudformation: CloudFormation, environment: str
) -> None:
    assert "payment_sessions" not in await tables(environment)
    for request_type in ("Create", "Update", "Update"):
        run_in_thread(hooks.migrate, cloudformation.event(request_type), None)
    assert [a["Status"] for a in cloudformation.answers] == ["SUCCESS"] * 3
    assert {a["Data"]["Revision"] for a in cloudformation.answers} == {head_revision()}
    assert {a["PhysicalResourceId"] for a in cloudformation.answers} == {hooks.PHYSICAL_ID}
    first = cloudformation.answers[0]
    assert first["LogicalResourceId"] == "DatabaseMigration" and first["RequestId"]
    assert {"payment_sessions", "outbox", "products", "alembic_version"} <= await tables(
        environment
    )


async def test_deleting_the_stack_keeps_the_data(
    cloudformation: CloudFormation, environment: str
) -> None:
    run_in_thread(hooks.migrate, cloudformation.event("Create"), None)
    before = await tables(environment)
    run_in_thread(hooks.migrate, cloudformation.event("Delete"), None)
    assert cloudformation.answers[-1]["Status"] == "SUCCESS"
    assert await tables(environment) == before


async def test_two_migrations_at_once_take_turns(environment: str) -> None:
    settings = Settings(environment="test", database_url=environment)
    revisions = await asyncio.gather(
        hooks.upgrade_database(settings), hooks.upgrade_database(settings)
    )
    assert revisions == [head_revision(), head_revision()]


async def test_a_migration_that_cannot_run_answers_failed_with_the_reason(
    cloudformation: CloudFormation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/none")
    get_settings.cache_clear()
    try:
        answer = run_in_thread(hooks.migrate, cloudformation.event("Update"), None)
    finally:
        get_settings.cache_clear()
    assert answer["Status"] == "FAILED"
    assert cloudformation.answers == [answer]
    assert answer["Reason"].startswith("migration failed: ")


# --- the pre-traffic check ----------------------------------------------------------------------


@pytest.fixture
def reported(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """CodeDeploy's side: what the hook reported (the call itself needs an AWS account)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(datasources.deployment, "report_hook_status", lambda **kw: calls.append(kw))
    return calls


@pytest.mark.usefixtures("lambda_env")
def test_the_new_version_passes_the_pre_traffic_check(
    monkeypatch: pytest.MonkeyPatch, reported: list[dict[str, Any]]
) -> None:
    """The target is the real Lambda handler (as invoking the new version would run it)."""
    monkeypatch.setenv("SMOKE_TEST_FUNCTION_ARN", "arn:aws:lambda:ap-south-1:1:function:gw:7")
    get_settings.cache_clear()
    invoked: list[str] = []

    def through_the_handler(arn: str, event: dict[str, Any], **_: Any) -> dict[str, Any]:
        invoked.append(arn)
        return invoke(event)

    monkeypatch.setattr(datasources.deployment, "invoke", through_the_handler)
    outcome = run_in_thread(
        hooks.pre_traffic, {"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "h-1"}, None
    )
    assert outcome == {"succeeded": True, "problems": []}
    assert invoked == ["arn:aws:lambda:ap-south-1:1:function:gw:7"] * 2
    assert reported == [
        {
            "deployment_id": "d-1",
            "execution_id": "h-1",
            "succeeded": True,
            "region": get_settings().aws_region,
            "endpoint_url": get_settings().aws_endpoint_url,
        }
    ]


def test_a_version_that_is_not_ready_or_cannot_list_the_catalog_fails_the_check() -> None:
    ok = {"statusCode": 200, "body": json.dumps({"data": {"products": {"edges": []}}})}
    assert hooks.smoke_problems([{"statusCode": 200, "body": "{}"}, ok]) == []
    not_ready = {"statusCode": 503, "body": '{"status": "not ready"}'}
    assert hooks.smoke_problems([not_ready, ok])[0].startswith("/readyz answered 503")
    broken = {"statusCode": 200, "body": json.dumps({"errors": [{"message": "boom"}]})}
    assert "catalog query failed" in hooks.smoke_problems([ok, broken])[0]
    assert "answered 500" in hooks.smoke_problems([ok, {"statusCode": 500}])[0]


def test_without_a_target_the_check_fails_and_says_why(
    monkeypatch: pytest.MonkeyPatch, reported: list[dict[str, Any]], environment: str
) -> None:
    monkeypatch.delenv("SMOKE_TEST_FUNCTION_ARN", raising=False)
    outcome = run_in_thread(
        hooks.pre_traffic, {"DeploymentId": "d-2", "LifecycleEventHookExecutionId": "h-2"}, None
    )
    assert outcome["succeeded"] is False
    assert "SMOKE_TEST_FUNCTION_ARN is not set" in outcome["problems"][0]
    assert [r["succeeded"] for r in reported] == [False]
