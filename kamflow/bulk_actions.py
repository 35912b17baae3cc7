"""One action on many tasks at once, from a queue or a board: claim, assign, snooze, done,
skip.

It is one transaction: the tasks are locked in id order, each is checked as the single
action checks it (can the caller see it, may they do this to it, does its guard allow it)
and either changed, with its own audit event, or refused with the reason and left as it
was. A refused task does not stop the others; an unexpected error rolls all of them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from kamflow import access, queue
from kamflow.engine.clock import Clock
from kamflow.errors import NotFound, Refused
from kamflow.people import Principal
from kamflow.store import locking, parties, tally
from kamflow.store.tables import TASK
from kamflow.tasks.status import TaskRefused

# what a person asks for -> the single action it is
ACTIONS = {"claim": "claim", "assign": "reassign", "snooze": "snooze", "done": "done",
           "skip": "skip"}
MAX_TASKS = 500


@dataclass(frozen=True)
class Outcome:
    """One task's part: changed (code 200) or refused with the answer the single action
    gives (403 may not, 404 not seen, 409 its guard) and why."""

    task_id: int
    status: str
    code: int = 200
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 200


@dataclass(frozen=True)
class BulkResult:
    action: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def changed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.ok]

    @property
    def refused(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


NEEDS = {"assign": ("to",), "snooze": ("until", "reason"), "skip": ("reason",)}


def check(action: str, task_ids: Sequence[int], **params: Any) -> list[int]:
    """The ids, each once, in the order given; ValueError naming the field for an unknown
    action, a missing parameter it needs, no ids or too many."""
    if action not in ACTIONS:
        raise ValueError(f"action: '{action}' is not one of {', '.join(ACTIONS)}")
    for name in NEEDS.get(action, ()):
        value = params.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValueError(f"{name}: {action} needs {'a ' if name == 'reason' else ''}{name}")
    ids = list(dict.fromkeys(task_ids))
    if not ids:
        raise ValueError("ids: choose at least one task")
    if len(ids) > MAX_TASKS:
        raise ValueError(f"ids: at most {MAX_TASKS} tasks at once, not {len(ids)}")
    return ids


def run(db: Engine, user: Principal, action: str, task_ids: Sequence[int], clock: Clock,
        **params: Any) -> BulkResult:
    """Apply `action` to each task `user` may apply it to, in one transaction; refuse the
    others task by task. params: `to` (assign), `until` and `reason` (snooze), `reason`
    (skip), `outcome`, `note`, `fields` (done)."""
    ids = check(action, task_ids, **params)
    verb = ACTIONS[action]
    if action == "claim":
        params = {"person": user.email}
    elif action == "assign":
        params = {"person": params.get("to")}
    at = clock.now()
    outcomes: dict[int, Outcome] = {}
    with db.begin() as conn:
        locking.audit_first(conn)  # then the task rows (kamflow.store.locking)
        rows = queue.lock_tasks(conn, ids)
        scope = access.task_scope(user)
        seen = set(rows)
        if scope is not None:
            seen = set()
            for start in range(0, len(ids), parties.CHUNK):
                part = ids[start:start + parties.CHUNK]
                seen.update(conn.execute(select(TASK.c.id).where(TASK.c.id.in_(part), scope))
                            .scalars())
        queue.known_actor(conn, user.email)
        counted = tally.of(conn, rows)  # the boards' counts, before
        applied: list[queue.Applied] = []
        for tid in ids:
            row = rows.get(tid)
            if row is None or tid not in seen:
                outcomes[tid] = Outcome(tid, "", 404, f"unknown task {tid}")
                continue
            try:
                if verb == "claim":
                    access.may_claim_task(user, row)
                else:
                    access.may_work_task(user, row, verb)
            except access.Forbidden as e:
                outcomes[tid] = Outcome(tid, row.status, 403, str(e))
                continue
            try:
                done = queue.apply(conn, row, verb, at, user.email, **params)
            except (TaskRefused, Refused) as e:
                outcomes[tid] = Outcome(tid, row.status, 409, str(e))
            except NotFound as e:
                outcomes[tid] = Outcome(tid, row.status, 404, str(e))
            else:
                applied.append(done)
                outcomes[tid] = Outcome(tid, done.result.status)
        queue.settle(conn, applied, at)
        tally.shift(conn, counted, tally.of(conn, rows))
    return BulkResult(action, [outcomes[t] for t in ids])
