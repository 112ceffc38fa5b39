"""fee subsidies paid by the monthly run (S6 with S4)

A run now takes fee lines beside its interest lines: ``loan_fees.run_id`` names the run that took a
fee (its subsidy is then final), and the run stores its fee lines' figures. ``total_fen``,
``computed_fen``, ``paid_fen`` and ``deferred_fen`` stay the whole run's (its one journal entry);
``fee_total_fen`` and ``fee_computed_fen`` are the fee lines' part of them, ``fee_line_count`` and
``fee_capped_count`` count them (``line_count`` and ``capped_count`` count interest lines). Runs made
before this revision took no fees: 0.

Revision ID: 0015
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("fee_line_count", sa.Integer()),
    ("fee_capped_count", sa.Integer()),
    ("fee_computed_fen", sa.BigInteger()),
    ("fee_total_fen", sa.BigInteger()),
)


def upgrade() -> None:
    for name, type_ in _COLUMNS:
        op.add_column("subsidy_runs", sa.Column(name, type_, nullable=False, server_default="0"))
    op.create_index("ix_loan_fees_run", "loan_fees", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_loan_fees_run", table_name="loan_fees")
    with op.batch_alter_table("subsidy_runs") as table:
        for name, _ in reversed(_COLUMNS):
            table.drop_column(name)
