"""The zero-setup default: without DATABASE_URL the app runs on SQLite."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.container import Container
from app.main import create_app
from app.settings import DEFAULT_SQLITE_URL, Settings
from datasources.postgres import migrate
from infra.local.seed import PRODUCTS, seed_catalog


def test_default_database_is_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    settings = Settings()
    assert settings.database_url == DEFAULT_SQLITE_URL
    assert settings.is_sqlite
    assert settings.redis_url is None
    assert Settings(database_url="postgres://u@h/db").database_url == "postgresql+asyncpg://u@h/db"
    assert Settings(database_url="sqlite:///x.db").database_url == "sqlite+aiosqlite:///x.db"


async def test_catalog_works_on_sqlite(tmp_path: Path) -> None:
    container = Container(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/shop.db", redis_url=None)
    )
    await migrate.upgrade(container.engine)
    await seed_catalog(container.sessions)
    await seed_catalog(container.sessions)  # seeding twice updates, never duplicates
    app = create_app(container)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            body = (
                await client.post(
                    "/graphql",
                    json={
                        "query": '{ products(first: 100, search: "TEA") { edges { node { sku '
                        "offers { code } } } } offers { code } }"
                    },
                )
            ).json()
            ready = await client.get("/readyz")
    finally:
        await container.aclose()
    assert "errors" not in body, body
    skus = [e["node"]["sku"] for e in body["data"]["products"]["edges"]]
    expected = sorted(
        p.sku
        for p in PRODUCTS
        if any("tea" in text.lower() for text in (p.title, p.sku, p.description or p.title))
    )
    assert skus == expected
    assert "GRO-TEA-003" in skus
    assert "MONSOON25" not in {o["code"] for o in body["data"]["offers"]}
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "cache": "ok (in-process)"}
