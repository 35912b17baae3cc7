"""Weeks of use before the demo's day: go-live some weeks back, a sweep each week, and people
doing most of what fell due, so the queues, boards and adherence page show a team at work
(a few tasks late or forgotten) instead of a first day.

Deterministic: whether a task is done on time, late or not at all follows from the seed and
the task's id, so the same seed gives the same history.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, select

from kamflow.engine.clock import FixedClock
from kamflow.store import golive, task_writes
from kamflow.store.tables import TASK
from kamflow.sweep import run_sweep
from kamflow.tasks.status import Status

ON_TIME = 0.86  # the share of tasks done by their due date
LATE = 0.07  # done a few days after it; the rest are left open (then overdue or missed)
WORK_HOUR = time(10)


def _draw(seed: int, task_id: int) -> float:
    return (zlib.crc32(f"{seed}:{task_id}".encode()) & 0xFFFF) / 0x10000


def simulate(db: Engine, at: datetime, weeks: int, seed: int,
             progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Go live `weeks` before `at`, sweep weekly up to (not including) `at`, and after each
    sweep complete the tasks that fall due before the next one: most on time, some late,
    a few never. The sweep at `at` itself is left to the caller (as `make run` does it)."""
    if weeks < 1:
        return {"weeks": 0, "sweeps": 0, "done_on_time": 0, "done_late": 0, "left_open": 0}
    first = datetime.combine((at - timedelta(weeks=weeks)).date(), time())
    with db.begin() as conn:
        golive.set_go_live(conn, first.date(), first)
    counts = {"weeks": weeks, "sweeps": 0, "done_on_time": 0, "done_late": 0, "left_open": 0}
    step = first
    while step < at:
        run_sweep(db, FixedClock(step))
        counts["sweeps"] += 1
        upto = min(step + timedelta(weeks=1), at)
        _work(db, step, upto, at, seed, counts)
        if progress is not None:
            progress(1)
        step += timedelta(weeks=1)
    return counts


def _work(db: Engine, since: datetime, upto: datetime, at: datetime, seed: int,
          counts: dict[str, Any]) -> None:
    """Complete the open tasks due before `upto`, each at a moment between `since` and `at`."""
    with db.begin() as conn:
        rows = conn.execute(select(TASK.c.id, TASK.c.status, TASK.c.start, TASK.c.due).where(
            TASK.c.status == Status.OPEN.value, TASK.c.due < upto.date())).all()
        by_moment: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            draw = _draw(seed, r.id)
            due = datetime.combine(r.due, WORK_HOUR)
            begin = max(datetime.combine(r.start, WORK_HOUR), since)
            if draw < ON_TIME:
                span = max((due - begin).days, 0)
                moment = begin + timedelta(days=int(draw / ON_TIME * (span + 1)) if span else 0)
                moment = min(max(moment, since), due)
                key = "done_on_time"
            elif draw < ON_TIME + LATE:
                moment = due + timedelta(days=1 + int(draw * 1000) % 4)
                key = "done_late"
            else:
                counts["left_open"] += 1
                continue
            if moment >= at:
                counts["left_open"] += 1
                continue
            by_moment[moment].append({"id": r.id, "status": r.status})
            counts[key] += 1
        for moment, done in sorted(by_moment.items()):
            task_writes.finish(conn, done, moment, "demo", Status.DONE, outcome="done")
