"""claims: claims (allocation and cap trace), claim_events, claim_recoveries, bank_cap_usage.

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bank_cap_usage',
    sa.Column('bank_id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.String(length=40), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('used_fen', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('used_fen >= 0', name=op.f('ck_bank_cap_usage_used_non_negative')),
    sa.ForeignKeyConstraint(['bank_id'], ['institutions.id'], name=op.f('fk_bank_cap_usage_bank_id_institutions')),
    sa.ForeignKeyConstraint(['policy_id'], ['policies.id'], name=op.f('fk_bank_cap_usage_policy_id_policies')),
    sa.PrimaryKeyConstraint('bank_id', 'policy_id', 'year', name=op.f('pk_bank_cap_usage'))
    )
    op.create_table('claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('bank_id', sa.Integer(), nullable=False),
    sa.Column('insurer_id', sa.Integer(), nullable=True),
    sa.Column('appraiser_id', sa.Integer(), nullable=True),
    sa.Column('policy_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('loss_fen', sa.BigInteger(), nullable=False),
    sa.Column('filed_on', sa.Date(), nullable=False),
    sa.Column('filed_by', sa.Integer(), nullable=False),
    sa.Column('earliest_unpaid_due', sa.Date(), nullable=False),
    sa.Column('days_past_due', sa.Integer(), nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=True),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('reject_reason', sa.String(length=500), nullable=True),
    sa.Column('principal_fen', sa.BigInteger(), nullable=True),
    sa.Column('covered_fen', sa.BigInteger(), nullable=True),
    sa.Column('outstanding_fen', sa.BigInteger(), nullable=True),
    sa.Column('scheme_code', sa.String(length=16), nullable=True),
    sa.Column('ratios_bp', sa.JSON(), nullable=True),
    sa.Column('insurer_limit_fen', sa.BigInteger(), nullable=True),
    sa.Column('base_fen', sa.BigInteger(), nullable=True),
    sa.Column('fund_before_cap_fen', sa.BigInteger(), nullable=True),
    sa.Column('insurer_cut_fen', sa.BigInteger(), nullable=True),
    sa.Column('fund_fen', sa.BigInteger(), nullable=True),
    sa.Column('insurer_fen', sa.BigInteger(), nullable=True),
    sa.Column('appraiser_fen', sa.BigInteger(), nullable=True),
    sa.Column('bank_fen', sa.BigInteger(), nullable=True),
    sa.Column('cap_year', sa.Integer(), nullable=True),
    sa.Column('cap_bp', sa.Integer(), nullable=True),
    sa.Column('in_pool_lending_fen', sa.BigInteger(), nullable=True),
    sa.Column('cap_fen', sa.BigInteger(), nullable=True),
    sa.Column('cap_used_before_fen', sa.BigInteger(), nullable=True),
    sa.Column('room_fen', sa.BigInteger(), nullable=True),
    sa.Column('fund_cut_fen', sa.BigInteger(), nullable=True),
    sa.Column('paid_fen', sa.BigInteger(), nullable=True),
    sa.Column('deferred_fen', sa.BigInteger(), nullable=True),
    sa.Column('approval_entry_id', sa.Integer(), nullable=True),
    sa.Column('recovered_gross_fen', sa.BigInteger(), nullable=False),
    sa.Column('recovered_costs_fen', sa.BigInteger(), nullable=False),
    sa.Column('recovered_net_fen', sa.BigInteger(), nullable=False),
    sa.Column('fund_recovered_fen', sa.BigInteger(), nullable=False),
    sa.Column('insurer_recovered_fen', sa.BigInteger(), nullable=False),
    sa.Column('appraiser_recovered_fen', sa.BigInteger(), nullable=False),
    sa.Column('bank_recovered_fen', sa.BigInteger(), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('closed_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("status in ('filed','withdrawn','rejected','approved','closed')", name=op.f('ck_claims_status')),
    sa.CheckConstraint('fund_fen is null or fund_fen + insurer_fen + appraiser_fen + bank_fen = loss_fen', name=op.f('ck_claims_parts_add_up')),
    sa.CheckConstraint('fund_fen is null or paid_fen + deferred_fen = fund_fen', name=op.f('ck_claims_paid_plus_deferred')),
    sa.CheckConstraint('loss_fen > 0', name=op.f('ck_claims_loss_positive')),
    sa.CheckConstraint('recovered_net_fen >= 0', name=op.f('ck_claims_recovered_net_non_negative')),
    sa.ForeignKeyConstraint(['appraiser_id'], ['institutions.id'], name=op.f('fk_claims_appraiser_id_institutions')),
    sa.ForeignKeyConstraint(['approval_entry_id'], ['journal_entries.id'], name=op.f('fk_claims_approval_entry_id_journal_entries')),
    sa.ForeignKeyConstraint(['bank_id'], ['institutions.id'], name=op.f('fk_claims_bank_id_institutions')),
    sa.ForeignKeyConstraint(['closed_by'], ['institutions.id'], name=op.f('fk_claims_closed_by_institutions')),
    sa.ForeignKeyConstraint(['decided_by'], ['institutions.id'], name=op.f('fk_claims_decided_by_institutions')),
    sa.ForeignKeyConstraint(['filed_by'], ['institutions.id'], name=op.f('fk_claims_filed_by_institutions')),
    sa.ForeignKeyConstraint(['insurer_id'], ['institutions.id'], name=op.f('fk_claims_insurer_id_institutions')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_claims_loan_id_loans')),
    sa.ForeignKeyConstraint(['policy_id'], ['policies.id'], name=op.f('fk_claims_policy_id_policies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claims'))
    )
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claims_appraiser_id'), ['appraiser_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_bank_id'), ['bank_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_insurer_id'), ['insurer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_loan_id'), ['loan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_status'), ['status'], unique=False)
        batch_op.create_index('uq_claims_live_loan', ['loan_id'], unique=True, sqlite_where=sa.text("status in ('filed','approved')"), postgresql_where=sa.text("status in ('filed','approved')"))

    op.create_table('claim_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("event in ('filed','loss_lowered','withdrawn','rejected','approved','recovery','closed')", name=op.f('ck_claim_events_event')),
    sa.ForeignKeyConstraint(['actor_id'], ['institutions.id'], name=op.f('fk_claim_events_actor_id_institutions')),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], name=op.f('fk_claim_events_claim_id_claims')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], name=op.f('fk_claim_events_entry_id_journal_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_events'))
    )
    with op.batch_alter_table('claim_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_events_claim_id'), ['claim_id'], unique=False)

    op.create_table('claim_recoveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.String(length=40), nullable=False),
    sa.Column('gross_fen', sa.BigInteger(), nullable=False),
    sa.Column('costs_fen', sa.BigInteger(), nullable=False),
    sa.Column('net_fen', sa.BigInteger(), nullable=False),
    sa.Column('cum_net_before_fen', sa.BigInteger(), nullable=False),
    sa.Column('fund_fen', sa.BigInteger(), nullable=False),
    sa.Column('insurer_fen', sa.BigInteger(), nullable=False),
    sa.Column('appraiser_fen', sa.BigInteger(), nullable=False),
    sa.Column('bank_fen', sa.BigInteger(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('reported_by', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('fund_fen + insurer_fen + appraiser_fen + bank_fen = net_fen', name=op.f('ck_claim_recoveries_parts_add_up')),
    sa.CheckConstraint('gross_fen >= 0 and costs_fen >= 0 and net_fen = gross_fen - costs_fen and net_fen >= 0', name=op.f('ck_claim_recoveries_net')),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], name=op.f('fk_claim_recoveries_claim_id_claims')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], name=op.f('fk_claim_recoveries_entry_id_journal_entries')),
    sa.ForeignKeyConstraint(['policy_id'], ['policies.id'], name=op.f('fk_claim_recoveries_policy_id_policies')),
    sa.ForeignKeyConstraint(['reported_by'], ['institutions.id'], name=op.f('fk_claim_recoveries_reported_by_institutions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_recoveries'))
    )
    with op.batch_alter_table('claim_recoveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_recoveries_claim_id'), ['claim_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('claim_recoveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_recoveries_claim_id'))

    op.drop_table('claim_recoveries')
    with op.batch_alter_table('claim_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_events_claim_id'))

    op.drop_table('claim_events')
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_index('uq_claims_live_loan', sqlite_where=sa.text("status in ('filed','approved')"), postgresql_where=sa.text("status in ('filed','approved')"))
        batch_op.drop_index(batch_op.f('ix_claims_status'))
        batch_op.drop_index(batch_op.f('ix_claims_loan_id'))
        batch_op.drop_index(batch_op.f('ix_claims_insurer_id'))
        batch_op.drop_index(batch_op.f('ix_claims_bank_id'))
        batch_op.drop_index(batch_op.f('ix_claims_appraiser_id'))

    op.drop_table('claims')
    op.drop_table('bank_cap_usage')
