"""Least privilege, checked offline on every template (and on the SAM-transformed one, whose
roles SAM writes): no "*" action anywhere, the functions' policies name only this stack's
resources, and they grant exactly what the code calls."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest

from datasources.kms.envelope import CONTEXT_KEY
from tests.support.cfn import (
    PIPELINE_TEMPLATE,
    ROOT,
    TEMPLATE,
    WAF_TEMPLATE,
    as_list,
    policy_statements,
    read_template,
    sam_transform,
)

# AWS managed policies a role may carry (by name after "policy/"), each for a reason. Their
# statements are AWS's; this is where a broad grant is allowed, on purpose.
MANAGED_POLICIES: dict[str, str] = {
    "service-role/AWSLambdaBasicExecutionRole": (
        "SAM attaches it to every function role: logs:CreateLogStream/PutLogEvents (the "
        "functions write to their own log groups, LoggingConfig)"
    ),
    "service-role/AWSLambdaVPCAccessExecutionRole": (
        "SAM attaches it to functions in a VPC: Lambda's network interfaces "
        "(ec2:CreateNetworkInterface and friends take no resource-level restriction)"
    ),
    "AWSXrayWriteOnlyAccess": (
        "SAM attaches it for Tracing: Active: xray:PutTraceSegments/PutTelemetryRecords, which "
        'X-Ray grants on Resource "*" only (no resource-level permissions)'
    ),
    "service-role/AWSCodeDeployRoleForLambda": (
        "SAM's CodeDeploy role for the canary: shifts the alias, reads the alarms, invokes the "
        "CodeDeployHook_* pre-traffic function"
    ),
    "PowerUserAccess": (
        "pipeline.yaml DeployRole only, the documented exception: CloudFormation creates every "
        "kind of resource template.yaml declares"
    ),
}

# Function-policy resources that may be something other than this stack's resources, each for
# a reason. None today: X-Ray's Resource "*" comes with the managed policy above.
FOREIGN_RESOURCES: dict[tuple[str, str], str] = {}

# DynamoDB calls in datasources/dynamodb → the IAM actions they need. A transaction needs the
# action of each item kind it holds (there is no TransactWriteItems IAM action).
DYNAMODB_CALLS = {
    "get_item": "dynamodb:GetItem",
    "put_item": "dynamodb:PutItem",
    "update_item": "dynamodb:UpdateItem",
    "delete_item": "dynamodb:DeleteItem",
    "query": "dynamodb:Query",
    "scan": "dynamodb:Scan",
    "batch_get_item": "dynamodb:BatchGetItem",
    "batch_write_item": "dynamodb:BatchWriteItem",
    "transact_get_items": "dynamodb:GetItem",
    "transact_write_items": None,  # the items' own actions, below
}
TRANSACTION_ITEMS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
SNS_CALLS = {"publish": "sns:Publish"}
# ensure_table / ensure_topics: the emulator and tests only (production's come from CloudFormation)
LOCAL_ONLY_CALLS = {
    "create_table",
    "describe_table",
    "describe_time_to_live",
    "update_time_to_live",
    "get_waiter",
    "create_topic",
}
# datasources/secrets and datasources/kms are being written in parallel: what they call
SECRETS_AND_KEY_ACTIONS = {
    "secretsmanager:GetSecretValue",  # the Razorpay secret and the RDS-managed database secret
    "kms:Decrypt",  # PII, and reading the secrets and SNS/SQS under the key
    "kms:GenerateDataKey",  # PII envelope encryption; publishing to the encrypted topics
}
# SAM writes this one for EventInvokeConfig's OnFailure destination (the jobs DLQ)
SAM_DESTINATION_ACTIONS = {"sqs:SendMessage"}

ALL_TEMPLATES = [TEMPLATE, WAF_TEMPLATE, PIPELINE_TEMPLATE]


@functools.cache
def _transformed() -> dict[str, Any]:
    return sam_transform(read_template(TEMPLATE), region="ap-south-1")


FORMS = [path.name for path in ALL_TEMPLATES] + ["template.yaml (transformed)"]


def _form(name: str) -> dict[str, Any]:
    if name.endswith("(transformed)"):
        return _transformed()
    return read_template(TEMPLATE.parent / name)


def _lambda_roles(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    roles = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        trust = resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        services = {s for st in trust for s in as_list(st.get("Principal", {}).get("Service", []))}
        if "lambda.amazonaws.com" in services:
            roles[logical_id] = resource["Properties"]
    return roles


def _names_a_stack_resource(value: Any, logical_ids: set[str]) -> bool:
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"] in logical_ids
        if "Fn::GetAtt" in value:
            return as_list(value["Fn::GetAtt"])[0] in logical_ids
        if "Fn::Sub" in value:
            text = as_list(value["Fn::Sub"])[0]
            named = {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
            return bool(named & logical_ids)
    return False


def _actions(statement: dict[str, Any]) -> list[Any]:
    return as_list(statement.get("Action", [])) + as_list(statement.get("NotAction", []))


@pytest.mark.parametrize("name", FORMS)
def test_no_policy_grants_every_action(name: str) -> None:
    template = _form(name)
    statements = list(policy_statements(template))
    if name != WAF_TEMPLATE.name:  # the edge stack has no policies
        assert statements, f"{name}: no policy statements found (the walk is broken)"
    for statement in statements:
        for action in _actions(statement):
            assert isinstance(action, str), f"{name}: computed action {action!r}"
            assert action != "*", f"{name}: {statement}"
            assert not action.endswith(":*"), f"{name}: {statement}"
        if statement["Effect"] == "Allow":
            assert "NotAction" not in statement, f"{name}: Allow with NotAction {statement}"


@pytest.mark.parametrize("name", FORMS)
def test_managed_policies_are_the_allowed_ones(name: str) -> None:
    template = _form(name)
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for arn in resource["Properties"].get("ManagedPolicyArns", []):
            text = as_list(arn["Fn::Sub"])[0] if isinstance(arn, dict) else arn
            policy = text.split(":policy/", 1)[1]
            assert policy in MANAGED_POLICIES, f"{name} {logical_id}: {policy}"


def test_function_policies_name_only_this_stacks_resources() -> None:
    template = _transformed()
    logical_ids = set(template["Resources"])
    roles = _lambda_roles(template)
    assert set(roles) == {
        "GatewayFunctionRole",
        "MigrationFunctionRole",
        "PreTrafficHookFunctionRole",
    }
    for role_id, role in roles.items():
        for policy in role.get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                sid = statement.get("Sid", "")
                for resource in as_list(statement["Resource"]):
                    if (role_id, sid) in FOREIGN_RESOURCES:
                        continue
                    assert _names_a_stack_resource(resource, logical_ids), (
                        f"{role_id} {sid or statement['Action']}: {resource!r} is not this stack's"
                    )


def _calls(directory: Path) -> set[str]:
    return {
        call
        for source in directory.glob("*.py")
        for call in re.findall(r"\bclient\.(\w+)\(", source.read_text())
    }


def _granted(role: dict[str, Any]) -> set[str]:
    return {
        action
        for policy in role.get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        for action in as_list(statement["Action"])
    }


def test_the_gateway_is_granted_exactly_what_the_code_calls() -> None:
    dynamodb_dir = ROOT / "datasources" / "dynamodb"
    needed: set[str] = set()
    for call in _calls(dynamodb_dir) - LOCAL_ONLY_CALLS:
        assert call in DYNAMODB_CALLS, f"map DynamoDB's {call} to its IAM action here"
        if (action := DYNAMODB_CALLS[call]) is not None:
            needed.add(action)
    if "transact_write_items" in _calls(dynamodb_dir):
        for source in dynamodb_dir.glob("*.py"):
            for kind in re.findall(
                r'"(Put|Update|Delete|ConditionCheck)":\s*\{', source.read_text()
            ):
                needed.add(TRANSACTION_ITEMS[kind])
    for call in _calls(ROOT / "datasources" / "sns") - LOCAL_ONLY_CALLS:
        assert call in SNS_CALLS, f"map SNS's {call} to its IAM action here"
        needed.add(SNS_CALLS[call])
    assert {"dynamodb:PutItem", "dynamodb:Query", "sns:Publish"} <= needed  # the scan works
    needed |= SECRETS_AND_KEY_ACTIONS | SAM_DESTINATION_ACTIONS
    assert _granted(_lambda_roles(_transformed())["GatewayFunctionRole"]) == needed


def test_the_helper_functions_are_granted_only_their_calls() -> None:
    roles = _lambda_roles(_transformed())
    assert _granted(roles["MigrationFunctionRole"]) == {
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
        "kms:GenerateDataKey",  # app/encrypt_pii.py seals PII left plain
    }
    assert _granted(roles["PreTrafficHookFunctionRole"]) == {
        "lambda:InvokeFunction",
        "codedeploy:PutLifecycleEventHookExecutionStatus",
    }


def test_the_dynamodb_endpoint_allows_the_same_calls_on_the_table_only() -> None:
    resources = read_template(TEMPLATE)["Resources"]
    [statement] = resources["DynamoDbEndpoint"]["Properties"]["PolicyDocument"]["Statement"]
    gateway = resources["GatewayFunction"]["Properties"]["Policies"][0]["Statement"]
    [table_statement] = [s for s in gateway if s.get("Sid") == "PaymentRecords"]
    assert set(statement["Action"]) == set(table_statement["Action"])
    assert statement["Resource"] == {"Fn::GetAtt": ["PaymentTimelineTable", "Arn"]}


def test_pii_data_keys_are_bound_to_a_customer() -> None:
    """The functions call KMS themselves only for data keys whose encryption context is the
    customer id (datasources/kms/envelope.py); every other use of the key is a service's."""
    resources = read_template(TEMPLATE)["Resources"]
    for function in ("GatewayFunction", "MigrationFunction"):
        statements = resources[function]["Properties"]["Policies"][0]["Statement"]
        [pii] = [s for s in statements if s.get("Sid") == "PiiEnvelope"]
        assert set(as_list(pii["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey"}
        assert pii["Resource"] == {"Fn::GetAtt": ["Key", "Arn"]}
        assert pii["Condition"] == {
            "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": [CONTEXT_KEY]},
            "Null": {"kms:EncryptionContextKeys": "false"},
        }
        for statement in statements:
            actions = set(as_list(statement["Action"]))
            if statement is not pii and actions & {"kms:Decrypt", "kms:GenerateDataKey"}:
                assert "kms:ViaService" in statement["Condition"]["StringEquals"], function
