"""Task lists a page at a time: ix_task_status_due gets the id; the done tasks by done_at

A page of open tasks in due-date order is a walk of ix_task_status_due that stops when the
page is full. Its order is (due, id), so the index now ends with the id: PostgreSQL then
reads it in that order instead of sorting each day's tasks (SQLite's index already ended
with the rowid).

The department board lists the tasks done in the last days, newest first: a range of
ix_task_status_done (status, done_at) instead of every task ever done.

On SQLite, a store that has planner statistics gets them for both indexes at once: an index
without them looks narrower to the planner than one with them (kamflow.store.stats).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 09:00:00
"""
from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

SAMPLE = 2000  # kamflow.store.stats.SQLITE_SAMPLE


def upgrade() -> None:
    op.drop_index('ix_task_status_due', table_name='task')
    op.create_index('ix_task_status_due', 'task', ['status', 'due', 'id'])
    op.create_index('ix_task_status_done', 'task', ['status', 'done_at'])
    _analyze('ix_task_status_due', 'ix_task_status_done')


def downgrade() -> None:
    op.drop_index('ix_task_status_done', table_name='task')
    op.drop_index('ix_task_status_due', table_name='task')
    op.create_index('ix_task_status_due', 'task', ['status', 'due'])
    _analyze('ix_task_status_due')


def _analyze(*indexes: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite' or bind.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first() is None:
        return
    op.execute(f'PRAGMA analysis_limit = {SAMPLE}')
    for name in indexes:
        op.execute(f'ANALYZE "{name}"')
    op.execute('PRAGMA analysis_limit = 0')
