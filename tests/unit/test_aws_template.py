"""The SAM template points at code and settings that exist."""

from __future__ import annotations

import importlib

from app.settings import Settings
from tests.support.cfn import load_template


def test_handler_and_environment_match_the_code() -> None:
    template = load_template()
    function = template["Resources"]["GatewayFunction"]["Properties"]
    module, _, attribute = function["Handler"].rpartition(".")
    assert callable(getattr(importlib.import_module(module), attribute))
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    fields = {name.upper() for name in Settings.model_fields}
    unknown = {name for name in env if name not in fields}
    assert not unknown, f"template sets variables no setting reads: {unknown}"
    assert template["Globals"]["Function"]["Runtime"] in {"python3.12", "python3.13"}
