"""The local stack behind ``make run``: API + GraphiQL, AWS emulator, demo data, stack.json.

One process: moto's server (the AWS emulator, over HTTP on loopback) and the Razorpay sandbox
each in a thread, the API under uvicorn in the foreground. Without DATABASE_URL the database is
SQLite in .devstack/; with it, PostgreSQL. Ctrl-C stops everything it started.

A restart keeps every store, or starts every store fresh, never a mix (``infra/local/state.py``):
the database, the sandbox's file, the emulator's ids (rebuilt), its KMS key's material and its
DynamoDB items. ``--fresh`` (``make run FRESH=1``) starts afresh; ``--reset`` (``make reset``)
only empties the stores. The banner says which it was, and why.

The terminal shows where everything is (:func:`banner`), then the app's own lines (its
uvicorn access lines among them) as plain text. The emulator's and the sandbox's access lines
go to ``emulator.log`` and ``razorpay-sandbox.log`` in the state directory, the app's
CloudWatch metrics (EMF, one JSON blob a request) to ``metrics.log``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import uvicorn

from app.container import Container
from app.encrypt_pii import encrypt_pii
from app.jobs import run_scheduled
from app.logging import StorefrontFormatter
from app.main import create_app
from app.metrics import PowertoolsMetrics
from app.settings import Settings
from datasources.dynamodb import ensure_table
from datasources.postgres import migrate
from infra.local import state
from infra.local.cognito import CognitoStack
from infra.local.cognito import provision as provision_cognito
from infra.local.emulator import (
    provision_kms_key,
    provision_secret,
    provision_topics,
    start_emulator,
)
from infra.local.razorpay_sandbox import SandboxConfig, SandboxServer
from infra.local.seed import seed_catalog
from resolvers import metrics
from resolvers.metrics import Unit

# Test-mode keys of the local sandbox (not secrets: nothing real accepts them).
DEMO_KEY_ID = "rzp_test_DemoStackKey01"
DEMO_KEY_SECRET = "demo-stack-key-secret"  # noqa: S105
DEMO_WEBHOOK_SECRET = "demo-stack-webhook-secret"  # noqa: S105

EMULATOR_LOG = "emulator.log"
SANDBOX_LOG = "razorpay-sandbox.log"
METRICS_LOG = "metrics.log"

# Left out of the terminal below WARNING: start-up chatter (alembic's, uvicorn's: the banner
# says the stack is up), every AWS client's "Found credentials in environment variables." and
# httpx's line for each request the app makes (the JWKS, Razorpay)
QUIET_IN_TERMINAL = ("alembic", "botocore", "aiobotocore", "httpx", "uvicorn.error")

FRESH_HINT = "make run FRESH=1 starts afresh"
KEEP_HINT = "kept across restarts from now on"

logger = logging.getLogger("devstack")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--aws-port", type=int, default=4566)
    parser.add_argument("--razorpay-port", type=int, default=9090)
    parser.add_argument("--jobs-every", type=float, default=30.0, help="seconds between job runs")
    parser.add_argument("--state-dir", type=Path, default=Path(".devstack"))
    parser.add_argument(
        "--fresh", action="store_true", help="start every store empty (default: keep them)"
    )
    parser.add_argument(
        "--reset", action="store_true", help="empty every store, then exit (make reset)"
    )
    return parser.parse_args(argv)


async def run_jobs_every(
    container: Container, *, seconds: float, after: Callable[[], None] | None = None
) -> None:
    """What EventBridge does on Lambda: the scheduled jobs, every so often; ``after`` each run
    (the DynamoDB dump), in a thread."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await run_scheduled(container)
        except Exception:
            logger.exception("scheduled jobs failed; trying again next time")
        if after is not None:
            try:
                await asyncio.to_thread(after)
            except Exception:
                logger.exception("saving the emulator's DynamoDB items failed; trying again")


