"""The queue, board, task-list, contact-check and fact-loading queries are index lookups, on
SQLite and on PostgreSQL, once the planner has statistics (kamflow.store.stats).

Each statement is built by the function its use case runs (queue.tasks_query as the CLI
runs it; task_writes.open_checks; facts.statement), or is captured as the pages and
GET /api/tasks send it (queue.task_page and queue.breakdown, with the filters the pages
build), so a regression in the real code fails here. A few thousand tasks are
seeded, most of them done, as in a store that has run for a while; a rare department is
named on a handful. SQLite's EXPLAIN QUERY PLAN must SEARCH the task tables by an index
and never SCAN them; PostgreSQL's plan must hold no Seq Scan on them.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, event, func, select
from sqlalchemy.engine.interfaces import CacheStats

from kamflow import access, queue
from kamflow.people import Principal
from kamflow.playbooks.schema import NoContact
from kamflow.store import (
    facts,
    parties,
    supersede,
    tally,
    task_list,
    task_writes,
    touchpoint_tasks,
)
from kamflow.store.bulk import insert_all
from kamflow.store.scope import Scope
from kamflow.store.tables import (
    ACCOUNT,
    ACCOUNT_EVENT,
    ACCOUNT_PLAN,
    CONTACT,
    DEPARTMENT,
    FEEDBACK,
    PERSON,
    REVENUE,
    TASK,
)
from kamflow.store.versions import active_book
from kamflow.tasks.policy import step_id
from kamflow.web import task_lists
from support import DB
from support.plans import analyzed, postgres_root, sqlite_details
from support.stores import Stores

TODAY = date(2026, 6, 1)
AT = datetime(2026, 6, 1, 6)
ACCOUNTS, TASKS, PEOPLE, DEPTS = 4000, 24000, 120, 12
RARE = "qp-rare"  # named (Informed) on 12 tasks of 24,000
AM = Principal("p20@plan.test", "P20", "account_manager", "qp-d8")
LEAD = Principal("p0@plan.test", "P0", "department_lead", RARE)
TASK_TABLES = {"task", "task_party"}
FACT_TABLES = {"account", "revenue", "contact", "feedback", "account_plan", "account_event"}


def plan(conn: Connection, statement: Any) -> list[tuple[str, str, str]]:
    """(table, access, index) per table read: access is SCAN or SEARCH on SQLite, the node
    type on PostgreSQL; index is the index's name or ''."""
    if conn.dialect.name == "sqlite":
        return _sqlite_plan(sqlite_details(conn, statement))
    return list(_nodes(postgres_root(conn, statement)))


def _sqlite_plan(details: list[str]) -> list[tuple[str, str, str]]:
    out = []
    for detail in details:
        m = re.match(r"(SCAN|SEARCH) (\w+)(?: AS \w+)?(?: USING (?:COVERING )?INDEX (\w+)"
                     r"| USING (INTEGER PRIMARY KEY))?", detail)
        if m:
            out.append((m[2], m[1], m[3] or m[4] or ""))
    return out


def plans_of(conn: Connection, run: Callable[[], Any]) -> list[tuple[str, list[Any]]]:
    """Every statement `run` sends on `conn`, with its plan (as `plan` gives it): what a
    page really runs, the choices it makes on the way included."""
    sent: list[tuple[str, Any]] = []

    def grab(*args: Any) -> None:
        sent.append((args[2], args[3]))

    event.listen(conn, "before_cursor_execute", grab)
    try:
        run()
    finally:
        event.remove(conn, "before_cursor_execute", grab)
    out = []
    for statement, parameters in sent:
        if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
            continue
        if conn.dialect.name == "sqlite":
            steps = _sqlite_plan(sqlite_details(conn, statement, parameters))
        else:
            steps = list(_nodes(postgres_root(conn, statement, parameters)))
        out.append((statement, steps))
    return out


