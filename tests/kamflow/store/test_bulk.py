"""kamflow.store.bulk's driver-level writes store exactly what the SQLAlchemy Core path stored.

(The store's write helpers live in kamflow/, but these tests sit with the sweep's other
fast paths.) Every scenario runs twice on the same database, each time in a transaction
that is rolled back: once through the set-based statements (PostgreSQL: unnest arrays, or
COPY into a temp table from pgbulk.COPY_ROWS rows; SQLite: executemany and multi-row VALUES)
and once with them switched off, so through Core's executemany. The rows written, what comes
back from RETURNING and the JSON null/SQL NULL distinction must be the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, func, select
from sqlalchemy.exc import DataError, DBAPIError, StatementError

from kamflow.store import bulk, pgbulk
from kamflow.store.tables import ACCOUNT, AUDIT_EVENT, DEPARTMENT, PERSON, TASK, TRANSITION
from support import DB

AT = datetime(2026, 11, 23, 3, 0, 0, 123456)
JSON_COLUMNS = ("fields", "evidence", "why")


def _base(conn: Connection) -> None:
    conn.execute(DEPARTMENT.insert(), [{"key": "sales_x", "name": "S"}])
    conn.execute(PERSON.insert(), [{"email": "ann@x.test", "name": "Ann", "department": "sales_x",
                               "role": "account_manager", "active": True}])
    conn.execute(ACCOUNT.insert(), [
        {"id": f"ACC-{i}", "name": f"n{i}", "owner_email": "ann@x.test",
         "criteria": {"size": i}, "state": "loyal", "state_since": datetime(2026, 1, 1),
         "created_at": datetime(2020, 1, 1)} for i in range(8)])


def _task(i: int, period: str = "2026-11", **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "account_id": f"ACC-{i % 8}", "step": "loyal.review", "period": period, "state": "loyal",
        "playbook_version": "v1", "title": f"Review ä€ {i} 'quoted' \"{{x}}\"",
        "start": date(2026, 11, 1), "due": date(2026, 11, 15 + i % 10),
        "assignee": None if i % 3 else "ann@x.test", "queue": "sales_x" if i % 3 else None,
        "responsible_dept": "sales_x", "accountable": None, "accountable_dept": "sales_x",
        "co_responsible": ",", "consulted": ",", "informed": ",", "escalation_level": i % 2,
        "fields": {} if i % 2 else {"n": i, "x": [1, 2.5, None], "s": "ü"},
        "evidence": None, "created_at": AT, "updated_at": AT,
        "why": {"rule": "loyal.review", "nested": {"f": 0.1 + i, "b": True, "none": None}},
    }
    row.update(kw)
    return row


def scenario(conn: Connection) -> dict[str, Any]:
    """Inserts with conflicts (in the batch and with stored rows), guarded updates, and
    columns left to their defaults; returns what the calls answered."""
    _base(conn)
    out: dict[str, Any] = {}
    # status left out: its default ("open") is filled in; rows 10-11 repeat keys in the batch
    rows = [_task(i) for i in range(10)] + [_task(3), _task(4, title="dupe")]
    made = bulk.insert_returning(conn, TASK, rows, ["account_id", "step", "period"],
                                 ["id", "account_id", "step", "period", "due", "why",
                                  "escalated_at"])
    out["made"] = sorted((m["account_id"], m["step"], m["period"], m["due"], repr(m["why"]),
                          m["escalated_at"]) for m in made)
    ids = {(m["account_id"], m["period"]): m["id"] for m in made}
    again = bulk.insert_returning(conn, TASK, [_task(1), _task(20, period="2026-12")],
                                  ["account_id", "step", "period"], ["account_id", "period"])
    out["again"] = sorted((m["account_id"], m["period"]) for m in again)
    out["new"] = sorted(bulk.insert_new(conn, TRANSITION, [
        {"account_id": f"ACC-{i}", "from_state": "loyal", "to_state": "declining", "at": AT,
         "rule": "drifting_away", "metrics": {"revenue_trend": -0.2 * i, "days": i, "x": None},
         "actor": "system", "playbook_version": "v1"}  # reason left to its default
        for i in (0, 1, 2, 1)], ["account_id", "at"], returning="account_id"))
    out["new_again"] = sorted(bulk.insert_new(conn, TRANSITION, [
        {"account_id": "ACC-1", "from_state": "loyal", "to_state": "declining", "at": AT,
         "rule": "r", "metrics": {}, "actor": "system", "playbook_version": "v1"}],
        ["account_id", "at"], returning="account_id"))
    # guarded task updates: one guard no longer matches, JSON evidence set and set to None
    done = [{"id": ids[(f"ACC-{i}", "2026-11")], "_status": "open" if i != 2 else "snoozed",
             "status": "done", "updated_at": datetime(2026, 11, 24), "done_at": AT,
             "done_by": "ann@x.test", "outcome": "ok",
             "evidence": {"contact_date": "2026-11-20", "i": i} if i % 2 else None}
            for i in range(6)]
    bulk.update_by_key(conn, TASK, done, "id", guard=["status"])
    # account updates: ints into a float column, None, bools, a datetime, no guard
    bulk.update_by_key(conn, ACCOUNT, [
        {"id": f"ACC-{i}", "klass": "ABCD"[i % 4], "key_account": i % 2 == 0,
         "segment": None if i == 3 else "loyal",
         "portrait_fit": 50 if i % 2 else 0.1 + 0.2 + i / 3,  # ints among floats; 17 digits
         "classified_at": AT} for i in range(8)], "id")
    bulk.update_by_key(conn, ACCOUNT, [
        {"id": f"ACC-{i}", "state": "declining", "state_since": AT,
         "baseline_revenue": None if i else 1e6, "_state": "loyal" if i != 4 else "lost"}
        for i in range(6)], "id", guard=["state"])
    # the same key twice in one call: applied one after the other, as row-by-row updates do
    bulk.update_by_key(conn, TASK, [
        {"id": ids[("ACC-6", "2026-11")], "_escalation_level": 0, "escalation_level": 1},
        {"id": ids[("ACC-6", "2026-11")], "_escalation_level": 1, "escalation_level": 2},
    ], "id", guard=["escalation_level"])
    # plain inserts (audit-shaped): JSON None, nested values, hashes left to their defaults
    bulk.insert_all(conn, AUDIT_EVENT, [
        {"at": AT, "actor": "system", "entity": "task", "entity_id": str(i), "action": "created",
         "before": None if i % 2 else {"status": "open"},
         "after": {"i": i, "due": "2026-11-30", "x": [1.5, None, "ä"]}} for i in range(7)])
    return out


def snapshot(conn: Connection) -> dict[str, Any]:
    tasks = conn.execute(
        select(*(c for c in TASK.c if c.name != "id"),
               *(TASK.c[j].is_(None).label(f"{j}_sql_null") for j in JSON_COLUMNS))
        .order_by(TASK.c.account_id, TASK.c.step, TASK.c.period)).all()
    accounts = conn.execute(select(ACCOUNT).order_by(ACCOUNT.c.id)).all()
    moves = conn.execute(select(*(c for c in TRANSITION.c if c.name != "id"))
                         .order_by(TRANSITION.c.account_id, TRANSITION.c.at)).all()
    events = conn.execute(select(*(c for c in AUDIT_EVENT.c if c.name != "id"),
                                 AUDIT_EVENT.c.before.is_(None).label("before_sql_null"))
                          .order_by(AUDIT_EVENT.c.entity_id)).all()
    return {"tasks": [tuple(map(repr, r)) for r in tasks],
            "events": [tuple(map(repr, r)) for r in events],
            "accounts": [tuple(map(repr, r)) for r in accounts],
            "transitions": [tuple(map(repr, r)) for r in moves]}


def run(db: DB, fn: Callable[[Connection], Any]) -> tuple[Any, dict[str, Any]]:
    with db.engine.connect() as conn:
        trans = conn.begin()
        try:
            answer = fn(conn)
            return answer, snapshot(conn)
        finally:
            trans.rollback()


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several chunks per call, and on SQLite several VALUES statements per chunk."""
    monkeypatch.setattr(bulk, "CHUNK", 4)
    monkeypatch.setattr(bulk, "SQLITE_ROWS", 3)


