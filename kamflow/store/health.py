"""The counts operators watch: overdue tasks, the outbox's depth, and /metrics' gauges.

Tables that another part of kamflow may not have made yet (`outbox`, `job_run`) are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import Connection, DateTime, String, case, column, func, inspect, select, table

from kamflow.store.tables import ACCOUNT, JOB_RUN, TASK


def overdue(conn: Connection, today: date) -> int:
    return int(conn.execute(select(func.count()).select_from(TASK).where(
        TASK.c.status == "open", TASK.c.due < today)).scalar_one())


def outbox_depth(conn: Connection) -> dict[str, Any] | None:
    """Counts by status, and the depth (pending + sending); None without a notification outbox."""
    if not inspect(conn).has_table("outbox"):
        return None
    outbox = table("outbox", column("status"))
    counts = dict(conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
                  .tuples().all())
    return {"depth": sum(n for s, n in counts.items() if s in ("pending", "sending")),
            "by_status": dict(sorted(counts.items()))}


def job_failures(conn: Connection, job: str) -> dict[str, int]:
    """For `kamflow status`: the job's runs that failed, retries made, retries pending."""
    row = conn.execute(select(
        func.coalesce(func.sum(case((JOB_RUN.c.outcome == "error", 1), else_=0)), 0),
        func.coalesce(func.sum(JOB_RUN.c.attempts - 1), 0),
        func.coalesce(func.sum(case((JOB_RUN.c.retry_at.is_not(None), 1), else_=0)), 0),
    ).where(JOB_RUN.c.job == job)).one()
    return {"failed": int(row[0]), "retries": int(row[1]), "retries_pending": int(row[2])}


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _family(name: str, kind: str, help_: str,
            samples: Iterable[tuple[dict[str, object], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        number = str(int(value)) if float(value).is_integer() else repr(float(value))
        lines.append(f"{name}{{{inner}}} {number}" if inner else f"{name} {number}")
    return lines


def metrics(conn: Connection, today: date, http: Mapping[tuple[str, int], int]) -> str:
    """The Prometheus text for /metrics: tasks, accounts, outbox, job runs, HTTP answers."""
    lines: list[str] = []
    tasks = conn.execute(select(TASK.c.status, func.count()).group_by(TASK.c.status)).all()
    lines += _family("kamflow_tasks", "gauge", "Tasks by status.",
                     (({"status": s}, n) for s, n in sorted(tasks)))
    overdue = conn.execute(select(func.count()).where(TASK.c.status == "open", TASK.c.due < today)
                           ).scalar_one()
    lines += _family("kamflow_tasks_overdue", "gauge", "Open tasks past their due date.",
                     [({}, overdue)])
    escalated = conn.execute(select(func.count()).where(TASK.c.status.in_(("open", "snoozed")),
                                                        TASK.c.escalation_level > 0)).scalar_one()
    lines += _family("kamflow_tasks_escalated", "gauge", "Live tasks that were escalated.",
                     [({}, escalated)])
    states = conn.execute(select(ACCOUNT.c.state, func.count()).group_by(ACCOUNT.c.state)).all()
    lines += _family("kamflow_accounts", "gauge", "Accounts by lifecycle state.",
                     (({"state": s}, n) for s, n in sorted(states)))
    klass = func.coalesce(ACCOUNT.c.klass, "none")
    classes = conn.execute(select(klass, func.count()).group_by(klass)).all()
    lines += _family("kamflow_accounts_by_class", "gauge", "Accounts by class (last sweep).",
                     (({"class": c}, n) for c, n in sorted(classes)))
    have = set(inspect(conn).get_table_names())
    if "outbox" in have:
        box = table("outbox", column("status", String))
        rows = conn.execute(select(box.c.status, func.count()).group_by(box.c.status)).all()
        lines += _family("kamflow_outbox", "gauge", "Notifications in the outbox by status.",
                         (({"status": s}, n) for s, n in sorted(rows)))
    if "job_run" in have:
        runs = table("job_run", column("job", String), column("outcome", String),
                     column("finished_at", DateTime))
        rows = conn.execute(select(runs.c.job, runs.c.outcome, func.count())
                            .group_by(runs.c.job, runs.c.outcome)).all()
        lines += _family("kamflow_job_runs_total", "counter",
                         "Scheduled job runs (the sweep among them) by outcome; error = failed.",
                         (({"job": j, "outcome": o}, n) for j, o, n in sorted(rows)))
        retried = conn.execute(select(JOB_RUN.c.job, func.sum(JOB_RUN.c.attempts - 1))
                               .group_by(JOB_RUN.c.job)).all()
        lines += _family("kamflow_job_retries_total", "counter",
                         "Retries of scheduled slots that failed or were interrupted.",
                         (({"job": j}, int(n or 0)) for j, n in sorted(retried)))
        pending = conn.execute(select(JOB_RUN.c.job, func.count()).where(
            JOB_RUN.c.outcome == "error", JOB_RUN.c.retry_at.is_not(None))
            .group_by(JOB_RUN.c.job)).all()
        lines += _family("kamflow_job_retries_pending", "gauge",
                         "Failed scheduled slots waiting for their retry.",
                         (({"job": j}, n) for j, n in sorted(pending)))
        given_up = conn.execute(select(JOB_RUN.c.job, func.count()).where(
            JOB_RUN.c.outcome == "error", JOB_RUN.c.retry_at.is_(None),
            JOB_RUN.c.trigger == "schedule").group_by(JOB_RUN.c.job)).all()
        lines += _family("kamflow_job_failed_slots", "gauge",
                         "Scheduled slots that failed and will not be retried again.",
                         (({"job": j}, n) for j, n in sorted(given_up)))
        last = conn.execute(select(runs.c.job, func.max(runs.c.finished_at))
                            .where(runs.c.outcome == "ok").group_by(runs.c.job)).all()
        lines += _family("kamflow_job_last_success_timestamp_seconds", "gauge",
                         "When each job last finished without error (Unix time, UTC).",
                         (({"job": j}, _epoch(at)) for j, at in sorted(last) if at is not None))
    lines += _family("kamflow_http_responses_total", "counter",
                     "HTTP responses of this process by method and status code.",
                     (({"method": m, "code": c}, n)
                      for (m, c), n in sorted(http.items())))
    return "\n".join(lines) + "\n"


def _epoch(at: Any) -> float:
    from datetime import UTC

    return float(at.replace(tzinfo=UTC).timestamp())
