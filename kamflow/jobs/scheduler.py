"""The embedded scheduler: runs kamflow's jobs on their cron schedules on one machine.

The decisions live in plain functions that take the time as an argument, so a
test can drive a month in a second: `due_runs` lists a job's cron fire times
since its last recorded run, `catch_up` splits them by the grace, and `tick`
runs every job that is due, once. The moving parts around them are small: an
APScheduler 3 BackgroundScheduler, whose one persisted job
("kamflow.jobs.scheduler:tick_job", in the app's database) calls `tick` with the
wall clock every few seconds, and the lock that lets only one scheduler per
database do so (kamflow.store.lock).

Catch-up: after a stop, the missed fire times younger than the grace are
coalesced into one run with the clock of the latest of them, the moment it
should have run; older ones are recorded as one `missed` row and skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from kamflow import runs
from kamflow.clock import SystemClock
from kamflow.jobs.registry import JOBS, configured_cron
from kamflow.settings import Settings
from kamflow.store.db import db_for
from kamflow.store.lock import lock_for

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger("kamflow.jobs.scheduler")
TICK_JOB = "kamflow.jobs.scheduler:tick_job"
TICK_JOB_ID = "kamflow-tick"
# How far back a long-stopped scheduler looks for missed fire times (bounds the work).
LOOKBACK = timedelta(days=35)
ONE_US = timedelta(microseconds=1)


@lru_cache(maxsize=64)
def trigger_for(cron: str) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(cron, timezone="UTC")
    except ValueError as e:
        raise ValueError(f"'{cron}' is not a crontab expression "
                         f"(minute hour day-of-month month day-of-week): {e}") from None


def _fires_after(cron: str, start: datetime, end: datetime) -> list[datetime]:
    """Fire times t with start < t <= end (naive UTC in, naive UTC out)."""
    trigger = trigger_for(cron)
    limit = end.replace(tzinfo=UTC)
    prev = start.replace(tzinfo=UTC)
    out: list[datetime] = []
    while (nxt := trigger.get_next_fire_time(prev, prev)) is not None and nxt <= limit:
        out.append(nxt.replace(tzinfo=None))
        prev = nxt
    return out


def due_runs(cron: str, last_scheduled: datetime | None, now: datetime,
             grace: timedelta) -> list[datetime]:
    """The job's fire times after its last recorded moment, up to and including `now`.

    A job that never ran starts from `now - grace`, so a new installation catches up
    on the latest moment only. A job stopped for longer than LOOKBACK is looked at
    over the last LOOKBACK.
    """
    if last_scheduled is None:
        start = now - grace - ONE_US
    else:
        start = max(last_scheduled, now - max(grace, LOOKBACK))
    return _fires_after(cron, start, now)


@dataclass(frozen=True)
class CatchUp:
    run_at: datetime | None  # the moment to run now (the latest fire time within the grace)
    covers: int  # fire times that one run stands for
    missed_first: datetime | None = None
    missed_last: datetime | None = None
    missed: int = 0  # fire times older than the grace: skipped


def catch_up(fires: list[datetime], now: datetime, grace: timedelta) -> CatchUp:
    recent = [f for f in fires if now - f <= grace]
    old = [f for f in fires if now - f > grace]
    return CatchUp(recent[-1] if recent else None, len(recent),
                   old[0] if old else None, old[-1] if old else None, len(old))


def next_run(cron: str, last_scheduled: datetime | None, now: datetime,
             grace: timedelta) -> datetime:
    """The next moment the job will run for; at or before `now` means at the next tick."""
    due = catch_up(due_runs(cron, last_scheduled, now, grace), now, grace).run_at
    if due is not None:
        return due
    aware = now.replace(tzinfo=UTC)
    nxt: datetime = trigger_for(cron).get_next_fire_time(aware, aware)  # a crontab fires again
    return nxt.replace(tzinfo=None)


@dataclass(frozen=True)
class Schedules:
    """Each job's crontab expression (None: off) and the misfire grace."""

    cron: Mapping[str, str | None]
    grace: timedelta

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Schedules:
        settings = settings or Settings()
        cron: dict[str, str | None] = {}
        for name in JOBS:
            expr = configured_cron(settings, name)
            if expr is not None:
                try:
                    trigger_for(expr)
                except ValueError as e:
                    raise ValueError(f"KAMFLOW_SCHEDULE_{name.upper()}: {e}") from None
            cron[name] = expr
        if settings.schedule_grace_hours < 0:
            raise ValueError("KAMFLOW_SCHEDULE_GRACE_HOURS: must not be negative")
        return cls(cron, timedelta(hours=settings.schedule_grace_hours))


