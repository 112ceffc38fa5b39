"""pool agreements (B1), suspensions (B2), fees and fee subsidies (S6)

Every bank that already has loans under a policy gets an agreement under it dated at its first
drawdown under it, so the books registered before rule B keep their coverage.

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

MIGRATED_REFERENCE = "recorded by migration 0011 (loans registered before rule B)"


def upgrade() -> None:
    op.create_table(
        "pool_agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.String(length=40), nullable=False),
        sa.Column("agreed_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("recorded_on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.ForeignKeyConstraint(["bank_id"], ["institutions.id"], name=op.f("fk_pool_agreements_bank_id_institutions")),
        sa.ForeignKeyConstraint(["policy_id"], ["policies.id"], name=op.f("fk_pool_agreements_policy_id_policies")),
        sa.ForeignKeyConstraint(["recorded_by"], ["people.id"], name=op.f("fk_pool_agreements_recorded_by_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pool_agreements")),
        sa.UniqueConstraint("bank_id", "policy_id", name="uq_pool_agreements_bank_policy"),
    )
    op.create_table(
        "bank_suspensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.String(length=40), nullable=False),
        sa.Column("suspended_on", sa.Date(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("losses_fen", sa.BigInteger(), nullable=False),
        sa.Column("lending_fen", sa.BigInteger(), nullable=False),
        sa.Column("line_fen", sa.BigInteger(), nullable=False),
        sa.Column("lifted_on", sa.Date(), nullable=True),
        sa.Column("lift_reason", sa.String(length=500), nullable=True),
        sa.Column("lifted_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.ForeignKeyConstraint(["bank_id"], ["institutions.id"], name=op.f("fk_bank_suspensions_bank_id_institutions")),
        sa.ForeignKeyConstraint(["policy_id"], ["policies.id"], name=op.f("fk_bank_suspensions_policy_id_policies")),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], name=op.f("fk_bank_suspensions_claim_id_claims")),
        sa.ForeignKeyConstraint(["lifted_by"], ["people.id"], name=op.f("fk_bank_suspensions_lifted_by_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_suspensions")),
    )
    op.create_index("ix_bank_suspensions_bank_policy", "bank_suspensions", ["bank_id", "policy_id"])
    op.create_table(
        "loan_fees",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("issuer", sa.String(length=200), nullable=False),
        sa.Column("invoice_no", sa.String(length=64), nullable=False),
        sa.Column("subsidy_fen", sa.BigInteger(), nullable=False),
        sa.Column("capped", sa.Boolean(), nullable=False),
        sa.Column("registered_on", sa.Date(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.CheckConstraint("kind in ('appraisal','insurance','guarantee')", name=op.f("ck_loan_fees_kind")),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_loan_fees_amount_positive")),
        sa.CheckConstraint("subsidy_fen >= 0", name=op.f("ck_loan_fees_subsidy_not_negative")),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_loan_fees_loan_id_loans")),
        sa.ForeignKeyConstraint(["run_id"], ["subsidy_runs.id"], name=op.f("fk_loan_fees_run_id_subsidy_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_fees")),
        sa.UniqueConstraint("issuer", "invoice_no", name="uq_loan_fees_issuer_invoice"),
    )
    op.create_index("ix_loan_fees_loan", "loan_fees", ["loan_id"])
    # B1 for the books registered before it: an agreement per (bank, policy) with loans, at its first drawdown
    op.execute(sa.text(
        "INSERT INTO pool_agreements (bank_id, policy_id, agreed_on, reference, recorded_on) "
        "SELECT bank_id, policy_id, MIN(drawdown_date), :reference, MIN(drawdown_date) FROM loans "
        "WHERE policy_id IS NOT NULL GROUP BY bank_id, policy_id"
    ).bindparams(reference=MIGRATED_REFERENCE))


def downgrade() -> None:
    op.drop_index("ix_loan_fees_loan", table_name="loan_fees")
    op.drop_table("loan_fees")
    op.drop_index("ix_bank_suspensions_bank_policy", table_name="bank_suspensions")
    op.drop_table("bank_suspensions")
    op.drop_table("pool_agreements")
