"""The SAM template points at code and settings that exist, sets every setting production
needs and nothing the code does not read, and keeps the reference architecture's promises
(edge, data, safe deploys, observability). Offline: the template is only read."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from typing import Any

import pytest

from app.settings import Settings
from datasources.dynamodb import TABLE_PROPERTIES
from datasources.sns.notifier import message_attributes
from domain.payment_ports import NotificationTopic
from infra.aws import package
from tests.support.cfn import TEMPLATE, as_list, function_environment, load_template
from tests.support.production_settings import production_environment

FUNCTIONS = ("GatewayFunction", "MigrationFunction", "PreTrafficHookFunction")

# Variables that are no Settings field, each read by something else in the function
NOT_SETTINGS: dict[str, str] = {
    "POWERTOOLS_SERVICE_NAME": "Powertools Logger/Metrics/Tracer: the service, and the `service` "
    "dimension of every custom metric (the alarms and the dashboard filter on it)",
    "POWERTOOLS_METRICS_NAMESPACE": "Powertools Metrics: the namespace of the custom metrics",
}

# What the gateway cannot run in production without, and why
NEEDED_IN_PRODUCTION: dict[str, str] = {
    "ENVIRONMENT": "production: introspection and GraphiQL off, start-up refuses unsafe defaults",
    "DATABASE_URL": "RDS PostgreSQL through RDS Proxy (without the password)",
    "DATABASE_SECRET_ARN": "the password, from the RDS-managed secret (rotated by RDS)",
    "DATABASE_POOL_SIZE": "sized with ReservedConcurrency to the proxy's connections",
    "REDIS_URL": "ElastiCache: rate limits, coupon reservations, persisted queries (shared)",
    "DYNAMODB_TABLE": "the payment timeline and sales counters",
    "SNS_CUSTOMER_TOPIC_ARN": "customer notifications",
    "SNS_ADMIN_TOPIC_ARN": "admin notifications",
    "KMS_KEY_ID": "customer PII envelope encryption (e-mail, phone)",
    "COGNITO_USER_POOL_ID": "the issuer and JWKS of the tokens the API accepts",
    "COGNITO_CLIENT_IDS": "the audiences the API accepts",
    "RAZORPAY_SECRET_ARN": "Razorpay's keys and webhook secrets (current and previous)",
    "SECRETS_CACHE_SECONDS": "a rotated secret is picked up within 5 minutes",
    "PUBLIC_BASE_URL": "the checkout callback URL Razorpay posts to",
    "STOREFRONT_SUCCESS_URL": "where the callback sends a paid customer",
    "STOREFRONT_FAILURE_URL": "where the callback sends a customer whose payment failed",
    "GRAPHIQL_ENABLED": "its default is on; production turns it off",
    "CORS_ALLOWED_ORIGINS": "the browser origins the API answers (the site's own by default)",
}
NEEDED_BY_THE_MIGRATION = {
    "ENVIRONMENT",
    "DEPLOY_TASK",
    "DATABASE_URL",
    "DATABASE_SECRET_ARN",
    "KMS_KEY_ID",  # it seals PII left plain (app/encrypt_pii.py)
}
NEEDED_BY_THE_HOOK = {"ENVIRONMENT", "DEPLOY_TASK", "SMOKE_TEST_FUNCTION_ARN"}
# set by the Lambda runtime; CloudFormation refuses a function that sets them
RESERVED_BY_LAMBDA = {
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_EXECUTION_ENV",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_TASK_ROOT",
    "_HANDLER",
}
# Custom metrics the dashboard shows (Powertools, namespace StorefrontGateway)
DASHBOARD_METRICS = {
    "OperationLatency",
    "Errors",
    "PaymentSessionsCreated",
    "PaymentsPaid",
    "PaymentsFailed",
    "AmountPaid",
    "WebhookLag",
    "WebhookSignatureFailures",
    "OutboxBacklog",
    "OutboxParked",
}
CANARY_ALARMS = {
    "ApiServerErrorRateAlarm",
    "ApiLatencyAlarm",
    "GatewayErrorsAlarm",
    "WebhookSignatureFailuresAlarm",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def _props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return properties


def _known_fields() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def _handler_cases() -> list[Any]:
    return [
        pytest.param(load_template()["Resources"][f]["Properties"]["Handler"], id=f)
        for f in FUNCTIONS
    ]


# --- code and settings ---------------------------------------------------------------------------


@pytest.mark.parametrize("handler", _handler_cases())
def test_the_handlers_exist(handler: str) -> None:
    module, _, attribute = handler.rpartition(".")
    assert callable(getattr(importlib.import_module(module), attribute))


def test_the_functions_run_make_packages_artifact(template: dict[str, Any]) -> None:
    function = template["Globals"]["Function"]
    assert function["Runtime"] == "python3.12"  # package.py builds for it
    assert function["Architectures"] == ["arm64"]  # and for it (manylinux aarch64)
    assert "aarch64" in " ".join(package.LAMBDA_PLATFORMS)
    assert (
        TEMPLATE.parent / function["CodeUri"]
    ).resolve() == package.ROOT / "build" / "lambda.zip"
    assert '"lambda.zip"' in (package.ROOT / "infra" / "aws" / "package.py").read_text()
    for logical_id in FUNCTIONS:
        assert "CodeUri" not in _props(template, logical_id), "one artifact for all"


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_every_variable_is_read_by_the_code(template: dict[str, Any], logical_id: str) -> None:
    env = function_environment(template, logical_id)
    unknown = set(env) - _known_fields() - set(NOT_SETTINGS)
    assert not unknown, f"{logical_id} sets variables nothing reads: {unknown}"
    assert not set(env) & RESERVED_BY_LAMBDA


def test_the_gateway_gets_every_setting_production_needs(template: dict[str, Any]) -> None:
    env = function_environment(template, "GatewayFunction")
    assert set(NEEDED_IN_PRODUCTION) <= _known_fields()
    missing = set(NEEDED_IN_PRODUCTION) - set(env)
    assert not missing, f"production needs {missing}"
    assert env["ENVIRONMENT"] == "production"
    assert env["GRAPHIQL_ENABLED"] == "false"
    assert env["POWERTOOLS_SERVICE_NAME"] == "storefront-gateway"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "StorefrontGateway"


def test_the_templates_lambda_environment_is_production_without_graphiql(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = function_environment(load_template(), "GatewayFunction")
    assert (env["ENVIRONMENT"], env["GRAPHIQL_ENABLED"]) == ("production", "false")
    for name, value in production_environment().items():
        monkeypatch.setenv(name, value)
    for name in ("ENVIRONMENT", "GRAPHIQL_ENABLED"):
        monkeypatch.setenv(name, env[name])
    settings = Settings()
    assert (settings.environment, settings.graphiql_enabled) == ("production", False)


def test_the_rate_limits_are_parameters(template: dict[str, Any]) -> None:
    """CloudFront's ranges are the operator's to set (they change); no proxy is trusted by
    default, so nobody's X-Forwarded-For is believed until they are."""
    env = function_environment(template, "GatewayFunction")
    parameters = template["Parameters"]
    assert env["TRUSTED_PROXIES"] == {"Ref": "TrustedProxies"}
    assert parameters["TrustedProxies"]["Default"] == ""
    assert "CloudFront" in parameters["TrustedProxies"]["Description"]
    for variable, parameter in (
        ("RATE_LIMIT_PRINCIPAL", "RateLimitPrincipal"),
        ("RATE_LIMIT_IP", "RateLimitIp"),
    ):
        assert env[variable] == {"Ref": parameter}
        default = parameters[parameter]["Default"]
        assert getattr(Settings(), variable.lower()) == default


