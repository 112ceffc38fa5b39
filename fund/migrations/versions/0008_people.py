"""people, proposals (rule G1), the audit trail (G2), appropriation references and reversals, repayment reversals

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The audit trail is append-only (docs/rules.md section 11, G2): nobody changes or deletes a record.
_PG_AUDIT_FUNCTION = """
CREATE FUNCTION ipfund_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: audit records are never changed or deleted', TG_TABLE_NAME;
END
$$
"""


def _create_audit_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_AUDIT_FUNCTION)
        op.execute("CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records "
                   "FOR EACH ROW EXECUTE FUNCTION ipfund_audit_append_only()")
        return
    for action in ("update", "delete"):
        op.execute(f"CREATE TRIGGER audit_records_no_{action} BEFORE {action.upper()} ON audit_records "
                   "BEGIN SELECT RAISE(ABORT, 'audit_records is append-only: audit records are never changed or deleted'); END")


def _drop_audit_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_records_append_only ON audit_records")
        op.execute("DROP FUNCTION IF EXISTS ipfund_audit_append_only()")
        return
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_records_no_{action}")


def _tz():
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("roles", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=2), server_default="zh", nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("password_changed_at", _tz(), nullable=True),
        sa.Column("failed_sign_ins", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", _tz(), nullable=True),
        sa.Column("locked_until", _tz(), nullable=True),
        sa.Column("created_at", _tz(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.CheckConstraint("language in ('zh','en')", name=op.f("ck_people_language")),
        sa.ForeignKeyConstraint(["institution_id"], ["institutions.id"], name=op.f("fk_people_institution_id_institutions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint("login", name=op.f("uq_people_login")),
    )
    op.create_index(op.f("ix_people_institution_id"), "people", ["institution_id"], unique=False)
    op.create_table(
        "person_keys",
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name=op.f("fk_person_keys_key_id_api_keys")),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_person_keys_person_id_people")),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_person_keys")),
    )
    op.create_index(op.f("ix_person_keys_person_id"), "person_keys", ["person_id"], unique=False)
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("target", sa.String(length=80), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("preview", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("proposed_by", sa.Integer(), nullable=False),
        sa.Column("proposed_on", sa.Date(), nullable=False),
        sa.Column("proposed_at", _tz(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decided_at", _tz(), nullable=True),
        sa.Column("decline_reason", sa.String(length=500), nullable=True),
        sa.Column("figures", sa.Text(), nullable=True),
        sa.Column("figures_differ", sa.Boolean(), nullable=True),
        sa.Column("single_signoff", sa.Boolean(), nullable=True),
        sa.CheckConstraint("status in ('open','executed','declined','withdrawn')", name=op.f("ck_proposals_status")),
        sa.ForeignKeyConstraint(["proposed_by"], ["people.id"], name=op.f("fk_proposals_proposed_by_people")),
        sa.ForeignKeyConstraint(["decided_by"], ["people.id"], name=op.f("fk_proposals_decided_by_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposals")),
    )
    op.create_index(op.f("ix_proposals_kind"), "proposals", ["kind"], unique=False)
    op.create_index(op.f("ix_proposals_target"), "proposals", ["target"], unique=False)
    op.create_index(op.f("ix_proposals_status"), "proposals", ["status"], unique=False)
    op.create_table(
        "audit_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _tz(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("key_prefix", sa.String(length=16), nullable=True),
        sa.Column("login", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=80), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint("outcome in ('done','refused')", name=op.f("ck_audit_records_outcome")),
        sa.ForeignKeyConstraint(["institution_id"], ["institutions.id"], name=op.f("fk_audit_records_institution_id_institutions")),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_audit_records_person_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_records")),
    )
    op.create_index(op.f("ix_audit_records_at"), "audit_records", ["at"], unique=False)
    op.create_index("ix_audit_records_target_id", "audit_records", ["target", "id"], unique=False)
    op.create_index("ix_audit_records_person_id_id", "audit_records", ["person_id", "id"], unique=False)
    op.create_index("ix_audit_records_action_id", "audit_records", ["action", "id"], unique=False)
    _create_audit_triggers()
    op.create_table(
        "appropriations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("pool", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("policy_id", sa.String(length=32), nullable=True),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("live_reference", sa.String(length=100), nullable=True),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("reversal_entry_id", sa.Integer(), nullable=True),
        sa.Column("reversal_reason", sa.String(length=500), nullable=True),
        sa.Column("reversed_on", sa.Date(), nullable=True),
        sa.Column("created_at", _tz(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"], name=op.f("fk_appropriations_entry_id_journal_entries")),
        sa.ForeignKeyConstraint(["reversal_entry_id"], ["journal_entries.id"],
                                name=op.f("fk_appropriations_reversal_entry_id_journal_entries")),
        sa.ForeignKeyConstraint(["recorded_by"], ["people.id"], name=op.f("fk_appropriations_recorded_by_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appropriations")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_appropriations_entry_id")),
        sa.UniqueConstraint("live_reference", name=op.f("uq_appropriations_live_reference")),
        sa.UniqueConstraint("reversal_entry_id", name=op.f("uq_appropriations_reversal_entry_id")),
    )
    op.create_index(op.f("ix_appropriations_reference"), "appropriations", ["reference"], unique=False)
    op.create_table(
        "repayment_reversals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repayment_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("reversed_on", sa.Date(), nullable=False),
        sa.Column("reversed_by", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _tz(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.ForeignKeyConstraint(["repayment_id"], ["repayments.id"], name=op.f("fk_repayment_reversals_repayment_id_repayments")),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_repayment_reversals_loan_id_loans")),
        sa.ForeignKeyConstraint(["reversed_by"], ["institutions.id"], name=op.f("fk_repayment_reversals_reversed_by_institutions")),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_repayment_reversals_person_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repayment_reversals")),
        sa.UniqueConstraint("repayment_id", name=op.f("uq_repayment_reversals_repayment_id")),
    )
    op.create_index(op.f("ix_repayment_reversals_loan_id"), "repayment_reversals", ["loan_id"], unique=False)


def downgrade() -> None:
    op.drop_table("repayment_reversals")
    op.drop_table("appropriations")
    _drop_audit_triggers()
    op.drop_table("audit_records")
    op.drop_table("proposals")
    op.drop_table("person_keys")
    op.drop_table("people")
