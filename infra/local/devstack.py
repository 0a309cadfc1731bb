"""The local stack behind ``make run``: API + GraphiQL, AWS emulator, demo data, stack.json.

One process: moto's server (the AWS emulator, over HTTP on loopback) in a thread, the API under
uvicorn in the foreground. Without DATABASE_URL the database is SQLite in .devstack/; with it,
PostgreSQL. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from app.container import Container
from app.encrypt_pii import encrypt_pii
from app.jobs import run_scheduled
from app.main import create_app
from app.settings import Settings
from datasources.dynamodb import ensure_table
from datasources.postgres import migrate
from infra.local.cognito import provision as provision_cognito
from infra.local.emulator import (
    provision_kms_key,
    provision_secret,
    provision_topics,
    start_emulator,
)
from infra.local.razorpay_sandbox import SandboxConfig, SandboxServer
from infra.local.seed import seed_catalog

# Test-mode keys of the local sandbox (not secrets: nothing real accepts them).
DEMO_KEY_ID = "rzp_test_DemoStackKey01"
DEMO_KEY_SECRET = "demo-stack-key-secret"  # noqa: S105
DEMO_WEBHOOK_SECRET = "demo-stack-webhook-secret"  # noqa: S105

logger = logging.getLogger("devstack")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--aws-port", type=int, default=4566)
    parser.add_argument("--razorpay-port", type=int, default=9090)
    parser.add_argument("--jobs-every", type=float, default=30.0, help="seconds between job runs")
    parser.add_argument("--state-dir", type=Path, default=Path(".devstack"))
    return parser.parse_args(argv)


async def run_jobs_every(container: Container, *, seconds: float) -> None:
    """What EventBridge does on Lambda: the scheduled jobs, every so often."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await run_scheduled(container)
        except Exception:
            logger.exception("scheduled jobs failed; trying again next time")


def stack_description(*, settings: Settings, api_base: str) -> dict[str, Any]:
    return {
        "graphql_url": f"{api_base}/graphql",
        "storefront_url": f"{api_base}/shop/",
        "webhook_url": f"{api_base}/webhooks/razorpay",
        "aws_endpoint_url": settings.aws_endpoint_url,
        "aws_region": settings.aws_region,
        "database": "postgresql" if not settings.is_sqlite else "sqlite",
    }


async def serve(args: argparse.Namespace) -> None:
    args.state_dir.mkdir(parents=True, exist_ok=True)
    moto, aws_url = start_emulator(host=args.host, port=args.aws_port)
    stack_stoppers: list[Callable[[], None]] = [moto.stop]
    try:
        base = Settings()
        cognito = provision_cognito(endpoint_url=aws_url, region=base.aws_region)
        topics = await provision_topics(
            endpoint_url=aws_url, region=base.aws_region, prefix="storefront"
        )
        api_base = f"http://{args.host}:{args.port}"
        sandbox_config = SandboxConfig(
            key_id=DEMO_KEY_ID,
            key_secret=DEMO_KEY_SECRET,
            webhook_secret=DEMO_WEBHOOK_SECRET,
            webhook_url=f"{api_base}/webhooks/razorpay",
        )
        sandbox = SandboxServer(config=sandbox_config, host=args.host, port=args.razorpay_port)
        stack_stoppers.append(sandbox.stop)
        razorpay_url = sandbox.start()
        # Razorpay's keys live in the emulator's Secrets Manager, as in production (read back
        # every 10 s: put a new value there to try a rotation)
        razorpay_secret = await provision_secret(
            endpoint_url=aws_url,
            region=base.aws_region,
            name="storefront/razorpay",
            value={
                "key_id": DEMO_KEY_ID,
                "key_secret": DEMO_KEY_SECRET,
                "webhook_secret": DEMO_WEBHOOK_SECRET,
                "webhook_secret_previous": "",
            },
        )
        # customer PII is sealed with this key's data keys, as in production
        kms_key_id = await provision_kms_key(endpoint_url=aws_url, region=base.aws_region)
        overrides: dict[str, Any] = {
            "kms_key_id": kms_key_id,
            "aws_endpoint_url": aws_url,
            "cognito_user_pool_id": cognito.user_pool_id,
            "cognito_client_ids": cognito.client_id,
            "razorpay_secret_arn": razorpay_secret,
            "secrets_cache_seconds": 10,
            "razorpay_base_url": razorpay_url,
            "public_base_url": api_base,
            "storefront_success_url": f"{api_base}/shop/checkout/success.html",
            "storefront_failure_url": f"{api_base}/shop/checkout/failure.html",
            "sns_customer_topic_arn": topics["customer"],
            "sns_admin_topic_arn": topics["admin"],
        }
        if "DATABASE_URL" not in os.environ:
            overrides["database_url"] = f"sqlite+aiosqlite:///{args.state_dir}/storefront.db"
        settings = Settings.model_validate(base.model_dump() | overrides)
        container = Container(settings)
        await migrate.upgrade(container.engine)
        await encrypt_pii(container)  # rows from before PII encryption (idempotent)
        await seed_catalog(container.sessions)
        await ensure_table(container.aws, table_name=settings.dynamodb_table)
        stack = stack_description(settings=settings, api_base=api_base) | cognito.as_json()
        stack["notifications"] = {
            "customer_topic_arn": topics["customer"],
            "admin_topic_arn": topics["admin"],
            "customer_queue_url": topics["customer_queue"],
            "admin_queue_url": topics["admin_queue"],
        }
        stack["secrets"] = {"razorpay": razorpay_secret}
        stack["kms_key_id"] = kms_key_id
        stack["razorpay"] = {
            "base_url": razorpay_url,
            "key_id": DEMO_KEY_ID,
            "key_secret": DEMO_KEY_SECRET,
            "webhook_secret": DEMO_WEBHOOK_SECRET,
        }
        stack_file = args.state_dir / "stack.json"
        stack_file.write_text(json.dumps(stack, indent=2) + "\n")
        app = create_app(container)
        server = uvicorn.Server(
            uvicorn.Config(app, host=args.host, port=args.port, log_level="info", lifespan="on")
        )
        print(f"GraphiQL: {api_base}/graphql   stack: {stack_file}   (Ctrl-C stops)", flush=True)
        jobs = asyncio.create_task(run_jobs_every(container, seconds=args.jobs_every))
        try:
            await server.serve()
        finally:
            jobs.cancel()
    finally:
        for stop in reversed(stack_stoppers):
            stop()
        stack_file = args.state_dir / "stack.json"
        stack_file.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # uvicorn stops on Ctrl-C, cleans up, then re-raises the signal: that is a clean exit here.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
