"""Scheduled runs that failed or were cut short by a crash are retried by whichever
scheduler holds the lock: bounded, with backoff, once however many schedulers look, and
shown in `kamflow status` and /metrics (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from kamflow import runs
from kamflow.engine.clock import Clock
from kamflow.jobs.health import metrics, status
from kamflow.jobs.scheduler import Schedules, tick
from kamflow.store.tables import JOB_RUN, TRANSITION
from support import DB, write_portfolio

MOMENT = datetime(2026, 6, 15, 5, 0)
SWEEP_ONLY = Schedules({"sweep": "0 5 * * *"}, timedelta(hours=6))


def slot(db: DB, job: str = "sweep") -> Any:
    with db.engine.connect() as conn:
        return conn.execute(select(JOB_RUN).where(JOB_RUN.c.job == job)).mappings().one()


class Flaky:
    """A job that fails its first `failures` runs, then succeeds; counts its runs."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0
        self.lock = threading.Lock()

    def __call__(self, url: str, clock: Clock) -> dict[str, Any]:
        with self.lock:
            self.calls += 1
            n = self.calls
        if n <= self.failures:
            raise RuntimeError(f"failure {n}")
        return {"at": clock.now().isoformat()}


def test_a_sweep_cut_short_by_a_crash_is_run_again_by_the_next_scheduler(
        db: DB, tmp_path: Path) -> None:
    for kind, path in write_portfolio(tmp_path).items():
        assert db.cli("import", kind, str(path), "--at", "2026-01-01").code == 0
    assert runs.claim(db.engine, "sweep", MOMENT, "schedule", MOMENT) is not None  # then a crash
    takeover = MOMENT + timedelta(minutes=20)
    assert runs.interrupt_stale(db.engine, takeover) == 1  # the standby takes the lock
    assert slot(db)["retry_at"] == takeover
    done = tick(db.engine, takeover + timedelta(seconds=30), SWEEP_ONLY)
    assert [(r.job, r.outcome) for r in done] == [("sweep", "ok")]
    row = slot(db)
    assert (row["outcome"], row["attempts"], row["retry_at"]) == ("ok", 2, None)
    assert row["scheduled_for"] == MOMENT  # the day's moment, not the retry's
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(TRANSITION).where(
            TRANSITION.c.actor == "system")).scalar_one() > 0  # the sweep's work was done
    sweep = next(j for j in status(db.engine, takeover + timedelta(minutes=1))["jobs"]
                 if j["job"] == "sweep")
    assert (sweep["retries"], sweep["failed"], sweep["last"]["attempts"]) == (1, 0, 2)
    text = metrics(db.engine, takeover.date(), {})
    assert 'kamflow_job_retries_total{job="sweep"} 1' in text
    r = db.cli("status", "--json", "--at", "2026-06-15T06:00")
    assert json.loads(r.stdout)["jobs"][0]["retries"] == 1


def test_a_failed_run_is_retried_with_backoff_then_given_up(db: DB) -> None:
    job = Flaky(failures=5)
    funcs = {"sweep": job}
    result = runs.execute(db.engine, "sweep", job, MOMENT, "schedule", MOMENT)
    assert result.outcome == "error" and slot(db)["retry_at"] == MOMENT + timedelta(minutes=5)
    assert runs.retry_due(db.engine, MOMENT + timedelta(minutes=4), funcs) == []  # not yet
    second = MOMENT + timedelta(minutes=5)
    assert [r.outcome for r in runs.retry_due(db.engine, second, funcs)] == ["error"]
    assert slot(db)["retry_at"] == second + timedelta(minutes=10)  # backoff doubles
    third = second + timedelta(minutes=10)
    assert [r.outcome for r in runs.retry_due(db.engine, third, funcs)] == ["error"]
    row = slot(db)
    assert (row["attempts"], row["retry_at"], job.calls) == (runs.MAX_ATTEMPTS, None, 3)
    assert runs.retry_due(db.engine, third + timedelta(days=1), funcs) == []  # bounded
    text = metrics(db.engine, MOMENT.date(), {})
    assert 'kamflow_job_failed_slots{job="sweep"} 1' in text
    assert 'kamflow_job_retries_total{job="sweep"} 2' in text
    sweep = next(j for j in status(db.engine, third)["jobs"] if j["job"] == "sweep")
    assert (sweep["failed"], sweep["retries"], sweep["retries_pending"]) == (1, 2, 0)


def test_a_run_that_succeeds_on_retry_is_ok_and_a_manual_run_is_not_retried(db: DB) -> None:
    job = Flaky(failures=1)
    runs.execute(db.engine, "sweep", job, MOMENT, "schedule", MOMENT)
    assert [r.outcome for r in runs.retry_due(db.engine, MOMENT + timedelta(hours=1),
                                              {"sweep": job})] == ["ok"]
    manual = Flaky(failures=1)
    later = MOMENT + timedelta(days=1)
    assert runs.execute(db.engine, "escalation", manual, later, "manual", later).outcome == "error"
    assert slot(db, "escalation")["retry_at"] is None  # a person decides to run it again


def test_two_schedulers_retrying_at_once_run_the_slot_once(db: DB) -> None:
    job = Flaky(failures=1)
    runs.execute(db.engine, "sweep", job, MOMENT, "schedule", MOMENT)
    barrier = threading.Barrier(2)
    results: list[list[runs.RunResult]] = []

    def scheduler() -> None:
        barrier.wait()
        results.append(runs.retry_due(db.engine, MOMENT + timedelta(hours=1), {"sweep": job}))

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) == [0, 1] and job.calls == 2
    assert slot(db)["attempts"] == 2
