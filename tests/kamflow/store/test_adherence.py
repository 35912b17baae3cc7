"""Adherence by account, owner, person, department and RACI letter on a real store (SQLite
and PostgreSQL): every figure equals a hand count over eight tasks, one in each status,
whose RACI names different departments (its lists through task_party, as the task
writes fill it)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from kamflow import adherence
from kamflow.store import adherence as store
from kamflow.store import parties, tally
from kamflow.store.adherence import Limit
from kamflow.store.tables import ACCOUNT, DEPARTMENT, PERSON, TASK
from support import DB

T0 = datetime(2026, 3, 1, 8, 0)
AS_OF = date(2026, 3, 20)
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
PEOPLE = {"ann@x.test": "sales", "bob@x.test": "sales", "cat@x.test": "quotes"}
OWNERS = {"ACC1": "ann@x.test", "ACC2": "ann@x.test", "ACC3": "bob@x.test"}
STEP = "loyal.quarterly_plan_review"
# (account, due day in March, status, done_at, assignee, queue, responsible_dept,
#  accountable_dept, co_responsible, consulted, informed, reason)
TASKS: list[tuple[Any, ...]] = [
    # 1 on time, done by bob on ann's account: the owner is ann, the person bob
    ("ACC1", 10, "done", datetime(2026, 3, 9, 15), "bob@x.test", None, "sales", "management",
     ",", ",quotes,cat@x.test,", ",", None),
    # 2 three days late
    ("ACC1", 5, "done", datetime(2026, 3, 8, 1), "ann@x.test", None, "sales", "management",
     ",", ",", ",finance,", None),
    # 3 skipped, in the quotes queue, delivery co-Responsible, sales Accountable
    ("ACC2", 12, "skipped", None, None, "quotes", "quotes", "sales", ",delivery,", ",", ",",
     "customer closed"),
    # 4 open and overdue
    ("ACC2", 18, "open", None, "ann@x.test", None, "sales", "management", ",", ",",
     ",finance,quotes,", None),
    # 5 open, not yet due; "axb" is no department, and "a_b" (one) must not match it
    ("ACC3", 25, "open", None, "bob@x.test", None, "sales", "management", ",", ",axb,", ",",
     None),
    # 6 missed; sales both R and A
    ("ACC3", 14, "missed", None, "bob@x.test", None, "sales", "sales", ",", ",marketing,", ",",
     "next occurrence opened"),
    # 7 cancelled: counted apart, not due
    ("ACC3", 15, "cancelled", None, "bob@x.test", None, "sales", "management", ",", ",", ",",
     "account left the state"),
    # 8 snoozed and overdue; quotes named twice as R
    ("ACC1", 19, "snoozed", None, "cat@x.test", None, "quotes", "management", ",quotes,", ",",
     ",", "waiting"),
]
OUTSIDE = ("ACC1", date(2026, 2, 28), "done")  # due before the window


@pytest.fixture
def portfolio(db: DB) -> DB:
    with db.engine.begin() as conn:
        conn.execute(insert(DEPARTMENT), [{"key": "a_b", "name": "Underscore"}])
        conn.execute(insert(PERSON), [{"email": e, "name": e.split("@")[0].title(),
                                       "department": d, "role": "account_manager",
                                       "active": True} for e, d in PEOPLE.items()])
        conn.execute(insert(ACCOUNT), [{"id": aid, "name": f"{aid} GmbH", "industry": "x",
                                        "owner_email": owner, "sponsor_email": None,
                                        "potential": 1.0, "criteria": {}, "state": "loyal",
                                        "state_since": T0, "created_at": T0, "klass": "A",
                                        "key_account": False}
                                       for aid, owner in OWNERS.items()])
        rows = [_task(n, *t) for n, t in enumerate(TASKS)]
        account, due, status = OUTSIDE
        rows.append(_task(99, account, 0, status, datetime(2026, 2, 20), "ann@x.test", None,
                          "sales", "management", ",", ",", ",", None, due))
        conn.execute(insert(TASK), rows)
        parties.sync(conn, conn.execute(select(TASK.c.id)).scalars())  # as a write would
        tally.rebuild(conn)  # the boards' counts, as migration 0018 fills them
    return db


def _task(n: int, account: str, day: int, status: str, done_at: datetime | None,
          assignee: str | None, queue: str | None, r: str, a: str, co: str, c: str, i: str,
          reason: str | None, due: date | None = None) -> dict[str, Any]:
    due = due or date(2026, 3, day)
    return {"account_id": account, "step": STEP, "period": f"p{n}", "state": "loyal",
            "playbook_version": "test", "title": STEP, "start": due - timedelta(days=14),
            "due": due, "status": status, "assignee": assignee, "queue": queue,
            "responsible_dept": r, "accountable": None, "accountable_dept": a,
            "co_responsible": co, "consulted": c, "informed": i, "escalation_level": 0,
            "fields": {}, "reason": reason, "done_at": done_at,
            "done_by": assignee if done_at else None, "created_at": T0, "updated_at": T0,
            "why": {}}


def row(group: str, *, on_time: int = 0, late: int = 0, skipped: int = 0, missed: int = 0,
        overdue: int = 0, not_yet: int = 0, cancelled: int = 0, median: float | None = None,
        reasons: dict[str, int] | None = None) -> dict[str, Any]:
    due = on_time + late + skipped + missed + overdue + not_yet
    return {"group": group, "due": due, "done_on_time": on_time, "done_late": late,
            "skipped": skipped, "missed": missed, "open_overdue": overdue,
            "open_not_yet_due": not_yet, "cancelled": cancelled,
            "on_time_rate": on_time / due if due else None, "median_lateness_days": median,
            "skip_reasons": reasons or {}}


CLOSED = {"customer closed": 1}
TOTAL = row("(total)", on_time=1, late=1, skipped=1, missed=1, overdue=2, not_yet=1,
            cancelled=1, median=3.0, reasons=CLOSED)
BY_OWNER = [  # tasks 1, 2, 3, 4, 8 are on ann's accounts, 5, 6, 7 on bob's
    row("ann@x.test", on_time=1, late=1, skipped=1, overdue=2, median=3.0, reasons=CLOSED),
    row("bob@x.test", missed=1, not_yet=1, cancelled=1),
    TOTAL,
]
BY_ACCOUNT = [
    row("ACC1", on_time=1, late=1, overdue=1, median=3.0),  # 1, 2, 8
    row("ACC2", skipped=1, overdue=1, reasons=CLOSED),  # 3, 4
    row("ACC3", missed=1, not_yet=1, cancelled=1),  # 5, 6, 7
    TOTAL,
]
BY_DEPARTMENT = [
    row("delivery", skipped=1, reasons=CLOSED),  # 3
    row("finance", late=1, overdue=1, median=3.0),  # 2, 4
    row("management", on_time=1, late=1, overdue=2, not_yet=1, cancelled=1,
        median=3.0),  # 1, 2, 4, 5, 7, 8
    row("marketing", missed=1),  # 6
    row("quotes", on_time=1, skipped=1, overdue=2, reasons=CLOSED),  # 1, 3, 4, 8
    row("sales", on_time=1, late=1, skipped=1, missed=1, overdue=1, not_yet=1, cancelled=1,
        median=3.0, reasons=CLOSED),  # 1 to 7
    TOTAL,
]
BY_LETTER = [  # every task has an R and an A department; C: 1, 6; I: 2, 4
    {**TOTAL, "group": "R"}, {**TOTAL, "group": "A"},
    row("C", on_time=1, missed=1), row("I", late=1, overdue=1, median=3.0),
    TOTAL,
]


def report(db: DB, by: str, limit: Limit = Limit(), as_of: date = AS_OF,
           window: tuple[date, date] = MARCH) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        return store.report(conn, *window, by, as_of, limit)


def test_by_owner_and_by_account_equal_the_hand_count(portfolio: DB) -> None:
    assert report(portfolio, "owner") == BY_OWNER
    assert report(portfolio, "account") == BY_ACCOUNT
    # the person is who holds the task, not the account's owner
    assert {r["group"]: r["due"] for r in report(portfolio, "person")} == {
        "ann@x.test": 2, "bob@x.test": 3, "cat@x.test": 1, "queue:quotes": 1, "(total)": 7}


def test_by_department_counts_each_department_the_raci_names_once(portfolio: DB) -> None:
    assert report(portfolio, "department") == BY_DEPARTMENT
    assert report(portfolio, "letter") == BY_LETTER
    # per letter: quotes is Responsible for 3 (its queue) and 8 (named twice), Consulted on 1,
    # Informed on 4
    assert report(portfolio, "department", Limit(letter="R"))[:-1] == [
        row("delivery", skipped=1, reasons=CLOSED),
        row("quotes", skipped=1, overdue=1, reasons=CLOSED),
        row("sales", on_time=1, late=1, missed=1, overdue=1, not_yet=1, cancelled=1,
            median=3.0)]
    quotes_as = {letter: [(r["group"], r["due"]) for r in
                          report(portfolio, "department", Limit("quotes", letter))]
                 for letter in ("R", "A", "C", "I")}
    assert quotes_as == {"R": [("quotes", 2), ("(total)", 2)], "A": [("(total)", 0)],
                         "C": [("quotes", 1), ("(total)", 1)],
                         "I": [("quotes", 1), ("(total)", 1)]}


def test_a_department_limit_narrows_every_grouping_and_the_total(portfolio: DB) -> None:
    quotes = Limit("quotes")
    assert report(portfolio, "owner", quotes) == [
        row("ann@x.test", on_time=1, skipped=1, overdue=2, reasons=CLOSED),
        row("(total)", on_time=1, skipped=1, overdue=2, reasons=CLOSED)]
    assert report(portfolio, "department", quotes) == [BY_DEPARTMENT[4], {
        **BY_DEPARTMENT[4], "group": "(total)"}]
    sales = report(portfolio, "letter", Limit("sales"))
    assert sales == [  # R on 1, 2, 4, 5, 6, 7; A on 3 and 6; the total counts 1 to 7 once
        row("R", on_time=1, late=1, missed=1, overdue=1, not_yet=1, cancelled=1, median=3.0),
        row("A", skipped=1, missed=1, reasons=CLOSED),
        row("(total)", on_time=1, late=1, skipped=1, missed=1, overdue=1, not_yet=1,
            cancelled=1, median=3.0, reasons=CLOSED)]
    assert report(portfolio, "step", Limit("production")) == [row("(total)")]


def test_groups_partition_the_total_where_each_task_has_one_group(portfolio: DB) -> None:
    for by in ("step", "account", "owner", "person", "class", "state"):
        rows = report(portfolio, by, as_of=date(2026, 4, 30))
        total = rows[-1]
        for key in ("due", "done_on_time", "done_late", "skipped", "missed", "open_overdue",
                    "open_not_yet_due", "cancelled"):
            assert sum(r[key] for r in rows[:-1]) == total[key], (by, key)
        assert total["open_overdue"] == 3 and total["open_not_yet_due"] == 0
    assert report(portfolio, "owner", window=(date(2026, 2, 28), date(2026, 3, 31)))[-1][
        "done_on_time"] == 2  # the task due on 28 February, done before it
    assert report(portfolio, "owner", window=(date(2027, 1, 1), date(2027, 1, 31))) == [
        row("(total)")]


def test_bad_arguments_are_named(portfolio: DB) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"by": "team"}, "--by"), ({"limit": Limit(letter="X")}, "--letter"),
        ({"start": date(2026, 4, 1)}, "--from")]
    with portfolio.engine.connect() as conn:
        for kwargs, option in cases:
            args: dict[str, Any] = {"start": MARCH[0], "end": MARCH[1], "by": "owner",
                                    "as_of": AS_OF, **kwargs}
            with pytest.raises(ValueError, match=option):
                adherence.rows(conn, **args)
        with pytest.raises(ValueError, match="--department: unknown department 'sails'"):
            adherence.rows(conn, *MARCH, "owner", AS_OF, Limit("sails"))


def test_the_overview_trend_matches_the_unlimited_weekly_rate(portfolio: DB) -> None:
    seen = adherence.overview(portfolio.engine, *MARCH, "owner", AS_OF)
    assert sum(w.due for w in seen.weeks) == 7 and sum(w.on_time for w in seen.weeks) == 1
    quotes = adherence.overview(portfolio.engine, *MARCH, "owner", AS_OF, Limit("quotes"))
    assert sum(w.due for w in quotes.weeks) == 4 and quotes.rows[-1]["due"] == 4


def test_the_cli_groups_by_owner_account_department_and_letter(portfolio: DB) -> None:
    base = ("audit", "adherence", "--from", "2026-03-01", "--to", "2026-03-31",
            "--at", "2026-03-20", "--json")
    for by, expected in (("owner", BY_OWNER), ("account", BY_ACCOUNT),
                         ("department", BY_DEPARTMENT), ("letter", BY_LETTER)):
        r = portfolio.cli(*base, "--by", by)
        assert r.code == 0, r.stderr
        assert json.loads(r.stdout) == {"from": "2026-03-01", "to": "2026-03-31",
                                        "as_of": "2026-03-20", "by": by, "department": None,
                                        "letter": None, "rows": expected}
    r = portfolio.cli(*base, "--by", "owner", "--department", "quotes", "--letter", "r")
    assert r.code == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["department"], data["letter"]) == ("quotes", "R")
    assert [(x["group"], x["due"]) for x in data["rows"]] == [("ann@x.test", 2), ("(total)", 2)]
    r = portfolio.cli(*base[:-1], "--by", "account")
    assert r.code == 0 and "ACC3" in r.stdout and "(total)" in r.stdout
    for extra, option in ((("--by", "owners"), "--by"), (("--letter", "X"), "--letter"),
                          (("--department", "sails"), "--department")):
        r = portfolio.cli(*base, *extra)
        assert r.code == 2 and option in r.stderr, (extra, r.stderr)
