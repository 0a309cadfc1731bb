"""Stock on hand kept apart from reservations (issue 9, API.md Stock).

Revision ID: 0005_stock_on_hand
Revises: 0004_refunds_outbox
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0005_stock_on_hand"
down_revision: str | None = "0004_refunds_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
