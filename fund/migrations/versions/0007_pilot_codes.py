"""pilot credit codes allowed by the fund manager (docs/rules.md I1)

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pilot_code_allowances",
        sa.Column("credit_code", sa.String(length=18), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("allowed_by", sa.Integer(), nullable=False),
        sa.Column("allowed_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.ForeignKeyConstraint(["allowed_by"], ["institutions.id"], name=op.f("fk_pilot_code_allowances_allowed_by_institutions")),
        sa.PrimaryKeyConstraint("credit_code", name=op.f("pk_pilot_code_allowances")),
    )


def downgrade() -> None:
    op.drop_table("pilot_code_allowances")
