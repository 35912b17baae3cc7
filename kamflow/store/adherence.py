"""Adherence in the store: of the tasks due in a period, how many were done on time, late,
skipped, missed, are still open (overdue or not yet due), grouped in SQL.

Groupings: step, account, owner (the account's manager, whoever did the task), person (who
holds the task: the assignee, else the queue), department, RACI letter, class, state.

A task names several departments, so it counts once in each department its RACI names,
and once per letter it has a department party for; the "(total)" row counts it once.
The departments are the task's Responsible department and the queue holding it (R), its
Accountable department (A), read from the task's columns, and the departments among the
names of its co-Responsible (R), Consulted (C) and Informed (I) lists: task_party rows of
kind "named" (kamflow.store.parties) joined to the department table, so an email in a list
is no department.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Select,
    String,
    and_,
    case,
    func,
    literal,
    literal_column,
    select,
    union,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause, Subquery

from kamflow.store.tables import ACCOUNT, DEPARTMENT, TASK, TASK_PARTY

BY = ("step", "account", "owner", "person", "department", "letter", "class", "state")
LETTERS = ("R", "A", "C", "I")
TOTAL = "(total)"
NO_REASON = "(no reason)"
NAMED = "named"  # task_party kind: a name from co_responsible, consulted or informed


@dataclass(frozen=True)
class Limit:
    """Only the tasks whose RACI names `department` (as `letter`, when given); the
    groups of `--by department` / `--by letter` are narrowed the same way."""

    department: str | None = None
    letter: str | None = None

    @property
    def any(self) -> bool:
        return self.department is not None or self.letter is not None


# -- the parties ------------------------------------------------------------------------


def _letter(letter: str) -> Any:
    if letter not in LETTERS:  # never from the caller: a constant of this module
        raise ValueError(letter)
    return literal_column(f"'{letter}'", String).label("letter")


def parties(where: Sequence[ColumnElement[bool]] = ()) -> Subquery:
    """(task_id, letter, department), each once, for the tasks matching `where`."""
    t = TASK.c

    def named(letter: str, column: Any, *extra: ColumnElement[bool]) -> Select[Any]:
        return select(t.id.label("task_id"), _letter(letter), column.label("department")
                      ).where(*where, *extra)

    listed = (select(TASK_PARTY.c.task_id, TASK_PARTY.c.letter,
                     DEPARTMENT.c.key.label("department"))
              .select_from(TASK.join(TASK_PARTY, TASK_PARTY.c.task_id == t.id)
                           .join(DEPARTMENT, DEPARTMENT.c.key == TASK_PARTY.c.party))
              .where(TASK_PARTY.c.kind == NAMED, *where))
    return union(named("R", t.responsible_dept), named("R", t.queue, t.queue.is_not(None)),
                 named("A", t.accountable_dept), listed).subquery("party")


def _limited(p: Subquery, limit: Limit) -> list[ColumnElement[bool]]:
    out = []
    if limit.department is not None:
        out.append(p.c.department == limit.department)
    if limit.letter is not None:
        out.append(p.c.letter == limit.letter)
    return out


def named_by(limit: Limit) -> ColumnElement[bool] | None:
    """A condition on the task table: its RACI names the department (as the letter)."""
    if not limit.any:
        return None
    p = parties()
    return TASK.c.id.in_(select(p.c.task_id).where(*_limited(p, limit)))


# -- the report -------------------------------------------------------------------------


def _grouped(by: str, window: ColumnElement[bool], limit: Limit) -> tuple[Any, FromClause]:
    """The group expression and the FROM clause of one row per (group, task)."""
    if by in ("department", "letter"):
        p = parties([window])
        column = p.c.department if by == "department" else p.c.letter
        pairs = select(p.c.task_id, column.label("grp")).where(*_limited(p, limit)).distinct()
        sub = pairs.subquery("pairs")
        return sub.c.grp, TASK.join(sub, sub.c.task_id == TASK.c.id)
    if by == "step":
        return TASK.c.step, TASK
    if by == "state":
        return TASK.c.state, TASK
    if by == "account":
        return TASK.c.account_id, TASK
    if by == "person":
        queue = literal("queue:").concat(TASK.c.queue)
        return func.coalesce(TASK.c.assignee, queue, "(unassigned)"), TASK
    with_account = TASK.join(ACCOUNT, ACCOUNT.c.id == TASK.c.account_id)
    if by == "owner":
        return ACCOUNT.c.owner_email, with_account
    if by == "class":
        return func.coalesce(ACCOUNT.c.klass, "(none)"), with_account
    raise ValueError(f"--by: '{by}' is not one of {', '.join(BY)}")


def _count(cond: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def check(start: date, end: date, by: str, limit: Limit) -> None:
    if start > end:
        raise ValueError(f"--from {start.isoformat()} is after --to {end.isoformat()}")
    if by not in BY:
        raise ValueError(f"--by: '{by}' is not one of {', '.join(BY)}")
    if limit.letter is not None and limit.letter not in LETTERS:
        raise ValueError(f"--letter: '{limit.letter}' is not one of {', '.join(LETTERS)}")


def report(conn: Connection, start: date, end: date, by: str, as_of: date,
           limit: Limit = Limit()) -> list[dict[str, Any]]:
    """Per group, tasks due in [start, end]: done on time, late, skipped, missed (still open
    when the next occurrence opened), still open (overdue as of `as_of`, or not yet due);
    cancelled ones are counted apart and left out of `due`. The last row, "(total)",
    counts every task once."""
    check(start, end, by, limit)
    window = TASK.c.due.between(start, end)
    key, source = _grouped(by, window, limit)
    named = named_by(limit)
    scoped = [window] if named is None or by in ("department", "letter") else [window, named]
    groups = _tally(conn, select(key.label("grp"), *_FIELDS).select_from(source)
                    .where(*scoped).subquery(), as_of)
    order = (lambda g: (LETTERS.index(g), g)) if by == "letter" else (lambda g: (0, g))
    rows = [groups[g] for g in sorted(groups, key=order)]
    every = [window] if named is None else [window, named]
    constant = literal_column(f"'{TOTAL}'", String).label("grp")
    total = _tally(conn, select(constant, *_FIELDS).where(*every).subquery(), as_of)
    rows.append(total.get(TOTAL) or _row(TOTAL, defaultdict(int), [], {}))
    return rows


_FIELDS = (TASK.c.status, TASK.c.due, TASK.c.done_at, TASK.c.reason)


def _tally(conn: Connection, s: Subquery, as_of: date) -> dict[str, dict[str, Any]]:
    """group -> its row, counted by GROUP BY over `s` (grp, status, due, done_at, reason)."""
    done_late = and_(s.c.status == "done", func.date(s.c.done_at) > s.c.due)
    live = s.c.status.in_(("open", "snoozed"))
    counts = cast("Sequence[Mapping[str, Any]]", conn.execute(
        select(
            s.c.grp,
            func.count().label("tasks"),
            _count(s.c.status == "cancelled").label("cancelled"),
            _count(s.c.status == "done").label("done"),
            _count(done_late).label("done_late"),
            _count(s.c.status == "skipped").label("skipped"),
            _count(s.c.status == "missed").label("missed"),
            _count(and_(live, s.c.due < as_of)).label("open_overdue"),
            _count(and_(live, s.c.due >= as_of)).label("open_not_yet_due"),
        ).group_by(s.c.grp)
    ).mappings().all())
    lateness: dict[str, list[int]] = defaultdict(list)
    for grp, due, done_at in conn.execute(select(s.c.grp, s.c.due, s.c.done_at).where(done_late)):
        lateness[str(grp)].append((done_at.date() - due).days)
    reasons: dict[str, dict[str, int]] = defaultdict(dict)
    for grp, reason, n in conn.execute(
        select(s.c.grp, s.c.reason, func.count()).where(s.c.status == "skipped")
        .group_by(s.c.grp, s.c.reason)
    ):
        label = reason or NO_REASON
        reasons[str(grp)][label] = reasons[str(grp)].get(label, 0) + int(n)
    return {str(c["grp"]): _row(str(c["grp"]), c, lateness[str(c["grp"])],
                                reasons[str(c["grp"])]) for c in counts}


def _row(group: str, c: Mapping[str, Any], late: list[int], reasons: Mapping[str, int]
         ) -> dict[str, Any]:
    due = int(c["tasks"]) - int(c["cancelled"])
    on_time = int(c["done"]) - int(c["done_late"])
    return {
        "group": group,
        "due": due,
        "done_on_time": on_time,
        "done_late": int(c["done_late"]),
        "skipped": int(c["skipped"]),
        "missed": int(c["missed"]),
        "open_overdue": int(c["open_overdue"]),
        "open_not_yet_due": int(c["open_not_yet_due"]),
        "cancelled": int(c["cancelled"]),
        "on_time_rate": on_time / due if due else None,
        "median_lateness_days": float(statistics.median(late)) if late else None,
        "skip_reasons": dict(sorted(reasons.items())),
    }


# -- per day, for the weekly trend ------------------------------------------------------


def per_day(conn: Connection, start: date, end: date, limit: Limit = Limit()
            ) -> list[tuple[date, int, int]]:
    """(due date, tasks due, done on or before it) for each due date in [start, end] with
    tasks; cancelled tasks left out, as in the report."""
    cond = [TASK.c.due.between(start, end), TASK.c.status != "cancelled"]
    named = named_by(limit)
    if named is not None:
        cond.append(named)
    on_time = and_(TASK.c.status == "done", func.date(TASK.c.done_at) <= TASK.c.due)
    q = (select(TASK.c.due, func.count(), _count(on_time)).where(*cond)
         .group_by(TASK.c.due).order_by(TASK.c.due))
    return [(d, int(n), int(k)) for d, n, k in conn.execute(q)]
