"""A year of sweeps over a demo portfolio: the process happens exactly as the playbooks say.

Daily on SQLite; weekly on PostgreSQL, where a day's sweep costs several times more and the
daily way is checked sweep by sweep against full sweeps (test_sweep_incremental.py)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from kamflow.store.tables import ACCOUNT, TASK, TRANSITION
from support import DB


@pytest.mark.slow
def test_a_year_of_sweeps(db: DB) -> None:
    daily = db.engine.dialect.name == "sqlite"
    assert db.cli("demo", "--accounts", "60", "--seed", "3", "--at", "2026-12-31").code == 0
    r = db.cli("replay", "--from", "2026-01-01", "--to", "2026-12-31", "--every",
               "1d" if daily else "1w", "--json")
    assert r.code == 0, r.stderr
    totals = json.loads(r.stdout)
    assert totals["sweeps"] == (365 if daily else 53) and totals["tasks_created"] > 0
    with db.engine.connect() as conn:
        moved = set(conn.execute(select(TRANSITION.c.account_id).where(
            TRANSITION.c.actor == "system")).scalars())
        steady = {a: (k, key) for a, k, key in conn.execute(
            select(ACCOUNT.c.id, ACCOUNT.c.klass, ACCOUNT.c.key_account).where(
                ACCOUNT.c.state == "loyal", ACCOUNT.c.klass.in_(("A", "B")))).tuples().all()}
        steady = {a: k for a, k in steady.items() if a not in moved}
        assert {k for k, _ in steady.values()} == {"A", "B"}, "the demo should have A and B " \
            "accounts that stayed loyal all year"
        for account, (klass, key) in steady.items():
            periods = conn.execute(select(TASK.c.step, TASK.c.period).where(
                TASK.c.account_id == account)).all()
            reviews = sorted(p for s, p in periods if s == "loyal.quarterly_plan_review"
                             and p.startswith("FY2026"))
            plans = [p for s, p in periods if s == "loyal.annual_account_plan" and p == "FY2026"]
            if klass == "A":  # the plan steps are for class A, key accounts and the important C
                assert reviews == ["FY2026-Q1", "FY2026-Q2", "FY2026-Q3", "FY2026-Q4"], account
                assert len(plans) == 1, account
            elif key:  # a key account of class B has them too
                assert reviews and len(plans) <= 1, account
            else:
                assert reviews == [] and plans == [], account
        doubled = conn.execute(
            select(TASK.c.account_id, TASK.c.step, TASK.c.period)
            .where(TASK.c.status.in_(("open", "snoozed")))
            .group_by(TASK.c.account_id, TASK.c.step, TASK.c.period)
            .having(func.count() > 1)
        ).all()
        assert doubled == []
        stale = conn.execute(
            select(func.count()).select_from(TASK.join(ACCOUNT, ACCOUNT.c.id == TASK.c.account_id))
            .where(TASK.c.status.in_(("open", "snoozed")), TASK.c.state != ACCOUNT.c.state)).scalar()
        assert stale == 0
        assert len(moved) > 0  # the year did move accounts, and their old tasks were closed
    verify = db.cli("audit", "verify")
    assert verify.code == 0, verify.stdout + verify.stderr
