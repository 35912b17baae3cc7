"""Migration 0020 on a store with tasks: each task_party row gets its task's due date, and
the new index gets planner statistics where the store keeps them (without, SQLite's
planner guessed that index picked ten rows: a board took 11 s at a million accounts)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import Connection, Engine, insert, text

from kamflow.store.tables import PERSON, TASK
from support.migrations import to
from support.task_rows import bare_account

T0 = datetime(2026, 1, 1)


def _tasks(conn: Connection) -> None:
    conn.execute(text("INSERT INTO department (key, name) VALUES ('sales', 'Sales')"))
    conn.execute(insert(PERSON), [{"email": "a@x.test", "name": "A", "department": "sales",
                                   "role": "account_manager", "active": True}])
    bare_account(conn, "a@x.test", T0)
    conn.execute(insert(TASK), [{
        "account_id": "ACC", "step": "loyal.x", "period": f"p{n}", "state": "loyal",
        "playbook_version": "v", "title": "t", "start": date(2026, 1, 1),
        "due": date(2026, 1, 5 + n), "status": status, "assignee": "a@x.test",
        "responsible_dept": "sales", "accountable_dept": "sales", "co_responsible": ",",
        "consulted": ",",
        "informed": ",", "fields": {}, "why": {}, "created_at": T0, "updated_at": T0}
        for n, status in enumerate(("open", "done", "snoozed"))])
    for task_id, in conn.execute(text("SELECT id FROM task")):
        conn.execute(text(
            "INSERT INTO task_party (task_id, letter, kind, party, live) VALUES "
            "(:t, 'R', 'person', 'a@x.test', true), (:t, 'R', 'dept', 'sales', true)"),
            {"t": task_id})


@pytest.mark.parametrize("analysed", [True, False])
def test_task_parties_get_their_tasks_due_dates_and_the_index_its_statistics(
        empty: Engine, analysed: bool) -> None:
    to(empty, "0019")
    with empty.begin() as conn:
        _tasks(conn)
        sqlite = conn.dialect.name == "sqlite"
        if analysed and sqlite:
            conn.exec_driver_sql("ANALYZE")  # as kamflow.store.stats leaves a store
    to(empty, "0020")
    with empty.connect() as conn:
        pairs = conn.execute(text("SELECT p.due, t.due FROM task_party p "
                                  "JOIN task t ON t.id = p.task_id")).all()
        assert len(pairs) == 6 and all(str(a) == str(b) for a, b in pairs), pairs
        if sqlite:
            kept = conn.execute(text("SELECT name FROM sqlite_master WHERE name = "
                                     "'sqlite_stat1'")).first()
            indexes = set(conn.execute(text("SELECT idx FROM sqlite_stat1")).scalars()) \
                if kept else set()
            assert ("ix_task_party_due" in indexes) == analysed, indexes
        else:  # column statistics: only ANALYZE gathers them
            columns = set(conn.execute(text(
                "SELECT attname FROM pg_stats WHERE tablename = 'task_party' "
                "AND schemaname = current_schema()")).scalars())
            assert "due" in columns, columns