def core_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "_path", lambda conn: None)


@pytest.mark.usefixtures("small_chunks")
def test_driver_writes_store_what_core_stored(db: DB, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_calls: list[str] = []
    real_insert, real_update, real_all = bulk._fast_insert, bulk._fast_update, bulk._fast_insert_all

    def spy_insert(*args: Any) -> Any:
        got = real_insert(*args)
        fast_calls.append("insert" if got is not None else "insert-fallback")
        return got

    def spy_update(*args: Any) -> bool:
        done = real_update(*args)
        fast_calls.append("update" if done else "update-fallback")
        return done

    def spy_all(*args: Any) -> bool:
        done = real_all(*args)
        fast_calls.append("all" if done else "all-fallback")
        return done

    monkeypatch.setattr(bulk, "_fast_insert", spy_insert)
    monkeypatch.setattr(bulk, "_fast_insert_all", spy_all)
    monkeypatch.setattr(bulk, "_fast_update", spy_update)
    fast = run(db, scenario)
    assert "insert" in fast_calls and "update" in fast_calls
    assert "insert-fallback" not in fast_calls and "all-fallback" not in fast_calls
    assert fast_calls.count("all") == 2  # seven events in chunks of four
    expected_fallbacks = 1 if db.engine.dialect.name == "postgresql" else 0  # the repeated key
    assert fast_calls.count("update-fallback") == expected_fallbacks
    core_only(monkeypatch)
    core = run(db, scenario)
    assert fast[0] == core[0]
    assert fast[1] == core[1]
    answer, stored = fast
    assert answer["new"] == ["ACC-0", "ACC-1", "ACC-2"] and answer["new_again"] == []
    assert answer["again"] == [("ACC-4", "2026-12")]
    assert len(answer["made"]) == 8  # ten rows, two of them for accounts already in the batch
    assert all(isinstance(m[3], date) for m in answer["made"])  # RETURNING went through types


@pytest.mark.postgres
def test_too_long_text_fails_as_before_on_postgresql(pg_db: DB) -> None:
    """PostgreSQL only: SQLite does not enforce varchar lengths."""
    db = pg_db
    with db.engine.connect() as conn, conn.begin():
        _base(conn)
        with pytest.raises(DataError):  # a cast to varchar(n)[] would have truncated silently
            bulk.insert_returning(conn, TASK, [_task(1, period="x" * 41)],
                                  ["account_id", "step", "period"], ["id"])


def test_mixed_value_types_fall_back_to_core(db: DB) -> None:
    with db.engine.connect() as conn, conn.begin():
        _base(conn)
        # an int among the strings of a text column: psycopg arrays hold one type
        rows = [_task(1), _task(2, title=12345)]
        made = bulk.insert_returning(conn, TASK, rows, ["account_id", "step", "period"], ["title"])
        assert sorted(str(m["title"]) for m in made) == sorted([rows[0]["title"], "12345"])


def test_a_row_missing_a_column_is_refused(db: DB) -> None:
    with db.engine.connect() as conn, conn.begin():
        _base(conn)
        rows = [_task(1), {k: v for k, v in _task(2).items() if k != "title"}]
        with pytest.raises((KeyError, StatementError)):
            bulk.insert_returning(conn, TASK, rows, ["account_id", "step", "period"], ["id"])


def test_sqlite_statement_sizes_come_from_a_small_fixed_set() -> None:
    """The driver caches every distinct statement: odd remainders must not make new ones."""
    shapes: set[int] = set()
    for rows in range(0, 3000, 7):
        sizes = bulk._sqlite_batches(rows, 32766 // 25)
        assert sum(sizes) == rows and all(s <= bulk.SQLITE_ROWS for s in sizes)
        shapes.update(sizes)
    assert len(shapes) <= bulk.SQLITE_ROWS.bit_length()
    assert bulk._sqlite_batches(10, 3) == [2, 2, 2, 2, 2]  # the parameter limit wins


# -- PostgreSQL: COPY into a temp table for large chunks --------------------------------------


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every statement SQLAlchemy sends (a COPY goes around it: it shows as the statements
    that create, empty and read the temp table)."""
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def reads_copy(sql: str) -> bool:
    return ("INSERT INTO" in sql or "UPDATE" in sql) and "kamflow_copy_" in sql


@pytest.mark.postgres
@pytest.mark.usefixtures("small_chunks")
def test_copy_writes_store_what_core_stored(pg_db: DB, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole scenario with every chunk COPYed: same rows, same answers as Core."""
    monkeypatch.setattr(pgbulk, "COPY_ROWS", 1)
    with statements(pg_db.engine) as seen:
        copied = run(pg_db, scenario)
    assert not [s for s in seen if "unnest" in s]
    # in chunks of four: 12 + 2 tasks, 4 + 1 transitions, updates of 6, 8 and 6 rows (the
    # repeated key goes through Core), 7 audit events
    assert len([s for s in seen if reads_copy(s)]) == (3 + 1) + (1 + 1) + (2 + 2 + 2) + 2
    assert len([s for s in seen if s.startswith("TRUNCATE kamflow_copy_")]) == 14
    core_only(monkeypatch)
    assert copied == run(pg_db, scenario)


def large(conn: Connection) -> dict[str, Any]:
    """Chunks above COPY_ROWS: conflicts with stored rows and within the chunk, guards that
    hold and guards that no longer do, JSON/NULL/date/datetime values both ways."""
    _base(conn)
    out: dict[str, Any] = {}
    keys = ["account_id", "step", "period"]
    back = ["id", "account_id", "period", "due", "why", "fields", "escalated_at", "status"]
    first = bulk.insert_returning(conn, TASK, [_task(i, period=f"p{i // 8:04d}")
                                               for i in range(2400)], keys, back)
    rows = [_task(i, period=f"p{i // 8:04d}", title=f"second {i}") for i in range(1600, 4000)]
    rows += [_task(i, period=f"p{i // 8:04d}", title="dupe") for i in range(3000, 3100)]
    second = bulk.insert_returning(conn, TASK, rows, keys, back)
    out["made"] = sorted((m["account_id"], m["period"], m["due"], repr(m["why"]),
                          repr(m["fields"]), m["escalated_at"], m["status"])
                         for m in first + second)
    ids = sorted(m["id"] for m in first + second)
    bulk.update_by_key(conn, TASK, [
        {"id": t, "_status": "open" if n % 7 else "done", "status": "done",
         "done_at": AT + timedelta(seconds=n), "outcome": None if n % 2 else f"ok {n}",
         "evidence": {"n": n, "d": "2026-11-20"} if n % 3 else None}
        for n, t in enumerate(ids[:2500])], "id", guard=["status"])
    out["new"] = sorted(bulk.insert_new(conn, TRANSITION, [
        {"account_id": f"ACC-{i % 8}", "from_state": "loyal", "to_state": "declining",
         "at": AT + timedelta(minutes=i % 2200), "rule": "r", "actor": "system",
         "metrics": {"i": i, "f": i / 7}, "playbook_version": "v1"}
        for i in range(2600)], ["account_id", "at"], returning="at"))
    bulk.insert_all(conn, AUDIT_EVENT, [
        {"at": AT, "actor": "system", "entity": "task", "entity_id": f"{i:05d}",
         "action": "created", "before": None if i % 2 else {"status": "open"},
         "after": {"i": i}} for i in range(2100)])
    out["second"] = conn.scalar(select(func.count()).where(TASK.c.title.like("second%")))
    out["dupes"] = conn.scalar(select(func.count()).where(TASK.c.title == "dupe"))
    out["done"] = conn.scalar(select(func.count()).where(TASK.c.status == "done"))
    return out


@pytest.mark.postgres
def test_large_chunks_go_through_copy_and_store_what_arrays_stored(
        pg_db: DB, monkeypatch: pytest.MonkeyPatch) -> None:
    assert pgbulk.COPY_ROWS <= 2100 <= bulk.CHUNK
    with statements(pg_db.engine) as seen:
        copied = run(pg_db, large)
    assert not [s for s in seen if "unnest" in s]
    assert len([s for s in seen if reads_copy(s)]) == 5  # one statement per call
    answer = copied[0]
    assert len(answer["made"]) == 4000 and len(answer["new"]) == 2200  # 400 conflicts
    assert (answer["second"], answer["dupes"]) == (1600, 0)  # 800 stored before, 100 repeated
    assert answer["done"] == 2500 - 358  # every seventh guard no longer holds
    monkeypatch.setattr(pgbulk, "COPY_ROWS", 10**9)
    with statements(pg_db.engine) as seen:
        arrays = run(pg_db, large)
    assert not [s for s in seen if "kamflow_copy_" in s]
    assert len([s for s in seen if "unnest" in s]) == 5
    assert copied == arrays
    core_only(monkeypatch)
    assert copied == run(pg_db, large)


@pytest.mark.postgres
def test_copy_refuses_what_arrays_refuse(pg_db: DB, monkeypatch: pytest.MonkeyPatch) -> None:
    """Too long for varchar(40) (raised by the INSERT) and a NUL in a text (raised by the
    COPY itself): SQLAlchemy errors, as through arrays, and the aware datetime a naive
    column cannot hold through COPY goes by arrays."""
    monkeypatch.setattr(pgbulk, "COPY_ROWS", 1)
    keys = ["account_id", "step", "period"]
    with pg_db.engine.connect() as conn, conn.begin():
        _base(conn)
        with pytest.raises(DataError):
            bulk.insert_returning(conn, TASK, [_task(1, period="x" * 41)], keys, ["id"])
    with pg_db.engine.connect() as conn, conn.begin():
        _base(conn)
        with pytest.raises(DBAPIError, match="COPY kamflow_copy_"):
            bulk.insert_returning(conn, TASK, [_task(1, title="a\x00b")], keys, ["id"])
    aware = datetime(2026, 11, 23, 3, 0, tzinfo=datetime.now().astimezone().tzinfo)
    with pg_db.engine.connect() as conn, conn.begin(), statements(pg_db.engine) as seen:
        _base(conn)
        made = bulk.insert_returning(conn, TASK, [_task(1, created_at=aware)], keys, ["id"])
        assert len(made) == 1 and [s for s in seen if "unnest" in s]
        assert not [s for s in seen if "kamflow_copy_" in s]


@pytest.mark.postgres
def test_autocommit_connections_use_arrays(pg_db: DB, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ON COMMIT DROP temp table would be gone before the statement reading it."""
    monkeypatch.setattr(pgbulk, "COPY_ROWS", 1)
    event_row = {"at": AT, "actor": "system", "entity": "task", "entity_id": "1",
                 "action": "created", "before": None, "after": {"i": 1}}
    with pg_db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, \
            statements(pg_db.engine) as seen:
        bulk.insert_all(conn, AUDIT_EVENT, [event_row])
        assert conn.scalar(select(func.count()).select_from(AUDIT_EVENT)) == 1
    assert [s for s in seen if "unnest" in s] and not [s for s in seen if "kamflow_copy_" in s]
