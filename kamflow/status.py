"""`kamflow status`: is the unattended side healthy? Each job's last and next run, who holds
the scheduler lock, the notification outbox's depth and the overdue tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, column, func, inspect, select, table

from kamflow import runs
from kamflow.jobs import JOBS
from kamflow.lock import holder
from kamflow.models import Task
from kamflow.scheduler import Schedules, next_run
from kamflow.settings import Settings

T = Task.__table__  # type: ignore[attr-defined]


def status(engine: Engine, now: datetime, settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or Settings()
    schedules = Schedules.from_settings(settings)
    with engine.connect() as conn:
        last = runs.last_scheduled(conn)
        jobs = [_job(conn, name, schedules, last.get(name), now) for name in JOBS]
        overdue = conn.execute(select(func.count()).select_from(T).where(
            T.c.status == "open", T.c.due < now.date())).scalar_one()
        outbox = _outbox(conn)
    return {
        "at": now.isoformat(),
        "scheduler": {"holder": holder(engine), "tick_seconds": settings.scheduler_tick_seconds,
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
            "error": error.splitlines()[0] if error else None}


def _job(conn: Connection, name: str, schedules: Schedules, last: datetime | None,
         now: datetime) -> dict[str, Any]:
    spec = JOBS[name]
    cron = schedules.cron.get(name)
    available = spec.available()
    upcoming = next_run(cron, last, now, schedules.grace) if cron and available else None
    return {"job": name, "schedule": cron or "off", "available": available,
            "description": spec.description,
            "last": _run(runs.latest(conn, name)), "last_missed": _run(runs.latest_missed(conn, name)),
            "next": upcoming.isoformat() if upcoming else None}


def _outbox(conn: Connection) -> dict[str, Any] | None:
    """Counts by status, and the depth (pending + sending); None without a notification outbox."""
    if not inspect(conn).has_table("outbox"):
        return None
    outbox = table("outbox", column("status"))
    counts = dict(conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
                  .tuples().all())
    return {"depth": sum(n for s, n in counts.items() if s in ("pending", "sending")),
            "by_status": dict(sorted(counts.items()))}
