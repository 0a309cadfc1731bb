"""Outbox dead letter: messages parked after too many attempts.

Revision ID: 0006_outbox_dead_letter
Revises: 0005_stock_on_hand
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0006_outbox_dead_letter"
down_revision: str | None = "0005_stock_on_hand"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
