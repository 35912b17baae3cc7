"""kamflow.store.stats: ANALYZE runs only after many writes, and leaves the planner
statistics of the big tables behind (SQLite's sqlite_stat1, PostgreSQL's pg_class)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, text

from kamflow.store import parties, stats, tally
from kamflow.store.tables import ACCOUNT, PERSON, TASK
from support import DB


def analyzed(conn: Connection) -> set[str]:
    """The tables that have planner statistics."""
    if conn.dialect.name == "sqlite":
        if not conn.execute(text("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat1'")
                            ).first():
            return set()
        return set(conn.execute(text("SELECT tbl FROM sqlite_stat1")).scalars())
    return set(conn.execute(text(
        "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema()"
        " AND last_analyze IS NOT NULL")).scalars())


def test_few_writes_leave_the_statistics_alone_and_many_refresh_them(db: DB) -> None:
    with db.engine.begin() as conn:
        _one_task(conn)
        before = analyzed(conn)
        assert stats.after_writes(conn, stats.MANY - 1) is False
        assert analyzed(conn) == before
        assert stats.after_writes(conn, stats.MANY) is True
    with db.engine.connect() as conn:
        have = analyzed(conn)
    assert {"task", "task_party", "account"} <= have


def _one_task(conn: Connection) -> None:
    """SQLite writes statistics for tables that hold rows."""
    at = datetime(2026, 1, 1)
    conn.execute(insert(PERSON), [{"email": "s@x.test", "name": "S", "department": "sales",
                                   "role": "account_manager", "active": True}])
    conn.execute(insert(ACCOUNT), [{
        "id": "S", "name": "S", "industry": "", "owner_email": "s@x.test", "potential": 1.0,
        "criteria": {}, "state": "loyal", "state_since": at, "created_at": at}])
    conn.execute(insert(TASK), [{
        "account_id": "S", "step": "loyal.x", "period": "p", "state": "loyal",
        "playbook_version": "v", "title": "t", "start": at.date(), "due": at.date(),
        "status": "open", "assignee": "s@x.test", "responsible_dept": "sales",
        "accountable_dept": "sales", "fields": {}, "why": {}, "created_at": at,
        "updated_at": at}])
    parties.sync(conn, conn.execute(select(TASK.c.id)).scalars().all())
    tally.rebuild(conn)  # the boards' counts, as migration 0018 fills them
