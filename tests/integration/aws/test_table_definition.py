"""The payment records table: one definition for the emulator and for CloudFormation."""

from __future__ import annotations

from datasources.aws import AwsClients
from datasources.dynamodb import TABLE_PROPERTIES, cloudformation_resource, ensure_table
from tests.support.cfn import load_template


def test_the_sam_template_declares_the_same_keys_and_ttl() -> None:
    template = load_template()
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
