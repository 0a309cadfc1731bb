"""DynamoDB adapters (aioboto3) for the payment records: one table, keys in ``table.py``.

- :class:`DynamoPaymentTimeline` (``PaymentTimeline``): append-only, ordered per session.
- :class:`DynamoSalesCounters` (``SalesCounters``): exactly-once daily counters.

Each adapter takes a :class:`datasources.aws.ClientFactory` and the table name; clients are
created on first use. :func:`ensure_table` creates the table for the emulator and tests;
:func:`cloudformation_resource` / :data:`TABLE_PROPERTIES` are the same definition for
CloudFormation.
"""

from datasources.dynamodb.sales import DynamoSalesCounters
from datasources.dynamodb.table import TABLE_PROPERTIES, cloudformation_resource, ensure_table
from datasources.dynamodb.timeline import DynamoPaymentTimeline

__all__ = [
    "TABLE_PROPERTIES",
    "DynamoPaymentTimeline",
    "DynamoSalesCounters",
    "cloudformation_resource",
    "ensure_table",
]
