"""The pieces that keep the local stack's emulator state across a restart
(infra/local/state.py), against the emulator: the DynamoDB dump and the KMS key's material."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import boto3
import pytest

from infra.local import state
from infra.local.emulator import provision_kms_key

REGION = "ap-south-1"


def test_dynamodb_items_come_back_from_the_dump(aws_endpoint_url: str, tmp_path: Path) -> None:
    client = boto3.session.Session().client(
        "dynamodb",
        region_name=REGION,
        endpoint_url=aws_endpoint_url,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    table = f"state-{secrets.token_hex(4)}"

    def make() -> None:
        client.create_table(
            TableName=table,
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

    make()
    items = [
        {"pk": {"S": f"SESSION#{i // 10}"}, "sk": {"S": f"EVENT#{i:03}"}, "n": {"N": str(i)}}
        for i in range(60)  # more than one batch of 25
    ]
    for item in items:
        client.put_item(TableName=table, Item=item)
    assert (
        state.dump_dynamodb(tmp_path, endpoint_url=aws_endpoint_url, region=REGION, table=table)
        == 60
    )
    client.delete_table(TableName=table)
    make()
    restored = state.restore_dynamodb(
        tmp_path, endpoint_url=aws_endpoint_url, region=REGION, table=table
    )
    assert restored == 60
    found = client.scan(TableName=table)["Items"]
    key = lambda i: (i["pk"]["S"], i["sk"]["S"])  # noqa: E731
    assert sorted(found, key=key) == sorted(items, key=key)
    assert json.loads((tmp_path / state.DYNAMODB_FILE).read_text())["table"] == table


async def test_the_kms_keys_material_comes_back(aws_endpoint_url: str, tmp_path: Path) -> None:
    alias = f"alias/state-{secrets.token_hex(4)}"
    key_id = await provision_kms_key(endpoint_url=aws_endpoint_url, region=REGION, alias=alias)
    kms = boto3.session.Session().client(
        "kms",
        region_name=REGION,
        endpoint_url=aws_endpoint_url,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    sealed = kms.encrypt(KeyId=key_id, Plaintext=b"asha@example.com")["CiphertextBlob"]
    state.save_kms_material(tmp_path, region=REGION, key_id=key_id)
    state._kms_key(REGION, key_id).key_material = secrets.token_bytes(32)  # a restart's new key
    with pytest.raises(kms.exceptions.ClientError):
        kms.decrypt(CiphertextBlob=sealed)
    state.restore_kms_material(tmp_path, region=REGION, key_id=key_id)
    assert kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"asha@example.com"
