"""More tasks in a test store, shaped like the sweep's: copies of one of its tasks with
their own period, due date, status and holder, with their task_party rows."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from kamflow.store import parties, tally
from kamflow.store.tables import ACCOUNT, TASK
from support import DB


def add_tasks(db: DB, count: int, *, like: tuple[str, str], account: str | None = None,
              due: date, tag: str = "extra", **values: Any) -> list[int]:
    """`count` copies of the task (account, step) `like`, on `account` (default: its own),
    due on `due`, each with its own period; `values` overrides columns (assignee, queue,
    status, informed...). Returns their ids in order."""
    with db.engine.begin() as conn:
        base = dict(conn.execute(select(TASK).where(TASK.c.account_id == like[0],
                                                    TASK.c.step == like[1])
                                 .order_by(TASK.c.id.desc()).limit(1)).one()._mapping)
        del base["id"]
        rows = [{**base, "account_id": account or base["account_id"],
                 "period": f"{tag}-{n}", "start": due, "due": due, **values}
                for n in range(count)]
        ids = list(conn.execute(insert(TASK).returning(TASK.c.id), rows).scalars())
        parties.sync(conn, ids)
        tally.shift(conn, Counter(), tally.of(conn, ids))  # the boards' counts
    return sorted(ids)


def klass_of(db: DB, account: str) -> str | None:
    with db.engine.connect() as conn:
        return conn.execute(select(ACCOUNT.c.klass).where(ACCOUNT.c.id == account)).scalar()


def bare_account(conn: Connection, owner: str, at: datetime, account: str = "ACC") -> None:
    """One account and nothing else, for a test that writes its task rows itself."""
    conn.execute(insert(ACCOUNT), [{
        "id": account, "name": account.title(), "industry": "", "owner_email": owner,
        "sponsor_email": None, "potential": 1.0, "criteria": {}, "state": "loyal",
        "state_since": at, "created_at": at}])
