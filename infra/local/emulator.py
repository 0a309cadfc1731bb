"""The local AWS emulator: moto in server mode, on loopback, over HTTP.

moto's server handles requests on threads but its DynamoDB backend is not linearizable: a
conditional write is an unlocked check-then-write, and a cancelled TransactWriteItems restores
a copy of the whole table taken when it started, discarding writes other threads committed
meanwhile (seen: lost sales-counter updates in about one run in ten under 200 concurrent
calls). Real DynamoDB makes each request atomic, so the emulator is given the same guarantee:
one DynamoDB request at a time.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.server import ThreadedMotoServer

Backup = tuple[str, dict[str, Any], dict[str, Any] | None]  # table, key, item before (None: none)

_patched = threading.Lock()
_applied = False


def make_dynamodb_linearizable() -> None:
    """Serialize the in-process moto server's DynamoDB requests (idempotent), and make a
    TransactWriteItems back up only the items it touches instead of deep-copying each table it
    names (once per item): with that copy every transaction cost time in proportion to the
    whole table, and a storm's writes queued behind the lock past botocore's read timeout."""
    global _applied
    with _patched:
        if _applied:
            return
        lock = threading.Lock()
        original = DynamoHandler.call_action

        def call_action(self: DynamoHandler) -> Any:
            with lock:
                return original(self)

        DynamoHandler.call_action = call_action  # type: ignore[method-assign]
        _back_up_only_touched_items()
        _applied = True


class _TableCopies:
    """Stands in for the ``copy`` module inside moto's DynamoDB models: while a transaction
    runs (under the lock above, so one at a time), a table "copied" as its backup is the table
    itself; the items it touches are backed up and restored by the wrapper instead."""

    def __init__(self) -> None:
        self.in_transaction = False

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if self.in_transaction and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)

    def copy(self, value: Any) -> Any:
        return copy.copy(value)


def _back_up_only_touched_items() -> None:
    copies = _TableCopies()
    dynamodb_models.copy = copies  # type: ignore[assignment]
    original = DynamoDBBackend.transact_write_items

    def touched(backend: DynamoDBBackend, items: list[dict[str, Any]]) -> list[Backup]:
        saved: list[Backup] = []
        for entry in items:
            if len(entry) != 1:
                continue  # moto refuses it before writing anything
            kind, op = next(iter(entry.items()))
            table = backend.tables.get(op.get("TableName", ""))
            if table is None:
                continue
            if kind == "Put":
                attrs = op.get("Item", {})
                names = [table.hash_key_attr, table.range_key_attr]
                key = {n: attrs[n] for n in names if n is not None and n in attrs}
            else:
                key = op.get("Key") or {}
            try:
                current = backend.get_item(table.name, key)
            except Exception:  # noqa: S112 (a malformed key: moto refuses it before any write)
                continue
            before = None if current is None else copy.deepcopy(current.to_json()["Attributes"])
            saved.append((table.name, key, before))
        return saved

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        saved = touched(self, transact_items)
        copies.in_transaction = True
        try:
            original(self, transact_items)
        except Exception:
            for table_name, key, before in reversed(saved):
                if before is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, before)
            raise
        finally:
            copies.in_transaction = False

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def emulator_client(service: str, *, endpoint_url: str, region: str) -> Any:
    """A plain (sync) boto3 client of the emulator, for scripts, the local stack and tests:
    dummy credentials (the emulator takes any), nothing read from the environment."""
    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 (the emulator accepts any)
    )


class _PlainFormatter(logging.Formatter):
    """werkzeug colours an error's request line with ANSI escapes: a file gets it plain."""

    _ANSI = re.compile(r"\x1b\[[0-9;]*m")

    def format(self, record: logging.LogRecord) -> str:
        return self._ANSI.sub("", super().format(record))


class _RequestLog(logging.FileHandler):
    """The emulator's access log (werkzeug's logger) in a file."""


def log_requests_to(path: Path) -> None:
    """The emulator's access lines (werkzeug's logger, which moto's server uses) go to ``path``
    and nowhere else, however the process's root logger is set up."""
    werkzeug = logging.getLogger("werkzeug")
    for old in [h for h in werkzeug.handlers if isinstance(h, _RequestLog)]:
        werkzeug.removeHandler(old)
        old.close()
    handler = _RequestLog(path, encoding="utf-8")
    handler.setFormatter(_PlainFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    werkzeug.addHandler(handler)
    werkzeug.setLevel(logging.INFO)
    werkzeug.propagate = False


def start_emulator(
    *, host: str = "127.0.0.1", port: int, verbose: bool = False, log: Path | None = None
) -> tuple[ThreadedMotoServer, str]:
    """moto's server in a thread of this process; ``log``: a file for its access lines (else
    they go wherever the process's logging sends werkzeug's)."""
    # clients need credentials; the emulator accepts any
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    make_dynamodb_linearizable()
    if log is not None:
        log_requests_to(log)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=verbose)
    server.start()
    return server, f"http://{host}:{port}"