def database_url(state_dir: Path) -> str:
    """``DATABASE_URL``, or the SQLite file in the state directory."""
    url = os.environ.get("DATABASE_URL")
    return url or f"sqlite+aiosqlite:///{state_dir}/{state.SQLITE_FILE}"


async def empty_postgres(container: Container) -> None:
    """A fresh start on PostgreSQL: every table of the database goes (the migrations make them
    again)."""
    from sqlalchemy import text

    async with container.engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))


async def reset(args: argparse.Namespace) -> None:
    """``make reset``: every store emptied (the files; PostgreSQL's tables), nothing started."""
    args.state_dir.mkdir(parents=True, exist_ok=True)
    state.wipe(args.state_dir)
    url = database_url(args.state_dir)
    where = describe_database(url)
    if not url.startswith("sqlite"):
        container = Container(Settings(database_url=url))
        try:
            await empty_postgres(container)
        finally:
            await container.aclose()
    print(f"Local stack state emptied: {args.state_dir}/ and {where}", flush=True)


# a record's own attributes, and uvicorn's coloured copy of its message: not extras
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class TerminalFormatter(logging.Formatter):
    """One plain line: time, level, logger, message, then a line's extras as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}
        if extras:
            line += "  " + " ".join(f"{k}={v}" for k, v in extras.items())
        return line


def not_chatter(record: logging.LogRecord) -> bool:
    """False for an INFO (or lower) line of a logger in :data:`QUIET_IN_TERMINAL`."""
    if record.levelno >= logging.WARNING:
        return True
    return not any(
        record.name == name or record.name.startswith(name + ".") for name in QUIET_IN_TERMINAL
    )


def terminal_logging(level: int = logging.INFO) -> logging.Handler:
    """The root logger's one handler: plain lines on stderr, without the chatter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TerminalFormatter())
    handler.addFilter(not_chatter)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def keep_terminal_plain() -> None:
    """``create_app`` adds its JSON handler (CloudWatch's shape) to the root logger: here the
    terminal's plain one says the same, so it goes."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler.formatter, StorefrontFormatter):
            root.removeHandler(handler)


class MetricsFile:
    """The app's metrics in EMF, as it writes them on Lambda, into a file (line by line)."""

    def __init__(self, path: Path, *, service: str) -> None:
        self._emf = PowertoolsMetrics(service=service)
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def record(self, name: str, *, value: float, unit: Unit, dimensions: Mapping[str, str]) -> None:
        line = self._emf.single_blob(name, value=value, unit=unit, dimensions=dimensions)
        with self._lock:
            if not self._file.closed:  # a metric of the shutdown, after close(): dropped
                self._file.write(line)
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def describe_database(url: str) -> str:
    """``SQLite, <path>`` or ``PostgreSQL, postgresql://user@host:port/db`` (no password)."""
    if url.startswith("sqlite"):
        return "SQLite, " + url.split(":///", 1)[-1]
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (f"{parts.username}@" if parts.username else "") + host
    netloc += f":{parts.port}" if parts.port else ""
    scheme = parts.scheme.split("+", 1)[0]
    return "PostgreSQL, " + urlunsplit((scheme, netloc, parts.path, "", ""))


