"""What the local stack keeps across a restart, and the rule that keeps it consistent: every
store is kept, or every store starts fresh; never a mix.

The stores and how each one is kept, in the state directory (``.devstack/``):

* the database: SQLite ``storefront.db`` (or the PostgreSQL database of ``DATABASE_URL``);
* the Razorpay sandbox: ``razorpay-sandbox.db`` (its ``--state-file``);
* the emulator's Cognito, SNS, Secrets Manager and KMS key ids: rebuilt, not saved. moto makes
  its ids from one random generator; seeded with the seed in ``state.json`` before the same
  provisioning calls, it makes the same user pool, app client, user ``sub`` ids, secret ARN and
  key id again, so the demo users' carts and sessions stay theirs and their old tokens still
  verify. ``state.json`` holds the ids the first run made; a restart that rebuilds other ids
  (say, after a moto upgrade) cannot keep the rest and starts fresh;
* the KMS key's material (it seals customer PII): ``kms-key.json``, put back into the rebuilt
  key (moto draws it from ``os.urandom``, not from the seeded generator);
* DynamoDB (timelines, webhook and idempotency records, sales counters): ``dynamodb.json``, a
  dump written after every run of the jobs and at shut-down, loaded into the new table.

Not kept: the SQS inboxes subscribed to the topics (notifications already sent), Redis or the
in-process cache (caches only), sandbox webhooks still being retried, and a sandbox refund left
pending (it stays pending). A stack killed without Ctrl-C loses at most the DynamoDB writes of
its last half minute.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from infra.local.emulator import emulator_client

VERSION = 1
MANIFEST = "state.json"
SQLITE_FILE = "storefront.db"
SANDBOX_FILE = "razorpay-sandbox.db"
DYNAMODB_FILE = "dynamodb.json"
KMS_FILE = "kms-key.json"
KEPT_FILES = (SANDBOX_FILE, DYNAMODB_FILE, KMS_FILE)


@dataclass(frozen=True)
class Plan:
    """Keep the saved state, or start every store fresh; ``reason`` is said at start-up."""

    keep: bool
    seed: int
    reason: str
    manifest: dict[str, Any] | None = None


def read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        found = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def plan(directory: Path, *, database: str, fresh: bool) -> Plan:
    """What this start does with what ``directory`` holds, for ``database`` (its identity:
    ``sqlite:<file>`` or the PostgreSQL URL without its password)."""
    seed = secrets.randbelow(2**31)
    if fresh:
        return Plan(False, seed, "asked for (FRESH=1): every store starts empty")
    manifest = read_manifest(directory)
    sqlite = directory / SQLITE_FILE
    if manifest is None:
        if database.startswith("sqlite:") and sqlite.exists():
            return Plan(False, seed, f"{sqlite} has no saved state beside it")
        return Plan(False, seed, "nothing saved yet")
    if manifest.get("version") != VERSION:
        return Plan(False, seed, "the saved state is of another version")
    if manifest.get("database") != database:
        return Plan(
            False,
            seed,
            f"the saved state belongs to {manifest.get('database')}, not {database}",
        )
    missing = [name for name in KEPT_FILES if not (directory / name).exists()]
    if database.startswith("sqlite:") and not sqlite.exists():
        missing.append(SQLITE_FILE)
    if missing:
        return Plan(False, seed, f"the saved state is incomplete ({', '.join(missing)} missing)")
    runs = int(manifest.get("runs", 1))
    return Plan(
        True,
        int(manifest["seed"]),
        f"since {manifest.get('created_at')} ({runs} earlier run{'s' if runs != 1 else ''})",
        manifest,
    )


def wipe(directory: Path) -> None:
    """Delete every kept file (the SQLite database with its journal files, the sandbox's, the
    dumps and the manifest; a stale stack.json too); a PostgreSQL database is emptied by the
    caller."""
    names = [*KEPT_FILES, MANIFEST, SQLITE_FILE, f"{SQLITE_FILE}-wal", f"{SQLITE_FILE}-shm"]
    names += [f"{SQLITE_FILE}-journal", f"{SANDBOX_FILE}-journal", "stack.json"]
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()


def write_manifest(
    directory: Path, *, seed: int, database: str, ids: dict[str, str], earlier: Plan
) -> None:
    previous = earlier.manifest if earlier.keep and earlier.manifest else {}
    manifest = {
        "version": VERSION,
        "seed": seed,
        "database": database,
        "ids": ids,
        "created_at": previous.get("created_at") or datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": int(previous.get("runs", 0)) + 1,
    }
    _write_atomically(directory / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def ids_differ(saved: Plan, ids: dict[str, str]) -> list[str]:
    """The ids a kept start rebuilt differently from the saved ones (empty: all the same)."""
    before = (saved.manifest or {}).get("ids", {})
    return sorted(name for name in ids if before.get(name) != ids[name])


def database_identity(url: str, *, directory: Path) -> str:
    """``sqlite:<absolute file>`` or the PostgreSQL URL without its password."""
    if url.startswith("sqlite"):
        return f"sqlite:{(directory / SQLITE_FILE).resolve()}"
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- the emulator ----------------------------------------------------------------------------


def seed_emulator(endpoint_url: str, seed: int) -> None:
    """moto's ``/moto-api/seed``: the ids it makes from now on follow ``seed``."""
    httpx.post(f"{endpoint_url}/moto-api/seed", params={"a": seed}, timeout=10).raise_for_status()


def _kms_key(region: str, key_id: str) -> Any:
    """The in-process emulator's key (the local stack runs moto in a thread of its own)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.kms.models import kms_backends

    backend = kms_backends[DEFAULT_ACCOUNT_ID][region]
    return backend.keys[backend.get_key_id(key_id)]


def save_kms_material(directory: Path, *, region: str, key_id: str) -> None:
    material = base64.b64encode(_kms_key(region, key_id).key_material).decode()
    _write_atomically(directory / KMS_FILE, json.dumps({"key_id": key_id, "material": material}))


def restore_kms_material(directory: Path, *, region: str, key_id: str) -> None:
    saved = json.loads((directory / KMS_FILE).read_text())
    if saved["key_id"] != key_id:
        raise ValueError(f"{KMS_FILE} is for {saved['key_id']}, not {key_id}")
    _kms_key(region, key_id).key_material = base64.b64decode(saved["material"])


def dump_dynamodb(directory: Path, *, endpoint_url: str, region: str, table: str) -> int:
    """Every item of ``table`` (DynamoDB JSON) to ``dynamodb.json``; answers how many."""
    client = emulator_client("dynamodb", endpoint_url=endpoint_url, region=region)
    items = [
        item
        for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
        for item in page.get("Items", [])
    ]
    _write_atomically(directory / DYNAMODB_FILE, json.dumps({"table": table, "items": items}))
    return len(items)


def restore_dynamodb(directory: Path, *, endpoint_url: str, region: str, table: str) -> int:
    """Put the dumped items back into ``table`` (made, empty, by the caller); answers how many."""
    saved = json.loads((directory / DYNAMODB_FILE).read_text())
    items: list[dict[str, Any]] = saved["items"]
    client = emulator_client("dynamodb", endpoint_url=endpoint_url, region=region)
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        pending: dict[str, Any] = {table: batch}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return len(items)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    temporary.replace(path)
