"""API: idempotency claims released when their process dies

An in-progress ``Idempotency-Key`` carries its run's heartbeat (``alive_at``, refreshed every few
seconds while the run lasts), so that a retry after a crash takes the key over within seconds
instead of waiting minutes.

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as table:
        table.add_column(sa.Column("alive_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as table:
        table.drop_column("alive_at")
