"""Stock on hand kept apart from reservations (issue 9, API.md Stock).

``products.stock`` (units not held by anyone) becomes two columns: ``on_hand`` (units on the
shelf, held ones included) and ``reserved`` (units held by open payment sessions), with
``0 <= reserved <= on_hand``. Available to buy is ``on_hand - reserved``. Today's rows are
carried over exactly: ``reserved`` = the units HELD in ``stock_reservations``, ``on_hand`` =
``stock + reserved``. ``stock`` is dropped rather than kept in step: a third number that must
always equal ``on_hand - reserved`` is the kind of copy that drifts (defect 5 was one).

SQLite recreates ``products`` to drop a column and add a table CHECK (batch mode). Other tables
refer to ``products`` and the app's connections run with ``PRAGMA foreign_keys=ON``, which cannot
be switched off inside the migration's transaction; dropping a referenced table with rows in it
would then fail at commit. So on SQLite the rows are parked in a temporary table while the
(empty) table is recreated, with foreign keys deferred, and put back afterwards.

Revision ID: 0005_stock_on_hand
Revises: 0004_refunds_outbox
Create Date: 2026-12-02
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision: str = "0005_stock_on_hand"
down_revision: str | None = "0004_refunds_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HELD = (
    "(SELECT COALESCE(SUM(r.quantity), 0) FROM stock_reservations r"
    " WHERE r.product_id = products.id AND r.status = 'HELD')"
)
PARKED = "_products_parked_0005"


@contextmanager
def _rows_parked_on_sqlite() -> Iterator[None]:
    """On SQLite, empty ``products`` while it is recreated and put its rows back after
    (the columns both versions have); elsewhere, nothing."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    op.execute("PRAGMA defer_foreign_keys = ON")  # until commit; rows come back before then
    op.execute(f"CREATE TEMP TABLE {PARKED} AS SELECT * FROM products")  # noqa: S608 (constants)
    op.execute("DELETE FROM products")
    yield
    kept = [c["name"] for c in sa.inspect(bind).get_columns("products")]
    parked = {c["name"] for c in sa.inspect(bind).get_columns(PARKED, schema="temp")}
    columns = ", ".join(f'"{name}"' for name in kept if name in parked)
    op.execute(f"INSERT INTO products ({columns}) SELECT {columns} FROM {PARKED}")  # noqa: S608
    op.execute(f"DROP TABLE {PARKED}")


def upgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("on_hand", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("reserved", sa.Integer(), nullable=False, server_default="0"))
    op.execute(f"UPDATE products SET reserved = {HELD}, on_hand = stock + {HELD}")  # noqa: S608
    with _rows_parked_on_sqlite(), op.batch_alter_table("products") as batch:
        batch.drop_constraint("ck_products_stock_non_negative", type_="check")
        batch.drop_column("stock")
        batch.alter_column("on_hand", existing_type=sa.Integer(), server_default=None)
        batch.alter_column("reserved", existing_type=sa.Integer(), server_default=None)
        batch.create_check_constraint(
            "ck_products_reserved_within_on_hand", "reserved >= 0 AND reserved <= on_hand"
        )


def downgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("stock", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE products SET stock = on_hand - reserved")
    with _rows_parked_on_sqlite(), op.batch_alter_table("products") as batch:
        batch.drop_constraint("ck_products_reserved_within_on_hand", type_="check")
        batch.drop_column("reserved")
        batch.drop_column("on_hand")
        batch.alter_column("stock", existing_type=sa.Integer(), server_default=None)
        batch.create_check_constraint("ck_products_stock_non_negative", "stock >= 0")
