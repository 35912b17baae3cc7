"""Tasks that something newer replaced: the next occurrence of their recurring step (they are
missed), or a new playbook version that dropped or changed their step (they are cancelled).

One live occurrence per recurring step: the older one is missed when the next one opens.

A recurring step (every N days from entry, monthly, quarterly, yearly) whose occurrence
is still open or snoozed when the next occurrence of the same account and step is made
is closed as `missed`, naming its successor, once it is overdue or the successor has
started (a task not yet due, or snoozed to a day still to come, keeps its chance): it
leaves the queue, stays in the audit trail and counts against adherence. A step with
`supersede: false` keeps every occurrence. Set-based: one select and one bulk update per chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, bindparam, select, union

from kamflow.playbooks.loader import PlaybookSet
from kamflow.playbooks.schema import Every, Monthly, Quarterly, Step, Yearly
from kamflow.store import changes
from kamflow.store.scope import Scope, Unindexed
from kamflow.store.tables import TASK
from kamflow.store.task_writes import LIVE, finish
from kamflow.tasks.policy import step_id
from kamflow.tasks.status import Status

_ONE = timedelta(days=1)


def _day(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def supersedes(step: Step) -> bool:
    """Occurrences of this step replace each other (one period after the next)."""
    cad = step.cadence
    recurring = isinstance(cad, Monthly | Quarterly | Yearly) or (
        isinstance(cad, Every) and cad.counted_from == "entry")
    return recurring and step.supersede


def superseding_steps(book: PlaybookSet) -> list[str]:
    return sorted(step_id(state, st) for state, pb in book.states.items() for st in pb.steps
                  if supersedes(st))


def close_superseded(conn: Connection, book: PlaybookSet, at: datetime, lo: str, hi: str,
                     ids: Sequence[str] | None = None) -> int:
    """Close as missed the live tasks of accounts lo..hi (only `ids` among them, when given)
    whose next occurrence has started."""
    steps = superseding_steps(book)
    if not steps:
        return 0
    today = at.date()
    later = TASK.alias("later")

    def next_one(column: Any) -> Any:
        return (select(column)
                .where(later.c.account_id == TASK.c.account_id, later.c.step == TASK.c.step,
                       later.c.start > TASK.c.start, later.c.status != Status.CANCELLED.value)
                .order_by(later.c.start, later.c.id).limit(1)
                .correlate(TASK).scalar_subquery())

    q = (select(TASK.c.id, TASK.c.status, TASK.c.period, TASK.c.due, TASK.c.snoozed_until,
                next_one(later.c.id).label("successor"), next_one(later.c.start).label("opens"))
         .where(Scope(lo, hi, None if ids is None else tuple(ids)).where(TASK.c.account_id),
                TASK.c.step.in_(steps), Unindexed(TASK.c.status).in_(LIVE),
                TASK.c.start <= today))
    rows: list[dict[str, Any]] = [
        {"id": r.id, "status": r.status,
         "reason": f"missed: still {r.status} when the next occurrence (task {r.successor}) "
                   f"was made on {today.isoformat()}",
         "evidence": {"superseded_by": r.successor, "period": r.period}}
        # Overdue, or its successor has started: a task not yet due (or snoozed to a day
        # still to come) keeps its chance.
        for r in conn.execute(q)
        if r.successor is not None
        and (max(r.due, r.snoozed_until or r.due) < today or _day(r.opens) <= today)]
    finish(conn, rows, at, "system", Status.MISSED)
    return len(rows)


def next_change(conn: Connection, book: PlaybookSet, at: datetime, scope: Scope
                ) -> dict[str, date]:
    """Per account, the next day a live task of a superseding step can turn missed: the day
    after it falls overdue (or its snooze ends), or the day a successor starts. Early is
    harmless: the account wakes, and nothing is closed before its time."""
    steps = superseding_steps(book)
    if not steps:
        return {}
    today = at.date()
    q = (select(TASK.c.account_id, TASK.c.start, TASK.c.due, TASK.c.snoozed_until)
         .where(scope.where(TASK.c.account_id), TASK.c.step.in_(steps),
                Unindexed(TASK.c.status).in_(LIVE)))
    out: dict[str, date] = {}
    for account_id, start, due, snoozed in conn.execute(q).tuples():
        days = [_day(start), _day(due) + _ONE]
        if snoozed is not None:
            days.append(_day(snoozed) + _ONE)
        later = [d for d in days if d > today]
        if later and (account_id not in out or min(later) < out[account_id]):
            out[account_id] = min(later)
    return out


def other_live_versions(version: str) -> Select[Any]:
    """The playbook versions other than `version` that live tasks were made by: read from
    ix_task_live_version as two ranges around `version` (the statuses are literals, so SQLite
    sees the partial index applies), nothing of the current version's tasks."""
    def side(around: Any) -> Select[Any]:
        live: Any = bindparam("live", list(LIVE), expanding=True, literal_execute=True)
        return select(TASK.c.playbook_version).where(TASK.c.status.in_(live), around)

    # a UNION of the two ranges: as one OR with DISTINCT, SQLite walks the whole index
    both = union(side(TASK.c.playbook_version < version), side(TASK.c.playbook_version > version))
    return select(both.subquery().c.playbook_version)


def retire_changed_steps(conn: Connection, book: PlaybookSet, version: str, at: datetime,
                         book_of: Any) -> int:
    """Open tasks made by an older playbook version: cancel those whose step was dropped, or
    changed with `on_change: cancel`; carry the others over unchanged. Once per activated
    version: the sweeps after its first find nothing new to retire and skip the search."""
    if changes.retired_for(conn) == version:
        return 0
    versions = conn.execute(other_live_versions(version)).scalars().all()
    rows: list[dict[str, Any]] = []
    for old_version in versions:
        old = book_of(old_version)
        for state, old_pb in old.states.items():
            new_steps = {s.key: s for s in (book.states[state].steps if state in book.states
                                            else ())}
            for old_step in old_pb.steps:
                new = new_steps.get(old_step.key)
                if new is None:
                    why = f"step {old_step.key} was dropped in playbook version {version}"
                elif new != old_step and new.on_change == "cancel":
                    why = f"step {old_step.key} changed in playbook version {version}"
                else:
                    continue
                q = select(TASK.c.id, TASK.c.status).where(
                    TASK.c.status.in_(LIVE), TASK.c.playbook_version == old_version,
                    TASK.c.step == step_id(state, old_step))
                rows.extend({"id": r.id, "status": r.status, "reason": why}
                            for r in conn.execute(q))
    finish(conn, rows, at, "system", Status.CANCELLED)
    changes.record_retired(conn, version, at)
    return len(rows)
