"""cfn-lint finds nothing (errors, warnings, informational) in the templates as written and, for
the SAM template, in what the SAM transform makes of it (offline: no AWS account)."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import pytest

from tests.support.cfn import (
    PIPELINE_TEMPLATE,
    TEMPLATE,
    WAF_TEMPLATE,
    has_sam_transform,
    lint,
    read_template,
    sam_transform,
)

# template → the region it is deployed in (CloudFront's WebACL and certificate: us-east-1)
REGIONS: dict[Path, str] = {
    TEMPLATE: "ap-south-1",
    WAF_TEMPLATE: "us-east-1",
    PIPELINE_TEMPLATE: "ap-south-1",
}


@functools.cache
def _linted(path: Path, *, transformed: bool) -> tuple[list[str], float]:
    """Findings and seconds, once per template and form in a session (cfn-lint takes seconds)."""
    started = time.perf_counter()
    region = REGIONS[path]
    if transformed:
        findings = lint(sam_transform(read_template(path), region=region), region=region)
    else:
        findings = lint(path.read_text(), region=region)
    return findings, time.perf_counter() - started


@pytest.mark.parametrize("path", list(REGIONS), ids=lambda p: p.name)
def test_the_template_as_written_lints_clean(path: Path) -> None:
    findings, _ = _linted(path, transformed=False)
    assert findings == []


@pytest.mark.parametrize(
    "path", [p for p in REGIONS if has_sam_transform(read_template(p))], ids=lambda p: p.name
)
def test_the_transformed_template_lints_clean(path: Path) -> None:
    findings, _ = _linted(path, transformed=True)
    assert findings == []


def test_only_the_main_template_needs_the_sam_transform() -> None:
    assert has_sam_transform(read_template(TEMPLATE))
    assert not has_sam_transform(read_template(WAF_TEMPLATE))
    assert not has_sam_transform(read_template(PIPELINE_TEMPLATE))