def tick(db: Engine, now: datetime, schedules: Schedules | None = None) -> list[runs.RunResult]:
    """Run every job that is due at `now`, each once; record what was missed."""
    schedules = schedules or Schedules.from_settings()
    with db.connect() as conn:
        last = runs.last_scheduled(conn)
    done: list[runs.RunResult] = []
    for name, spec in JOBS.items():
        cron = schedules.cron.get(name)
        if cron is None or not spec.available():
            continue
        plan = catch_up(due_runs(cron, last.get(name), now, schedules.grace), now, schedules.grace)
        if plan.missed_first is not None and plan.missed_last is not None:
            runs.record_missed(db, name, plan.missed_first, plan.missed_last, plan.missed, now)
        if plan.run_at is not None:
            done.append(runs.execute(db, name, JOBS[name].func, plan.run_at, "schedule", now,
                                     plan.covers))
    # Failed or interrupted slots whose retry is due (bounded, with backoff: kamflow.runs).
    done += runs.retry_due(db, now, {name: spec.func for name, spec in JOBS.items()
                                     if schedules.cron.get(name) and spec.available()})
    return done


def tick_job(database_url: str) -> None:
    """The one job APScheduler persists: look for due jobs now (by the wall clock)."""
    tick(db_for(database_url), SystemClock().now())


class Scheduler:
    """One process's scheduler: standby until it holds the database's scheduler lock, then
    active (APScheduler ticking) until `stop` is set or the lock is lost."""

    def __init__(self, database_url: str, settings: Settings | None = None) -> None:
        self.url = database_url
        self.settings = settings or Settings()
        Schedules.from_settings(self.settings)  # a bad schedule fails here, not at 3 a.m.
        self.db = db_for(database_url)
        self.lock = lock_for(self.db)

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set. A database that cannot be reached is retried, never fatal."""
        retry = self.settings.scheduler_standby_seconds
        standby_logged = False
        while not stop.is_set():
            try:
                got = self.lock.acquire(SystemClock().now())
            except Exception as e:
                log.error("cannot take the scheduler lock: %s; retrying in %ss", e, retry)
                stop.wait(retry)
                continue
            if not got:
                if not standby_logged:
                    log.info("standby: another scheduler holds the lock; retrying every %ss",
                             retry)
                    standby_logged = True
                stop.wait(retry)
                continue
            standby_logged = False
            failed = False
            try:
                self._active(stop)
            except Exception:
                log.exception("the active scheduler failed; stepping down")
                failed = True
            finally:
                self.lock.release()
            if failed:
                stop.wait(retry)
        log.info("scheduler stopped")

    def _active(self, stop: threading.Event) -> None:
        interrupted = runs.interrupt_stale(self.db, SystemClock().now())
        log.info("active: holding the scheduler lock%s",
                 f"; {interrupted} interrupted run(s) marked for a retry" if interrupted else "")
        every = self.settings.scheduler_tick_seconds
        aps = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.db)},
            executors={"default": ThreadPoolExecutor(1)}, timezone=UTC)
        aps.add_job(TICK_JOB, IntervalTrigger(seconds=every, timezone=UTC), args=[self.url],
                    id=TICK_JOB_ID, name="kamflow tick", replace_existing=True, coalesce=True,
                    max_instances=1, misfire_grace_time=None,
                    next_run_time=SystemClock().now().replace(tzinfo=UTC))
        aps.start()
        try:
            while not stop.wait(min(every, 5.0)):
                if not self.lock.held():
                    log.error("lost the scheduler lock: stepping down to standby")
                    break
        finally:
            aps.shutdown(wait=True)
