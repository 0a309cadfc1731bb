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
from pathlib import Path
from typing import Any

import uvicorn
from moto.server import ThreadedMotoServer

from app.container import Container
from app.main import create_app
from app.settings import Settings
from datasources.postgres import migrate
from infra.local.cognito import provision as provision_cognito
from infra.local.seed import seed_catalog

logger = logging.getLogger("devstack")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--aws-port", type=int, default=4566)
    parser.add_argument("--state-dir", type=Path, default=Path(".devstack"))
    return parser.parse_args(argv)


def start_aws_emulator(*, host: str, port: int) -> tuple[ThreadedMotoServer, str]:
    # moto wants credentials in the environment of the clients; the emulator accepts any
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "devstack")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "devstack")
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    return server, f"http://{host}:{port}"


def stack_description(*, settings: Settings, api_base: str) -> dict[str, Any]:
    return {
        "graphql_url": f"{api_base}/graphql",
        "webhook_url": f"{api_base}/webhooks/razorpay",
        "aws_endpoint_url": settings.aws_endpoint_url,
        "aws_region": settings.aws_region,
        "database": "postgresql" if not settings.is_sqlite else "sqlite",
    }


async def serve(args: argparse.Namespace) -> None:
    args.state_dir.mkdir(parents=True, exist_ok=True)
    moto, aws_url = start_aws_emulator(host=args.host, port=args.aws_port)
    try:
        base = Settings()
        cognito = provision_cognito(endpoint_url=aws_url, region=base.aws_region)
        overrides: dict[str, Any] = {
            "aws_endpoint_url": aws_url,
            "cognito_user_pool_id": cognito.user_pool_id,
            "cognito_client_ids": cognito.client_id,
        }
        if "DATABASE_URL" not in os.environ:
            overrides["database_url"] = f"sqlite+aiosqlite:///{args.state_dir}/storefront.db"
        settings = base.model_copy(update=overrides)
        container = Container(settings)
        await migrate.upgrade(container.engine)
        await seed_catalog(container.sessions)
        api_base = f"http://{args.host}:{args.port}"
        stack = stack_description(settings=settings, api_base=api_base) | cognito.as_json()
        stack_file = args.state_dir / "stack.json"
        stack_file.write_text(json.dumps(stack, indent=2) + "\n")
        app = create_app(container)
        server = uvicorn.Server(
            uvicorn.Config(app, host=args.host, port=args.port, log_level="info", lifespan="on")
        )
        print(f"GraphiQL: {api_base}/graphql   stack: {stack_file}   (Ctrl-C stops)", flush=True)
        await server.serve()
    finally:
        moto.stop()
        stack_file = args.state_dir / "stack.json"
        stack_file.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # uvicorn stops on Ctrl-C, cleans up, then re-raises the signal: that is a clean exit here.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
