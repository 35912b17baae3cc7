"""`%` and `_` in a person's email or a department key match only themselves in the task
filters (SQLite and PostgreSQL): ?assignee=a_b@x.test does not see axb@x.test's tasks."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import insert, select

from kamflow import queue
from kamflow.store import parties, tally
from kamflow.store.tables import ACCOUNT, DEPARTMENT, PERSON, TASK
from support import DB

T0 = datetime(2026, 1, 1)


def test_like_wildcards_in_names_are_literal(db: DB) -> None:
    with db.engine.begin() as conn:
        conn.execute(insert(DEPARTMENT), [{"key": "q_a", "name": "Q underscore A"},
                                          {"key": "qxa", "name": "QXA"}])
        conn.execute(insert(PERSON), [
            {"email": e, "name": e, "department": "sales", "role": "account_manager",
             "active": True} for e in ("a_b@x.test", "axb@x.test", "a%@x.test", "ab@x.test")])
        conn.execute(insert(ACCOUNT), [{
            "id": "ACC", "name": "Acc", "industry": "", "owner_email": "axb@x.test",
            "sponsor_email": None, "potential": 1.0, "criteria": {}, "state": "loyal",
            "state_since": T0, "created_at": T0}])
        conn.execute(insert(TASK), [{
            "account_id": "ACC", "step": "loyal.x", "period": "p", "state": "loyal",
            "playbook_version": "v", "title": "t", "start": date(2026, 1, 1),
            "due": date(2026, 1, 5), "status": "open", "assignee": None, "queue": None,
            "responsible_dept": "sales", "accountable": None, "accountable_dept": "sales",
            "co_responsible": ",qxa,", "consulted": ",axb@x.test,", "informed": ",ab@x.test,",
            "fields": {}, "why": {}, "created_at": T0, "updated_at": T0}])
        parties.sync(conn, conn.execute(select(TASK.c.id)).scalars())  # as the store writes them
        tally.rebuild(conn)  # the boards' counts, as migration 0018 fills them
    today = date(2026, 1, 2)
    with db.engine.connect() as conn:
        assert len(queue.list_tasks(conn, today, assignee="axb@x.test")) == 1
        assert queue.list_tasks(conn, today, assignee="a_b@x.test") == []
        assert queue.list_tasks(conn, today, assignee="a%@x.test") == []
        assert len(queue.list_tasks(conn, today, department="qxa")) == 1
        assert queue.list_tasks(conn, today, department="q_a") == []
