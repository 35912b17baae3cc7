"""Why an account is a key account: the key-account tests it passed, in words

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-02 12:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('account') as batch:
        batch.add_column(sa.Column('key_reason', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('account') as batch:
        batch.drop_column('key_reason')
