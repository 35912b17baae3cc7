"""The accounts list reads an index, on SQLite and on PostgreSQL, once the planner has
statistics: a manager's page walks the index of its sort from the cursor on (no sort of every
account, no full read), a name search is a range of ix_account_name, and an account
manager's list and count look their accounts up by owner, sponsor and task_party.

The statements are the ones kamflow.account_list runs (kamflow.store.account_search.page and
count, with kamflow.access.account_scope), on a few thousand accounts. PostgreSQL rightly
reads tables that small whole, so the test asks it, with enable_seqscan off, whether the
statement has a plan that reads no table whole.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, select

from kamflow import access
from kamflow.people import Principal
from kamflow.store import parties, tally
from kamflow.store.account_search import WALK_FROM, Filters, Order, count, ids_among, page
from kamflow.store.bulk import insert_all
from kamflow.store.tables import ACCOUNT, DEPARTMENT, PERSON, TASK
from support import DB
from support.plans import analyzed, postgres_root, sqlite_details
from support.stores import Stores

TODAY = date(2026, 6, 1)
AT = datetime(2026, 6, 1, 6)
ACCOUNTS, TASKS, PEOPLE = 6000, 6000, 200
AM = Principal("p7@list.test", "P7", "account_manager", "d1")
STATES = ("loyal", "prospect", "declining", "high_potential", "optimization", "lost")


def plan(conn: Connection, statement: Any) -> list[str]:
    """One line per step: SQLite's EXPLAIN QUERY PLAN details; on PostgreSQL "<node type>
    <relation> <index>" per node."""
    if conn.dialect.name == "sqlite":
        return sqlite_details(conn, statement)
    return list(_nodes(postgres_root(conn, statement)))


def _nodes(node: dict[str, Any]) -> Iterator[str]:
    yield " ".join(x for x in (node["Node Type"], node.get("Relation Name", ""),
                               node.get("Index Name", "")) if x)
    for child in node.get("Plans", ()):
        yield from _nodes(child)


def walks(steps: list[str], index: str) -> None:
    """The account table is read through `index` in its order: no full read, no sort."""
    text = "\n".join(steps)
    assert not re.search(r"SCAN account$|Seq Scan account|TEMP B-TREE|^Sort$", text, re.M), text
    assert re.search(rf"(SCAN|SEARCH) account USING INDEX {index}\b|Index Scan account {index}$",
                     text, re.M), text


