"""Processed payment events recorded in PostgreSQL with their state change.

Revision ID: 0007_payment_events
Revises: 0006_outbox_dead_letter
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0007_payment_events"
down_revision: str | None = "0006_outbox_dead_letter"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