def _nodes(node: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    if "Relation Name" in node:
        name = node.get("Index Name", "")
        if node["Node Type"] == "Bitmap Heap Scan":  # the index is on the Bitmap Index Scan
            name = ",".join(sorted(set(_bitmap_indexes(node))))
        yield node["Relation Name"], node["Node Type"], name
    for child in node.get("Plans", ()):
        yield from _nodes(child)


def _bitmap_indexes(node: dict[str, Any]) -> Iterator[str]:
    for child in node.get("Plans", ()):
        if "Index Name" in child:
            yield child["Index Name"]
        if "Relation Name" not in child:
            yield from _bitmap_indexes(child)


def assert_lookups(steps: list[tuple[str, str, str]], tables: set[str],
                   index: dict[str, set[str]]) -> None:
    """Every read of `tables` goes through an index (no SCAN, no Seq Scan); `index`: the
    table -> the indexes its reads may use (SQLite's rowid search is INTEGER PRIMARY KEY)."""
    read = {t for t, _, _ in steps}
    assert set(index) <= read, steps
    for table, how, name in steps:
        if table not in tables:
            continue
        assert how not in ("SCAN", "Seq Scan"), f"{table} is read whole: {steps}"
        if table in index:
            assert set(name.split(",")) <= index[table], f"{table} is read by {name or how}: {steps}"


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def seeded(request: pytest.FixtureRequest, stores: Stores,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[DB]:
    """Seeded once per module and kind; the tests only read it."""
    with analyzed(stores, request.param, tmp_path_factory.mktemp("plans"), _seed) as db:
        yield db


def _seed(db: DB) -> None:
    depts = [f"qp-d{i}" for i in range(DEPTS)]
    people = [f"p{i}@plan.test" for i in range(PEOPLE)]
    with db.engine.begin() as conn:
        conn.execute(DEPARTMENT.insert(), [{"key": k, "name": k} for k in [*depts, RARE]])
        conn.execute(PERSON.insert(), [
            {"email": e, "name": e, "department": RARE if i == 0 else depts[i % DEPTS],
             "role": "department_lead" if i < DEPTS else "account_manager", "active": True}
            for i, e in enumerate(people)])
        ids = [f"A{i:04d}" for i in range(ACCOUNTS)]
        insert_all(conn, ACCOUNT, [
            {"id": a, "name": a, "industry": "", "owner_email": people[i % PEOPLE],
             "sponsor_email": people[i % DEPTS] if i % 5 == 0 else None, "potential": 1000.0,
             "criteria": {}, "state": "loyal",
             "state_since": AT - timedelta(days=400), "created_at": AT - timedelta(days=900),
             "key_account": False, "state_imported": False} for i, a in enumerate(ids)])
        checks = _check_steps(conn)
        insert_all(conn, TASK, [_task(n, ids, people, depts, checks) for n in range(TASKS)])
        parties.sync(conn, conn.execute(select(TASK.c.id)).scalars().all())
        tally.rebuild(conn)  # the boards' counts, as migration 0018 fills them
        _facts(conn, ids, people)


def _check_steps(conn: Connection) -> list[str]:
    """The contact-frequency checks of the active playbooks, as _complete_checks finds them."""
    book = active_book(conn)
    return sorted(step_id(s, st) for s, pb in book.states.items() for st in pb.steps
                  if isinstance(st.cadence, NoContact))


def _task(n: int, ids: list[str], people: list[str], depts: list[str],
          checks: list[str]) -> dict[str, Any]:
    """Task n, drawn at random (seeded): a store that has run for a while, one task in six
    still live, the rare department Informed on one task in 2,000."""
    rnd = random.Random(n)
    status = rnd.choice(("open", "snoozed", *["done"] * 8, "cancelled", "missed"))
    start = TODAY - timedelta(days=rnd.randrange(10 if status in ("open", "snoozed") else 365))
    queued, dept = rnd.random() < 0.1, rnd.choice(depts)
    informed = f",{rnd.choice(depts)},{rnd.choice(people)},{RARE + ',' if n % 2000 == 0 else ''}"
    return {
        "account_id": rnd.choice(ids), "step": rnd.choice(checks) if n % 5 == 0
        else f"loyal.s{n % 7}", "period": f"p{n}", "state": "loyal",
        "playbook_version": "v", "title": "t", "start": start,
        "due": start + timedelta(days=rnd.randrange(17)), "status": status,
        "assignee": None if queued else rnd.choice(people), "queue": dept if queued else None,
        "responsible_dept": dept, "accountable": rnd.choice(people),
        "accountable_dept": rnd.choice(depts), "co_responsible": f",{rnd.choice(depts)},",
        "consulted": f",{rnd.choice(people)},", "informed": informed, "escalation_level": 0,
        "fields": {}, "why": {}, "created_at": AT, "updated_at": AT,
        "done_at": AT - timedelta(days=rnd.randrange(365)) if status == "done" else None,
    }


def _facts(conn: Connection, ids: list[str], people: list[str]) -> None:
    months = [date(2024 + m // 12, m % 12 + 1, 1) for m in range(5, 29)]
    insert_all(conn, REVENUE, [{"account_id": a, "month": m, "amount": 100.0}
                               for a in ids for m in months])
    insert_all(conn, CONTACT, [
        {"account_id": a, "date": TODAY - timedelta(days=30 * k + i % 30), "channel": "visit",
         "person_email": people[i % PEOPLE], "nature": "", "note": ""}
        for i, a in enumerate(ids) for k in range(6)])
    insert_all(conn, FEEDBACK, [{"account_id": a, "date": TODAY - timedelta(days=90 * k),
                                 "score": 8, "comment": ""} for a in ids for k in range(3)])
    insert_all(conn, ACCOUNT_PLAN, [
        {"account_id": a, "fiscal_year": y, "document": {}, "revision": 1,
         "created_at": AT, "updated_at": AT, "updated_by": "p1@plan.test"}
        for a in ids for y in (2025, 2026)])
    insert_all(conn, ACCOUNT_EVENT, [
        {"account_id": a, "event": "quote_created", "at": AT - timedelta(days=40 * k),
         "ref": f"q{k}", "actor": "system"} for a in ids for k in range(4)])


# -- the queries ---------------------------------------------------------------------------

# task_party by (party, live, letter, kind) or (party, live, due), then each task by its
# primary key
PARTY = {"task_party": {"ix_task_party_party", "ix_task_party_due"},
         "task": {"INTEGER PRIMARY KEY", "task_pkey"}}
# ... or, for a day or the days ahead, the open tasks due then by (status, due)
DUE = {"task_party": {"ix_task_party_party", "ix_task_party_due", "task_party_pkey"},
       "task": {"INTEGER PRIMARY KEY", "task_pkey", "ix_task_status_due"}}


# The board's filter before task_party: every live task, its packed columns matched by LIKE.
OLD_FILTER = select(TASK.c.id).where(
    TASK.c.status.in_(("open", "snoozed")),
    (TASK.c.responsible_dept == RARE) | (TASK.c.accountable_dept == RARE)
    | TASK.c.co_responsible.contains(f",{RARE},") | TASK.c.consulted.contains(f",{RARE},")
    | TASK.c.informed.contains(f",{RARE},"))


def test_the_account_managers_queue_looks_up_their_tasks(seeded: DB) -> None:
    """kamflow.queue.list_tasks (the CLI): R for the caller, within what they may see."""
    with seeded.engine.connect() as conn:
        for status in ("overdue", "due-today", "upcoming", "snoozed"):
            q = queue.tasks_query(TODAY, AM.email, None, "R", status, limit=201,
                                  scope=access.list_scope(AM, AM.email, None))
            assert_lookups(plan(conn, q), TASK_TABLES,
                           DUE if status in ("due-today", "upcoming") else PARTY)
            assert conn.execute(q).all(), status


def test_the_board_of_a_rare_department_reads_its_few_tasks(seeded: DB) -> None:
    """Open tasks the department is R, A, C or I for, as its lead (within what they may see)
    and as a manager (everything) see them (`kamflow tasks --department`)."""
    with seeded.engine.connect() as conn:
        live = conn.execute(OLD_FILTER).scalars().all()
        for who in (LEAD, None):
            q = queue.tasks_query(TODAY, None, RARE, None, "open", limit=501,
                                  scope=access.list_scope(who, None, RARE) if who else None)
            assert_lookups(plan(conn, q), TASK_TABLES, PARTY)
            assert sorted(r.id for r in conn.execute(q)) == sorted(live) and live


def test_the_api_task_list_by_assignee_looks_up_the_person(seeded: DB) -> None:
    """GET /api/tasks?assignee=X[&raci=L] by a manager (kamflow.web.api.tasks)."""
    with seeded.engine.connect() as conn:
        for raci in (None, "R", "A", "C", "I"):
            q = queue.tasks_query(TODAY, "p13@plan.test", None, raci, "open")
            assert_lookups(plan(conn, q), TASK_TABLES, PARTY)


def test_leaving_out_an_implied_scope_lists_the_same_tasks(seeded: DB) -> None:
    """access.list_scope drops the visibility rule only where the list's own filter implies
    it: the same rows as with task_scope, for every letter and status."""
    lead = Principal("p1@plan.test", "P1", "department_lead", "qp-d1")
    with seeded.engine.connect() as conn:
        for who, person, dept in ((AM, AM.email, None), (lead, None, lead.department),
                                  (LEAD, None, RARE)):
            assert access.list_scope(who, person, dept) is None
            seen = 0
            for raci in (None, "R", "A", "C", "I"):
                for status in ("open", "overdue", "done", "all"):
                    lists = [[r.id for r in conn.execute(queue.tasks_query(
                        TODAY, person, dept, raci, status, scope=scope))]
                        for scope in (None, access.task_scope(who))]
                    assert lists[0] == lists[1], (who.email, raci, status)
                    seen += len(lists[0])
            assert seen, who.email


def test_a_scoped_list_reads_no_task_table_whole(seeded: DB) -> None:
    """An account manager's ?department=X lists within what they may see (the scope stays):
    no full read of a task table either."""
    with seeded.engine.connect() as conn:
        for status in ("open", "overdue", "done"):
            q = queue.tasks_query(TODAY, None, RARE, None, status,
                                  scope=access.list_scope(AM, None, RARE))
            assert_lookups(plan(conn, q), TASK_TABLES, {})


def test_the_contact_check_completion_reads_a_chunk_by_account(seeded: DB) -> None:
    """task_writes._complete_checks in a sweep chunk: by an index that starts with the account
    ((account_id, status), or PostgreSQL's pick (account_id, step, period)), never by status."""
    with seeded.engine.connect() as conn:
        q = task_writes.open_checks(_check_steps(conn), Scope("A0100", "A0139"))
        assert_lookups(plan(conn, q), TASK_TABLES,
                       {"task": {"ix_task_account_status", "uq_task_occurrence",
                                 "sqlite_autoindex_task_1"}})


def _chunk_task_queries(conn: Connection, scope: Scope) -> dict[str, Any]:
    """A sweep chunk's queries of live tasks: each must find them by the chunk's accounts."""
    assert scope.ids is not None
    return {"contact checks": task_writes.open_checks(_check_steps(conn), scope),
            "touchpoints": touchpoint_tasks.live_touchpoints(scope),
            "moved accounts' tasks": task_writes.live_of(scope.ids)}


BY_ACCOUNT = {"task": {"ix_task_account_status", "uq_task_occurrence", "sqlite_autoindex_task_1"}}


def test_the_touchpoint_completion_reads_a_chunk_by_account(seeded: DB) -> None:
    """touchpoint_tasks.complete in every sweep chunk, for a range of accounts and for a daily
    chunk's sparse ids: never every live task by status, or the table whole."""
    with seeded.engine.connect() as conn:
        ids = tuple(conn.execute(select(ACCOUNT.c.id).order_by(ACCOUNT.c.id)).scalars())[::97]
        for scope in (Scope("A0100", "A0139"), Scope(ids[0], ids[-1], ids)):
            steps = plan(conn, touchpoint_tasks.live_touchpoints(scope))
            # PostgreSQL may read this small store's few live tasks by their partial index
            assert_lookups(steps, TASK_TABLES, BY_ACCOUNT if conn.dialect.name == "sqlite"
                           else {"task": BY_ACCOUNT["task"] | {"ix_task_live_version"}})


# sqlite_stat1 of a 100,000-account bench store after a first sweep (299,397 of 312,792
# tasks open): ANALYZE samples 2,000 rows an index, and judges "status = 'open'" to match
# 1,334 rows, where a chunk's 1,700 accounts hold four tasks each.
SAMPLED = {"ix_task_status_done": "237456 1334 1001", "ix_task_status_due": "283140 1334 364 1",
           "ix_task_account_status": "331776 4 4", "sqlite_autoindex_task_1": "113088 4 1 1",
           "ix_task_open_due": "326400 2001 2001 1", "ix_task_live_version": "303960 2001"}


def test_a_chunks_live_tasks_are_found_by_account_under_sampled_statistics(
        seeded: DB, tmp_path: Path) -> None:
    """Under the statistics a sampled ANALYZE leaves on a store where nearly every task is
    open, SQLite would walk every live task by the status index for a daily chunk of 1,700
    accounts (0.21 s against 0.012 s at 100,000 accounts): the chunk's live-task queries
    keep the status column out of the planner's reach."""
    if seeded.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's sampled statistics; PostgreSQL samples rows at random")
    copy = tmp_path / "sampled.db"
    with sqlite3.connect(str(seeded.engine.url.database)) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)  # a copy: the seeded store is only read
    engine = create_engine(f"sqlite:///{copy}")
    try:
        with engine.begin() as conn:
            for index, stat in SAMPLED.items():
                conn.exec_driver_sql("UPDATE sqlite_stat1 SET stat = ? WHERE tbl = 'task' AND "
                                     "idx = ?", (stat, index))
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE sqlite_schema")  # load the statistics anew
            ids = tuple(conn.execute(select(ACCOUNT.c.id).order_by(ACCOUNT.c.id)).scalars())[:1700]
            for name, q in _chunk_task_queries(conn, Scope(ids[0], ids[-1], ids)).items():
                assert_lookups(plan(conn, q), TASK_TABLES, BY_ACCOUNT), name
            walked = select(TASK.c.id).where(TASK.c.account_id.in_(ids),
                                             TASK.c.status.in_(("open", "snoozed")))
            with pytest.raises(AssertionError):  # as the statistics stand, a plain filter walks
                assert_lookups(plan(conn, walked), TASK_TABLES, BY_ACCOUNT)
    finally:
        engine.dispose()


def test_the_search_for_an_older_versions_live_tasks_reads_only_those(seeded: DB) -> None:
    """supersede.other_live_versions, in every sweep: from the partial index of live tasks,
    around the current version, never the task table."""
    with seeded.engine.connect() as conn:
        steps = plan(conn, supersede.other_live_versions("v"))
    assert_lookups(steps, TASK_TABLES, {"task": {"ix_task_live_version"}})


def test_the_sweeps_fact_loading_reads_a_chunk_by_account(seeded: DB) -> None:
    """facts.load for one chunk of a sweep: every table by its account index."""
    q = facts.statement(AT, "A0100", "A0139", 1)
    with seeded.engine.connect() as conn:
        steps = plan(conn, q)
    assert_lookups(steps, FACT_TABLES, {})
    assert FACT_TABLES - {"account_event"} <= {t for t, _, _ in steps}


def test_a_daily_chunk_looks_its_sparse_accounts_up_one_by_one(seeded: DB) -> None:
    """A daily sweep's chunk holds accounts spread over the whole id range: each per-chunk
    query looks them up by id (SQLite: account_id=?, PostgreSQL: = ANY), never reads the
    range between the first and the last."""
    with seeded.engine.connect() as conn:
        ids = tuple(conn.execute(select(ACCOUNT.c.id).order_by(ACCOUNT.c.id)).scalars())[::97]
        scope = Scope(ids[0], ids[-1], ids)
        for table in (CONTACT, TASK, REVENUE, FEEDBACK):
            q = (select(table.c.account_id, func.count()).where(scope.where(table.c.account_id))
                 .group_by(table.c.account_id))
            if conn.dialect.name == "sqlite":
                text = "\n".join(sqlite_details(conn, q))
                assert "account_id=?" in text and "account_id>?" not in text, text
            else:
                conds = " ".join(_conditions(postgres_root(conn, q)))
                assert "ANY" in conds and ">=" not in conds, conds


def _conditions(node: dict[str, Any]) -> Iterator[str]:
    for key in ("Index Cond", "Recheck Cond", "Filter"):
        if key in node:
            yield node[key]
    for child in node.get("Plans", ()):
        yield from _conditions(child)


def test_the_portfolio_figures_read_revenue_by_account_and_never_whole(seeded: DB) -> None:
    """facts.stats: one row per account, and the revenue rows (of the accounts whose sum is
    not kept) looked up by account and month, never read whole."""
    with seeded.engine.connect() as conn:
        steps = plan(conn, facts.t12_statement(AT))
    assert_lookups(steps, {"revenue"}, {"revenue": {"sqlite_autoindex_revenue_1",
                                                    "revenue_pkey"}})


# -- the pages and GET /api/tasks, as kamflow.queue runs them ------------------------------

PARTY_INDEXES = {"ix_task_party_party", "ix_task_party_due", "task_party_pkey",
                 "sqlite_autoindex_task_party_1"}
BY_KEY = {"INTEGER PRIMARY KEY", "task_pkey"}


def reads(conn: Connection, run: Callable[[], Any], counts: bool = True
          ) -> dict[str, set[str]]:
    """Run a page's reads; each statement reads no task table whole (but for the counts,
    when not `counts`). Returns table -> the indexes the task tables were read by."""
    used: dict[str, set[str]] = {t: set() for t in TASK_TABLES}
    for statement, steps in plans_of(conn, run):
        if counts or "count(" not in statement:
            assert_lookups(steps, TASK_TABLES, {})
        for table, _, name in steps:
            if table in TASK_TABLES:
                used[table].update(n for n in name.split(",") if n)
        assert steps or "task" not in statement, statement
    return used


def test_the_api_first_page_of_an_account_managers_queue_is_index_served(seeded: DB) -> None:
    """GET /api/tasks?assignee=<me>&limit=50: the person's task_party rows, each task by its
    key, and the count the same way; however many tasks the store holds."""
    f = queue.TaskFilter(TODAY, person=AM.email, scope=access.list_scope(AM, AM.email, None))
    with seeded.engine.connect() as conn:
        page = queue.task_page(conn, f, "due", None, 50)
        assert page.rows and page.total >= len(page.rows)
        used = reads(conn, lambda: queue.task_page(conn, f, "due", None, 50))
    assert used["task"] <= BY_KEY and used["task_party"]
    assert used["task_party"] <= PARTY["task_party"]


def test_a_partys_live_tasks_by_due_date_walk_its_due_index_a_window_at_a_time(
        seeded: DB, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page of a person's or a department's live tasks by due date reads the first WINDOW
    of them from ix_task_party_due (in order, each task once) and looks those up by key,
    rather than all of them sorted; paged through with windows of 1 and 3 (mostly too few:
    read again whole) and 1,000, every list is the one read whole, in the same order."""
    with seeded.engine.connect() as conn:
        for f in (queue.TaskFilter(TODAY, person=AM.email), queue.TaskFilter(TODAY, department=RARE),
                  queue.TaskFilter(TODAY, person="p13@plan.test", raci="C")):
            assert task_list.walks_party(f, "due") and queue.drive(conn, f) == "party"
            steps = plan(conn, task_list.rows(f, "due", None, 51, "party", 1000))
            # PostgreSQL may read a party this small by either of its indexes (a bitmap of
            # its few rows, then a sort), as the rows its ANALYZE happened to sample suggest
            walk = {"ix_task_party_due"} if conn.dialect.name == "sqlite" else PARTY["task_party"]
            assert_lookups(steps, TASK_TABLES, {"task_party": walk, "task": BY_KEY})
            for status in ("open", "overdue", "due-today", "upcoming", "snoozed"):
                for sort in ("due", "-due"):
                    g = f.but(status=status)
                    whole = [r["id"] for r in queue.task_page(conn, g, sort, None, None).rows]
                    assert whole or status != "open", f
                    for window in (1, 3, 1000):
                        monkeypatch.setattr(queue, "WINDOW", window)
                        paged, after = [], None
                        while True:
                            page = queue.task_page(conn, g, sort, after, 4, total=False)
                            paged += [r["id"] for r in page.rows]
                            if page.next_key is None:
                                break
                            after = page.next_key
                        assert paged == whole, (f, status, sort, window)


def test_my_queue_reads_its_sections_counts_and_the_department_queue_by_index(
        seeded: DB) -> None:
    """kamflow.web.pages_queue: each section's first cards, the counts, the queue's few."""
    mine = {"person": AM.email, "raci": "R", "scope": access.list_scope(AM, AM.email, None)}

    def overview(conn: Connection) -> None:
        for due in ("overdue", "due-today", "week", "later", "snoozed"):
            f = task_lists.to_filter(task_lists.Asked(due=due), AM, TODAY, **mine)
            queue.task_page(conn, f, limit=10, total=False)
        queue.breakdown(conn, queue.TaskFilter(TODAY, **mine), TODAY + timedelta(days=7))
        queue.task_page(conn, queue.TaskFilter(TODAY, queue=AM.department,
                                               scope=access.task_scope(AM)), limit=5)

    with seeded.engine.connect() as conn:
        used = reads(conn, lambda: overview(conn))
    assert "ix_task_party_party" in used["task_party"]
    assert "ix_task_queue_status" in used["task"]


def test_the_board_of_a_rare_department_reads_its_page_counts_and_recent_work_by_index(
        seeded: DB) -> None:
    """kamflow.web.pages_board, as the department's lead and as a manager: from the
    department's own task_party rows."""
    with seeded.engine.connect() as conn:
        for who in (LEAD, None):
            scope = access.list_scope(who, None, RARE) if who else None
            f = task_lists.to_filter(task_lists.Asked(), who or LEAD, TODAY, department=RARE,
                                     scope=scope)
            assert queue.drive(conn, f) == "party"

            def board(f: queue.TaskFilter = f, scope: Any = scope) -> None:
                queue.task_page(conn, f, total=False)
                queue.breakdown(conn, f, TODAY + timedelta(days=7))
                queue.task_page(conn, queue.TaskFilter(
                    TODAY, department=RARE, status="done", done_since=AT - timedelta(days=14),
                    scope=scope), "-done", limit=10)

            used = reads(conn, board)
            assert used["task_party"] and used["task_party"] <= PARTY["task_party"]


def test_the_board_of_a_large_department_walks_the_due_index_a_window_at_a_time(
        seeded: DB, monkeypatch: pytest.MonkeyPatch) -> None:
    """A department named on most tasks (here: any, with FEW lowered) is read from
    ix_task_status_due in order, within a window; its recent work from ix_task_status_done."""
    monkeypatch.setattr(queue, "FEW", 10)
    dept = "qp-d1"
    with seeded.engine.connect() as conn:
        for status, window in (("open", 1000), ("upcoming", 1000), ("overdue", 1000),
                               ("open", 5), ("overdue", 5)):  # 5: too few, read again
            monkeypatch.setattr(queue, "WINDOW", window)
            f = queue.TaskFilter(TODAY, department=dept, status=status)
            assert queue.drive(conn, f) == "task"
            page = queue.task_page(conn, f, limit=20)
            listed = [r["id"] for r in page.rows]
            assert listed == [r.id for r in conn.execute(queue.tasks_query(
                TODAY, None, dept, None, status, limit=20))], status  # the same page
            # Its count reads every open task naming it whichever way: the planner's choice
            # (kamflow.queue.counting), a hash of the ids or a scan where that is cheaper.
            used = reads(conn, lambda f=f: queue.task_page(conn, f, limit=20), counts=False)
            assert "ix_task_status_due" in used["task"], status
        recent = queue.TaskFilter(TODAY, department=dept, status="done",
                                  done_since=AT - timedelta(days=14))
        assert queue.task_page(conn, recent, "-done", limit=10).total
        used = reads(conn, lambda: queue.task_page(conn, recent, "-done", limit=10))
        assert "ix_task_status_done" in used["task"]
        # Its work done lately, even where a window would not fill the page (WINDOW is 5):
        # the done range in order, never all the department's rows, which hold its history
        sent = [st for st, _ in plans_of(conn, lambda: queue.task_page(conn, recent, "-done",
                                                                       limit=10))]
        assert sent and not any("IN (SELECT task_party.task_id" in st for st in sent), sent


def test_a_plan_that_walks_every_live_task_fails(seeded: DB) -> None:
    """The check itself can fail: the old filter (LIKE on the packed columns) reads every
    live task, by the status index or whole."""
    with seeded.engine.connect() as conn, pytest.raises(AssertionError):
        assert_lookups(plan(conn, OLD_FILTER), TASK_TABLES, PARTY)


def test_an_account_managers_scope_reads_only_their_departments_queue(seeded: DB) -> None:
    """What an account manager sees includes their department's queue: a range of
    ix_task_party_party on every column before the task id (party, live, letter, kind), not
    every row naming the department, which for sales is every task with its history (the
    account page spent 50-80 ms of a 100k store on it)."""
    q = select(ACCOUNT.c.id).where(access.account_scope(AM))
    with seeded.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            reads = [d for d in sqlite_details(conn, q) if "task_party" in d]
            assert any("(party=? AND live=? AND letter=? AND kind=?)" in d for d in reads), reads
        else:
            root = postgres_root(conn, q)
            conds = list(_index_conds(root, "ix_task_party_party"))
            assert conds and all(all(k in c for k in ("live", "letter", "kind")) or AM.email in c
                                 for c in conds), json.dumps(root)


def _index_conds(node: dict[str, Any], index: str) -> Iterator[str]:
    if node.get("Index Name") == index:
        yield str(node.get("Index Cond", ""))
    for child in node.get("Plans", ()):
        yield from _index_conds(child, index)


def test_the_pages_statements_are_compiled_once_and_then_cached(seeded: DB) -> None:
    """SQLAlchemy compiles a statement once per shape and then takes it from its cache,
    unless an element of it has no cache key: then it is compiled on every request (a
    party's queue spent a third of its CPU there). The queue, a rare department's board and
    GET /api/tasks, run twice: the second time every statement is a hit."""
    def pages(conn: Connection, person: str, lead: Principal) -> None:
        f = queue.TaskFilter(TODAY, person=person, scope=access.list_scope(AM, person, None))
        queue.task_page(conn, f, "due", None, 50)
        queue.breakdown(conn, f, TODAY + timedelta(days=7))
        board = task_lists.to_filter(task_lists.Asked(), lead, TODAY, department=RARE,
                                     scope=access.list_scope(lead, None, RARE))
        queue.task_page(conn, board, total=False)
        queue.task_page(conn, queue.TaskFilter(TODAY, department=RARE, status="done",
                                               done_since=AT - timedelta(days=14)),
                        "-done", limit=10)

    seen: list[tuple[CacheStats, str]] = []

    def hit(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
            many: bool) -> None:
        seen.append((context.cache_hit, statement))

    with seeded.engine.connect() as conn:
        pages(conn, AM.email, LEAD)
        event.listen(conn, "after_cursor_execute", hit)
        try:
            pages(conn, AM.email, LEAD)
        finally:
            event.remove(conn, "after_cursor_execute", hit)
    assert seen
    missed = [f"{stats.name}: {' '.join(s.split())[:160]}" for stats, s in seen
              if stats is not CacheStats.CACHE_HIT]
    assert not missed, "\n".join(missed)
