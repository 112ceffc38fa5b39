"""stress tables: stress_runs and stress_run_files (rule M, runs started through the API).

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stress_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("scenario_name", sa.String(length=64), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("n_scenarios", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.CheckConstraint("status in ('queued','running','done','failed')", name=op.f("ck_stress_runs_status")),
        sa.CheckConstraint("n_scenarios >= 1", name=op.f("ck_stress_runs_scenarios_positive")),
        sa.CheckConstraint("progress_done >= 0 and progress_done <= n_scenarios", name=op.f("ck_stress_runs_progress_range")),
        sa.ForeignKeyConstraint(["requested_by"], ["institutions.id"], name=op.f("fk_stress_runs_requested_by_institutions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stress_runs")),
    )
    op.create_index(op.f("ix_stress_runs_status"), "stress_runs", ["status"], unique=False)
    op.create_table(
        "stress_run_files",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["stress_runs.id"], name=op.f("fk_stress_run_files_run_id_stress_runs")),
        sa.PrimaryKeyConstraint("run_id", "name", name=op.f("pk_stress_run_files")),
    )


def downgrade() -> None:
    op.drop_table("stress_run_files")
    op.drop_index(op.f("ix_stress_runs_status"), table_name="stress_runs")
    op.drop_table("stress_runs")
