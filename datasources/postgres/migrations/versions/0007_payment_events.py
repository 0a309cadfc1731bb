"""Processed payment events recorded in PostgreSQL with their state change; sessions remember
when reconciliation last looked at them; a refund may be counted before its capture.

Revision ID: 0007_payment_events
Revises: 0006_outbox_dead_letter
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_payment_events"
down_revision: str | None = "0006_outbox_dead_letter"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_events",
        sa.Column("event_key", sa.String(length=200), primary_key=True),
        sa.Column("session_id", sa.Uuid(), sa.ForeignKey("payment_sessions.id"), nullable=False),
        sa.Column("source", sa.String(length=24), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_payment_events_session_id", "payment_events", ["session_id"])
    with op.batch_alter_table("payment_sessions") as batch:
        batch.add_column(sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=True))
        batch.drop_constraint("ck_payment_sessions_refunds", type_="check")
        batch.create_check_constraint("ck_payment_sessions_refunds", "refunded_paise >= 0")
        batch.create_index("ix_payment_sessions_reconcile", ["status", "reconciled_at"])
        batch.create_index("ix_payment_sessions_cart", ["cart_id", "status"])


def downgrade() -> None:
    with op.batch_alter_table("payment_sessions") as batch:
        batch.drop_index("ix_payment_sessions_cart")
        batch.drop_index("ix_payment_sessions_reconcile")
        batch.drop_constraint("ck_payment_sessions_refunds", type_="check")
        batch.create_check_constraint(
            "ck_payment_sessions_refunds",
            "refunded_paise >= 0 AND refunded_paise <= captured_paise",
        )
        batch.drop_column("reconciled_at")
    op.drop_index("ix_payment_events_session_id", table_name="payment_events")
    op.drop_table("payment_events")