def banner(
    stack: Mapping[str, Any], *, state_dir: Path, database: str, kept: str | None = None
) -> str:
    """What the terminal shows once everything answers: the URLs, the database, the demo
    users (passwords and groups), then "Ctrl-C stops"."""
    logs = {
        "aws": f"log: {state_dir / EMULATOR_LOG}",
        "razorpay": f"log: {state_dir / SANDBOX_LOG}",
    }
    rows: list[tuple[str, str, str]] = [
        ("Storefront", stack["storefront_url"], ""),
        ("GraphiQL", stack["graphql_url"], ""),
        ("AWS emulator", stack["aws_endpoint_url"], logs["aws"]),
        ("Razorpay sandbox", stack["razorpay"]["base_url"], logs["razorpay"]),
        ("Database", database, ""),
        *([("State", kept, "")] if kept else []),
        ("Stack file", str(state_dir / "stack.json"), ""),
        ("Metrics (EMF)", str(state_dir / METRICS_LOG), ""),
    ]
    label_width = max(len(label) for label, _, _ in rows) + 2
    value_width = max(len(value) for _, value, note in rows if note) + 3
    lines = ["", "Local stack is up", ""]
    for label, value, note in rows:
        lines.append(f"  {label:<{label_width}}{value:<{value_width}}{note}".rstrip())
    users: Sequence[Mapping[str, Any]] = stack.get("users", [])
    if users:
        table = [("username", "password", "groups")] + [
            (u["username"], u["password"], ", ".join(u["groups"]) or "-") for u in users
        ]
        widths = [max(len(row[i]) for row in table) + 2 for i in range(2)]
        lines += ["", '  Demo users (in GraphiQL: "Sign in as a demo user"):']
        for name, password, groups in table:
            lines.append(f"    {name:<{widths[0]}}{password:<{widths[1]}}{groups}")
    lines += ["", "Ctrl-C stops", ""]
    return "\n".join(lines)


