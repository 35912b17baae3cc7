"""Each task_party row repeats its task's due date, with an index to walk a party's live
tasks in due order

A page of a department's open tasks by due date read all of the department's live tasks
and sorted them (at a million accounts, 78,300 tasks for a board's first 50: 460 ms). With
the due date on the party's rows, the page walks ix_task_party_due in order and stops at
its end (kamflow.store.task_list). A task's due date never changes after it is made.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 20:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


# by dialect: on PostgreSQL a join, not a subquery per row
FILL = {"postgresql": "UPDATE task_party SET due = task.due FROM task "
                      "WHERE task.id = task_party.task_id",
        "sqlite": "UPDATE task_party SET due = (SELECT task.due FROM task "
                  "WHERE task.id = task_party.task_id)"}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column('task_party', sa.Column('due', sa.Date(), nullable=True))
    op.execute(sa.text(FILL[dialect]))
    op.create_index('ix_task_party_due', 'task_party',
                    ['party', 'live', 'due', 'task_id', 'letter', 'kind'])
    # Statistics for the new index where the store keeps them (kamflow.store.stats): with
    # figures for every index of task_party but this one, SQLite's planner guesses that it
    # picks ten rows, and a board of 72,000 tasks took 11 s instead of 40 ms at a million
    # accounts. A store never analysed is left so; PostgreSQL analyses a sample anyway.
    if dialect == "postgresql":
        op.execute(sa.text("ANALYZE task_party"))
    elif op.get_bind().execute(sa.text(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first():
        op.execute(sa.text("PRAGMA analysis_limit = 2000"))  # sampled, as stats.analyze
        op.execute(sa.text("ANALYZE task_party"))
        op.execute(sa.text("PRAGMA analysis_limit = 0"))


def downgrade() -> None:
    op.drop_index('ix_task_party_due', table_name='task_party')
    with op.batch_alter_table('task_party') as batch:
        batch.drop_column('due')
