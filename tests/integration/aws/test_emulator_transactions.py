"""The emulator's TransactWriteItems (infra/local/emulator.py backs up only the items a
transaction touches, instead of moto's deep copy of each table it names): a cancelled
transaction still leaves every item as it was, and one that succeeds writes them all."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from datasources.aws import AwsClients
from tests.support.stack import unique


def _key(pk: str, sk: str = "x") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


@pytest.fixture(scope="module")
async def table(aws: AwsClients) -> str:
    name = unique("txn")
    client = await aws.client("dynamodb")
    await client.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


async def _items(aws: AwsClients, table: str, *pks: str) -> dict[str, Any]:
    client = await aws.client("dynamodb")
    found = {}
    for pk in pks:
        answer = await client.get_item(TableName=table, Key=_key(pk), ConsistentRead=True)
        found[pk] = answer.get("Item")
    return found


async def test_a_cancelled_transaction_leaves_every_item_as_it_was(
    aws: AwsClients, table: str
) -> None:
    client = await aws.client("dynamodb")
    await client.put_item(TableName=table, Item={**_key("kept"), "n": {"N": "1"}})
    await client.put_item(TableName=table, Item={**_key("gone"), "n": {"N": "2"}})
    before = await _items(aws, table, "kept", "gone", "new")
    with pytest.raises(ClientError) as caught:
        await client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {**_key("new"), "n": {"N": "3"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": _key("kept"),
                        "UpdateExpression": "SET n = n + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Delete": {"TableName": table, "Key": _key("gone")}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": _key("absent"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert await _items(aws, table, "kept", "gone", "new") == before
    assert before["new"] is None and before["kept"] is not None


async def test_a_transaction_that_holds_writes_every_item(aws: AwsClients, table: str) -> None:
    client = await aws.client("dynamodb")
    await client.put_item(TableName=table, Item={**_key("a"), "n": {"N": "1"}})
    await client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {**_key("b"), "n": {"N": "5"}}}},
            {
                "Update": {
                    "TableName": table,
                    "Key": _key("a"),
                    "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
        ]
    )
    found = await _items(aws, table, "a", "b")
    assert found["a"] is not None and found["a"]["n"] == {"N": "2"}
    assert found["b"] is not None and found["b"]["n"] == {"N": "5"}
