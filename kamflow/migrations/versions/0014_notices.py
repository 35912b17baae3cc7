"""notices: who is to be told about which new task, kept for their digest; outbox rows are
rendered at delivery, so their subject and bodies start empty (NULL)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 13:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notice',
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('recipient', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('digest_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name='fk_notice_task'),
    sa.PrimaryKeyConstraint('task_id', 'recipient')
    )
    with op.batch_alter_table('notice') as batch:
        batch.create_index('ix_notice_digest', ['digest_id', 'recipient'], unique=False)
    with op.batch_alter_table('outbox') as batch:
        batch.alter_column('subject', existing_type=sqlmodel.sql.sqltypes.AutoString(length=300),
                           nullable=True)
        batch.alter_column('body_txt', existing_type=sa.Text(), nullable=True)
        batch.alter_column('body_html', existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    # rows never rendered cannot be kept under NOT NULL
    op.execute("DELETE FROM outbox WHERE subject IS NULL OR body_txt IS NULL OR body_html IS NULL")
    with op.batch_alter_table('outbox') as batch:
        batch.alter_column('subject', existing_type=sqlmodel.sql.sqltypes.AutoString(length=300),
                           nullable=False)
        batch.alter_column('body_txt', existing_type=sa.Text(), nullable=False)
        batch.alter_column('body_html', existing_type=sa.Text(), nullable=False)
    with op.batch_alter_table('notice') as batch:
        batch.drop_index('ix_notice_digest')
    op.drop_table('notice')