def test_the_helpers_get_what_they_need(template: dict[str, Any]) -> None:
    assert set(function_environment(template, "MigrationFunction")) >= NEEDED_BY_THE_MIGRATION
    hook = function_environment(template, "PreTrafficHookFunction")
    assert set(hook) >= NEEDED_BY_THE_HOOK
    assert hook["SMOKE_TEST_FUNCTION_ARN"] == {"Ref": "GatewayFunction.Version"}


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_no_secret_is_in_the_environment(template: dict[str, Any], logical_id: str) -> None:
    env = function_environment(template, logical_id)
    assert "{{resolve:" not in json.dumps(env)
    assert not {name for name in env if name.startswith("RAZORPAY_") and not name.endswith("_ARN")}
    if "DATABASE_URL" in env:
        url = as_list(env["DATABASE_URL"]["Fn::Sub"])[0]
        assert re.fullmatch(
            r"postgresql://[a-z_]+@\$\{DatabaseProxy\.Endpoint\}:5432/\w+(\?.*)?", url
        )


def test_the_secrets_are_the_stacks(template: dict[str, Any]) -> None:
    env = function_environment(template, "GatewayFunction")
    managed = {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}
    assert env["DATABASE_SECRET_ARN"] == managed
    assert _props(template, "Database")["ManageMasterUserPassword"] is True
    [auth] = _props(template, "DatabaseProxy")["Auth"]
    assert auth["SecretArn"] == managed
    assert env["RAZORPAY_SECRET_ARN"] == {"Ref": "RazorpaySecret"}
    generated = _props(template, "RazorpaySecret")["GenerateSecretString"]
    fields = set(json.loads(generated["SecretStringTemplate"])) | {generated["GenerateStringKey"]}
    assert fields == {"key_id", "key_secret", "webhook_secret", "webhook_secret_previous"}


