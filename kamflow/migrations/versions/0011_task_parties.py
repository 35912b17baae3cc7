"""A task's RACI parties as rows (task_party), so "tasks where X is R, A, C or I" is an index lookup

Also an index on account.sponsor_email: who sees an account (owner or sponsor) by index.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 12:00:00

The backfill is set-based: one INSERT ... SELECT for the single-valued columns and one for
the ",a,b," lists, split by a recursive CTE (the same SQL on SQLite and PostgreSQL, but for
the name of the function that finds a comma). Its rows are those kamflow.store.parties
writes for a new task.
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

LIVE = "status IN ('open', 'snoozed')"
SINGLE = """
INSERT INTO task_party (task_id, letter, kind, party, live)
SELECT id, 'R', 'person', assignee, {live} FROM task WHERE assignee IS NOT NULL AND assignee <> ''
UNION SELECT id, 'R', 'queue', queue, {live} FROM task WHERE queue IS NOT NULL AND queue <> ''
UNION SELECT id, 'R', 'dept', responsible_dept, {live} FROM task WHERE responsible_dept <> ''
UNION SELECT id, 'A', 'person', accountable, {live} FROM task
      WHERE accountable IS NOT NULL AND accountable <> ''
UNION SELECT id, 'A', 'dept', accountable_dept, {live} FROM task WHERE accountable_dept <> ''
"""

LISTED = """
WITH RECURSIVE split(task_id, letter, name, rest, live) AS (
    SELECT id, 'R', '', co_responsible || ',', {live} FROM task
    UNION ALL SELECT id, 'C', '', consulted || ',', {live} FROM task
    UNION ALL SELECT id, 'I', '', informed || ',', {live} FROM task
    UNION ALL SELECT task_id, letter, substr(rest, 1, {pos}(rest, ',') - 1),
                     substr(rest, {pos}(rest, ',') + 1), live
              FROM split WHERE rest <> ''
)
INSERT INTO task_party (task_id, letter, kind, party, live)
SELECT DISTINCT task_id, letter, 'named', name, live FROM split WHERE name <> ''
"""


def upgrade() -> None:
    op.create_table(
        'task_party',
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('letter', sqlmodel.sql.sqltypes.AutoString(length=1), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('party', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column('live', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['task_id'], ['task.id'], name='fk_task_party_task'),
        sa.PrimaryKeyConstraint('task_id', 'letter', 'kind', 'party'),
    )
    op.create_index('ix_task_party_party', 'task_party',
                    ['party', 'live', 'letter', 'kind', 'task_id'])
    op.create_index('ix_account_sponsor_email', 'account', ['sponsor_email'])
    pos = 'instr' if op.get_bind().dialect.name == 'sqlite' else 'strpos'
    op.execute(SINGLE.format(live=LIVE))
    op.execute(LISTED.format(pos=pos, live=LIVE))


def downgrade() -> None:
    op.drop_index('ix_task_party_party', table_name='task_party')
    op.drop_table('task_party')
    op.drop_index('ix_account_sponsor_email', table_name='account')
