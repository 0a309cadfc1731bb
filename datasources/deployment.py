"""The AWS calls of a deployment's hooks (app/deploy_hooks.py), over boto3: they run once per
deploy in a function of their own, where a synchronous client is the simple choice.

* :func:`invoke` calls a Lambda function version with an event and answers its JSON result;
* :func:`report_hook_status` tells CodeDeploy whether the pre-traffic check passed;
* :func:`answer_cloudformation` answers a custom resource at its pre-signed ``ResponseURL``
  (an HTTPS PUT; CloudFormation waits up to an hour for it, so it is always sent).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def _client(service: str, *, region: str, endpoint_url: str | None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(connect_timeout=5, read_timeout=60, retries={"mode": "standard"}),
    )


def invoke(
    function_arn: str, event: dict[str, Any], *, region: str, endpoint_url: str | None = None
) -> dict[str, Any]:
    answer = _client("lambda", region=region, endpoint_url=endpoint_url).invoke(
        FunctionName=function_arn,
        InvocationType="RequestResponse",
        Payload=json.dumps(event).encode(),
    )
    payload = answer["Payload"].read()
    if answer.get("FunctionError"):
        raise RuntimeError(f"{function_arn} failed: {payload[:500]!r}")
    result: dict[str, Any] = json.loads(payload)
    return result


def report_hook_status(
    *,
    deployment_id: str,
    execution_id: str,
    succeeded: bool,
    region: str,
    endpoint_url: str | None = None,
) -> None:
    _client(
        "codedeploy", region=region, endpoint_url=endpoint_url
    ).put_lifecycle_event_hook_execution_status(
        deploymentId=deployment_id,
        lifecycleEventHookExecutionId=execution_id,
        status="Succeeded" if succeeded else "Failed",
    )


def answer_cloudformation(
    response_url: str, answer: dict[str, Any], *, timeout: float = 30
) -> None:
    body = json.dumps(answer).encode()
    request = urllib.request.Request(  # noqa: S310 (CloudFormation's pre-signed https URL)
        response_url,
        data=body,
        method="PUT",
        headers={"content-type": "", "content-length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        response.read()
