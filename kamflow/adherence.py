"""What a manager asks of the trail: was the process followed, who did what, is it intact.

Adherence (kamflow.store.adherence) groups the tasks due in a period by step, account,
owner, person, department, RACI letter, class or state; `Limit` narrows it to the tasks a
department is named on (a department lead's view, kamflow.access.adherence_department).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from kamflow import filters, views
from kamflow.store import adherence as tally
from kamflow.store import anchor, audit
from kamflow.store import tally as board_counts
from kamflow.store.adherence import BY, LETTERS, Limit
from kamflow.store.versions import active_book
from kamflow.tasks.chain import ChainBreak

__all__ = ["BY", "LETTERS", "NOT_ANCHORED", "Limit", "Overview", "departments", "events",
           "Verification", "export_anchor", "overview", "recount", "report", "rows", "verify"]
NOT_ANCHORED = anchor.NOT_ANCHORED
ESCALATIONS_SHOWN = 50


def report(db: Engine, start: date, end: date, by: str, as_of: date,
           limit: Limit = Limit()) -> list[dict[str, Any]]:
    """Of the tasks due in [start, end]: done on time, late, skipped, missed, open, per
    group and in total (the last row)."""
    with db.connect() as conn:
        return rows(conn, start, end, by, as_of, limit)


def rows(conn: Connection, start: date, end: date, by: str, as_of: date,
         limit: Limit = Limit()) -> list[dict[str, Any]]:
    """The same report inside a read the caller already holds (a page with more on it).
    An unknown department is an error naming the known ones, not an empty report."""
    tally.check(start, end, by, limit)
    filters.check(conn, department=limit.department)
    return tally.report(conn, start, end, by, as_of, limit)


@dataclass(frozen=True)
class Overview:
    """What the adherence page shows: the report, the weekly trend, the escalations."""

    rows: list[dict[str, Any]]
    weeks: list[views.Week]
    n_escalated: int
    escalated: list[dict[str, Any]]


def overview(db: Engine, start: date, end: date, by: str, as_of: date,
             limit: Limit = Limit()) -> Overview:
    """The report, the on-time rate per week of due dates and the escalated tasks, all
    narrowed by `limit`, in one read."""
    with db.connect() as conn:
        found = rows(conn, start, end, by, as_of, limit)
        due: dict[date, int] = {}
        on_time: dict[date, int] = {}
        week = views.week_start(start)
        while week <= end:
            due[week] = on_time[week] = 0
            week += timedelta(days=7)
        for day, n, k in tally.per_day(conn, start, end, limit):
            due[views.week_start(day)] += n
            on_time[views.week_start(day)] += k
        n_escalated, escalated = views.escalated(conn, start, end, ESCALATIONS_SHOWN,
                                                 tally.named_by(limit))
    weeks = [views.Week(w, due[w], on_time[w]) for w in sorted(due)]
    return Overview(found, weeks, n_escalated, escalated)


def departments(db: Engine) -> dict[str, str]:
    """key -> name of the departments of the active playbooks (the page's choices)."""
    with db.connect() as conn:
        return {k: d.name for k, d in active_book(conn).organization.departments.items()}


def events(db: Engine, entity: str | None = None, entity_id: str | None = None,
           limit: int = 100) -> list[dict[str, Any]]:
    with db.connect() as conn:
        return audit.events(conn, entity, entity_id, limit)


Stage = Callable[[str, int | None], audit.Tick]  # (label, rows or None) -> its tick


def _unseen(_label: str, _total: int | None) -> audit.Tick:
    return lambda _n: None


@dataclass(frozen=True)
class Verification:
    """Everything `audit verify` checks, read on one connection; the CLI and the API report
    the same verdict from it."""
    events: int
    broken: ChainBreak | None  # the first event that does not fit the chain
    head: anchor.AnchorReport  # the end of the trail against its newest signed checkpoint
    rows: audit.Findings  # task rows against the digests their creation events hold
    counts: audit.Findings  # the boards' kept counts against a recount of the live tasks

    @property
    def intact(self) -> bool:
        return (self.broken is None and self.head.ok and not self.rows.problems
                and not self.counts.problems)

    def as_dict(self) -> dict[str, Any]:
        return {"intact": self.intact, "events": self.events,
                "broken_at": self.broken.id if self.broken else None,
                "reason": self.broken.reason if self.broken else None,
                "anchored": self.head.anchored, "checkpoint_event": self.head.checkpoint_event,
                "head_problems": self.head.problems, "tasks_checked": self.rows.checked,
                "task_problems": self.rows.problems, "counts_checked": self.counts.checked,
                "count_problems": self.counts.problems}


def verify(db: Engine, stage: Stage = _unseen) -> Verification:
    """The hash chain over every event, its head against the newest checkpoint, every task
    row against its creation event (edited, deleted, inserted rows) and the boards' counts
    (a task row edited in SQL, behind kamflow, leaves them off until `recount`). `stage`
    starts a progress bar for each part that reads many rows."""
    with db.connect() as conn:
        events, tasks = audit.sizes(conn) if stage is not _unseen else (None, None)
        n, broken = audit.check_chain(conn, tick=stage("audit chain", events))
        head = anchor.check(conn)
        rows = audit.check_tasks(conn, tick=stage("task rows", tasks))
        stage("board counts", None)
        checked, wrong = board_counts.compare(conn)
    counts = audit.Findings(checked=checked)
    for cell, (kept, counted) in sorted(wrong.items()):
        counts.add(f"{_cell(cell)}: kept {kept}, the tasks say {counted}")
    return Verification(n, broken, head, rows, counts)


def _cell(cell: board_counts.Cell) -> str:
    party, letter, status, due, klass, key = cell
    named = "named" if letter == board_counts.ANY else f"{letter} for"
    return (f"department {party} {named} {status} tasks due {due.isoformat()}, class {klass}"
            f"{', key accounts' if key else ''}")


def recount(db: Engine) -> int:
    """Set the boards' counts to a recount of the tasks, in one transaction; returns how
    many cells were off."""
    with db.begin() as conn:
        return board_counts.mend(conn)


def export_anchor(db: Engine) -> bool:
    """Append the newest checkpoint to the operator's append-only anchor file, if one is
    configured (after each sweep); True when a line was written."""
    path = anchor.anchor_file()
    if path is None:
        return False
    with db.connect() as conn:
        line = anchor.newest(conn)
    if line is None:
        return False
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(line, sort_keys=True) + "\n")
    return True
