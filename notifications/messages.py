"""What to tell whom: notification drafts built from plain data. Pure.

A draft names its kind, its one recipient, a subject, the context its templates
render, the key that makes it unique in the outbox, and the "why": the rule or
playbook step behind it, the playbook version, and the reason in words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

KINDS = ("task_assigned", "due_soon", "escalated", "informed", "digest", "state_changed")
CHANNELS = ("email", "webhook", "log")
DUE_SOON_DAYS = 2
WEEK_DAYS = 7
SUBJECT_MAX = 250
NEW_MAX = 100  # new tasks listed one by one in a digest; the rest are counted


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """A task as a notification shows it."""

    id: int
    account_id: str
    account_name: str
    step: str
    title: str
    due: date
    state: str
    playbook_version: str
    why: Mapping[str, Any] = field(default_factory=dict)
    assignee: str | None = None
    queue: str | None = None
    status: str = "open"

    def context(self) -> dict[str, Any]:
        return {"id": self.id, "account_id": self.account_id, "account_name": self.account_name,
                "step": self.step, "title": self.title, "due": self.due.isoformat(),
                "state": self.state, "who": self.assignee or f"the {self.queue} queue",
                "status": self.status}


@dataclass(frozen=True, slots=True)
class StateChange:
    """A key account's move between lifecycle states."""

    account_id: str
    account_name: str
    source: str
    dest: str
    rule: str
    playbook_version: str
    at: datetime
    metrics: Mapping[str, Any] = field(default_factory=dict)
    actor: str = "system"
    reason: str = ""


@dataclass(frozen=True)
class Draft:
    kind: str
    recipient: str
    subject: str
    context: dict[str, Any]
    dedupe_key: str
    why: dict[str, Any]
    template: str = ""  # the template name; the kind's own when empty

    @property
    def template_name(self) -> str:
        return self.template or self.kind

    def render_context(self, recipient_name: str) -> dict[str, Any]:
        """What the templates see: the draft's context, who it is for, and why."""
        return {**self.context, "recipient": self.recipient,
                "recipient_name": recipient_name or self.recipient, "why": self.why}


def _line(text: str) -> str:
    """One header-safe line: no line breaks, bounded length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= SUBJECT_MAX else flat[: SUBJECT_MAX - 1] + "…"


def task_reason(why: Mapping[str, Any]) -> str:
    """The task's `why` in words: how its date came about and the account's state."""
    parts = []
    if why.get("occurrence"):
        parts.append(str(why["occurrence"]))
    if why.get("state"):
        since = str(why.get("state_since", ""))[:10]
        klass = f", class {why['class']}" if why.get("class") else ""
        parts.append(f"account in state {why['state']}" + (f" since {since}" if since else "")
                     + klass)
    if why.get("routing"):
        parts.append(str(why["routing"]))
    return "; ".join(parts) or "playbook step"


def _task_why(kind: str, task: TaskInfo, reason: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "rule": task.step, "playbook_version": task.playbook_version,
            "reason": reason or task_reason(task.why), "task_id": task.id,
            "account_id": task.account_id}


# -- who gets it --------------------------------------------------------------------

People = Mapping[str, tuple[bool, str]]  # email -> (active, department)


def department_recipients(dept: str, people: People, leads: Mapping[str, str]) -> list[str]:
    """The department's lead; without an active lead, its active members."""
    lead = leads.get(dept)
    if lead:
        return [lead]
    return sorted(e for e, (active, d) in people.items() if active and d == dept)


def party_recipients(party: str, people: People, leads: Mapping[str, str]) -> list[str]:
    """A person (if active), or a department / `queue:<department>` (see above)."""
    if party.startswith("queue:"):
        party = party[6:]
    known = people.get(party)
    if known is not None:
        return [party] if known[0] else []
    return department_recipients(party, people, leads)


def task_recipients(assignee: str | None, queue: str | None, people: People,
                    leads: Mapping[str, str]) -> list[str]:
    """The assignee; for a queue task, the lead of the queue's department."""
    if assignee:
        return [assignee]
    return department_recipients(queue, people, leads) if queue else []


def informed_recipients(informed: Iterable[str], people: People, leads: Mapping[str, str],
                        exclude: Iterable[str | None] = ()) -> list[str]:
    """People among the informed parties plus the leads of informed departments, once each."""
    skip = {e for e in exclude if e}
    out: list[str] = []
    for party in informed:
        known = people.get(party)
        email = (party if known[0] else None) if known is not None else leads.get(party)
        if email and email not in skip and email not in out:
            out.append(email)
    return out


