"""valuation tables: asset_valuations (rule V).

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "asset_valuations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("model_value_fen", sa.BigInteger(), nullable=False),
        sa.Column("collateral_value_fen", sa.BigInteger(), nullable=False),
        sa.Column("appraised_value_fen", sa.BigInteger(), nullable=False),
        sa.Column("appraised_on", sa.Date(), nullable=False),
        sa.Column("life_years", sa.Float(), nullable=False),
        sa.Column("life_reason", sa.String(length=32), nullable=False),
        sa.Column("assumptions_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.CheckConstraint("model_value_fen >= 0", name=op.f("ck_asset_valuations_model_value_non_negative")),
        sa.CheckConstraint(
            "collateral_value_fen >= 0 and collateral_value_fen <= model_value_fen",
            name=op.f("ck_asset_valuations_collateral_range"),
        ),
        sa.CheckConstraint("appraised_value_fen >= 0", name=op.f("ck_asset_valuations_appraised_non_negative")),
        sa.CheckConstraint(
            "life_reason in ('legal term','economic life cap','lapsed','not valid')",
            name=op.f("ck_asset_valuations_life_reason"),
        ),
        sa.ForeignKeyConstraint(["asset_id"], ["ip_assets.id"], name=op.f("fk_asset_valuations_asset_id_ip_assets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_valuations")),
        sa.UniqueConstraint("asset_id", "as_of", name="uq_asset_valuations_asset_as_of"),
    )
    op.create_index(op.f("ix_asset_valuations_asset_id"), "asset_valuations", ["asset_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_asset_valuations_asset_id"), table_name="asset_valuations")
    op.drop_table("asset_valuations")
