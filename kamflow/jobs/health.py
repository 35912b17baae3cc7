"""`kamflow status`: is the unattended side healthy? Each job's last and next run, who holds
the scheduler lock, the notification outbox's depth and the overdue tasks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from kamflow import runs
from kamflow.jobs.registry import JOBS
from kamflow.jobs.scheduler import Schedules, next_run
from kamflow.settings import Settings
from kamflow.store import health as counts
from kamflow.store.lock import holder

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine



def status(db: Engine, now: datetime, settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or Settings()
    schedules = Schedules.from_settings(settings)
    with db.connect() as conn:
        last = runs.last_scheduled(conn)
        jobs = [_job(conn, name, schedules, last.get(name), now) for name in JOBS]
        overdue = counts.overdue(conn, now.date())
        outbox = counts.outbox_depth(conn)
    return {
        "at": now.isoformat(),
        "scheduler": {"holder": holder(db), "tick_seconds": settings.scheduler_tick_seconds,
                      "grace_hours": settings.schedule_grace_hours},
        "jobs": jobs,
        "outbox": outbox,
        "tasks_overdue": int(overdue),
    }


def _run(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    error = row["error"]
    return {"scheduled_for": row["scheduled_for"].isoformat(), "outcome": row["outcome"],
            "trigger": row["trigger"], "covers": row["covers"],
            "started_at": row["started_at"].isoformat() if row["started_at"] else None,
            "seconds": row["seconds"], "host": row["host"], "pid": row["pid"],
            "missed_from": row["missed_from"].isoformat() if row["missed_from"] else None,
            "error": error.splitlines()[0] if error else None,
            "attempts": row.get("attempts", 1),
            "retry_at": row["retry_at"].isoformat() if row.get("retry_at") else None}


def _job(conn: Connection, name: str, schedules: Schedules, last: datetime | None,
         now: datetime) -> dict[str, Any]:
    spec = JOBS[name]
    cron = schedules.cron.get(name)
    available = spec.available()
    upcoming = next_run(cron, last, now, schedules.grace) if cron and available else None
    return {"job": name, "schedule": cron or "off", "available": available,
            "description": spec.description,
            "last": _run(runs.latest(conn, name)), "last_missed": _run(runs.latest_missed(conn, name)),
            **counts.job_failures(conn, name),
            "next": upcoming.isoformat() if upcoming else None}


def metrics(db: Engine, today: date, http: Mapping[tuple[str, int], int]) -> str:
    """The Prometheus text for /metrics."""
    with db.connect() as conn:
        return counts.metrics(conn, today, http)
