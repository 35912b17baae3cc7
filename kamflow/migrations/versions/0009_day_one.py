"""Day one: go-live and the last sweep remembered, imported states told apart

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-02 06:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('setting',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('account') as batch:
        batch.add_column(sa.Column('state_imported', sa.Boolean(), nullable=False,
                                   server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('account') as batch:
        batch.drop_column('state_imported')
    op.drop_table('setting')
