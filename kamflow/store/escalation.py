"""Time catching up with tasks: snoozes that ended, and overdue tasks escalated.

Both run over the live tasks of the whole store after a sweep's chunks (and hourly, between
sweeps): what came due, not the portfolio. Each is one guarded UPDATE ... RETURNING per
group, so a task another writer changed since it was read gets no event and no notice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from kamflow.playbooks.loader import PlaybookSet
from kamflow.store import audit, locking, outbox, tally
from kamflow.store.directory import Directory
from kamflow.store.tables import TASK
from kamflow.tasks.policy import escalation_level, escalation_target, step_id
from kamflow.tasks.status import Status


def wake(conn: Connection, at: datetime) -> int:
    """Snoozed tasks whose snooze has ended are open again (and may escalate from now on).
    One guarded UPDATE ... RETURNING: an event only for a task this statement woke."""
    locking.audit_first(conn)
    ending = [TASK.c.status == Status.SNOOZED.value, TASK.c.snoozed_until <= at.date()]
    with tally.kept(conn, conn.execute(select(TASK.c.id).where(*ending)).scalars()):
        woke = sorted(conn.execute(
            update(TASK).where(*ending)
            .values(status=Status.OPEN.value, updated_at=at).returning(TASK.c.id)).scalars())
    audit.append(conn, [{"at": at, "actor": "system", "entity": "task", "entity_id": str(i),
                         "action": "woke", "before": {"status": "snoozed"},
                         "after": {"status": "open"}} for i in woke])
    return len(woke)


def escalate(conn: Connection, book: PlaybookSet, at: datetime, directory: Directory) -> int:
    """Overdue open tasks: level 1 (the Accountable) after the step's grace period, level 2
    (the Accountable department's lead, else a manager) after the second; each level once."""
    rules = {step_id(s, st): st.escalation for s, pb in book.states.items() for st in pb.steps}
    today = at.date()
    locking.audit_first(conn)  # before the first task row (kamflow.store.locking)
    managers = sorted(e for e, (active, dept) in directory.people.items()
                      if active and dept == "management")
    escalated = 0
    last_id = 0
    while True:
        q = (select(TASK.c.id, TASK.c.step, TASK.c.due, TASK.c.escalation_level, TASK.c.accountable,
                    TASK.c.accountable_dept, TASK.c.created_at)
             .where(TASK.c.status == Status.OPEN.value, TASK.c.due < today, TASK.c.escalation_level < 2,
                    TASK.c.id > last_id)
             .order_by(TASK.c.id).limit(PAGE))
        page = conn.execute(q).all()
        if not page:
            return escalated
        last_id = page[-1].id
        escalated += _escalate_page(conn, page, rules, today, at, directory, managers)


PAGE = 10_000


def _escalate_page(conn: Connection, page: Sequence[Any], rules: Mapping[str, Any], today: date,
                   at: datetime, directory: Directory, managers: list[str]) -> int:
    """Raise each task of the page to its level with one guarded UPDATE ... RETURNING per
    (from, to) pair: a task another writer escalated, finished or snoozed since it was read
    is left alone, and gets no event and no notification."""
    wanted: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for r in page:
        rule = rules.get(r.step)
        if rule is None:
            continue
        level = r.escalation_level
        target = escalation_level(rule, r.due, r.created_at.date(), today, level)
        if target > level:
            wanted[(level, target)].append(r)
    events: list[dict[str, Any]] = []
    changed = 0
    for (level, target), rows in sorted(wanted.items()):
        ids = sorted(conn.execute(
            update(TASK).where(TASK.c.id.in_([r.id for r in rows]),
                               TASK.c.escalation_level == level,
                               TASK.c.status == Status.OPEN.value)
            .values(escalation_level=target, escalated_at=at, updated_at=at)
            .returning(TASK.c.id)).scalars())
        changed += len(ids)
        by_id = {r.id: r for r in rows}
        for task_id in ids:
            r = by_id[task_id]
            late = (today - max(r.due, r.created_at.date())).days
            for lvl in range(level + 1, target + 1):
                to = escalation_target(lvl, r.accountable, r.accountable_dept, directory.leads,
                                       managers)
                events.append({"at": at, "actor": "system", "entity": "task",
                               "entity_id": str(r.id), "action": "escalated",
                               "before": {"level": lvl - 1},
                               "after": {"level": lvl, "to": to, "days_late": late}})
    events.sort(key=lambda e: (int(e["entity_id"]), e["after"]["level"]))
    audit.append(conn, events)
    outbox.on_escalated(conn, events, at, directory)  # same transaction
    return changed
