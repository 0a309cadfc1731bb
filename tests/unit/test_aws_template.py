"""The SAM template points at code and settings that exist."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml

from app.settings import Settings

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "aws" / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, !GetAtt) as plain values."""


def _tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _tag)


def test_handler_and_environment_match_the_code() -> None:
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 (safe loader)
    function = template["Resources"]["GatewayFunction"]["Properties"]
    module, _, attribute = function["Handler"].rpartition(".")
    assert callable(getattr(importlib.import_module(module), attribute))
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    fields = {name.upper() for name in Settings.model_fields}
    unknown = {name for name in env if name not in fields}
    assert not unknown, f"template sets variables no setting reads: {unknown}"
    assert template["Globals"]["Function"]["Runtime"] in {"python3.12", "python3.13"}
