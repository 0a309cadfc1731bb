"""Reading, transforming and linting the CloudFormation templates in tests, offline.

Templates are read with the short-form tags (``!Ref``, ``!GetAtt``, ``!Sub`` …) turned into
their long form (``{"Ref": …}``, ``{"Fn::GetAtt": [logical id, attribute]}``), as CloudFormation
itself reads them. The SAM transform runs with aws-sam-translator's bundled list of AWS managed
policies (no IAM call: a loader that would call IAM fails the test), on code locations that
``sam package`` would have written; cfn-lint runs through its Python API.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AWS_DIR = ROOT / "infra" / "aws"
TEMPLATE = AWS_DIR / "template.yaml"
WAF_TEMPLATE = AWS_DIR / "waf.yaml"
PIPELINE_TEMPLATE = AWS_DIR / "pipeline.yaml"
BUILDSPEC = AWS_DIR / "buildspec.yml"
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
PACKAGED_CODE_URI = "s3://packaged-artifacts/lambda.zip"  # what `sam package` puts in CodeUri


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags as their long form."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def read_template(path: Path) -> dict[str, Any]:
    template: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506
    return template


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The main SAM template (or another one), as written."""
    return read_template(path)


def has_sam_transform(template: dict[str, Any]) -> bool:
    transform = template.get("Transform", [])
    return SAM_TRANSFORM in (transform if isinstance(transform, list) else [transform])


class _NoIam:
    """The managed-policy loader aws-sam-translator falls back to: there is no AWS account."""

    def load(self) -> dict[str, str]:
        raise AssertionError("the SAM transform asked IAM for a managed policy it does not know")


def sam_transform(template: dict[str, Any], *, region: str) -> dict[str, Any]:
    """The CloudFormation template SAM makes of ``template`` (as after ``sam package``)."""
    from samtranslator.translator.arn_generator import ArnGenerator
    from samtranslator.translator.transform import transform

    packaged = copy.deepcopy(template)
    for section in (packaged.get("Globals", {}).get("Function", {}), *_functions(packaged)):
        if "CodeUri" in section:
            section["CodeUri"] = PACKAGED_CODE_URI
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ArnGenerator, "BOTO_SESSION_REGION_NAME", region)  # ARNs' partition
        patch.setenv("AWS_DEFAULT_REGION", region)  # the pseudo parameters (a boto3 session)
        result: dict[str, Any] = transform(packaged, {}, _NoIam())  # type: ignore[arg-type]
    return result


def _functions(template: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            yield resource.setdefault("Properties", {})


def lint(template: str | dict[str, Any], *, region: str) -> list[str]:
    """cfn-lint's findings (errors, warnings and informational ones) as readable lines."""
    from cfnlint.api import ManualArgs
    from cfnlint.api import lint as cfn_lint

    text = template if isinstance(template, str) else json.dumps(template)
    matches = cfn_lint(text, config=ManualArgs(include_checks=["I"], regions=[region]))
    return [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches]


def function_environment(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """A SAM function's environment variables, the Globals' included (SAM merges them)."""
    merged: dict[str, Any] = {}
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {})
    merged.update(globals_env.get("Variables", {}))
    properties = template["Resources"][logical_id]["Properties"]
    merged.update(properties.get("Environment", {}).get("Variables", {}))
    return merged


def policy_statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement anywhere in ``node``: roles, SAM policies, key, bucket, queue and
    endpoint policies (a mapping with an Effect and an Action or NotAction)."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield node
        for value in node.values():
            yield from policy_statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from policy_statements(value)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
