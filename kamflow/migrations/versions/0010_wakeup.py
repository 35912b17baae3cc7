"""Work proportional to change: each account marked when new data arrives, and its wake-up

Revision ID: 0010
Revises: 0008, 0009
Create Date: 2026-12-02 11:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = ('0008', '0009')
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('account') as batch:
        # Every existing account starts marked: the first sweep after the upgrade reads all.
        batch.add_column(sa.Column('changed', sa.Boolean(), nullable=False, server_default='1'))
        batch.add_column(sa.Column('wake_at', sa.DateTime(), nullable=True))
        batch.create_index('ix_account_changed', ['changed'])
        batch.create_index('ix_account_wake_at', ['wake_at'])


def downgrade() -> None:
    with op.batch_alter_table('account') as batch:
        batch.drop_index('ix_account_wake_at')
        batch.drop_index('ix_account_changed')
        batch.drop_column('wake_at')
        batch.drop_column('changed')
