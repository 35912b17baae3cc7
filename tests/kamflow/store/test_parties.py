"""task_party holds exactly the parties the task's own columns name, with its `live`: after
the sweep makes tasks, after a claim, a reassignment, a completion, a deactivation and the
sweep's closing of tasks, and after the migration's backfill of tasks made before it
(SQLite and PostgreSQL)."""

from __future__ import annotations

import importlib.util
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text

from kamflow import queue
from kamflow.engine.clock import FixedClock
from kamflow.store import parties, tally
from kamflow.store.tables import DEPARTMENT, PERSON, TASK, TASK_PARTY, TASK_TALLY
from support import DB, write_portfolio
from support.task_rows import bare_account

VERSIONS = Path(__file__).resolve().parents[3] / "kamflow/migrations/versions"
MIGRATION = VERSIONS / "0011_task_parties.py"
DUE_MIGRATION = VERSIONS / "0020_task_party_due.py"
TALLY_MIGRATION = VERSIONS / "0018_task_tally.py"
T0 = datetime(2026, 1, 1)


def _module(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stored(conn: Connection) -> set[tuple[Any, ...]]:
    return {(r.task_id, r.letter, r.kind, r.party, bool(r.live), r.due)
            for r in conn.execute(select(TASK_PARTY))}


def derived(conn: Connection) -> set[tuple[Any, ...]]:
    """The rows the task columns call for (kamflow.store.parties.rows_of)."""
    tasks = conn.execute(select(TASK.c.id, TASK.c.status, TASK.c.due,
                                *(TASK.c[c] for c in parties.COLUMNS)))
    return {(p["task_id"], p["letter"], p["kind"], p["party"], p["live"], p["due"])
            for t in tasks for p in parties.rows_of(t._mapping)}


def swept(db: DB, folder: Path) -> None:
    files = write_portfolio(folder)
    files["people"].write_text(files["people"].read_text()
                               + "lea@x.test,Lea Lead,sales,department_lead\n")
    assert db.cli("init", "--go-live", "2026-01-01").code == 0
    for kind, path in files.items():
        assert db.cli("import", kind, str(path), "--at", "2026-01-01").code == 0
    r = db.cli("sweep", "--at", "2026-06-15", "--json")
    assert r.code == 0, r.stderr


def test_the_store_keeps_task_party_with_the_task(db: DB, tmp_path: Path) -> None:
    swept(db, tmp_path)
    with db.engine.connect() as conn:
        assert stored(conn) == derived(conn) and any(r[4] for r in stored(conn))
        ids = conn.execute(select(TASK.c.id).where(TASK.c.status == "open")
                           .order_by(TASK.c.id)).scalars().all()
    clock = FixedClock(datetime(2026, 6, 16, 9))
    queue.act(db.engine, ids[0], "reassign", clock, None, person="lea@x.test")
    queue.act(db.engine, ids[1], "done", clock, None, outcome="done", note="n")
    queue.act(db.engine, ids[2], "skip", clock, None, reason="not needed")
    with db.engine.connect() as conn:
        assert stored(conn) == derived(conn)
        mine = queue.list_tasks(conn, date(2026, 6, 16), "lea@x.test", raci="R")
        assert [t["id"] for t in mine] == [ids[0]]
    assert db.cli("people", "deactivate", "ann@x.test", "--to", "lea@x.test",
                  "--at", "2026-06-16").code == 0
    r = db.cli("sweep", "--at", "2026-09-15", "--json")  # closes (misses, cancels) tasks
    assert r.code == 0, r.stderr
    with db.engine.connect() as conn:
        assert stored(conn) == derived(conn)
        assert any(not r[4] for r in stored(conn))
        assert queue.list_tasks(conn, date(2026, 9, 15), "ann@x.test", raci="R") == []


def test_the_migration_backfills_the_tasks_made_before_it(db: DB) -> None:
    """Its set-based INSERT ... SELECT gives the rows the store would have written."""
    migration = _module(MIGRATION)
    with db.engine.begin() as conn:
        conn.execute(insert(DEPARTMENT), [{"key": "q_a", "name": "Q"}])
        conn.execute(insert(PERSON), [{"email": e, "name": e, "department": "sales",
                                       "role": "account_manager", "active": True}
                                      for e in ("a@x.test", "b@x.test")])
        bare_account(conn, "a@x.test", T0)
        conn.execute(insert(TASK), [{
            "account_id": "ACC", "step": "loyal.x", "period": f"p{n}", "state": "loyal",
            "playbook_version": "v", "title": "t", "start": date(2026, 1, 1),
            "due": date(2026, 1, 5), "status": status, "assignee": assignee, "queue": dept,
            "responsible_dept": "sales", "accountable": "b@x.test" if n else None,
            "accountable_dept": "q_a", "co_responsible": co, "consulted": ",b@x.test,",
            "informed": informed, "fields": {}, "why": {}, "created_at": T0, "updated_at": T0}
            for n, (status, assignee, dept, co, informed) in enumerate([
                ("open", "a@x.test", None, ",", ","),
                ("done", None, "q_a", ",q_a,a@x.test,", ",sales,b@x.test,q_a,"),
                ("snoozed", "b@x.test", None, ",sales,", ",a@x.test,"),
            ])])
        conn.execute(delete(TASK_PARTY))
        dialect = conn.dialect.name
        conn.exec_driver_sql(migration.SINGLE.format(live=migration.LIVE))
        conn.exec_driver_sql(migration.LISTED.format(
            pos="instr" if dialect == "sqlite" else "strpos", live=migration.LIVE))
        conn.exec_driver_sql(_module(DUE_MIGRATION).FILL[dialect])  # a later one: due dates
        assert stored(conn) == derived(conn)
        assert len(stored(conn)) == 4 + 10 + 7
        # and migration 0018 counts them for the boards as kamflow.store.tally recounts
        conn.execute(delete(TASK_TALLY))
        sqlite = dialect == "sqlite"
        conn.execute(text(_module(TALLY_MIGRATION).FILL.format(
            true="1" if sqlite else "true", false="0" if sqlite else "false")))
        assert tally.drift(conn) == {}
        assert sum(n for (_, letter, *_), n in tally.recount(conn).items()
                   if letter == tally.ANY) == 2 + 2  # open and snoozed: sales, q_a (no person)
