"""Races between the jobs that write (the sweep, the escalation job, the deliverer, task
actions, imports), on SQLite and PostgreSQL: two processes released at the same instant
by a multiprocessing barrier, at least PAIRS times per pair of jobs, on a demo portfolio
whose tasks fall due and escalate as the moments advance.

After every pair: neither process failed (no deadlock, no integrity error), the audit
chain is intact, every task was escalated to each level exactly once (one event per level
it really reached), no task event was written twice, no notification was sent twice, a
snoozed task got no escalation after its snooze, and the sweep's transitions have one
event each.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kamflow import importer, sweep
from kamflow.demo import write_demo
from kamflow.engine.clock import FixedClock
from kamflow.store import audit
from kamflow.store.tables import ACCOUNT, AUDIT_EVENT, TASK, TRANSITION
from support import DB
from support.races import Pair, moment

PAIRS = 20
START = date(2026, 3, 2)
PAIRINGS = [("sweep", "sweep"), ("sweep", "escalation"), ("escalation", "escalation"),
            ("escalation", "snooze"), ("sweep", "snooze"), ("deliver", "escalation"),
            ("deliver", "deliver"), ("import", "sweep"), ("import", "escalation")]


@pytest.fixture
def portfolio(db: DB, tmp_path: Path) -> DB:
    clock = FixedClock(datetime.combine(START, datetime.min.time()))
    files = write_demo(tmp_path / "demo", 40, 7, START)
    for kind, path in files.items():
        importer.import_csv(db.engine, kind, path, clock)
    sweep.run_sweep(db.engine, clock)
    return db


@pytest.fixture
def pair(portfolio: DB) -> Iterator[Pair]:
    p = Pair(portfolio.url)
    yield p
    p.close()


def job(name: str, at: str, db: DB, tmp_path: Path, used: set[int]) -> tuple[str, str, Any]:
    if name == "deliver":
        return name, at, str(tmp_path / "sent.jsonl")
    if name == "snooze":  # an open task overdue by a few days: the escalation wants it too
        today = datetime.fromisoformat(at).date()
        with db.engine.connect() as conn:
            task_id = conn.execute(select(func.min(TASK.c.id)).where(
                TASK.c.status == "open", TASK.c.escalation_level < 2, TASK.c.due < today,
                TASK.c.due >= today - timedelta(days=6), TASK.c.id.not_in(used or {0}))
            ).scalar()
            if task_id is None:
                task_id = conn.execute(select(func.min(TASK.c.id)).where(
                    TASK.c.status == "open", TASK.c.due >= today,
                    TASK.c.id.not_in(used or {0}))).scalar()
        assert task_id is not None, f"no open task left to snooze at {at}"
        used.add(int(task_id))
        return name, at, task_id
    if name == "import":
        path = tmp_path / f"contacts-{at[:10]}.csv"
        with db.engine.connect() as conn:
            owners = conn.execute(select(ACCOUNT.c.id, ACCOUNT.c.owner_email)
                                  .order_by(ACCOUNT.c.id).limit(6)).all()
        path.write_text("account_id,date,channel,person_email,note\n" + "".join(
            f"{a},{at[:10]},call,{o},race\n" for a, o in owners))
        return name, at, str(path)
    return name, at, None


def check(db: DB, tmp_path: Path, snoozed: set[int]) -> None:
    with db.engine.connect() as conn:
        assert audit.check_chain(conn)[1] is None
        events = conn.execute(select(AUDIT_EVENT.c.id, AUDIT_EVENT.c.entity,
                                     AUDIT_EVENT.c.entity_id, AUDIT_EVENT.c.action,
                                     AUDIT_EVENT.c.after).order_by(AUDIT_EVENT.c.id)).all()
        levels = dict(conn.execute(select(TASK.c.id, TASK.c.escalation_level)).tuples().all())
        moves = conn.execute(select(func.count()).select_from(TRANSITION).where(
            TRANSITION.c.actor == "system")).scalar_one()
    task_events = Counter((e.entity_id, e.action, json.dumps(e.after, sort_keys=True))
                          for e in events if e.entity == "task")
    twice = [k for k, n in task_events.items() if n > 1]
    assert not twice, f"task events written twice: {twice[:5]}"
    reached: dict[int, list[int]] = {}
    for e in events:
        if e.action == "escalated":
            reached.setdefault(int(e.entity_id), []).append(int(e.after["level"]))
    for task_id, level in levels.items():
        assert sorted(reached.get(task_id, [])) == list(range(1, level + 1)), (task_id, level)
    assert sum(1 for e in events if e.action == "transitioned") == moves
    for task_id in snoozed:  # between its snooze and its waking, a task is not escalated
        asleep = False
        for e in events:
            if e.entity != "task" or e.entity_id != str(task_id):
                continue
            asleep = {"snoozed": True, "woke": False}.get(e.action, asleep)
            assert not (asleep and e.action == "escalated"), f"task {task_id} escalated asleep"
    sent = tmp_path / "sent.jsonl"
    if sent.exists():
        ids = Counter(json.loads(line)["id"] for line in sent.read_text().splitlines())
        assert not [k for k, n in ids.items() if n > 1], "a notification was sent twice"


@pytest.mark.slow
@pytest.mark.parametrize(("first", "second"), PAIRINGS, ids=[f"{a}-{b}" for a, b in PAIRINGS])
def test_two_jobs_started_at_the_same_instant(portfolio: DB, pair: Pair, tmp_path: Path,
                                              first: str, second: str) -> None:
    used: set[int] = set()
    escalated = 0
    for i in range(PAIRS):
        at = moment(START, i + 1)
        if "sweep" not in (first, second):  # new tasks and due dates for the pair to fight over
            before = datetime.fromisoformat(at) - timedelta(days=2)
            sweep.run_sweep(portfolio.engine, FixedClock(before))
        a = job(first, at, portfolio, tmp_path, used)
        b = job(second, at, portfolio, tmp_path, used)
        results = pair.run(a, b)
        errors = [r[1] for r in results if r[0] != "ok"]
        assert not errors, f"pair {i} at {at}: {errors}"
        escalated += sum(r[1] for r, name in zip(results, (first, second), strict=True)
                         if name == "escalation")
        check(portfolio, tmp_path, used)
    assert pair.pairs >= PAIRS
    if "escalation" in (first, second):
        assert escalated > 0  # the race had something to fight over
