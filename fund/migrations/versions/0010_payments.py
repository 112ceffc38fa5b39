"""payment instructions for the custodian bank (docs/rules.md section 6); journal causes of payments

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OLD_CAUSES = "cause in ('appropriation','claim_approval','deferral_settlement','recovery','subsidy_run','correction')"
NEW_CAUSES = ("cause in ('appropriation','claim_approval','deferral_settlement','recovery','subsidy_run','correction',"
              "'reversal','payment_confirmation','payment_return','payment_reissue')")


def _set_cause_check(old: str, new: str) -> None:
    """Replace the journal's CHECK on ``cause``. PostgreSQL alters the constraint; SQLite cannot, and
    copying the append-only journal into a new table would fire its triggers, so the table's stored
    definition is rewritten in place: the way SQLite documents for changes that leave the stored
    rows as they are (a CHECK constraint is one, see "Making Other Kinds Of Table Schema Changes")."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE journal_entries DROP CONSTRAINT ck_journal_entries_cause")
        op.execute(f"ALTER TABLE journal_entries ADD CONSTRAINT ck_journal_entries_cause CHECK ({new})")
        return
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'journal_entries'").scalar()
    if old not in sql:
        raise RuntimeError("journal_entries: the CHECK on cause is not the one this migration replaces")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'journal_entries'",
                         (sql.replace(old, new),))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    op.create_table(
        "payment_instructions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool", sa.String(length=16), nullable=False),
        sa.Column("payee_type", sa.String(length=16), nullable=False),
        sa.Column("payee_id", sa.Integer(), nullable=False),
        sa.Column("payee_code", sa.String(length=32), nullable=False),
        sa.Column("payee_name", sa.String(length=200), nullable=False),
        sa.Column("source_type", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("instructed_on", sa.Date(), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=True),
        sa.Column("bank_reference", sa.String(length=64), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("settlement_entry_id", sa.Integer(), nullable=True),
        sa.Column("reissue_of", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.CheckConstraint("pool in ('compensation','subsidy')", name=op.f("ck_payment_instructions_pool")),
        sa.CheckConstraint("payee_type in ('bank','enterprise')", name=op.f("ck_payment_instructions_payee_type")),
        sa.CheckConstraint("status in ('instructed','confirmed','returned')", name=op.f("ck_payment_instructions_status")),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_payment_instructions_amount_positive")),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"], name=op.f("fk_payment_instructions_entry_id_journal_entries")),
        sa.ForeignKeyConstraint(["settlement_entry_id"], ["journal_entries.id"],
                                name=op.f("fk_payment_instructions_settlement_entry_id_journal_entries")),
        sa.ForeignKeyConstraint(["reissue_of"], ["payment_instructions.id"],
                                name=op.f("fk_payment_instructions_reissue_of_payment_instructions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_instructions")),
        sa.UniqueConstraint("reissue_of", name=op.f("uq_payment_instructions_reissue_of")),
    )
    op.create_index("ix_payment_instructions_pool_status", "payment_instructions", ["pool", "status"])
    op.create_index("ix_payment_instructions_source", "payment_instructions", ["source_type", "source_id"])
    _set_cause_check(OLD_CAUSES, NEW_CAUSES)


def downgrade() -> None:
    _set_cause_check(NEW_CAUSES, OLD_CAUSES)
    op.drop_index("ix_payment_instructions_source", table_name="payment_instructions")
    op.drop_index("ix_payment_instructions_pool_status", table_name="payment_instructions")
    op.drop_table("payment_instructions")
