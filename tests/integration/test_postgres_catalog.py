"""Catalog adapters against the real PostgreSQL: migrations, batching, statement counts."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import inspect as sa_inspect
from sqlmodel import SQLModel

from app.container import Container
from datasources.postgres import migrate
from datasources.postgres.catalog import SqlProductRepository
from datasources.postgres.engine import StatementCounter, create_engine
from infra.local.seed import PRODUCTS, product_id

N_PLUS_ONE_QUERY = (
    "query($n: Int) { products(first: $n) { edges { node { sku offers { code } } } } }"
)


async def test_statement_count_does_not_grow_with_page_size(
    container: Container, client: httpx.AsyncClient
) -> None:
    counts: dict[int, int] = {}
    # warm the offers cache (Redis): afterwards the live offers cost no SQL at all
    await client.post("/graphql", json={"query": N_PLUS_ONE_QUERY, "variables": {"n": 1}})
    for n in (10, 50, 100):
        with StatementCounter(container.engine) as counter:
            response = await client.post(
                "/graphql", json={"query": N_PLUS_ONE_QUERY, "variables": {"n": n}}
            )
        body = response.json()
        assert "errors" not in body, body
        assert len(body["data"]["products"]["edges"]) == min(n, len(PRODUCTS))
        counts[n] = counter.count
    # one SELECT for the page, whatever the page size; the live offers come from Redis
    assert counts == {10: 1, 50: 1, 100: 1}, counts


async def test_get_many_returns_results_in_key_order_with_gaps(container: Container) -> None:
    repo = SqlProductRepository(container.sessions)
    missing = "00000000-0000-0000-0000-000000000001"
    keys = [str(product_id("HOM-MUG-003")), missing, str(product_id("APP-TEE-001"))]
    with StatementCounter(container.engine) as counter:
        found = await repo.get_many(keys)
    assert [p.sku if p else None for p in found] == ["HOM-MUG-003", None, "APP-TEE-001"]
    assert counter.count == 1


async def test_product_lookups_in_one_request_are_batched(
    container: Container, client: httpx.AsyncClient
) -> None:
    ids = [str(product_id(p.sku)) for p in PRODUCTS[:12]]
    query = (
        "{ " + " ".join(f'p{i}: product(id: "{pid}") {{ sku }}' for i, pid in enumerate(ids)) + " }"
    )
    with StatementCounter(container.engine) as counter:
        body = (await client.post("/graphql", json={"query": query})).json()
    assert [body["data"][f"p{i}"]["sku"] for i in range(12)] == [p.sku for p in PRODUCTS[:12]]
    assert counter.count == 1


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
async def test_migrations_go_from_empty_to_head_and_back(
    dialect: str, database_url: str, tmp_path: object
) -> None:
    if dialect == "postgresql":
        # a second fresh database on the same server, so the run's own stays untouched
        import asyncpg

        from tests.support.stack import asyncpg_dsn, with_database

        name = database_url.rsplit("/", 1)[1] + "_mig"
        admin = await asyncpg.connect(asyncpg_dsn(with_database(database_url, "postgres")))
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = with_database(database_url, name)
    else:
        admin, name = None, ""
        url = f"sqlite+aiosqlite:///{tmp_path}/migrations.db"
    engine = create_engine(url=url)
    try:
        assert await migrate.current_revision(engine) is None
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        async with engine.connect() as conn:
            tables = await conn.run_sync(
                lambda c: {
                    t: {col["name"] for col in sa_inspect(c).get_columns(t)}
                    for t in sa_inspect(c).get_table_names()
                }
            )
        for table in SQLModel.metadata.sorted_tables:
            assert tables[table.name] == {c.name for c in table.columns}, table.name
        await migrate.downgrade(engine)
        assert await migrate.current_revision(engine) is None
    finally:
        await engine.dispose()
        if admin is not None:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
