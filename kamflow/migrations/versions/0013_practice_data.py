"""The data the practice needs: quote outcomes, margin, revenue per product line, whom we met

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-02 12:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0013'
down_revision = '0010'
branch_labels = None
depends_on = None

_REVENUE_KEY = ['account_id', 'month']


def upgrade() -> None:
    with op.batch_alter_table('account_event') as batch:
        batch.add_column(sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=16),
                                   nullable=True))
        batch.add_column(sa.Column('amount', sa.Float(), nullable=True))
        batch.add_column(sa.Column('decided_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('contact') as batch:
        batch.add_column(sa.Column('customer_role', sqlmodel.sql.sqltypes.AutoString(length=100),
                                   nullable=False, server_default=''))
    op.create_table('margin',
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('margin', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('account_id', 'month')
    )
    # Existing rows are month totals: product line ''. The key gains the product line.
    column = sa.Column('product_line', sqlmodel.sql.sqltypes.AutoString(length=64),
                       nullable=False, server_default='')
    _rekey_revenue(column, [*_REVENUE_KEY, 'product_line'])


def downgrade() -> None:
    # Product lines fold back into month totals before the key loses them.
    op.execute("CREATE TABLE revenue_total AS SELECT account_id, month, SUM(amount) AS amount "
               "FROM revenue GROUP BY account_id, month")
    op.execute("DELETE FROM revenue")
    _rekey_revenue(None, _REVENUE_KEY)
    op.execute("INSERT INTO revenue (account_id, month, amount) "
               "SELECT account_id, month, amount FROM revenue_total")
    op.drop_table('revenue_total')
    op.drop_table('margin')
    with op.batch_alter_table('contact') as batch:
        batch.drop_column('customer_role')
    with op.batch_alter_table('account_event') as batch:
        batch.drop_column('decided_at')
        batch.drop_column('amount')
        batch.drop_column('outcome')


def _rekey_revenue(add: sa.Column[str] | None, key: list[str]) -> None:
    """PostgreSQL alters the primary key in place; SQLite copies into a table built with it."""
    if op.get_bind().dialect.name == 'sqlite':
        columns = [
            sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column('month', sa.Date(), nullable=False),
            *([add] if add is not None else []),
            sa.Column('amount', sa.Float(), nullable=False),
        ]
        op.create_table('revenue_rekeyed', *columns,
                        sa.ForeignKeyConstraint(['account_id'], ['account.id']),
                        sa.PrimaryKeyConstraint(*key))
        op.execute("INSERT INTO revenue_rekeyed (account_id, month, amount) "
                   "SELECT account_id, month, amount FROM revenue")
        op.drop_table('revenue')
        op.rename_table('revenue_rekeyed', 'revenue')
        return
    op.drop_constraint('revenue_pkey', 'revenue', type_='primary')
    if add is not None:
        op.add_column('revenue', add)
    else:
        op.drop_column('revenue', 'product_line')
    op.create_primary_key('revenue_pkey', 'revenue', key)
