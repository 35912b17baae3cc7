"""The department boards' counts kept as they change (task_tally), filled from the live tasks

Revision ID: 0018
Revises: 0011, 0017
Create Date: 2026-12-04 10:00:00

A board counted every open task its department is named on at each view: seconds for a
department named on millions. kamflow.store.tally keeps the counts by department, letter,
status, due date, account class and key-account flag; this fills them once, set-based,
with the rows kamflow.store.tally.rebuild writes.
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0018'
down_revision = ('0011', '0017')  # needs task_party; also merges those two heads
branch_labels = None
depends_on = None

FILL = """
INSERT INTO task_tally (party, letter, status, due, klass, key_account, n)
WITH named AS (
    SELECT DISTINCT p.task_id, p.party, p.letter, t.status, t.due,
           COALESCE(a.klass, '-') AS klass, COALESCE(a.key_account, {false}) AS key_account
    FROM task_party p JOIN task t ON t.id = p.task_id JOIN account a ON a.id = t.account_id
    WHERE p.kind IN ('dept', 'named') AND p.live = {true} AND p.party NOT LIKE '%@%'
      AND t.status IN ('open', 'snoozed')
)
SELECT party, letter, status, due, klass, key_account, count(*) FROM named
GROUP BY party, letter, status, due, klass, key_account
UNION ALL
SELECT party, '*', status, due, klass, key_account, count(DISTINCT task_id) FROM named
GROUP BY party, status, due, klass, key_account
"""


def upgrade() -> None:
    op.create_table(
        'task_tally',
        sa.Column('party', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column('letter', sqlmodel.sql.sqltypes.AutoString(length=1), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('due', sa.Date(), nullable=False),
        sa.Column('klass', sqlmodel.sql.sqltypes.AutoString(length=1), nullable=False),
        sa.Column('key_account', sa.Boolean(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('party', 'letter', 'status', 'due', 'klass', 'key_account'),
    )
    sqlite = op.get_bind().dialect.name == 'sqlite'
    op.execute(FILL.format(true='1' if sqlite else 'true', false='0' if sqlite else 'false'))


def downgrade() -> None:
    op.drop_table('task_tally')
