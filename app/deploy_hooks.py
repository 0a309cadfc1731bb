"""What a deploy runs (infra/aws/template.yaml): the database migrations and the canary's
pre-traffic check. Both are Lambda handlers of their own, in the gateway's VPC.

* :func:`migrate` is a CloudFormation custom resource (``Custom::DatabaseMigration``) whose
  properties change with every published version, so every deploy runs it: it upgrades the
  database to the code's head revision and seals the PII rows still hold in plain text
  (app/encrypt_pii.py; both idempotent: at the head nothing changes, and two at once take
  turns on an advisory lock) and always answers CloudFormation, FAILED with the
  reason when it could not, so a failed migration rolls the stack back instead of hanging it.
  Deleting the stack keeps the data: Delete does nothing.
* :func:`pre_traffic` is CodeDeploy's pre-traffic hook (after the migration: the template
  orders them): before the canary's first request it invokes the new version with API
  Gateway events for ``/readyz`` (database, cache: the migrated schema is what it reads) and a
  catalog query, and reports Succeeded or Failed; Failed stops the deployment with no traffic
  on the new version. It runs outside the VPC and needs nothing but the version's ARN.

Migrations must stay compatible with the version still serving (expand, then contract in a
later release): during the canary both versions run on the one schema.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from app.settings import Settings, get_settings

logger = logging.getLogger(__name__)

PHYSICAL_ID = "storefront-database-migration"
CATALOG_QUERY = "{ products(first: 1) { edges { node { id } } } }"
SAFETY_MARGIN_MS = 5_000  # answer CloudFormation this long before the function's own timeout


async def upgrade_database(settings: Settings) -> str:
    """Migrate to the head revision, then seal PII rows still hold in plain text
    (app/encrypt_pii.py, idempotent); answers the revision the database is at afterwards."""
    from app.container import Container
    from app.encrypt_pii import encrypt_pii
    from datasources.postgres import migrate as migrations

    container = Container(settings)
    try:
        await container.refresh_secrets()
        await migrations.upgrade(container.engine)
        if settings.kms_key_id:  # production requires it; elsewhere there may be none
            await encrypt_pii(container)
        else:
            logger.warning("KMS_KEY_ID is not set: plain customer PII left as it is")
        return await migrations.current_revision(container.engine) or "none"
    finally:
        await container.aclose()


def _seconds_left(context: Any, default: float = 300.0) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return default
    return max((remaining() - SAFETY_MARGIN_MS) / 1000, 1.0)


def migrate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from datasources.deployment import answer_cloudformation

    answer: dict[str, Any] = {
        "StackId": event.get("StackId"),
        "RequestId": event.get("RequestId"),
        "LogicalResourceId": event.get("LogicalResourceId"),
        "PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_ID,
        "Status": "SUCCESS",
        "Data": {},
    }
    try:
        if event.get("RequestType") in ("Create", "Update"):
            revision = asyncio.run(
                asyncio.wait_for(upgrade_database(get_settings()), timeout=_seconds_left(context))
            )
            answer["Data"] = {"Revision": revision}
            logger.info("database migrated", extra={"revision": revision})
    except Exception as exc:  # CloudFormation must hear back whatever happened
        logger.exception("database migration failed")
        answer["Status"] = "FAILED"
        answer["Reason"] = f"migration failed: {type(exc).__name__}: {exc}"[:900]
    answer_cloudformation(str(event["ResponseURL"]), answer)
    return answer


def smoke_events() -> list[dict[str, Any]]:
    """API Gateway HTTP API (v2) events for the checks: ``/readyz`` and a catalog query."""

    def event(method: str, path: str, body: str | None, request_id: str) -> dict[str, Any]:
        return {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": "",
            "headers": {"content-type": "application/json", "accept": "application/json"},
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "pre-traffic-hook",
                "domainName": "pre-traffic-hook.internal",
                "domainPrefix": "pre-traffic-hook",
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "pre-traffic-hook",
                },
                "requestId": request_id,
                "routeKey": "$default",
                "stage": "$default",
                "time": "01/Jan/2026:00:00:00 +0000",
                "timeEpoch": 1767225600000,
            },
            "body": body,
            "isBase64Encoded": False,
        }

    return [
        event("GET", "/readyz", None, "pre-traffic-readyz"),
        event("POST", "/graphql", json.dumps({"query": CATALOG_QUERY}), "pre-traffic-catalog"),
    ]


def smoke_problems(answers: list[dict[str, Any]]) -> list[str]:
    """What is wrong with the new version's answers to :func:`smoke_events` (empty: none)."""
    problems: list[str] = []
    ready, catalog = answers
    if ready.get("statusCode") != 200:
        problems.append(f"/readyz answered {ready.get('statusCode')}: {ready.get('body')}")
    if catalog.get("statusCode") != 200:
        problems.append(f"the catalog query answered {catalog.get('statusCode')}")
    else:
        try:
            body = json.loads(catalog.get("body") or "{}")
        except json.JSONDecodeError:
            body = {}
        if body.get("errors") or "products" not in (body.get("data") or {}):
            problems.append(f"the catalog query failed: {str(body)[:300]}")
    return problems


def pre_traffic(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from datasources.deployment import invoke, report_hook_status

    settings = get_settings()
    problems: list[str] = []
    try:
        target = settings.smoke_test_function_arn
        if not target:
            raise RuntimeError("SMOKE_TEST_FUNCTION_ARN is not set")
        answers = [
            invoke(target, e, region=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
            for e in smoke_events()
        ]
        problems = smoke_problems(answers)
    except Exception as exc:
        logger.exception("pre-traffic check could not run")
        problems = [f"{type(exc).__name__}: {exc}"]
    succeeded = not problems
    if succeeded:
        logger.info("pre-traffic check passed", extra={"target": settings.smoke_test_function_arn})
    else:
        logger.error("pre-traffic check failed", extra={"problems": problems})
    report_hook_status(
        deployment_id=str(event["DeploymentId"]),
        execution_id=str(event["LifecycleEventHookExecutionId"]),
        succeeded=succeeded,
        region=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
    )
    return {"succeeded": succeeded, "problems": problems}
