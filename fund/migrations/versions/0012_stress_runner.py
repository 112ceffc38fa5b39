"""stress runs: leases for a runner that survives restarts, comparisons

Each run gets the lease of the runner holding it (owner, expiry), its attempts, where it came from
(``api`` or ``cli``) and the comparison or sweep it belongs to. Runs left ``running`` before this
revision have no lease and are not taken up again.

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stress_runs") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("origin", sa.String(length=8), nullable=False, server_default="api"))
        batch.add_column(sa.Column("label", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_stress_runs_lease_expires_at"), "stress_runs", ["lease_expires_at"], unique=False)
    op.create_index(op.f("ix_stress_runs_label"), "stress_runs", ["label"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_stress_runs_label"), table_name="stress_runs")
    op.drop_index(op.f("ix_stress_runs_lease_expires_at"), table_name="stress_runs")
    with op.batch_alter_table("stress_runs") as batch:
        batch.drop_column("label")
        batch.drop_column("origin")
        batch.drop_column("attempts")
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")