# --- data --------------------------------------------------------------------------------------


def test_the_table_is_the_codes_table_kept_and_encrypted(template: dict[str, Any]) -> None:
    [(logical_id, table)] = _resources(template, "AWS::DynamoDB::Table").items()
    assert function_environment(template, "GatewayFunction")["DYNAMODB_TABLE"] == {
        "Ref": logical_id
    }
    for name, value in TABLE_PROPERTIES.items():
        assert table["Properties"][name] == value, name
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Ref": "Key"},
    }


def test_the_key_rotates_and_encrypts_the_topics_and_queues(template: dict[str, Any]) -> None:
    assert _props(template, "Key")["EnableKeyRotation"] is True
    for props in _resources(template, "AWS::SNS::Topic").values():
        assert props["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["Key", "Arn"]}
    for props in _resources(template, "AWS::SQS::Queue").values():
        assert props["Properties"]["KmsMasterKeyId"] == {"Ref": "Key"}


def test_the_cache_speaks_tls(template: dict[str, Any]) -> None:
    url = function_environment(template, "GatewayFunction")["REDIS_URL"]["Fn::Sub"]
    assert url.startswith("rediss://${Cache.Endpoint.Address}:")


def test_subscriptions_filter_on_attributes_the_notifier_sends(template: dict[str, Any]) -> None:
    topics = {"CustomerTopic": NotificationTopic.CUSTOMER, "AdminTopic": NotificationTopic.ADMIN}
    subscriptions = _resources(template, "AWS::SNS::Subscription")
    filtered = {
        p["Properties"]["TopicArn"]["Ref"]: p["Properties"]
        for p in subscriptions.values()
        if "FilterPolicy" in p["Properties"]
    }
    assert set(filtered) == set(topics)
    for topic_id, subscription in filtered.items():
        sent = message_attributes(
            topic=topics[topic_id], dedupe_key="k", event="payment.paid", customer_id="c"
        )
        assert subscription["FilterPolicyScope"] == "MessageAttributes"
        assert "event" in subscription["FilterPolicy"]
        assert set(subscription["FilterPolicy"]) <= set(sent)


# --- network -------------------------------------------------------------------------------------


def test_nothing_comes_in_from_outside_and_egress_is_explicit(template: dict[str, Any]) -> None:
    groups = _resources(template, "AWS::EC2::SecurityGroup")
    for logical_id, group in groups.items():
        # a group without SecurityGroupEgress keeps AWS's allow-all egress rule
        assert group["Properties"]["SecurityGroupEgress"], logical_id
        assert not group["Properties"].get("SecurityGroupIngress"), logical_id
    for rule in _resources(template, "AWS::EC2::SecurityGroupIngress").values():
        assert rule["Properties"]["SourceSecurityGroupId"]["Ref"] in groups
    functions = ("GatewayFunction", "MigrationFunction")
    for logical_id in functions:
        subnets = _props(template, logical_id)["VpcConfig"]["SubnetIds"]
        assert {s["Ref"] for s in subnets} == {"PrivateSubnetA", "PrivateSubnetB"}
    endpoints = {
        p["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[1]: p["Properties"][
            "VpcEndpointType"
        ]
        for p in _resources(template, "AWS::EC2::VPCEndpoint").values()
    }
    assert endpoints == {
        "dynamodb": "Gateway",
        "s3": "Gateway",
        "sns": "Interface",
        "secretsmanager": "Interface",
        "kms": "Interface",
    }
    assert _resources(template, "AWS::EC2::NatGateway")


# --- edge and identity ---------------------------------------------------------------------------


def test_cloudfront_fronts_the_bucket_with_oac_and_the_api_uncached(
    template: dict[str, Any],
) -> None:
    config = _props(template, "Distribution")["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    assert origins["storefront"]["OriginAccessControlId"]
    assert origins["storefront"]["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == "storefront"
    behaviours = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert set(behaviours) == {"/graphql", "/webhooks/*", "/payments/*"}
    for behaviour in behaviours.values():
        assert behaviour["TargetOriginId"] == "api"
        assert behaviour["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # disabled
        assert behaviour["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
        assert "POST" in behaviour["AllowedMethods"]
    assert config["WebACLId"] == {
        "Fn::If": ["HasWebAcl", {"Ref": "WebAclArn"}, {"Ref": "AWS::NoValue"}]
    }
    [statement, _tls] = _props(template, "StorefrontBucketPolicy")["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert "${Distribution}" in statement["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert "Shield Standard" in TEMPLATE.read_text()


def test_the_api_routes_are_the_apps(template: dict[str, Any]) -> None:
    routes = {
        p["Properties"]["RouteKey"]
        for p in _resources(template, "AWS::ApiGatewayV2::Route").values()
    }
    assert routes == {
        "ANY /graphql",
        "POST /webhooks/razorpay",
        "POST /payments/razorpay/callback",
        "GET /healthz",
        "GET /readyz",
    }
    assert _props(template, "ApiIntegration")["IntegrationUri"] == {"Ref": "GatewayFunction.Alias"}


def test_dns_is_conditional_on_the_domain(template: dict[str, Any]) -> None:
    records = _resources(template, "AWS::Route53::RecordSet")
    assert {r["Properties"]["Type"] for r in records.values()} == {"A", "AAAA"}
    assert {r["Condition"] for r in records.values()} == {"HasDomain"}


def test_the_user_pool_is_created_or_given(template: dict[str, Any]) -> None:
    for logical_id in ("UserPool", "UserPoolClient", "AdminGroup"):
        assert template["Resources"][logical_id]["Condition"] == "CreateUserPool"
    client = _props(template, "UserPoolClient")
    assert client["GenerateSecret"] is False
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    assert _props(template, "AdminGroup")["GroupName"] == "admin"
    assert template["Conditions"]["CreateUserPool"] == {
        "Fn::Equals": [{"Ref": "ExistingUserPoolId"}, ""]
    }


# --- safe deploys --------------------------------------------------------------------------------


def test_deploys_are_canaries_guarded_by_alarms_and_a_hook(template: dict[str, Any]) -> None:
    gateway = _props(template, "GatewayFunction")
    assert gateway["AutoPublishAlias"] == "live"
    assert gateway["AutoPublishAliasAllProperties"] is True  # versions snapshot the environment
    preference = gateway["DeploymentPreference"]
    assert preference["Type"] == "Canary10Percent5Minutes"
    assert {alarm["Ref"] for alarm in preference["Alarms"]} == CANARY_ALARMS
    assert preference["Hooks"] == {"PreTraffic": {"Ref": "PreTrafficHookFunction"}}
    name = _props(template, "PreTrafficHookFunction")["FunctionName"]["Fn::Sub"]
    assert name.startswith("CodeDeployHook_")  # what SAM's CodeDeploy role may invoke
    assert gateway["ReservedConcurrentExecutions"] == {"Ref": "ReservedConcurrency"}
    assert gateway["Timeout"] == 29


def test_migrations_run_on_every_new_version(template: dict[str, Any]) -> None:
    migration = template["Resources"]["DatabaseMigration"]
    assert migration["Type"] == "Custom::DatabaseMigration"
    assert migration["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["MigrationFunction", "Arn"]}
    assert migration["Properties"]["Version"] == {"Ref": "GatewayFunction.Version"}
    assert (
        _props(template, "MigrationFunction")["VpcConfig"]
        == _props(template, "GatewayFunction")["VpcConfig"]
    )


def test_the_jobs_run_every_minute_with_a_dead_letter_queue(template: dict[str, Any]) -> None:
    gateway = _props(template, "GatewayFunction")
    [event] = gateway["Events"].values()
    assert event["Type"] == "Schedule"
    assert event["Properties"]["Schedule"] == "rate(1 minute)"
    dlq = {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]}
    assert event["Properties"]["DeadLetterConfig"] == {"Arn": dlq}
    assert event["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert gateway["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"] == dlq


# --- observability -------------------------------------------------------------------------------


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_each_function_logs_to_a_group_with_retention(
    template: dict[str, Any], logical_id: str
) -> None:
    group = _props(template, logical_id)["LoggingConfig"]["LogGroup"]["Ref"]
    assert _props(template, group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert template["Globals"]["Function"]["Tracing"] == "Active"


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in _resources(template, "AWS::CloudWatch::Alarm").items()}


def test_the_alarms_watch_what_the_issue_asks(template: dict[str, Any]) -> None:
    alarms = _alarms(template)
    assert set(alarms) >= CANARY_ALARMS
    error_rate = {m["Id"]: m for m in alarms["ApiServerErrorRateAlarm"]["Metrics"]}
    assert error_rate["errors"]["MetricStat"]["Metric"]["MetricName"] == "5xx"
    assert error_rate["requests"]["MetricStat"]["Metric"]["MetricName"] == "Count"
    assert alarms["ApiLatencyAlarm"]["ExtendedStatistic"] == "p99"
    assert alarms["WebhookSignatureFailuresAlarm"]["MetricName"] == "WebhookSignatureFailures"
    parked = alarms["OutboxParkedAlarm"]
    assert (parked["MetricName"], parked["Statistic"], parked["Threshold"]) == (
        "OutboxParked",
        "Maximum",
        0,
    )
    assert parked["ComparisonOperator"] == "GreaterThanThreshold"
    dlq = alarms["JobsDeadLetterAlarm"]
    assert dlq["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert dlq["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["JobsDeadLetterQueue", "QueueName"]}
    assert alarms["GatewayErrorsAlarm"]["Namespace"] == "AWS/Lambda"
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_custom_metric_alarms_use_powertools_namespace_and_service(
    template: dict[str, Any],
) -> None:
    env = function_environment(template, "GatewayFunction")
    custom = [a for a in _alarms(template).values() if a.get("Namespace") == "StorefrontGateway"]
    assert len(custom) >= 2
    for alarm in custom:
        assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
        assert {"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]} in alarm["Dimensions"]


def test_the_dashboard_shows_the_metrics(template: dict[str, Any]) -> None:
    body = _props(template, "Dashboard")["DashboardBody"]["Fn::Sub"]
    dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    text = json.dumps(dashboard)
    for metric in DASHBOARD_METRICS:
        assert f'\\"{metric}\\"' in text or f'"{metric}"' in text, metric
    assert "operation" in text and "code" in text  # OperationLatency by operation, Errors by code
    for name in ("Count", "5xx", "Latency"):
        assert f'"{name}"' in text


def _resolved(value: Any, parameters: dict[str, Any]) -> str:
    """An intrinsic's stand-in value: a parameter its default, another reference its name, a
    ``!Sub`` its text with each ``${…}`` made a plain host-like word, an ``!If`` its first
    branch."""
    if isinstance(value, str):
        return re.sub(r"\$\{([^}]*)\}", lambda m: m.group(1).replace(".", "-").lower(), value)
    if isinstance(value, dict) and len(value) == 1:
        (kind, argument), *_ = value.items()
        if kind == "Ref":
            if "Default" in parameters.get(argument, {}):
                return str(parameters[argument]["Default"])
            return f"ref-{argument}".replace(".", "-")
        if kind == "Fn::Sub":
            text = argument if isinstance(argument, str) else argument[0]
            return _resolved(text, parameters)
        if kind == "Fn::If":
            return _resolved(argument[1], parameters)
        if kind == "Fn::GetAtt":
            name = argument if isinstance(argument, str) else ".".join(argument)
            return f"arn:aws:resolved:{name}"
    raise AssertionError(f"no stand-in for {value!r}")


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_each_function_starts_with_the_environment_it_is_given(
    template: dict[str, Any], logical_id: str
) -> None:
    """ENVIRONMENT=production refuses to start without what it needs (app/settings.py): each
    function's variables, as the template sets them, pass that check."""
    parameters = template["Parameters"]
    variables = function_environment(template, logical_id)
    env = {k.lower(): _resolved(v, parameters) for k, v in variables.items()}
    settings = Settings(**{k: v for k, v in env.items() if k in Settings.model_fields})
    assert settings.environment == "production"
