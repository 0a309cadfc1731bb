"""Fixtures for the DynamoDB and SNS adapters against the AWS emulator (moto server, HTTP).

Every test module gets its own table (and topics) with a random suffix, so modules and
repeated runs never see each other's items.

The emulator serializes DynamoDB requests as DynamoDB makes each one atomic (see
infra/local/emulator.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from datasources.aws import AwsClients, default_config
from datasources.dynamodb import ensure_table
from tests.support.stack import REGION, unique


@pytest.fixture(scope="module")
async def aws(aws_endpoint_url: str) -> AsyncIterator[AwsClients]:
    clients = AwsClients(
        region=REGION,
        endpoint_url=aws_endpoint_url,
        config=default_config(max_attempts=2, max_pool_connections=64),
    )
    yield clients
    await clients.aclose()


@pytest.fixture(scope="module")
async def table_name(aws: AwsClients) -> str:
    name = unique("payments")
    await ensure_table(aws, table_name=name)
    return name
