"""Planner statistics for the big tables, refreshed after writes that change them a lot.

Without statistics SQLite's planner guesses that an equality on any indexed column picks
about ten rows, so it may walk ix_task_status_due (every live task) where
ix_task_account_status or ix_task_party_party reads a few; SQLite never gathers them by
itself. PostgreSQL's autovacuum analyzes a table once a tenth of it changed, which the
first sweep after an import outruns. So a sweep or an import that wrote many rows runs
ANALYZE on the tables the sweep and the queues read (SQLite: sampled, so it costs about the
same on any size of table).
"""

from __future__ import annotations

from sqlalchemy import Connection

from kamflow.store.tables import (
    ACCOUNT,
    ACCOUNT_EVENT,
    ACCOUNT_PLAN,
    AUDIT_EVENT,
    CONTACT,
    FEEDBACK,
    OUTBOX,
    REVENUE,
    TASK,
    TASK_PARTY,
)

BIG = tuple(t.name for t in (ACCOUNT, ACCOUNT_EVENT, ACCOUNT_PLAN, AUDIT_EVENT, CONTACT,
                             FEEDBACK, OUTBOX, REVENUE, TASK, TASK_PARTY))
MANY = 1000  # rows written by one sweep or import that call for fresh statistics
SQLITE_SAMPLE = 2000  # rows per index SQLite's ANALYZE reads (PRAGMA analysis_limit)


def analyze(conn: Connection, tables: tuple[str, ...] = BIG) -> None:
    """Refresh the planner's statistics of these tables, in the caller's transaction."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA analysis_limit = {SQLITE_SAMPLE}")
        for name in tables:
            conn.exec_driver_sql(f'ANALYZE "{name}"')
        conn.exec_driver_sql("PRAGMA analysis_limit = 0")
    else:
        conn.exec_driver_sql("ANALYZE " + ", ".join(f'"{name}"' for name in tables))


def after_writes(conn: Connection, written: int) -> bool:
    """ANALYZE when `written` rows is many (MANY or more); True if it ran."""
    if written < MANY:
        return False
    analyze(conn)
    return True
