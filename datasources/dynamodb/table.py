"""The one DynamoDB table of the payment records, its keys, and error translation.

Single-table design: string ``pk`` (HASH) and ``sk`` (RANGE), on-demand billing, TTL on the
Number attribute ``expires_at`` (epoch seconds), point-in-time recovery on. No indexes.

Records (pk | sk | TTL)::

    timeline entry       SESSION#<session id>          | TL#<at, UTC ISO µs>Z#<ulid> | none
    timeline entry id    SESSION#<session id>          | TLID#<sha256 of entry id>   | none
    webhook event claim  WEBHOOK#<event id>            | WEBHOOK                     | 7 days
    idempotency record   IDEMPOTENCY#<scope>#<key>     | IDEMPOTENCY                 | per claim
    sales day counters   SALES                         | DAY#<YYYY-MM-DD>            | none
    sales event marker   SALESEVENT#<kind>#<event key> | SALESEVENT                  | none

DynamoDB deletes expired items lazily (typically within days), so every read and conditional
write here also treats ``expires_at <= now`` as absent. Sales markers are kept forever: a
marker is what makes a late duplicate a no-op.

:data:`TABLE_PROPERTIES` is the CloudFormation ``AWS::DynamoDB::Table`` ``Properties``
(``cloudformation_resource()`` wraps it; infra/aws/template.yaml's ``PaymentTimelineTable``
declares the same keys and TTL attribute). :func:`ensure_table` creates it in the local
emulator and in tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from datasources.aws import ClientFactory
from domain.payment_ports import RecordStoreError

PK: Final = "pk"
SK: Final = "sk"
TTL_ATTRIBUTE: Final = "expires_at"

TABLE_PROPERTIES: Final[Mapping[str, Any]] = {
    "BillingMode": "PAY_PER_REQUEST",
    "AttributeDefinitions": [
        {"AttributeName": PK, "AttributeType": "S"},
        {"AttributeName": SK, "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": PK, "KeyType": "HASH"},
        {"AttributeName": SK, "KeyType": "RANGE"},
    ],
    "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
}

# Error codes worth retrying; everything else (validation, missing table, access) is not.
RETRYABLE_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)


def cloudformation_resource(table_name: str | None = None) -> dict[str, Any]:
    """The table as a CloudFormation resource (``TableName`` only when given)."""
    properties = dict(TABLE_PROPERTIES)
    if table_name is not None:
        properties = {"TableName": table_name, **properties}
    return {"Type": "AWS::DynamoDB::Table", "Properties": properties}


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """botocore errors → :class:`RecordStoreError`, at the boundary."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        raise RecordStoreError(
            f"dynamodb {operation} failed: {code or 'error'}", retryable=code in RETRYABLE_CODES
        ) from exc
    except BotoCoreError as exc:  # endpoint unreachable, timeouts, …
        raise RecordStoreError(
            f"dynamodb {operation} failed: {type(exc).__name__}", retryable=True
        ) from exc


async def ensure_table(clients: ClientFactory, *, table_name: str) -> None:
    """Create the table (and switch its TTL on) unless it exists. For the emulator and tests;
    production tables come from CloudFormation."""
    client = await clients.client("dynamodb")
    with translate_errors("create_table"):
        try:
            await client.create_table(
                TableName=table_name,
                BillingMode=TABLE_PROPERTIES["BillingMode"],
                AttributeDefinitions=TABLE_PROPERTIES["AttributeDefinitions"],
                KeySchema=TABLE_PROPERTIES["KeySchema"],
            )
        except ClientError as exc:
            if error_code(exc) != "ResourceInUseException":
                raise
        waiter = client.get_waiter("table_exists")
        await waiter.wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        ttl = await client.describe_time_to_live(TableName=table_name)
        if ttl.get("TimeToLiveDescription", {}).get("TimeToLiveStatus") not in {
            "ENABLED",
            "ENABLING",
        }:
            await client.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification=TABLE_PROPERTIES["TimeToLiveSpecification"],
            )


# --- attribute values ---------------------------------------------------------------------------


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(int(value))}


def key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {PK: s(pk), SK: s(sk)}


def get_s(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value["S"])


def get_n(item: Mapping[str, Any], name: str, default: int = 0) -> int:
    """DynamoDB numbers arrive as decimal strings; paise are integers, so int() is exact."""
    value = item.get(name)
    return default if value is None else int(value["N"])
