"""subsidies: monthly subsidy runs and their lines (rule S4). The lines carry no foreign keys (see
``fund.adapters.models.subsidies.SubsidyLine``: per-row key checks dominated a million-line run).

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subsidy_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("capped_count", sa.Integer(), nullable=False),
        sa.Column("computed_fen", sa.BigInteger(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("deferred_fen", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.CheckConstraint("total_fen >= 0 and total_fen <= computed_fen", name=op.f("ck_subsidy_runs_total_range")),
        sa.CheckConstraint(
            "paid_fen >= 0 and deferred_fen >= 0 and paid_fen + deferred_fen = total_fen",
            name=op.f("ck_subsidy_runs_paid_plus_deferred"),
        ),
        sa.ForeignKeyConstraint(["actor_id"], ["institutions.id"], name=op.f("fk_subsidy_runs_actor_id_institutions")),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"], name=op.f("fk_subsidy_runs_entry_id_journal_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subsidy_runs")),
        sa.UniqueConstraint("month", name=op.f("uq_subsidy_runs_month")),
    )
    op.create_table(
        "subsidy_lines",
        sa.Column("repayment_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.String(length=40), nullable=False),
        sa.Column("cap_year", sa.Integer(), nullable=False),
        sa.Column("interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("lpr_bp", sa.Integer(), nullable=False),
        sa.Column("rate_used_bp_e4", sa.BigInteger(), nullable=False),
        sa.Column("computed_fen", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("capped", sa.Boolean(), nullable=False),
        sa.CheckConstraint("amount_fen >= 0 and amount_fen <= computed_fen", name=op.f("ck_subsidy_lines_amount_range")),
        sa.CheckConstraint("interest_fen > 0", name=op.f("ck_subsidy_lines_interest_positive")),
        sa.PrimaryKeyConstraint("repayment_id", name=op.f("pk_subsidy_lines")),
        sa.ForeignKeyConstraint(["repayment_id"], ["repayments.id"], name=op.f("fk_subsidy_lines_repayment_id_repayments")),
        sa.ForeignKeyConstraint(["run_id"], ["subsidy_runs.id"], name=op.f("fk_subsidy_lines_run_id_subsidy_runs")),
    )
    with op.batch_alter_table("subsidy_lines", schema=None) as batch_op:
        batch_op.create_index("ix_subsidy_lines_run_id", ["run_id"], unique=False, postgresql_using="brin")


def downgrade() -> None:
    with op.batch_alter_table("subsidy_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_subsidy_lines_run_id", postgresql_using="brin")
    op.drop_table("subsidy_lines")
    op.drop_table("subsidy_runs")
