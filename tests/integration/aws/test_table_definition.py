"""The payment records table: one definition for the emulator and for CloudFormation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from datasources.aws import AwsClients
from datasources.dynamodb import TABLE_PROPERTIES, cloudformation_resource, ensure_table

TEMPLATE = Path(__file__).resolve().parents[3] / "infra" / "aws" / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, !GetAtt) as plain values."""


def _tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _tag)


def test_the_sam_template_declares_the_same_keys_and_ttl() -> None:
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 (safe loader)
    [table] = [
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::DynamoDB::Table"
    ]
    properties = table["Properties"]
    for name in ("KeySchema", "AttributeDefinitions", "TimeToLiveSpecification", "BillingMode"):
        assert properties[name] == TABLE_PROPERTIES[name], name


def test_cloudformation_resource() -> None:
    resource = cloudformation_resource("payments")
    assert resource["Type"] == "AWS::DynamoDB::Table"
    assert resource["Properties"]["TableName"] == "payments"
    assert "TableName" not in cloudformation_resource()["Properties"]


async def test_ensure_table_is_idempotent(aws: AwsClients, table_name: str) -> None:
    await ensure_table(aws, table_name=table_name)  # exists already: nothing happens
    dynamodb = await aws.client("dynamodb")
    table = (await dynamodb.describe_table(TableName=table_name))["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == TABLE_PROPERTIES["KeySchema"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
