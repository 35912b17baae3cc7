"""initial tables

Revision ID: 0001
Revises:
Create Date: 2026-11-23 12:23:38.107078
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('auditevent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('entity', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('entity_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('before', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('after', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('auditevent', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entity', ['entity', 'entity_id'], unique=False)

    op.create_table('department',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('playbookversion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('origin', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('sources', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('loaded_at', sa.DateTime(), nullable=False),
    sa.Column('activated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('version')
    )
    op.create_table('person',
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['department'], ['department.key'], ),
    sa.PrimaryKeyConstraint('email')
    )
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_department'), ['department'], unique=False)

    op.create_table('account',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('industry', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('owner_email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('sponsor_email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('potential', sa.Float(), nullable=False),
    sa.Column('criteria', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('state_since', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('klass', sqlmodel.sql.sqltypes.AutoString(length=1), nullable=True),
    sa.Column('key_account', sa.Boolean(), nullable=False),
    sa.Column('segment', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('portrait_fit', sa.Float(), nullable=True),
    sa.Column('baseline_revenue', sa.Float(), nullable=True),
    sa.Column('classified_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['owner_email'], ['person.email'], ),
    sa.ForeignKeyConstraint(['sponsor_email'], ['person.email'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_klass'), ['klass'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_owner_email'), ['owner_email'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_state'), ['state'], unique=False)

    op.create_table('contact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('person_email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('nature', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['person_email'], ['person.email'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account_id', 'date', 'channel', 'person_email', name='uq_contact_natural')
    )
    op.create_table('feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account_id', 'date', name='uq_feedback_natural')
    )
    op.create_table('revenue',
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('amount', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('account_id', 'month')
    )
    op.create_table('transition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('from_state', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('to_state', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('metrics', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('playbook_version', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account_id', 'at', name='uq_transition_account_at')
    )



def downgrade() -> None:

    op.drop_table('transition')
    op.drop_table('revenue')
    op.drop_table('feedback')
    op.drop_table('contact')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_state'))
        batch_op.drop_index(batch_op.f('ix_account_owner_email'))
        batch_op.drop_index(batch_op.f('ix_account_klass'))

    op.drop_table('account')
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_department'))

    op.drop_table('person')
    op.drop_table('playbookversion')
    op.drop_table('department')
    with op.batch_alter_table('auditevent', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entity')

    op.drop_table('auditevent')