class AnnouncingServer(uvicorn.Server):
    """uvicorn's server, calling ``announce`` once it listens (and the app started)."""

    def __init__(self, config: uvicorn.Config, *, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self._announce()


def stack_description(*, settings: Settings, api_base: str) -> dict[str, Any]:
    return {
        "graphql_url": f"{api_base}/graphql",
        "storefront_url": f"{api_base}/shop/",
        "webhook_url": f"{api_base}/webhooks/razorpay",
        "aws_endpoint_url": settings.aws_endpoint_url,
        "aws_region": settings.aws_region,
        "database": "postgresql" if not settings.is_sqlite else "sqlite",
    }


@dataclass(frozen=True)
class Emulated:
    """What the emulator was provisioned with: the ids the app is configured with."""

    cognito: CognitoStack
    topics: dict[str, str]
    razorpay_secret: str
    kms_key_id: str

    @property
    def ids(self) -> dict[str, str]:
        """The ids a kept start must rebuild the same (``state.json``)."""
        return {
            "user_pool_id": self.cognito.user_pool_id,
            "client_id": self.cognito.client_id,
            "razorpay_secret_arn": self.razorpay_secret,
            "kms_key_id": self.kms_key_id,
        }


async def provision_emulator(aws_url: str, *, region: str, seed: int) -> Emulated:
    """The user pool and demo users, the topics, Razorpay's secret and the PII key; the same
    seed before the same calls makes the same ids (``infra/local/state.py``)."""
    state.seed_emulator(aws_url, seed)
    cognito = provision_cognito(endpoint_url=aws_url, region=region)
    topics = await provision_topics(endpoint_url=aws_url, region=region, prefix="storefront")
    # Razorpay's keys live in the emulator's Secrets Manager, as in production (read back
    # every 10 s: put a new value there to try a rotation)
    razorpay_secret = await provision_secret(
        endpoint_url=aws_url,
        region=region,
        name="storefront/razorpay",
        value={
            "key_id": DEMO_KEY_ID,
            "key_secret": DEMO_KEY_SECRET,
            "webhook_secret": DEMO_WEBHOOK_SECRET,
            "webhook_secret_previous": "",
        },
    )
    # customer PII is sealed with this key's data keys, as in production
    kms_key_id = await provision_kms_key(endpoint_url=aws_url, region=region)
    return Emulated(cognito, topics, razorpay_secret, kms_key_id)


def settle_plan(
    plan: state.Plan, emulated: Emulated, *, state_dir: Path, region: str
) -> state.Plan:
    """A kept start whose emulator made other ids (a moto upgrade?) cannot keep anything else;
    then the KMS key's material: put back (kept) or saved (fresh)."""
    changed = state.ids_differ(plan, emulated.ids) if plan.keep else []
    if changed:
        reason = f"the emulator rebuilt other ids ({', '.join(changed)})"
        plan = state.Plan(False, plan.seed, reason)
        state.wipe(state_dir)
    if plan.keep:
        state.restore_kms_material(state_dir, region=region, key_id=emulated.kms_key_id)
    else:
        state.save_kms_material(state_dir, region=region, key_id=emulated.kms_key_id)
    return plan


def app_settings(
    base: Settings, emulated: Emulated, *, url: str, aws_url: str, razorpay_url: str, api: str
) -> Settings:
    """The app's settings: the stack's services, on loopback."""
    overrides: dict[str, Any] = {
        "database_url": url,
        "kms_key_id": emulated.kms_key_id,
        "aws_endpoint_url": aws_url,
        "cognito_user_pool_id": emulated.cognito.user_pool_id,
        "cognito_client_ids": emulated.cognito.client_id,
        "razorpay_secret_arn": emulated.razorpay_secret,
        "secrets_cache_seconds": 10,
        "razorpay_base_url": razorpay_url,
        "public_base_url": api,
        "storefront_success_url": f"{api}/shop/checkout/success.html",
        "storefront_failure_url": f"{api}/shop/checkout/failure.html",
        "sns_customer_topic_arn": emulated.topics["customer"],
        "sns_admin_topic_arn": emulated.topics["admin"],
        # GraphiQL's "Sign in as a demo user" (local only: never in production)
        "graphiql_demo_users": json.dumps(emulated.cognito.as_json()["users"]),
    }
    return Settings.model_validate(base.model_dump() | overrides)


async def prepare_data(container: Container, plan: state.Plan, *, state_dir: Path) -> None:
    """The database migrated (emptied first on a fresh PostgreSQL start), the catalog seeded,
    the table made, and on a kept start its DynamoDB items put back."""
    settings = container.settings
    if not plan.keep and not settings.is_sqlite:
        await empty_postgres(container)
    await migrate.upgrade(container.engine)
    await encrypt_pii(container)  # rows from before PII encryption (idempotent)
    await seed_catalog(container.sessions)
    await ensure_table(container.aws, table_name=settings.dynamodb_table)
    if plan.keep:
        state.restore_dynamodb(state_dir, **dynamodb_of(settings))


def dynamodb_of(settings: Settings) -> dict[str, str]:
    assert settings.aws_endpoint_url is not None
    return {
        "endpoint_url": settings.aws_endpoint_url,
        "region": settings.aws_region,
        "table": settings.dynamodb_table,
    }


def stack_json(
    settings: Settings, emulated: Emulated, *, api: str, plan: state.Plan
) -> dict[str, Any]:
    """``.devstack/stack.json`` (API.md "Local stack")."""
    stack = stack_description(settings=settings, api_base=api) | emulated.cognito.as_json()
    topics = emulated.topics
    stack["notifications"] = {
        "customer_topic_arn": topics["customer"],
        "admin_topic_arn": topics["admin"],
        "customer_queue_url": topics["customer_queue"],
        "admin_queue_url": topics["admin_queue"],
    }
    stack["secrets"] = {"razorpay": emulated.razorpay_secret}
    stack["kms_key_id"] = emulated.kms_key_id
    stack["razorpay"] = {
        "base_url": settings.razorpay_base_url,
        "key_id": DEMO_KEY_ID,
        "key_secret": DEMO_KEY_SECRET,
        "webhook_secret": DEMO_WEBHOOK_SECRET,
    }
    stack["state"] = {"kept": plan.keep, "reason": plan.reason}
    return stack


async def serve(args: argparse.Namespace, *, terminal: logging.Handler | None = None) -> None:
    """The stack, until Ctrl-C; ``terminal``: the handler of the terminal's lines (the
    sandbox's are left out of it, they go to its log)."""
    args.state_dir.mkdir(parents=True, exist_ok=True)
    state_dir: Path = args.state_dir
    url = database_url(state_dir)
    identity = state.database_identity(url, directory=state_dir)
    plan = state.plan(state_dir, database=identity, fresh=args.fresh)
    if not plan.keep:
        state.wipe(state_dir)
    moto, aws_url = start_emulator(host=args.host, port=args.aws_port, log=state_dir / EMULATOR_LOG)
    stack_stoppers: list[Callable[[], None]] = [moto.stop]
    save_dynamodb: Callable[[], None] | None = None
    stack_file = state_dir / "stack.json"
    try:
        base = Settings()
        emulated = await provision_emulator(aws_url, region=base.aws_region, seed=plan.seed)
        plan = settle_plan(plan, emulated, state_dir=state_dir, region=base.aws_region)
        api = f"http://{args.host}:{args.port}"
        sandbox = SandboxServer(
            config=SandboxConfig(
                key_id=DEMO_KEY_ID,
                key_secret=DEMO_KEY_SECRET,
                webhook_secret=DEMO_WEBHOOK_SECRET,
                webhook_url=f"{api}/webhooks/razorpay",
                state_file=str(state_dir / state.SANDBOX_FILE),
            ),
            host=args.host,
            port=args.razorpay_port,
            log=state_dir / SANDBOX_LOG,
        )
        if terminal is not None:
            terminal.addFilter(lambda record: not sandbox.owns(record))
        stack_stoppers.append(sandbox.stop)
        razorpay_url = sandbox.start()
        settings = app_settings(
            base, emulated, url=url, aws_url=aws_url, razorpay_url=razorpay_url, api=api
        )
        container = Container(settings)
        await prepare_data(container, plan, state_dir=state_dir)

        def save_dynamodb() -> None:
            state.dump_dynamodb(state_dir, **dynamodb_of(settings))

        save_dynamodb()
        state.write_manifest(
            state_dir, seed=plan.seed, database=identity, ids=emulated.ids, earlier=plan
        )
        kept = f"kept, {plan.reason}" if plan.keep else f"fresh start: {plan.reason}"
        logger.info("local stack state: %s", kept)
        stack = stack_json(settings, emulated, api=api, plan=plan)
        stack_file.write_text(json.dumps(stack, indent=2) + "\n")
        app = create_app(container)
        keep_terminal_plain()
        emf = MetricsFile(state_dir / METRICS_LOG, service=settings.service_name)
        stack_stoppers.append(emf.close)
        metrics.install(emf)
        said = banner(
            stack,
            state_dir=state_dir,
            database=describe_database(settings.database_url),
            kept=f"{kept}  ({FRESH_HINT if plan.keep else KEEP_HINT})",
        )
        # uvicorn's lines reach the terminal's handler like the app's (log_config None); its
        # start-up chatter is left out there (QUIET_IN_TERMINAL): the banner says it is up
        server = AnnouncingServer(
            uvicorn.Config(
                app, host=args.host, port=args.port, log_config=None, log_level=None, lifespan="on"
            ),
            announce=lambda: print(said, flush=True),
        )
        jobs = asyncio.create_task(
            run_jobs_every(container, seconds=args.jobs_every, after=save_dynamodb)
        )
        try:
            await server.serve()
        finally:
            jobs.cancel()
    finally:
        if save_dynamodb is not None:  # what the last half minute wrote, before moto stops
            try:
                save_dynamodb()
            except Exception:
                logger.exception("saving the emulator's DynamoDB items at shut-down failed")
        for stop in reversed(stack_stoppers):
            stop()
        stack_file.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    terminal = terminal_logging()
    # uvicorn stops on Ctrl-C, cleans up, then re-raises the signal: that is a clean exit here.
    args = parse_args(argv)
    if args.reset:
        asyncio.run(reset(args))
        return
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args, terminal=terminal))
    print("Local stack stopped.", flush=True)


if __name__ == "__main__":
    main()