async def provision_topics(*, endpoint_url: str, region: str, prefix: str) -> dict[str, str]:
    """SNS topics for customer and admin notifications, each with an SQS queue subscribed (raw
    delivery) so a developer or a test can read back what was published. Answers
    ``{"customer": arn, "admin": arn, "customer_queue": url, "admin_queue": url}``."""
    from datasources.aws import AwsClients
    from datasources.sns.notifier import ensure_topics
    from domain.payment_ports import NotificationTopic

    clients = AwsClients(region=region, endpoint_url=endpoint_url)
    try:
        arns = await ensure_topics(
            clients, names={t: f"{prefix}-{t.value}" for t in NotificationTopic}
        )
        sqs = await clients.client("sqs")
        sns = await clients.client("sns")
        result = {t.value: arn for t, arn in arns.items()}
        for topic, arn in arns.items():
            queue = (await sqs.create_queue(QueueName=f"{prefix}-{topic.value}-inbox"))["QueueUrl"]
            queue_arn = (
                await sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
            )["Attributes"]["QueueArn"]
            await sns.subscribe(
                TopicArn=arn,
                Protocol="sqs",
                Endpoint=queue_arn,
                Attributes={"RawMessageDelivery": "true"},
            )
            result[f"{topic.value}_queue"] = queue
        return result
    finally:
        await clients.aclose()


async def provision_secret(
    *, endpoint_url: str, region: str, name: str, value: dict[str, str]
) -> str:
    """A JSON secret in the emulator's Secrets Manager (its value replaced when the name is
    taken); answers its ARN."""
    from datasources.aws import AwsClients

    clients = AwsClients(region=region, endpoint_url=endpoint_url)
    try:
        client = await clients.client("secretsmanager")
        text = json.dumps(value)
        try:
            answer = await client.create_secret(Name=name, SecretString=text)
        except client.exceptions.ResourceExistsException:
            answer = await client.put_secret_value(SecretId=name, SecretString=text)
        return str(answer["ARN"])
    finally:
        await clients.aclose()


PII_KEY_ALIAS = "alias/storefront-pii"


async def provision_kms_key(*, endpoint_url: str, region: str, alias: str = PII_KEY_ALIAS) -> str:
    """A symmetric KMS key in the emulator for PII envelope encryption, named ``alias`` (the
    existing one when the alias is taken); answers its ARN (``KMS_KEY_ID``)."""
    from datasources.aws import AwsClients

    clients = AwsClients(region=region, endpoint_url=endpoint_url)
    try:
        kms = await clients.client("kms")
        try:
            return str((await kms.describe_key(KeyId=alias))["KeyMetadata"]["Arn"])
        except kms.exceptions.NotFoundException:
            pass
        key = (await kms.create_key(Description="storefront customer PII (local)"))["KeyMetadata"]
        await kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
        return str(key["Arn"])
    finally:
        await clients.aclose()


class EmulatorProcess:
    """The emulator in a process of its own (``python -m infra.local.emulator``): under load it
    must not share a GIL with the app it serves, or its answers stall behind the app's work
    (seen: an SNS publish answered after botocore's 5 s read timeout, re-sent, delivered
    twice). Use as a context manager; ``url`` is its endpoint."""

    def __init__(self, *, host: str = "127.0.0.1", port: int, log: Path | None = None) -> None:
        self.url = f"http://{host}:{port}"
        self._host, self._port = host, port
        self._log = log  # its access log and any traceback; None: discarded
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> EmulatorProcess:
        env = os.environ | {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
        command = [sys.executable, "-m", "infra.local.emulator"]
        with open(self._log, "ab") if self._log else open(os.devnull, "wb") as output:
            self._process = subprocess.Popen(
                [*command, "--host", self._host, "--port", str(self._port)],
                cwd=Path(__file__).resolve().parents[2],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the emulator exited with {self._process.returncode}")
            try:
                with socket.create_connection((self._host, self._port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.__exit__(None, None, None)
        raise RuntimeError(f"the emulator did not listen on {self.url} within 30 s")

    def __exit__(self, *_: object) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="The local AWS emulator (moto), in the foreground")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server, _ = start_emulator(host=args.host, port=args.port, verbose=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
