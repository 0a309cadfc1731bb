"""DynamoDB adapters (aioboto3) for the payment records: one table, keys in ``table.py``.

- :class:`DynamoPaymentTimeline` (``PaymentTimeline``): append-only, ordered per session.
- :class:`DynamoWebhookEventLedger` (``WebhookEventLedger``): first claim of an event id wins.
- :class:`DynamoIdempotencyStore` (``IdempotencyStore``): conditional records with a TTL.
- :class:`DynamoSalesCounters` (``SalesCounters``): exactly-once daily counters.

Each adapter takes a :class:`datasources.aws.ClientFactory` and the table name; clients are
created on first use. :func:`ensure_table` creates the table for the emulator and tests;
:func:`cloudformation_resource` / :data:`TABLE_PROPERTIES` are the same definition for
CloudFormation.
"""

from datasources.dynamodb.idempotency import DynamoIdempotencyStore
from datasources.dynamodb.ledger import DynamoWebhookEventLedger
from datasources.dynamodb.sales import DynamoSalesCounters
from datasources.dynamodb.table import TABLE_PROPERTIES, cloudformation_resource, ensure_table
from datasources.dynamodb.timeline import DynamoPaymentTimeline

__all__ = [
    "TABLE_PROPERTIES",
    "DynamoIdempotencyStore",
    "DynamoPaymentTimeline",
    "DynamoSalesCounters",
    "DynamoWebhookEventLedger",
    "cloudformation_resource",
    "ensure_table",
]
