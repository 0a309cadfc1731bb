"""Outbox dead letter: messages parked after too many attempts.

``outbox.parked_at``: set when a message failed ``outbox_max_attempts`` times; a parked message
is not claimed until an operator requeues it (``python -m app.outbox_admin requeue``).
Downgrading drops the column: parked messages become ordinary pending ones again.

Revision ID: 0006_outbox_dead_letter
Revises: 0005_stock_on_hand
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_outbox_dead_letter"
down_revision: str | None = "0005_stock_on_hand"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("parked_at")
