"""The accounts list: the retention score kept on the account, and an index per sort it offers

Each index is (sort key, id), so a page of the list is a keyset read of one index:
lower(name) (compared byte by byte: COLLATE "C" on PostgreSQL, as kamflow.store.models.NameKey
renders it), the retention score (an account without one as -1), the potential. Key
accounts (of a class) are counted from an index, and "overdue work" reads the accounts of the
open tasks due before a day from a partial index of the open tasks.
Every account is marked changed, so the next sweep reads each and stores its score.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('account', sa.Column('retention_score', sa.Float(), nullable=True))
    collate = '' if op.get_bind().dialect.name == 'sqlite' else ' COLLATE "C"'
    op.create_index('ix_account_name', 'account', [sa.text(f'lower(name){collate}'), 'id'])
    op.create_index('ix_account_retention', 'account',
                    [sa.text('coalesce(retention_score, -1)'), 'id', 'retention_score'])
    op.create_index('ix_account_potential', 'account', ['potential', 'id'])
    op.create_index('ix_account_key', 'account', ['key_account', 'klass'])
    op.create_index('ix_task_open_due', 'task', ['status', 'due', 'account_id'],
                    sqlite_where=sa.text("status = 'open'"),
                    postgresql_where=sa.text("status = 'open'"))
    op.execute(sa.text('UPDATE account SET changed = :yes').bindparams(yes=True))


def downgrade() -> None:
    op.drop_index('ix_task_open_due', table_name='task')
    op.drop_index('ix_account_key', table_name='account')
    op.drop_index('ix_account_potential', table_name='account')
    op.drop_index('ix_account_retention', table_name='account')
    op.drop_index('ix_account_name', table_name='account')
    with op.batch_alter_table('account') as batch:
        batch.drop_column('retention_score')