# -- the drafts ---------------------------------------------------------------------


def task_assigned(task: TaskInfo, recipient: str, template: str = "") -> Draft:
    via = task.queue if not task.assignee else None
    head = f"New task in the {via} queue" if via else "New task"
    return Draft("task_assigned", recipient,
                 _line(f"{head} for {task.account_name}: {task.title} (due {task.due})"),
                 {"task": task.context(), "via_queue": via or ""},
                 f"task_assigned:{task.id}:{recipient}", _task_why("task_assigned", task),
                 "" if template in ("", "task_assigned") else template)


def informed(task: TaskInfo, recipient: str) -> Draft:
    return Draft("informed", recipient,
                 _line(f"For your information: {task.title} for {task.account_name}"),
                 {"task": task.context()}, f"informed:{task.id}:{recipient}",
                 _task_why("informed", task))


def due_soon(task: TaskInfo, recipient: str, today: date) -> Draft:
    days = (task.due - today).days
    when = "today" if days == 0 else "tomorrow" if days == 1 else f"in {days} days"
    return Draft("due_soon", recipient,
                 _line(f"Due {when}: {task.title} for {task.account_name}"),
                 {"task": task.context(), "days_left": days, "when": when},
                 f"due_soon:{task.id}:{recipient}",
                 _task_why("due_soon", task, f"due on {task.due}, {when}; "
                           + task_reason(task.why)))


def escalated(task: TaskInfo, recipient: str, level: int, days_late: int) -> Draft:
    return Draft("escalated", recipient,
                 _line(f"Escalated (level {level}): {task.title} for {task.account_name} is "
                       f"{days_late} days late"),
                 {"task": task.context(), "level": level, "days_late": days_late},
                 f"escalated:{task.id}:{level}:{recipient}",
                 _task_why("escalated", task, f"due on {task.due}, open {days_late} days after; "
                           f"escalation level {level} of step {task.step}"))


def digest(recipient: str, local_date: date, timezone: str, hour: int,
           tasks: Sequence[TaskInfo], new: Sequence[TaskInfo] = (),
           always: bool = False) -> Draft | None:
    """One person's new tasks (told here instead of one message each, as they are now) and
    open tasks: overdue, due today, due within the week. None if all are empty, unless
    `always` (a digest already queued is rendered even if its tasks were done meanwhile)."""
    tasks = [t for t in tasks if t.status == "open"]
    overdue = [t for t in tasks if t.due < local_date]
    today = [t for t in tasks if t.due == local_date]
    week = [t for t in tasks if 0 < (t.due - local_date).days <= WEEK_DAYS]
    if not (overdue or today or week or new or always):
        return None
    key = lambda t: (t.due, t.id)  # noqa: E731
    fresh = sorted(new, key=key)
    ctx = {"date": local_date.isoformat(), "timezone": timezone,
           "new": [t.context() for t in fresh[:NEW_MAX]], "new_more": max(len(fresh) - NEW_MAX, 0),
           "overdue": [t.context() for t in sorted(overdue, key=key)],
           "today": [t.context() for t in sorted(today, key=key)],
           "week": [t.context() for t in sorted(week, key=key)]}
    return Draft("digest", recipient,
                 _line(f"Your tasks on {local_date}: {len(fresh)} new, {len(overdue)} overdue, "
                       f"{len(today)} due today, {len(week)} this week"),
                 ctx, f"digest:{recipient}:{local_date.isoformat()}",
                 {"kind": "digest", "rule": "daily_digest",
                  "playbook_version": ",".join(sorted({t.playbook_version for t in
                                                       [*tasks, *fresh]})),
                  "reason": f"your daily digest, after {hour:02d}:00 {timezone}"})


def state_changed(change: StateChange, recipient: str) -> Draft:
    how = (f"rule {change.rule}" if change.actor in ("system", "import")
           else f"moved by {change.actor}: {change.reason}")
    return Draft("state_changed", recipient,
                 _line(f"Key account {change.account_name} moved from {change.source} to "
                       f"{change.dest}"),
                 {"account": {"id": change.account_id, "name": change.account_name},
                  "source": change.source, "dest": change.dest, "rule": change.rule,
                  "at": change.at.isoformat(), "actor": change.actor, "reason": change.reason,
                  "metrics": dict(change.metrics)},
                 f"state_changed:{change.account_id}:{change.at.isoformat()}:{recipient}",
                 {"kind": "state_changed", "rule": change.rule,
                  "playbook_version": change.playbook_version, "reason": how,
                  "account_id": change.account_id})
