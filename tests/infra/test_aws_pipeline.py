"""The pipeline, its buildspec and the stage configuration files fit together and fit the app
template: the build tests and packages what the template deploys, each stage's parameters are
the template's, production waits for a person; README "Deploy to AWS" explains every
parameter of the three templates."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cfn import (
    BUILDSPEC,
    PIPELINE_TEMPLATE,
    ROOT,
    TEMPLATE,
    WAF_TEMPLATE,
    load_template,
    read_template,
)


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    return read_template(PIPELINE_TEMPLATE)


@pytest.fixture(scope="module")
def buildspec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(BUILDSPEC.read_text())
    return spec


def _stages(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    stages: list[dict[str, Any]] = pipeline["Resources"]["Pipeline"]["Properties"]["Stages"]
    return stages


def _deploy_actions(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        action
        for stage in _stages(pipeline)
        for action in stage["Actions"]
        if action["ActionTypeId"]["Provider"] == "CloudFormation"
    ]


def test_the_build_tests_packages_and_packages_the_template(
    pipeline: dict[str, Any], buildspec: dict[str, Any]
) -> None:
    source = pipeline["Resources"]["BuildProject"]["Properties"]["Source"]
    assert ROOT / source["BuildSpec"] == BUILDSPEC
    commands = " ".join(
        " ".join(phase.get("commands", [])) for phase in buildspec["phases"].values()
    )
    assert "make test" in commands
    assert "make package" in commands
    assert (
        commands.index("make test") < commands.index("make package") < commands.index("sam package")
    )
    assert f"--template-file {TEMPLATE.relative_to(ROOT)}" in commands
    assert "--output-template-file packaged.yaml" in commands
    assert buildspec["phases"]["install"]["runtime-versions"]["python"] == "3.12"
    assert buildspec["env"]["variables"]["TEST_SERVICES"] == "throwaway"


def test_the_stages_deploy_what_the_build_made(
    pipeline: dict[str, Any], buildspec: dict[str, Any]
) -> None:
    artifacts = set(buildspec["artifacts"]["files"])
    template_parameters = set(load_template()["Parameters"])
    replaces = [
        a
        for a in _deploy_actions(pipeline)
        if a["Configuration"]["ActionMode"] == "CHANGE_SET_REPLACE"
    ]
    assert len(replaces) == 2
    for action in replaces:
        configuration = action["Configuration"]
        template_path = configuration["TemplatePath"].split("::", 1)[1]
        config_path = configuration["TemplateConfiguration"].split("::", 1)[1]
        assert {template_path, config_path} <= artifacts
        stage_config = json.loads((ROOT / config_path).read_text())
        assert set(stage_config["Parameters"]) <= template_parameters, config_path
        assert all(isinstance(v, str) for v in stage_config["Parameters"].values())
        assert set(configuration["Capabilities"].split(",")) == {
            "CAPABILITY_IAM",
            "CAPABILITY_AUTO_EXPAND",
        }
        assert configuration["RoleArn"] == {"Fn::GetAtt": ["DeployRole", "Arn"]}


def test_production_waits_for_an_approval_after_staging(pipeline: dict[str, Any]) -> None:
    names = [stage["Name"] for stage in _stages(pipeline)]
    assert names == ["Source", "Build", "Staging", "Approval", "Production"]
    [approval] = _stages(pipeline)[3]["Actions"]
    assert approval["ActionTypeId"]["Provider"] == "Manual"
    for stage in _stages(pipeline)[2], _stages(pipeline)[4]:
        modes = [(a["RunOrder"], a["Configuration"]["ActionMode"]) for a in stage["Actions"]]
        assert modes == [(1, "CHANGE_SET_REPLACE"), (2, "CHANGE_SET_EXECUTE")]


def test_the_artifacts_are_encrypted_with_the_pipelines_key(pipeline: dict[str, Any]) -> None:
    resources = pipeline["Resources"]
    store = resources["Pipeline"]["Properties"]["ArtifactStore"]
    key_arn = {"Fn::GetAtt": ["ArtifactKey", "Arn"]}
    assert store["EncryptionKey"] == {"Id": key_arn, "Type": "KMS"}
    [rule] = resources["ArtifactBucket"]["Properties"]["BucketEncryption"][
        "ServerSideEncryptionConfiguration"
    ]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key_arn,
    }
    assert resources["BuildProject"]["Properties"]["EncryptionKey"] == key_arn
    assert resources["ArtifactKey"]["Properties"]["EnableKeyRotation"] is True


@pytest.mark.parametrize("path", [TEMPLATE, WAF_TEMPLATE, PIPELINE_TEMPLATE], ids=lambda p: p.name)
def test_the_readme_explains_every_parameter(path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Deploy to AWS\n", 1)[1].split("\n## ", 1)[0]
    table = section.split(f"| {path.name} parameter |", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE))
    assert documented == set(read_template(path)["Parameters"])
