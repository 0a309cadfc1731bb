"""Migration 0005 (stock on hand) on real PostgreSQL and on SQLite, with rows in the tables:
today's ``stock`` becomes ``on_hand`` = stock + units HELD and ``reserved`` = units HELD, and
the downgrade gives ``stock`` back. On SQLite the recreated ``products`` keeps its rows even
though cart lines and reservations refer to it (foreign keys are on)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import normalise_database_url
from datasources.postgres import migrate
from datasources.postgres.engine import create_engine
from tests.support.stack import asyncpg_dsn, with_database

BEFORE = "0004_refunds_outbox"
AFTER = "0005_stock_on_hand"
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)

products_0004 = sa.table(
    "products",
    sa.column("id", sa.Uuid()),
    sa.column("sku", sa.String()),
    sa.column("title", sa.String()),
    sa.column("description", sa.Text()),
    sa.column("category", sa.String()),
    sa.column("price_paise", sa.BigInteger()),
    sa.column("gst_rate_bp", sa.Integer()),
    sa.column("stock", sa.Integer()),
    sa.column("image_url", sa.Text()),
    sa.column("active", sa.Boolean()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
products_0005 = sa.table(
    "products",
    sa.column("id", sa.Uuid()),
    sa.column("sku", sa.String()),
    sa.column("on_hand", sa.Integer()),
    sa.column("reserved", sa.Integer()),
)
sessions = sa.table(
    "payment_sessions",
    *(
        sa.column(name, type_)
        for name, type_ in {
            "id": sa.Uuid(),
            "customer_id": sa.String(),
            "status": sa.String(),
            "currency": sa.String(),
            "subtotal_paise": sa.BigInteger(),
            "discount_paise": sa.BigInteger(),
            "tax_paise": sa.BigInteger(),
            "amount_paise": sa.BigInteger(),
            "fingerprint": sa.String(),
            "cart_id": sa.Uuid(),
            "cart_version": sa.Integer(),
            "captured_paise": sa.BigInteger(),
            "refunded_paise": sa.BigInteger(),
            "needs_review": sa.Boolean(),
            "created_at": sa.DateTime(timezone=True),
            "updated_at": sa.DateTime(timezone=True),
            "expires_at": sa.DateTime(timezone=True),
        }.items()
    ),
)
reservations = sa.table(
    "stock_reservations",
    sa.column("session_id", sa.Uuid()),
    sa.column("product_id", sa.Uuid()),
    sa.column("quantity", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
carts = sa.table(
    "carts",
    sa.column("id", sa.Uuid()),
    sa.column("customer_id", sa.String()),
    sa.column("active", sa.Boolean()),
    sa.column("version", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
cart_lines = sa.table(
    "cart_lines",
    sa.column("id", sa.Uuid()),
    sa.column("cart_id", sa.Uuid()),
    sa.column("product_id", sa.Uuid()),
    sa.column("quantity", sa.Integer()),
    sa.column("position", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)

# sku -> stock before the migration; reservations as (session, sku, quantity, status)
STOCK = {"MIG-A": 5, "MIG-B": 0, "MIG-C": 7}
RESERVED = [
    ("s1", "MIG-A", 2, "HELD"),
    ("s2", "MIG-A", 1, "HELD"),
    ("s2", "MIG-B", 4, "HELD"),
    ("s3", "MIG-A", 9, "RELEASED"),
    ("s3", "MIG-C", 3, "COMMITTED"),
]
EXPECTED = {"MIG-A": (8, 3), "MIG-B": (4, 4), "MIG-C": (7, 0)}  # sku -> (on_hand, reserved)


def pid(sku: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"migration-test:{sku}")


@pytest.fixture(params=["postgresql", "sqlite"])
async def engine(
    request: pytest.FixtureRequest, pg_server_url: str, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """An empty database of the test's own, PostgreSQL or SQLite."""
    if request.param == "sqlite":
        engine = create_engine(url=f"sqlite+aiosqlite:///{tmp_path}/stock.db")
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    name = f"stock_mig_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(asyncpg_dsn(with_database(pg_server_url, "postgres")))
    await admin.execute(f'CREATE DATABASE "{name}"')
    engine = create_engine(url=normalise_database_url(with_database(pg_server_url, name)))
    try:
        yield engine
    finally:
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def fill_0004(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(products_0004),
            [
                {
                    "id": pid(sku),
                    "sku": sku,
                    "title": sku,
                    "description": "",
                    "category": "mig",
                    "price_paise": 100,
                    "gst_rate_bp": 0,
                    "stock": stock,
                    "image_url": None,
                    "active": True,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for sku, stock in STOCK.items()
            ],
        )
        cart = uuid.uuid4()
        await conn.execute(
            sa.insert(carts),
            [
                {
                    "id": cart,
                    "customer_id": "c",
                    "active": True,
                    "version": 1,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            ],
        )
        await conn.execute(
            sa.insert(cart_lines),
            [
                {
                    "id": uuid.uuid4(),
                    "cart_id": cart,
                    "product_id": pid(sku),
                    "quantity": 1,
                    "position": i,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i, sku in enumerate(STOCK)
            ],
        )
        names = sorted({r[0] for r in RESERVED})
        await conn.execute(
            sa.insert(sessions),
            [
                {
                    "id": pid(name),
                    "customer_id": "c",
                    "status": "CREATED",
                    "currency": "INR",
                    "subtotal_paise": 0,
                    "discount_paise": 0,
                    "tax_paise": 0,
                    "amount_paise": 0,
                    "fingerprint": name,
                    "cart_id": cart,
                    "cart_version": 1,
                    "captured_paise": 0,
                    "refunded_paise": 0,
                    "needs_review": False,
                    "created_at": NOW,
                    "updated_at": NOW,
                    "expires_at": NOW + timedelta(minutes=30),
                }
                for name in names
            ],
        )
        await conn.execute(
            sa.insert(reservations),
            [
                {
                    "session_id": pid(s),
                    "product_id": pid(sku),
                    "quantity": q,
                    "status": st,
                    "updated_at": NOW,
                }
                for s, sku, q, st in RESERVED
            ],
        )


async def read(engine: AsyncEngine, *columns: str) -> dict[str, tuple[int, ...]]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(sa.column("sku"), *(sa.column(c) for c in columns)).select_from(
                    sa.table("products")
                )
            )
        ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


async def test_upgrade_carries_held_units_over_and_downgrade_gives_stock_back(
    engine: AsyncEngine,
) -> None:
    await migrate.upgrade(engine, revision=BEFORE)
    await fill_0004(engine)

    await migrate.upgrade(engine, revision=AFTER)
    assert await read(engine, "on_hand", "reserved") == EXPECTED
    async with engine.connect() as conn:
        lines = (await conn.execute(sa.select(sa.func.count()).select_from(cart_lines))).scalar()
        columns = await conn.run_sync(
            lambda c: {col["name"] for col in sa.inspect(c).get_columns("products")}
        )
    assert lines == len(STOCK)  # nothing that refers to a product went away
    assert {"on_hand", "reserved"} <= columns and "stock" not in columns

    await migrate.downgrade(engine, revision=BEFORE)
    assert await read(engine, "stock") == {sku: (stock,) for sku, stock in STOCK.items()}
    await migrate.upgrade(engine, revision=AFTER)  # and up again, from what the downgrade left
    assert await read(engine, "on_hand", "reserved") == EXPECTED


@pytest.mark.parametrize(
    ("on_hand", "reserved"), [(3, 4), (-1, 0), (2, -1)], ids=["over", "negative", "below-zero"]
)
async def test_the_check_refuses_reserved_outside_zero_to_on_hand(
    engine: AsyncEngine, on_hand: int, reserved: int
) -> None:
    await migrate.upgrade(engine, revision=BEFORE)
    await fill_0004(engine)
    await migrate.upgrade(engine, revision=AFTER)
    with pytest.raises(IntegrityError, match=r"(?i)ck_products_reserved_within_on_hand|check"):
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(products_0005)
                .where(products_0005.c.id == pid("MIG-C"))
                .values(on_hand=on_hand, reserved=reserved)
            )
    assert (await read(engine, "on_hand", "reserved"))["MIG-C"] == (7, 0)


async def test_sqlite_keeps_foreign_keys_after_the_recreate(tmp_path: Path) -> None:
    engine = create_engine(url=f"sqlite+aiosqlite:///{tmp_path}/fk.db")
    try:
        await migrate.upgrade(engine, revision=BEFORE)
        await fill_0004(engine)
        await migrate.upgrade(engine)
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            async with engine.begin() as conn:
                await conn.execute(
                    sa.insert(reservations).values(
                        session_id=pid("s1"),
                        product_id=uuid.uuid4(),
                        quantity=1,
                        status="HELD",
                        updated_at=NOW,
                    )
                )
    finally:
        await engine.dispose()
