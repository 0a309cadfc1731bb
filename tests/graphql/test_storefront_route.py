"""/shop/: the storefront's files and its config.json, under the storefront's own CSP; served
by the app locally only (S3 + CloudFront serve it in production)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from app import main
from app.container import Container
from app.main import create_app
from app.settings import Settings
from app.storefront import csp_for, storefront_config


@asynccontextmanager
async def shop(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    container = Container(settings)
    try:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client
    finally:
        await container.aclose()


async def test_the_shop_and_its_config_are_served_under_the_storefronts_csp(
    settings: Settings,
) -> None:
    assert settings.storefront_served  # unset outside production: on
    async with shop(settings) as client:
        page = await client.get("/shop/")
        config = await client.get("/shop/config.json")
        success = await client.get("/shop/checkout/success.html")
        missing = await client.get("/shop/nothing.js")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    expected = storefront_config(settings)
    assert config.json() == expected
    assert expected["cognito"]["clientId"] == settings.client_ids[0]
    assert expected["checkout"]["mode"] == "hosted"  # the sandbox: its hosted Checkout page
    for answer in (page, config, success):
        assert answer.headers["content-security-policy"] == csp_for(expected)
        assert answer.headers["cache-control"] == "no-cache"
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert success.status_code == 200
    assert missing.status_code == 404


async def test_the_shop_can_be_left_to_s3(settings: Settings) -> None:
    async with shop(settings.model_copy(update={"storefront_served": False})) as client:
        assert (await client.get("/shop/")).status_code == 404


async def test_without_the_files_the_shop_is_not_served_and_that_is_said(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(main, "STOREFRONT_DIR", tmp_path / "storefront")
    with caplog.at_level(logging.WARNING):
        async with shop(settings) as client:
            assert (await client.get("/shop/")).status_code == 404
    assert any("/shop/ is not served" in r.getMessage() for r in caplog.records)
