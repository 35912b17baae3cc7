"""The job_run table: every scheduled moment of every job, claimed before it runs.

A run inserts its (job, scheduled_for) row first, with ON CONFLICT DO NOTHING,
in a transaction of its own. Only the process whose row went in runs the job,
so however many schedulers, CLI calls or restarts meet on one moment, it runs
once. The row is then finished as ok or error, with the duration and the
job's summary or the error.

A scheduled run that failed, or that a crashed scheduler left `running` (marked
interrupted by the next holder of the lock), is retried by whichever scheduler holds the
lock: at most MAX_ATTEMPTS runs of one slot, RETRY_AFTER * 2^(attempt - 1) apart. A retry
takes the slot back with one guarded UPDATE (outcome error, retry due, attempts as read),
so two schedulers never retry it twice; the jobs are idempotent for their moment, so a
retry finishes what the interrupted run left half done. `attempts` and `retry_at` show
in `kamflow status` and /metrics.
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import perf_counter
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text, update

from kamflow.engine.clock import Clock, FixedClock
from kamflow.store.bulk import insert_new
from kamflow.store.db import is_sqlite, url_of
from kamflow.store.tables import JOB_RUN

log = logging.getLogger("kamflow.jobs.scheduler")
# What a job is: given the database URL and a stopped clock, do the work, return a summary.
JobFunc = Callable[[str, Clock], dict[str, Any]]
# A manual run may take over a moment whose earlier attempt failed or was skipped.
RETRYABLE = ("error", "missed")
MAX_ATTEMPTS = 3  # runs of one scheduled slot: the first and two retries
RETRY_AFTER = timedelta(minutes=5)  # then 10 minutes


def retry_at(attempts: int, failed_at: datetime) -> datetime | None:
    """When a scheduled slot that failed on its `attempts`-th run runs again (None: never)."""
    if attempts >= MAX_ATTEMPTS:
        return None
    wait: timedelta = RETRY_AFTER * 2 ** (attempts - 1)
    return failed_at + wait


@dataclass(frozen=True)
class RunResult:
    job: str
    scheduled_for: datetime
    ran: bool  # False: the moment was already claimed by another run
    outcome: str  # ok | error | the existing row's outcome when not ran
    seconds: float = 0.0
    summary: dict[str, Any] | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"job": self.job, "scheduled_for": self.scheduled_for.isoformat(),
                "ran": self.ran, "outcome": self.outcome, "seconds": round(self.seconds, 3),
                "summary": self.summary, "error": self.error}


def _who() -> dict[str, Any]:
    return {"host": socket.gethostname()[:255], "pid": os.getpid()}


@contextmanager
def _bookkeeping(db: Engine) -> Iterator[Connection]:
    """A transaction for job_run rows alone. On PostgreSQL it commits without waiting for the
    WAL flush: the job's own (synchronous) commits flush the claim before any effect of the
    job is durable, and a lost finish leaves a `running` row that the next scheduler marks
    as interrupted. Saves two disk flushes per run."""
    with db.begin() as conn:
        if not is_sqlite(conn):
            conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
        yield conn


def claim(db: Engine, job: str, scheduled_for: datetime, trigger: str, started_at: datetime,
          covers: int = 1) -> int | None:
    """Insert the moment's row; return its id, or None when another run has it already."""
    row = {"job": job, "scheduled_for": scheduled_for, "trigger": trigger, "outcome": "running",
           "covers": covers, "started_at": started_at, **_who()}
    with _bookkeeping(db) as conn:
        ids = insert_new(conn, JOB_RUN, [row], ["job", "scheduled_for"], returning="id")
        if ids or trigger != "manual":
            return next(iter(ids), None)
        # A person may retry a moment that failed or was skipped, never one that ran or runs.
        retry = (update(JOB_RUN).where(JOB_RUN.c.job == job, JOB_RUN.c.scheduled_for == scheduled_for,
                                 JOB_RUN.c.outcome.in_(RETRYABLE))
                 .values(trigger=trigger, outcome="running", started_at=started_at,
                         finished_at=None, seconds=None, error=None, summary=None,
                         retry_at=None, attempts=JOB_RUN.c.attempts + 1, **_who()))
        if conn.execute(retry).rowcount != 1:
            return None
        return int(conn.execute(select(JOB_RUN.c.id).where(JOB_RUN.c.job == job,
                                                     JOB_RUN.c.scheduled_for == scheduled_for))
                   .scalar_one())


def execute(db: Engine, job: str, func: JobFunc, scheduled_for: datetime, trigger: str,
            started_at: datetime, covers: int = 1) -> RunResult:
    """Claim the moment, run the job with the clock stopped at that moment, record the result."""
    run_id = claim(db, job, scheduled_for, trigger, started_at, covers)
    if run_id is None:
        with db.connect() as conn:
            outcome = conn.execute(select(JOB_RUN.c.outcome).where(
                JOB_RUN.c.job == job, JOB_RUN.c.scheduled_for == scheduled_for)).scalar_one()
        return RunResult(job, scheduled_for, False, outcome)
    return _run(db, run_id, job, func, scheduled_for, trigger, started_at, 1)


