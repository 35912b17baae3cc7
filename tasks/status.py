"""The task status machine: the only way a task's status changes.

open -> done | snoozed | skipped | cancelled; snoozed -> open (it wakes), and a
snoozed task may also be done, skipped or cancelled directly. The sweep alone closes a
live task as missed, when the next occurrence of its recurring step opens. Each action
checks its preconditions and raises TaskRefused with the reason; the store
applies an action only after `check` passed, so a refused action changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from kamflow.playbooks.schema import Step


class Status(StrEnum):
    OPEN = "open"
    DONE = "done"
    SNOOZED = "snoozed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    MISSED = "missed"  # still live when the next occurrence opened: late for good


LIVE = (Status.OPEN, Status.SNOOZED)
SOURCES: dict[str, tuple[Status, ...]] = {
    "done": LIVE,
    "snooze": LIVE,
    "skip": LIVE,
    "cancel": LIVE,
    "wake": (Status.SNOOZED,),
    "reassign": LIVE,
    "claim": LIVE,
}
TARGET = {"done": Status.DONE, "snooze": Status.SNOOZED, "skip": Status.SKIPPED,
          "cancel": Status.CANCELLED, "wake": Status.OPEN}


class TaskRefused(ValueError):
    """An action that the task's status or its step's rules do not allow."""


@dataclass(frozen=True, slots=True)
class TaskView:
    id: int
    status: str
    due: date
    assignee: str | None
    queue: str | None


@dataclass(frozen=True, slots=True)
class Request:
    action: str
    today: date
    outcome: str | None = None
    note: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    until: date | None = None
    reason: str | None = None
    person: str | None = None  # --by for claim, --to for reassign
    person_active: bool = False
    person_department: str | None = None


def check(task: TaskView, step: Step | None, req: Request) -> Status:
    """Return the status after the action, or raise TaskRefused saying why not."""
    if req.action not in SOURCES:
        raise TaskRefused(f"unknown action '{req.action}'")
    if task.status not in SOURCES[req.action]:
        raise TaskRefused(f"task {task.id} is {task.status}; '{req.action}' needs a task that is "
                          + " or ".join(SOURCES[req.action]))
    _CHECKS[req.action](task, step, req)
    return TARGET.get(req.action, Status(task.status))


def _done(task: TaskView, step: Step | None, req: Request) -> None:
    needs = step.requires if step is not None else None
    if needs is not None and needs.outcome and not (req.outcome or "").strip():
        raise TaskRefused(f"--outcome: step {step.key if step else ''} requires an outcome")
    if needs is not None and needs.note and not (req.note or "").strip():
        raise TaskRefused(f"--note: step {step.key if step else ''} requires a note")
    missing = [f for f in (needs.fields if needs else ()) if not req.fields.get(f, "").strip()]
    if missing:
        raise TaskRefused(f"--field: step requires {', '.join(f'{m}=...' for m in missing)}")


def snooze_limit(due: date, today: date, step: Step | None) -> date:
    """The latest day a snooze may end: max_snooze_days past the due date, or past today
    for a task that is already overdue."""
    return max(due, today) + timedelta(days=step.max_snooze_days if step else 0)


def _snooze(task: TaskView, step: Step | None, req: Request) -> None:
    _reason(req)
    if req.until is None or req.until <= req.today:
        raise TaskRefused("--until: a snooze must end after today")
    limit = snooze_limit(task.due, req.today, step)
    if req.until > limit:
        days = step.max_snooze_days if step else 0
        since = (f"the due date ({task.due.isoformat()})" if task.due >= req.today
                 else f"today ({req.today.isoformat()}), as it is overdue")
        raise TaskRefused(f"--until: the step allows snoozing at most {days} days past {since}, "
                          f"so until {limit.isoformat()} at the latest")


def _reason(req: Request) -> None:
    if not (req.reason or "").strip():
        raise TaskRefused(f"--reason: '{req.action}' needs a reason")


def _person(req: Request) -> None:
    if req.person is None:
        raise TaskRefused("a person is required")
    if not req.person_active:
        raise TaskRefused(f"'{req.person}' is not an active person")


def _reassign(task: TaskView, step: Step | None, req: Request) -> None:
    _person(req)
    if task.assignee == req.person:
        raise TaskRefused(f"task {task.id} is already assigned to {req.person}")


def _claim(task: TaskView, step: Step | None, req: Request) -> None:
    _person(req)
    if task.queue is None:
        raise TaskRefused(f"task {task.id} is assigned to {task.assignee}, not in a queue")
    if req.person_department != task.queue:
        raise TaskRefused(f"--by: {req.person} is not a member of the {task.queue} department")


def _none(task: TaskView, step: Step | None, req: Request) -> None:
    return None


_CHECKS = {
    "done": _done,
    "snooze": _snooze,
    "skip": lambda t, s, r: _reason(r),
    "cancel": lambda t, s, r: _reason(r),
    "wake": _none,
    "reassign": _reassign,
    "claim": _claim,
}
