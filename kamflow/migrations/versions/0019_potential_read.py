"""Each account's potential as the last sweep read it, beside the revenue sum it read

The portfolio figures (key-account cutoffs, concentration) count every account's
trailing-12-month revenue and potential. A daily sweep keeps the figures the last one
classified with while none of the accounts marked since holds another pair than that
sweep read (kamflow.sweep.prepare), instead of reading one row per account. Filled with
today's potential: the figures kept until now carry no mark that they may be kept, so the
first sweep after this reads every account's pair again anyway.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 16:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('account', sa.Column('potential_read', sa.Float(), nullable=True))
    op.execute(sa.text("UPDATE account SET potential_read = potential"))


def downgrade() -> None:
    with op.batch_alter_table('account') as batch:
        batch.drop_column('potential_read')