def _run(db: Engine, run_id: int, job: str, func: JobFunc, scheduled_for: datetime,
         trigger: str, started_at: datetime, attempt: int) -> RunResult:
    began = perf_counter()
    try:
        summary = func(url_of(db), FixedClock(scheduled_for))
    except Exception as e:
        seconds = perf_counter() - began
        text = f"{type(e).__name__}: {e}"
        log.exception("%s for %s failed (attempt %d)", job, scheduled_for.isoformat(), attempt)
        again = retry_at(attempt, started_at) if trigger == "schedule" else None
        _finish(db, run_id, "error", started_at, seconds, None,
                text + "\n" + "".join(traceback.format_exception(e)), again)
        return RunResult(job, scheduled_for, True, "error", seconds, error=text)
    seconds = perf_counter() - began
    _finish(db, run_id, "ok", started_at, seconds, summary, None, None)
    log.info("%s for %s: ok in %.2fs", job, scheduled_for.isoformat(), seconds)
    return RunResult(job, scheduled_for, True, "ok", seconds, summary)


def _finish(db: Engine, run_id: int, outcome: str, started_at: datetime, seconds: float,
            summary: dict[str, Any] | None, error: str | None,
            again: datetime | None) -> None:
    with _bookkeeping(db) as conn:
        conn.execute(update(JOB_RUN).where(JOB_RUN.c.id == run_id).values(
            outcome=outcome, seconds=round(seconds, 3), summary=summary, error=error,
            finished_at=started_at + timedelta(seconds=seconds), retry_at=again))


def retry_due(db: Engine, now: datetime, funcs: Mapping[str, JobFunc]) -> list[RunResult]:
    """Run again every scheduled slot whose retry is due (oldest first), each taken back
    with a guarded UPDATE so that only one scheduler retries it."""
    with db.connect() as conn:
        due = conn.execute(select(JOB_RUN.c.id, JOB_RUN.c.job, JOB_RUN.c.scheduled_for,
                                  JOB_RUN.c.attempts)
                           .where(JOB_RUN.c.outcome == "error", JOB_RUN.c.retry_at <= now,
                                  JOB_RUN.c.trigger == "schedule")
                           .order_by(JOB_RUN.c.scheduled_for, JOB_RUN.c.id)).all()
    done: list[RunResult] = []
    for row in due:
        if row.job not in funcs:
            continue
        with _bookkeeping(db) as conn:
            took = conn.execute(update(JOB_RUN).where(
                JOB_RUN.c.id == row.id, JOB_RUN.c.outcome == "error",
                JOB_RUN.c.attempts == row.attempts, JOB_RUN.c.retry_at <= now)
                .values(outcome="running", attempts=row.attempts + 1, retry_at=None,
                        started_at=now, finished_at=None, seconds=None, **_who())).rowcount
        if took != 1:
            continue  # another scheduler took it
        log.warning("%s for %s: retry %d of %d", row.job, row.scheduled_for.isoformat(),
                    row.attempts, MAX_ATTEMPTS - 1)
        done.append(_run(db, row.id, row.job, funcs[row.job], row.scheduled_for, "schedule",
                         now, row.attempts + 1))
    return done


def record_missed(db: Engine, job: str, first: datetime, last: datetime, count: int,
                  at: datetime) -> bool:
    """One row for a stretch of moments skipped because they were older than the grace."""
    row = {"job": job, "scheduled_for": last, "trigger": "schedule", "outcome": "missed",
           "covers": count, "missed_from": first, "started_at": at, "finished_at": at,
           "error": f"{count} run(s) from {first.isoformat()} to {last.isoformat()} missed: "
                    "older than the grace when the scheduler came back", **_who()}
    with _bookkeeping(db) as conn:
        went_in = bool(insert_new(conn, JOB_RUN, [row], ["job", "scheduled_for"], returning="id"))
    if went_in:
        log.warning("%s: %s", job, row["error"])
    return went_in


def interrupt_stale(db: Engine, at: datetime) -> int:
    """Scheduled runs still marked running when a scheduler takes the lock were cut short:
    the previous holder is gone. Mark them as errors, due for a retry now (unless that was
    their last attempt): `retry_due` runs them again."""
    with db.begin() as conn:
        stale = conn.execute(select(JOB_RUN.c.id, JOB_RUN.c.attempts).where(
            JOB_RUN.c.outcome == "running", JOB_RUN.c.trigger == "schedule")).all()
        for row in stale:
            conn.execute(update(JOB_RUN).where(JOB_RUN.c.id == row.id,
                                               JOB_RUN.c.outcome == "running").values(
                outcome="error", finished_at=at,
                retry_at=at if row.attempts < MAX_ATTEMPTS else None,
                error="interrupted: the scheduler stopped before it finished"))
        return len(stale)


def last_scheduled(conn: Connection) -> dict[str, datetime]:
    """The latest moment each job has a row for, whatever its outcome."""
    q = select(JOB_RUN.c.job, func.max(JOB_RUN.c.scheduled_for)).group_by(JOB_RUN.c.job)
    return dict(conn.execute(q).tuples().all())


def latest(conn: Connection, job: str) -> dict[str, Any] | None:
    """The job's latest run that actually ran (or runs), as a dict."""
    q = (select(JOB_RUN).where(JOB_RUN.c.job == job, JOB_RUN.c.outcome != "missed")
         .order_by(JOB_RUN.c.scheduled_for.desc()).limit(1))
    row = conn.execute(q).mappings().first()
    return dict(row) if row else None


def latest_missed(conn: Connection, job: str) -> dict[str, Any] | None:
    q = (select(JOB_RUN).where(JOB_RUN.c.job == job, JOB_RUN.c.outcome == "missed")
         .order_by(JOB_RUN.c.scheduled_for.desc()).limit(1))
    row = conn.execute(q).mappings().first()
    return dict(row) if row else None
