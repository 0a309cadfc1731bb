"""The customer's phone on payment sessions (``customer_contact``), sealed like the e-mail.

Both hold KMS-sealed text (``pii:…``, datasources/kms/envelope.py). Rows written before
encryption keep plain values until ``python -m app.encrypt_pii`` (``make encrypt-pii``; the
deploy's migration function and the local stack run it after migrating) seals them.

Revision ID: 0008_customer_contact
Revises: 0007_payment_events
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_customer_contact"
down_revision: str | None = "0007_payment_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payment_sessions") as batch:
        batch.add_column(sa.Column("customer_contact", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payment_sessions") as batch:
        batch.drop_column("customer_contact")
