"""The daily sweep's reads: each account's trailing-12-month revenue, kept by the sweep that
read it; settings as text; the live tasks of other playbook versions by index

The portfolio figures (key-account cutoffs, concentration) need every account's revenue over
the trailing 12 months. A sweep stores the sum it read on the account with the window it
belongs to, so the next sweep's figures read one row per account, and the revenue rows only
of accounts marked since or summed for another window. Left empty here: every account then
counts as not yet summed until a sweep reads it. A setting's value becomes text: the figures
the last sweep classified with are kept there as JSON, for the account page. A partial
index holds the live tasks by playbook version, so a sweep that looks for those an older
version made reads only them.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 19:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('account', sa.Column('revenue_t12', sa.Float(), nullable=True))
    op.add_column('account', sa.Column('t12_window', sa.Date(), nullable=True))
    with op.batch_alter_table('setting') as batch:
        batch.alter_column('value', type_=sa.Text(), existing_type=sa.String(200),
                           existing_nullable=False)
    # the figures themselves replace their digest (kamflow.store.changes.FIGURES): the first
    # sweep after this finds none and reads every account, which fills the kept sums too
    op.execute(sa.text("DELETE FROM setting WHERE key = 'sweep_stats'"))
    live = sa.text("status IN ('open', 'snoozed')")
    op.create_index('ix_task_live_version', 'task', ['playbook_version'], sqlite_where=live,
                    postgresql_where=live)


def downgrade() -> None:
    op.drop_index('ix_task_live_version', table_name='task')
    op.execute(sa.text("DELETE FROM setting WHERE key = 'sweep_figures'"))
    with op.batch_alter_table('setting') as batch:
        batch.alter_column('value', type_=sa.String(200), existing_type=sa.Text(),
                           existing_nullable=False)
    with op.batch_alter_table('account') as batch:
        batch.drop_column('t12_window')
        batch.drop_column('revenue_t12')
