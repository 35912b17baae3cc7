"""The jobs kamflow runs unattended, each defined once.

A job is a plain module-level function of a database URL and a clock that
returns a JSON-able summary. The embedded scheduler (kamflow.jobs.scheduler), the
Prefect flows and `kamflow run JOB` all call these same functions: the clock
they pass is the moment the run was scheduled for, so a late or replayed run
does exactly what the on-time run would have done.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kamflow.engine.clock import Clock
    from kamflow.settings import Settings

NOTIFY_MODULE = "kamflow.notify"


class JobUnavailable(RuntimeError):
    """The job needs a part of kamflow that is not installed in this build."""


@dataclass(frozen=True)
class JobSpec:
    func: Callable[[str, Clock], dict[str, Any]]
    cron: str  # default schedule: a crontab expression in UTC
    description: str
    needs: str | None = None  # a module the job imports; without it the job is unavailable

    def available(self) -> bool:
        return self.needs is None or importlib.util.find_spec(self.needs) is not None


def sweep(database_url: str, clock: Clock) -> dict[str, Any]:
    """The daily sweep: metrics, classes, transitions, tasks, escalations."""
    from kamflow.adherence import export_anchor
    from kamflow.store.db import db_for
    from kamflow.sweep import run_sweep

    db = db_for(database_url)
    summary = run_sweep(db, clock).as_dict()
    export_anchor(db)  # the day's signed head, to the operator's append-only file if named
    return summary


def escalation(database_url: str, clock: Clock) -> dict[str, Any]:
    """Wake snoozed tasks and escalate overdue ones (the end of a sweep, on its own)."""
    from kamflow.store.db import db_for
    from kamflow.sweep import escalate

    counts = escalate(db_for(database_url), clock)
    return {"at": clock.now().isoformat(), "tasks_woken": counts.woke,
            "tasks_escalated": counts.escalated}


def digests(database_url: str, clock: Clock) -> dict[str, Any]:
    """Queue the digests that are due (each person's at their local hour, once a day) and the
    due-soon reminders (once per task)."""
    from kamflow.store.db import db_for

    _needs_notify()
    from kamflow.notify import queue_digests, queue_due_soon

    db = db_for(database_url)
    queued = queue_digests(db, clock)
    reminders = queue_due_soon(db, clock)
    return {"at": clock.now().isoformat(), "digests_queued": queued,
            "due_soon_queued": reminders}


def deliver(database_url: str, clock: Clock) -> dict[str, Any]:
    """Send what waits in the notification outbox."""
    from kamflow.store.db import db_for

    _needs_notify()
    from kamflow.notify import deliver as send

    return {"at": clock.now().isoformat(), **send(db_for(database_url), clock).as_dict()}


def _needs_notify() -> None:
    if importlib.util.find_spec(NOTIFY_MODULE) is None:
        raise JobUnavailable("notifications are not available")


JOBS: dict[str, JobSpec] = {
    "sweep": JobSpec(sweep, "0 5 * * *", sweep.__doc__ or ""),
    "escalation": JobSpec(escalation, "0 * * * *", escalation.__doc__ or ""),
    "digests": JobSpec(digests, "*/15 * * * *", digests.__doc__ or "", needs=NOTIFY_MODULE),
    "deliver": JobSpec(deliver, "* * * * *", deliver.__doc__ or "", needs=NOTIFY_MODULE),
}


def job(name: str) -> JobSpec:
    if name not in JOBS:
        raise ValueError(f"unknown job '{name}'; jobs: {', '.join(JOBS)}")
    return JOBS[name]


def configured_cron(settings: Settings, name: str) -> str | None:
    """The job's schedule: KAMFLOW_SCHEDULE_<JOB>, else its default; None when set to off."""
    value = getattr(settings, f"schedule_{name}", None)
    cron = (value or "").strip() or JOBS[name].cron
    return None if cron.lower() == "off" else cron
