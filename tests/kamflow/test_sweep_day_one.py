"""Day one and every day after: a portfolio imported on the last day of a quarter, then a
year of daily sweeps. Only work that is really due is made, one live occurrence per
recurring step, and what was left open when the next one opened counts as missed."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kamflow.engine.clock import FixedClock
from kamflow.engine.metrics import add_months
from kamflow.store.adherence import report as adherence
from kamflow.store.supersede import superseding_steps
from kamflow.store.tables import ACCOUNT, TASK, TRANSITION
from kamflow.store.versions import active_book
from kamflow.sweep import run_sweep
from support import DB

IMPORT = date(2026, 6, 30)  # the last day of fiscal quarter FY2026-Q2 (fiscal year = calendar)
LOYAL = ("L1", "L2", "L3")


def write_files(folder: Path) -> dict[str, Path]:
    """Three steady class A loyal accounts, with revenue, contacts and feedback for the
    whole year to come, so nothing but the calendar makes work."""
    files = {k: folder / f"{k}.csv" for k in ("people", "accounts", "revenue", "contacts",
                                              "feedback")}
    files["people"].write_text("email,name,department,role\n"
                               "ann@x.test,Ann Am,sales,account_manager\n"
                               "sam@x.test,Sam Sponsor,management,manager\n")
    acc = ["account_id,name,industry,owner_email,sponsor_email,potential,state,created_at"]
    rev, con, fb = ["account_id,month,amount"], ["account_id,date,channel,person_email"], \
        ["account_id,date,score"]
    for aid in LOYAL:
        acc.append(f"{aid},{aid} AG,machinery,ann@x.test,sam@x.test,900000,loyal,2019-01-01")
        for m in range(-24, 13):
            rev.append(f"{aid},{add_months(date(2026, 6, 1), m):%Y-%m},40000")
        day = date(2024, 7, 1)
        while day <= date(2027, 7, 31):
            con.append(f"{aid},{day.isoformat()},visit,ann@x.test")
            day += timedelta(days=20)
        for m in range(-24, 13, 3):
            fb.append(f"{aid},{add_months(date(2026, 6, 1), m).isoformat()},9")
    for key, lines in (("accounts", acc), ("revenue", rev), ("contacts", con), ("feedback", fb)):
        files[key].write_text("\n".join(lines) + "\n")
    return files


def doubled_live(db: DB, steps: list[str]) -> list[Any]:
    with db.engine.connect() as conn:
        return conn.execute(
            select(TASK.c.account_id, TASK.c.step)
            .where(TASK.c.status.in_(("open", "snoozed")), TASK.c.step.in_(steps))
            .group_by(TASK.c.account_id, TASK.c.step).having(func.count() > 1)).all()


@pytest.mark.slow  # a year of daily sweeps: ~12 s on SQLite, ~26 s on PostgreSQL
def test_a_year_after_importing_on_the_last_day_of_a_quarter(db: DB, tmp_path: Path) -> None:
    for kind, path in write_files(tmp_path).items():
        r = db.cli("import", kind, str(path), "--at", IMPORT.isoformat())
        assert r.code == 0, r.stderr
    with db.engine.connect() as conn:
        steps = superseding_steps(active_book(conn))
    first = run_sweep(db.engine, FixedClock(datetime(2026, 6, 30, 6))).as_dict()
    assert first["go_live"] == "2026-06-30"
    with db.engine.connect() as conn:
        made = conn.execute(select(TASK.c.step, TASK.c.period, TASK.c.due)).all()
    # Day one: nothing for the quarter or month that is ending, nothing on "entry" of an
    # imported state; this year's account plan is owed at go-live; every due date can be met.
    assert {(s, p) for s, p, _ in made if s == "loyal.annual_account_plan"} == {
        ("loyal.annual_account_plan", "FY2026")}
    assert not [p for s, p, _ in made if s == "loyal.quarterly_plan_review"]
    assert all(d >= IMPORT for _, _, d in made), made
    day = datetime(2026, 7, 1, 6)
    while day <= datetime(2027, 6, 30, 6):
        run_sweep(db.engine, FixedClock(day))
        assert doubled_live(db, steps) == [], day
        day += timedelta(days=1)
    with db.engine.connect() as conn:
        moved = conn.execute(select(func.count()).select_from(TRANSITION).where(
            TRANSITION.c.actor == "system")).scalar()
        assert moved == 0  # the accounts stayed loyal and class A all year
        assert set(conn.execute(select(ACCOUNT.c.klass)).scalars()) == {"A"}
        for aid in LOYAL:
            reviews = conn.execute(select(TASK.c.period, TASK.c.due, TASK.c.status).where(
                TASK.c.account_id == aid, TASK.c.step == "loyal.quarterly_plan_review")
                .order_by(TASK.c.start)).all()
            assert [p for p, _, _ in reviews] == ["FY2026-Q3", "FY2026-Q4", "FY2027-Q1",
                                                  "FY2027-Q2"], aid
            assert all(d > IMPORT for _, d, _ in reviews)
            # nobody worked them: each one was missed when the next one opened
            assert [s for _, _, s in reviews] == ["missed", "missed", "missed", "open"]
        missed = conn.execute(select(TASK.c.id, TASK.c.reason, TASK.c.evidence, TASK.c.due)
                              .where(TASK.c.status == "missed")).all()
        assert missed
        for _, reason, evidence, _ in missed:
            assert "next occurrence" in reason and evidence["superseded_by"]
        due_by = max(d for *_, d in missed)
        rows = adherence(conn, IMPORT, due_by, "step", date(2027, 6, 30))
    total = rows[-1]
    assert total["missed"] == len(missed)
    assert total["skipped"] == 0 and total["done_on_time"] == 0
    r = db.cli("audit", "adherence", "--from", IMPORT.isoformat(), "--to", due_by.isoformat(),
               "--at", "2027-06-30", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["rows"][-1]["missed"] == len(missed)
    assert db.cli("audit", "verify").code == 0
