"""Unattended running: the catch-up arithmetic, a simulated month of scheduler ticks on a real
store (SQLite and PostgreSQL) with a stop of several days, and `kamflow run` / `status`.

No test waits for the wall clock: `tick(engine, now)` takes the time as an argument.
"""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kamflow import sweep as sweep_module
from kamflow.engine.clock import FixedClock
from kamflow.jobs.registry import JOBS
from kamflow.jobs.scheduler import (
    LOOKBACK,
    Schedules,
    catch_up,
    due_runs,
    next_run,
    tick,
)
from kamflow.settings import Settings
from kamflow.store.tables import ACCOUNT, JOB_RUN, TASK, TRANSITION
from kamflow.sweep import escalate, run_sweep
from support import DB, write_portfolio

H6 = timedelta(hours=6)
NOTIFY = importlib.util.find_spec("kamflow.notify") is not None


def d(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- the arithmetic ---------------------------------------------------------------------


def test_due_runs_are_the_fire_times_after_the_last_run_up_to_now() -> None:
    assert due_runs("0 5 * * *", d("2026-06-01T05:00"), d("2026-06-02T05:00"), H6) == [
        d("2026-06-02T05:00")]
    assert due_runs("0 5 * * *", d("2026-06-01T05:00"), d("2026-06-02T04:59"), H6) == []
    assert due_runs("*/15 * * * *", d("2026-06-01T10:00"), d("2026-06-01T10:31"), H6) == [
        d("2026-06-01T10:15"), d("2026-06-01T10:30")]


def test_a_job_that_never_ran_starts_within_the_grace() -> None:
    assert due_runs("0 5 * * *", None, d("2026-06-01T10:00"), H6) == [d("2026-06-01T05:00")]
    assert due_runs("0 5 * * *", None, d("2026-06-01T12:00"), H6) == []
    assert len(due_runs("0 * * * *", None, d("2026-06-01T12:30"), H6)) == 6


def test_missed_runs_within_the_grace_coalesce_into_one_at_the_latest_moment() -> None:
    now = d("2026-06-14T08:07")
    fires = due_runs("0 5 * * *", d("2026-06-10T05:00"), now, timedelta(days=2))
    assert fires == [d(f"2026-06-{day}T05:00") for day in (11, 12, 13, 14)]
    plan = catch_up(fires, now, timedelta(days=2))
    assert (plan.run_at, plan.covers) == (d("2026-06-14T05:00"), 2)  # the 13th and the 14th
    assert (plan.missed_first, plan.missed_last, plan.missed) == (
        d("2026-06-11T05:00"), d("2026-06-12T05:00"), 2)


def test_runs_older_than_the_grace_are_skipped_not_run() -> None:
    now = d("2026-06-14T12:00")
    plan = catch_up(due_runs("0 5 * * *", d("2026-06-10T05:00"), now, H6), now, H6)
    assert plan.run_at is None
    assert (plan.missed_first, plan.missed_last, plan.missed) == (
        d("2026-06-11T05:00"), d("2026-06-14T05:00"), 4)


def test_a_long_stop_is_looked_at_over_a_bounded_window() -> None:
    now = d("2027-06-01T00:00")
    fires = due_runs("0 * * * *", d("2026-01-01T00:00"), now, H6)
    assert fires[0] > now - LOOKBACK and fires[-1] == now
    assert len(fires) == LOOKBACK // timedelta(hours=1)


def test_next_run_is_due_now_or_the_next_fire_time() -> None:
    assert next_run("0 5 * * *", d("2026-06-01T05:00"), d("2026-06-01T06:00"), H6) == d(
        "2026-06-02T05:00")
    assert next_run("0 5 * * *", d("2026-06-01T05:00"), d("2026-06-02T06:00"), H6) == d(
        "2026-06-02T05:00")  # due: the next tick runs it
    assert next_run("0 5 * * *", d("2026-06-01T05:00"), d("2026-06-03T12:00"), H6) == d(
        "2026-06-04T05:00")  # the missed ones are past the grace


def test_schedules_come_from_settings_and_a_bad_one_is_named() -> None:
    s = Schedules.from_settings(Settings(schedule_sweep="30 4 * * *", schedule_deliver="off",
                                         schedule_grace_hours=2))
    assert s.cron == {"sweep": "30 4 * * *", "escalation": "0 * * * *",
                      "digests": "*/15 * * * *", "deliver": None}
    assert s.grace == timedelta(hours=2)
    with pytest.raises(ValueError, match="KAMFLOW_SCHEDULE_SWEEP: '61 \\* \\* \\* \\*' is not a"):
        Schedules.from_settings(Settings(schedule_sweep="61 * * * *"))


# -- a simulated month --------------------------------------------------------------------

STOP = (d("2026-06-10T12:07"), d("2026-06-15T09:07"))  # the last tick before, the first after
GRACE = timedelta(days=3)
MONTH = Schedules({name: spec.cron for name, spec in JOBS.items()}, GRACE)


def load(db: DB, folder: Path) -> DB:
    folder.mkdir(exist_ok=True)
    for kind, path in write_portfolio(folder).items():
        r = db.cli("import", kind, str(path), "--at", "2026-01-01")
        assert r.code == 0, r.stderr
    return db


class Outbox:
    """A channel that keeps what it is given (the notification channels' shape)."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        self.sent.append(message)

    def close(self) -> None:
        pass


@pytest.fixture
def channels(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    box = Outbox()
    if NOTIFY:
        import kamflow.notify

        monkeypatch.setattr(kamflow.notify, "default_channels",
                            lambda settings=None: {"email": box, "webhook": box, "log": box})
    return box


def ticks() -> Iterator[datetime]:
    """Every third simulated hour (at :07) of June 2026, except while the machine is off."""
    now = d("2026-06-01T00:07")
    while now < d("2026-07-01T00:00"):
        if not STOP[0] < now < STOP[1]:
            yield now
        now += timedelta(hours=3)


def store(db: DB) -> dict[str, list[tuple[str, ...]]]:
    """What the jobs decided, without ids or the order rows went in."""
    with db.engine.connect() as conn:
        moves = conn.execute(
            select(
                TRANSITION.c.account_id,
                TRANSITION.c.from_state,
                TRANSITION.c.to_state,
                TRANSITION.c.rule,
                TRANSITION.c.at,
                TRANSITION.c.playbook_version,
            )
        ).all()
        tasks = conn.execute(select(*(c for c in TASK.c if c.name != "id"))).all()
        accounts = conn.execute(select(ACCOUNT)).all()
    return {name: sorted(tuple(map(str, row)) for row in rows)
            for name, rows in (("transitions", moves), ("tasks", tasks), ("accounts", accounts))}


def runs_of(db: DB, job: str, outcome: str) -> list[tuple[datetime, int]]:
    with db.engine.connect() as conn:
        q = (
            select(JOB_RUN.c.scheduled_for, JOB_RUN.c.covers)
            .where(JOB_RUN.c.job == job, JOB_RUN.c.outcome == outcome)
            .order_by(JOB_RUN.c.scheduled_for)
        )
        return [(at, n) for at, n in conn.execute(q).tuples()]


@pytest.mark.slow
def test_a_month_of_ticks_with_a_stop_runs_each_moment_once(db: DB, twin: DB, channels: Outbox,
                                                            tmp_path: Path) -> None:
    load(db, tmp_path / "a")
    results = [r for now in ticks() for r in tick(db.engine, now, MONTH)]
    assert all(r.ran and r.outcome == "ok" for r in results), [r for r in results if r.error]

    # The daily sweep: once a day while running; on restart the days within the grace (the
    # 13th..15th) coalesce into one run with the 15th's clock, the 11th and 12th are missed.
    days = [*range(1, 11), 15, *range(16, 31)]
    assert runs_of(db, "sweep", "ok") == (
        [(d("2026-05-31T05:00"), 3)]  # a new installation catches up on its latest moment
        + [(datetime(2026, 6, day, 5), 3 if day == 15 else 1) for day in days])
    assert runs_of(db, "sweep", "missed") == [(d("2026-06-12T05:00"), 2)]
    # Escalation, hourly: each tick coalesces the three hours since the last one; the hours of
    # the stop within the grace are one run at restart, the older ones one missed row.
    escalations = runs_of(db, "escalation", "ok")
    assert [at for at, _ in escalations] == [now.replace(minute=0) for now in ticks()]
    covers = Counter(n for _, n in escalations)
    assert covers == {3: len(escalations) - 2, 72: 2}  # the first tick and the restart
    assert (d("2026-06-15T09:00"), 72) in escalations
    assert runs_of(db, "escalation", "missed") == [(d("2026-06-12T09:00"), 45)]

    # Nothing ran twice: one row per (job, moment), and a tick again at the end adds nothing.
    with db.engine.connect() as conn:
        rows = conn.execute(select(JOB_RUN.c.job, JOB_RUN.c.scheduled_for)).all()
    assert len(rows) == len(set(rows))
    assert tick(db.engine, [*ticks()][-1], MONTH) == []  # the last tick, once more

    # The store is what plain sweeps and escalations at the same moments make.
    replay = sorted([(at, 0) for at, _ in runs_of(db, "sweep", "ok")]
                    + [(at, 1) for at, _ in escalations])
    load(twin, tmp_path / "b")
    for at, kind in replay:
        if kind == 0:
            run_sweep(twin.engine, FixedClock(at))
        else:
            escalate(twin.engine, FixedClock(at))
    assert store(db) == store(twin)

    if NOTIFY:
        _digests_once_per_person_and_day(db, channels)


def _digests_once_per_person_and_day(db: DB, channels: Outbox) -> None:
    assert len(runs_of(db, "digests", "ok")) == len(list(ticks()))
    digests = [m for m in channels.sent if m.kind == "digest"]
    per_day = Counter((m.recipient, m.dedupe_key.rsplit(":", 1)[1]) for m in digests)
    assert per_day and max(per_day.values()) == 1
    sent_days = {date.fromisoformat(day) for _, day in per_day}
    assert not sent_days & {date(2026, 6, day) for day in (11, 12, 13, 14)}  # the machine was off
    assert date(2026, 6, 15) in sent_days  # the catch-up run on restart


# -- the CLI ------------------------------------------------------------------------------


def test_run_a_job_for_a_moment_once_and_see_it_in_status(db: DB, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    load(db, tmp_path)
    r = db.cli("run", "sweep", "--at", "2026-06-15T05:00", "--json")
    assert r.code == 0, r.stderr
    first = json.loads(r.stdout)
    assert (first["ran"], first["outcome"]) == (True, "ok")
    assert first["summary"]["transitions_total"] == 6
    again = db.cli("run", "sweep", "--at", "2026-06-15T05:00")
    assert again.code == 0 and "already ran (ok); nothing was done" in again.stdout
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(TRANSITION).where(
            TRANSITION.c.at == d("2026-06-15T05:00"))).scalar_one() == 6

    def broken(*_: Any) -> Any:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(sweep_module, "run_sweep", broken)
    failed = db.cli("run", "sweep", "--at", "2026-06-16T05:00")
    assert failed.code == 1 and "failed: RuntimeError: the disk is full" in failed.stderr
    status = json.loads(db.cli("status", "--at", "2026-06-16T06:00", "--json").stdout)
    jobs = {j["job"]: j for j in status["jobs"]}
    assert jobs["sweep"]["last"]["outcome"] == "error"
    assert jobs["sweep"]["last"]["error"] == "RuntimeError: the disk is full"
    assert jobs["sweep"]["next"] == "2026-06-17T05:00:00"
    assert jobs["escalation"]["last"] is None
    assert jobs["escalation"]["next"] == "2026-06-16T06:00:00"  # due: within the grace
    assert status["scheduler"]["holder"] is None
    with db.engine.connect() as conn:
        open_late = conn.execute(select(func.count()).select_from(TASK).where(
            TASK.c.status == "open", TASK.c.due < date(2026, 6, 16))).scalar_one()
    assert status["tasks_overdue"] == open_late
    assert (status["outbox"] is None) == (not NOTIFY)

    monkeypatch.undo()  # a failed moment may be retried by hand
    retried = db.cli("run", "sweep", "--at", "2026-06-16T05:00", "--json")
    assert retried.code == 0 and json.loads(retried.stdout)["outcome"] == "ok"
    text_status = db.cli("status", "--at", "2026-06-16T06:00")
    assert text_status.code == 0 and "none holds the lock" in text_status.stdout


def test_run_refuses_an_unknown_job(db: DB) -> None:
    r = db.cli("run", "sweeep")
    assert r.code == 2
    assert "unknown job 'sweeep'; jobs: sweep, escalation, digests, deliver" in r.stderr


def test_a_run_cut_short_is_marked_interrupted_on_takeover_and_may_be_retried(db: DB) -> None:
    from kamflow import runs

    moment = d("2026-06-15T05:00")
    assert runs.claim(db.engine, "sweep", moment, "schedule", moment) is not None  # then a crash
    assert runs.claim(db.engine, "sweep", moment, "schedule", moment) is None  # taken
    assert runs.interrupt_stale(db.engine, moment + timedelta(minutes=5)) == 1
    with db.engine.connect() as conn:
        assert runs.latest(conn, "sweep")["error"].startswith("interrupted")  # type: ignore[index]
    r = db.cli("run", "sweep", "--at", "2026-06-15T05:00", "--json")
    assert r.code == 0 and json.loads(r.stdout)["outcome"] == "ok", r.stderr
    assert runs_of(db, "sweep", "ok") == [(moment, 1)]
