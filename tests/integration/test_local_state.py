"""The pieces that keep the local stack's emulator state across a restart
(infra/local/state.py), against the emulator: the DynamoDB dump and the KMS key's material."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from datasources.aws import AwsClients
from datasources.dynamodb import ensure_table
from infra.local import state
from infra.local.emulator import emulator_client, provision_kms_key

REGION = "ap-south-1"


async def test_dynamodb_items_come_back_from_the_dump(
    aws_endpoint_url: str, tmp_path: Path
) -> None:
    client = emulator_client("dynamodb", endpoint_url=aws_endpoint_url, region=REGION)
    table = f"state-{secrets.token_hex(4)}"
    aws = AwsClients(region=REGION, endpoint_url=aws_endpoint_url)
    await ensure_table(aws, table_name=table)  # the table as the local stack makes it
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
    await ensure_table(aws, table_name=table)
    await aws.aclose()
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
    kms = emulator_client("kms", endpoint_url=aws_endpoint_url, region=REGION)
    sealed = kms.encrypt(KeyId=key_id, Plaintext=b"asha@example.com")["CiphertextBlob"]
    state.save_kms_material(tmp_path, region=REGION, key_id=key_id)
    state._kms_key(REGION, key_id).key_material = secrets.token_bytes(32)  # a restart's new key
    with pytest.raises(kms.exceptions.ClientError):
        kms.decrypt(CiphertextBlob=sealed)
    state.restore_kms_material(tmp_path, region=REGION, key_id=key_id)
    assert kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"asha@example.com"
