"""revision 2 of the rules on existing tables: borrower data per loan

Each loan carries its borrower as its own bank reported it (docs/rules.md section 3): six ``borrower_*``
columns on ``loans``, filled from the loan's ``enterprise_reports`` row (what its bank reported),
else from the enterprise (the first registration's report). ``enterprise_reports`` goes (its data now
live on the loans), and so does the ``borrower_data_differs`` flag, which told a bank that another
bank had reported otherwise.

Revision ID: 0013
Revises: 0012
"""
import datetime as dt
import json

from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

FLAG = "borrower_data_differs"
COLUMNS = (
    ("borrower_name", sa.String(length=200), "name"),
    ("borrower_district", sa.String(length=64), "district"),
    ("borrower_sector", sa.String(length=32), "sector"),
    ("borrower_registered_on", sa.Date(), "registered_on"),
    ("borrower_is_sme", sa.Boolean(), "is_sme"),
    ("borrower_clean_credit", sa.Boolean(), "clean_credit"),
)
BATCH = 5_000
PLACEHOLDERS = {
    "borrower_name": sa.text("''"), "borrower_district": sa.text("''"), "borrower_sector": sa.text("'other'"),
    "borrower_registered_on": sa.text("'1900-01-01'"), "borrower_is_sme": sa.false(), "borrower_clean_credit": sa.false(),
}


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _loans() -> sa.Table:
    return sa.table("loans", sa.column("id", sa.Integer()), sa.column("enterprise_id", sa.Integer()), sa.column("flags", sa.JSON()),
                    *(sa.column(name, type_) for name, type_, _ in COLUMNS))


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN: SQLite's copy-the-table way of altering would drop ``loans``, which
    # many tables' foreign keys point at. SQLite adds a NOT NULL column only with a default, so each
    # column starts with a placeholder default, overwritten below (PostgreSQL then drops it).
    for name, type_, _ in COLUMNS:
        op.add_column("loans", sa.Column(name, type_, nullable=False, server_default=PLACEHOLDERS[name]))
    bind = op.get_bind()
    loans = _loans()
    enterprises = sa.table("enterprises", sa.column("id"), *(sa.column(key) for _, _, key in COLUMNS))
    # first every loan from its enterprise (the first report), then from its own bank's report
    op.execute(
        loans.update().values({
            name: sa.select(enterprises.c[key]).where(enterprises.c.id == loans.c.enterprise_id).scalar_subquery()
            for name, _, key in COLUMNS
        })
    )
    reports = bind.execute(sa.text(
        "SELECT loan_id, data FROM enterprise_reports WHERE loan_id IS NOT NULL ORDER BY id"
    )).all()
    updates = []
    for loan_id, data in reports:
        data = _json(data)
        row = {"loan_id": loan_id}
        for name, _, key in COLUMNS:
            value = data[key]
            row[name] = dt.date.fromisoformat(value) if key == "registered_on" else value
        updates.append(row)
    statement = loans.update().where(loans.c.id == sa.bindparam("loan_id")).values(
        {name: sa.bindparam(name) for name, _, _ in COLUMNS}
    )
    for start in range(0, len(updates), BATCH):
        bind.execute(statement, updates[start:start + BATCH])

    flagged = bind.execute(
        sa.select(loans.c.id, loans.c.flags).where(sa.cast(loans.c.flags, sa.Text()).like(f"%{FLAG}%"))
    ).all()
    cleaned = [{"loan_id": loan_id, "new_flags": [f for f in _json(flags) if f != FLAG]} for loan_id, flags in flagged]
    flags_statement = loans.update().where(loans.c.id == sa.bindparam("loan_id")).values(flags=sa.bindparam("new_flags", type_=sa.JSON()))
    for start in range(0, len(cleaned), BATCH):
        bind.execute(flags_statement, cleaned[start:start + BATCH])

    if bind.dialect.name != "sqlite":
        for name, type_, _ in COLUMNS:
            op.alter_column("loans", name, existing_type=type_, existing_nullable=False, server_default=None)
    with op.batch_alter_table("enterprise_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enterprise_reports_enterprise_id"))
    op.drop_table("enterprise_reports")


def downgrade() -> None:
    op.create_table(
        "enterprise_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("conflicts", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprises.id"], name=op.f("fk_enterprise_reports_enterprise_id_enterprises")),
        sa.ForeignKeyConstraint(["institution_id"], ["institutions.id"], name=op.f("fk_enterprise_reports_institution_id_institutions")),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_enterprise_reports_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprise_reports")),
    )
    with op.batch_alter_table("enterprise_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enterprise_reports_enterprise_id"), ["enterprise_id"], unique=False)
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT id, enterprise_id, bank_id, " + ", ".join(name for name, _, _ in COLUMNS) + " FROM loans ORDER BY id"
    )).all()
    reports = sa.table("enterprise_reports", sa.column("enterprise_id"), sa.column("institution_id"), sa.column("loan_id"),
                       sa.column("data", sa.JSON()), sa.column("conflicts", sa.JSON()))
    values = []
    for loan_id, enterprise_id, bank_id, *data in rows:
        report = {key: value for (_, _, key), value in zip(COLUMNS, data)}
        registered = report["registered_on"]
        report["registered_on"] = registered.isoformat() if isinstance(registered, dt.date) else str(registered)
        report["is_sme"], report["clean_credit"] = bool(report["is_sme"]), bool(report["clean_credit"])
        values.append(dict(enterprise_id=enterprise_id, institution_id=bank_id, loan_id=loan_id, data=report, conflicts=[]))
    for start in range(0, len(values), BATCH):
        bind.execute(reports.insert(), values[start:start + BATCH])
    for name, _, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE loans DROP COLUMN {name}")  # SQLite 3.35+ drops a column in place