def looks_up(steps: list[str]) -> None:
    """No table is read whole (a small result may be sorted)."""
    text = "\n".join(steps)
    assert not re.search(r"^SCAN \w+$|^Seq Scan", text, re.M), text


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def seeded(request: pytest.FixtureRequest, stores: Stores,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[DB]:
    with analyzed(stores, request.param, tmp_path_factory.mktemp("list-plans"), _seed) as db:
        yield db


def _seed(db: DB) -> None:
    rnd = random.Random(7)
    people = [f"p{i}@list.test" for i in range(PEOPLE)]
    words = ["acme", "beta", "nord", "stahl", "ost", "delta", "kappa", "omega", "werk", "bau"]
    with db.engine.begin() as conn:
        conn.execute(DEPARTMENT.insert(), [{"key": f"d{i}", "name": f"d{i}"} for i in range(8)])
        conn.execute(PERSON.insert(), [
            {"email": e, "name": e, "department": f"d{i % 8}", "role": "account_manager",
             "active": True} for i, e in enumerate(people)])
        ids = [f"A{i:05d}" for i in range(ACCOUNTS)]
        insert_all(conn, ACCOUNT, [
            {"id": a, "name": f"{rnd.choice(words).title()} {rnd.choice(words)} {i}",
             "industry": "", "owner_email": people[i % PEOPLE],
             "sponsor_email": people[(i * 7) % PEOPLE] if i % 5 == 0 else None,
             "potential": float(rnd.randrange(10**6)), "criteria": {},
             "state": rnd.choice(STATES), "state_since": AT, "created_at": AT,
             "klass": rnd.choice("ABCD"), "key_account": i % 9 == 0, "state_imported": False,
             "retention_score": None if i % 10 == 0 else float(rnd.randrange(100))}
            for i, a in enumerate(ids)])
        insert_all(conn, TASK, [_task(rnd, n, ids, people) for n in range(TASKS)])
        parties.sync(conn, conn.execute(select(TASK.c.id)).scalars().all())
        tally.rebuild(conn)  # the boards' counts, as migration 0018 fills them


def _task(rnd: random.Random, n: int, ids: list[str], people: list[str]) -> dict[str, Any]:
    status = rnd.choice(("open", "snoozed", "done", "done", "done", "cancelled"))
    due = TODAY + timedelta(days=rnd.randrange(-30, 30))
    return {"account_id": rnd.choice(ids), "step": "loyal.s", "period": f"p{n}",
            "state": "loyal", "playbook_version": "v", "title": "t", "start": due, "due": due,
            "status": status, "assignee": rnd.choice(people), "queue": None,
            "responsible_dept": "d1", "accountable": rnd.choice(people),
            "accountable_dept": "d2", "co_responsible": "", "consulted": "", "informed": "",
            "escalation_level": 0, "fields": {}, "why": {}, "created_at": AT, "updated_at": AT}


SORT_INDEX = {"name": "ix_account_name", "-score": "ix_account_retention",
              "potential": "ix_account_potential", "-id": "(sqlite_autoindex_account_1|"
                                                          "account_pkey)"}


def _last(conn: Connection, f: Filters, order: Order) -> list[Any]:
    """The sort keys of the 50th row: the cursor of page 2."""
    row = conn.execute(page(f, order, None, None, 50)).all()[-1]._mapping
    return [row[f"sort_{i}"] for i in range(len(order.keys()))]


def test_a_managers_page_walks_the_index_of_its_sort(seeded: DB) -> None:
    """Every account, or a filter that keeps many (the use case walks from WALK_FROM rows
    kept: SQLite is told so, PostgreSQL weighs the LIMIT itself); a filter that keeps few
    reads them by its own index and sorts them."""
    assert ACCOUNTS >= WALK_FROM
    with seeded.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if not sqlite:  # a few thousand rows are read faster whole: is there a plan that doesn't?
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for sort, index in SORT_INDEX.items():
            order = Order(sort.lstrip("-"), sort.startswith("-"))
            for f in (Filters(), Filters(state="loyal"), Filters(key_only=True, klass="A"),
                      Filters(overdue_on=TODAY), Filters(score_min=10, score_max=40)):
                last = _last(conn, f, order)
                for after in (None, last):
                    for walk in (True, False):
                        q = page(f, order, None, after, 51, walk)
                        steps = plan(conn, q)
                        if f == Filters() or (walk and sqlite):
                            walks(steps, index)
                        else:
                            looks_up(steps)
                        assert len(conn.execute(q).all()) == 51, (sort, f)


def test_a_search_is_a_range_of_the_name_index_or_an_id_lookup(seeded: DB) -> None:
    with seeded.engine.connect() as conn:
        f = Filters(name_prefix="Stahl w")
        for sort in ("name", "-potential"):
            q = page(f, Order(sort.lstrip("-"), sort.startswith("-")), None, None, 51)
            steps = plan(conn, q)
            looks_up(steps)
            assert any("ix_account_name" in s for s in steps), steps
            rows = conn.execute(q).all()
            assert rows and all(r.name.lower().startswith("stahl w") for r in rows)
        looks_up(plan(conn, count(f, None)))
        found = ids_among(["a00042", "A00042"], None)
        looks_up(plan(conn, found))
        assert conn.execute(found).scalars().all() == ["A00042"]


def test_an_account_managers_list_looks_up_what_they_see(seeded: DB) -> None:
    scope = access.account_scope(AM)
    with seeded.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # A few thousand accounts are read faster whole: is there a plan that reads none?
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for f in (Filters(), Filters(name_prefix="ost"), Filters(overdue_on=TODAY, score_min=20)):
            looks_up(plan(conn, page(f, Order("name", mine=AM.email), scope, None, 51)))
            looks_up(plan(conn, count(f, scope)))
        rows = conn.execute(page(Filters(), Order("name", mine=AM.email), scope, None, 500)
                            ).all()
        own = [r.owner_email == AM.email or r.sponsor_email == AM.email for r in rows]
        assert own == sorted(own, reverse=True) and any(own) and not all(own)


def test_a_plan_that_sorts_every_account_fails(seeded: DB) -> None:
    """The check itself can fail: ordering by the name as stored (no index) sorts them all."""
    with seeded.engine.connect() as conn, pytest.raises(AssertionError):
        walks(plan(conn, select(ACCOUNT.c.id).order_by(ACCOUNT.c.name).limit(51)),
              "ix_account_name")
