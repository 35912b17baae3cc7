"""tasks and account events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:30:20.032520
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('account_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('account_event', schema=None) as batch_op:
        batch_op.create_index('ix_event_account_at', ['account_id', 'at'], unique=False)

    op.create_table('task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=130), nullable=False),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('playbook_version', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('start', sa.Date(), nullable=False),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('assignee', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('queue', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('responsible_dept', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('accountable', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('accountable_dept', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('co_responsible', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('consulted', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('informed', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('escalated_at', sa.DateTime(), nullable=True),
    sa.Column('snoozed_until', sa.Date(), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('fields', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('evidence', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.Column('done_by', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('why', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['assignee'], ['person.email'], ),
    sa.ForeignKeyConstraint(['queue'], ['department.key'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account_id', 'step', 'period', name='uq_task_occurrence')
    )
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index('ix_task_account_status', ['account_id', 'status'], unique=False)
        batch_op.create_index('ix_task_assignee_status', ['assignee', 'status', 'due'], unique=False)
        batch_op.create_index('ix_task_queue_status', ['queue', 'status', 'due'], unique=False)
        batch_op.create_index('ix_task_status_due', ['status', 'due'], unique=False)

    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.add_column(sa.Column('task_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_feedback_task', 'task', ['task_id'], ['id'])




def downgrade() -> None:

    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_constraint('fk_feedback_task', type_='foreignkey')
        batch_op.drop_column('task_id')

    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index('ix_task_status_due')
        batch_op.drop_index('ix_task_queue_status')
        batch_op.drop_index('ix_task_assignee_status')
        batch_op.drop_index('ix_task_account_status')

    op.drop_table('task')
    with op.batch_alter_table('account_event', schema=None) as batch_op:
        batch_op.drop_index('ix_event_account_at')

    op.drop_table('account_event')

