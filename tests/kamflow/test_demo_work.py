"""`kamflow demo --weeks N`: go-live N weeks back, a sweep a week, most work done on time, some
late, a few left open; the same seed gives the same history."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select

from kamflow import people
from kamflow.engine.clock import FixedClock
from kamflow.store import golive
from kamflow.store.tables import PERSON, TASK
from support import DB

AT = "2026-11-02"


def _done(db: DB) -> tuple[int, int, int]:
    """(done on time, done late, done at or after AT) among the demo's completions."""
    with db.engine.connect() as conn:
        rows = conn.execute(select(TASK.c.due, TASK.c.done_at).where(
            TASK.c.status == "done", TASK.c.done_by == "demo")).all()
    on_time = sum(1 for r in rows if r.done_at.date() <= r.due)
    late = sum(1 for r in rows if r.done_at.date() > r.due)
    after = sum(1 for r in rows if r.done_at >= datetime.fromisoformat(AT))
    return on_time, late, after


def test_weeks_of_work_before_the_demo_day(db: DB, twin: DB) -> None:
    r = db.cli("demo", "--accounts", "120", "--seed", "3", "--at", AT, "--weeks", "3")
    assert r.code == 0, r.stderr
    assert "3 weekly sweeps from go-live" in r.stdout
    with db.engine.connect() as conn:
        assert golive.stored_go_live(conn) == date(2026, 10, 12)
        assert golive.last_sweep(conn) == datetime(2026, 10, 26)
    on_time, late, after = _done(db)
    assert f"done on time {on_time}, late {late}," in r.stdout.replace("\n", " ")
    assert on_time > 5 * late > 0 and after == 0

    assert db.cli("sweep", "--at", AT).code == 0  # the demo day's own sweep, as make run does
    with db.engine.connect() as conn:
        overdue = conn.execute(select(func.count()).where(
            TASK.c.status == "open", TASK.c.due < date.fromisoformat(AT))).scalar_one()
    assert overdue > 0  # a few were left: the queues show late work, not a wall of it
    assert overdue < on_time / 3

    again = twin.cli("demo", "--accounts", "120", "--seed", "3", "--at", AT, "--weeks", "3")
    assert again.code == 0 and _done(twin) == (on_time, late, 0)


def test_the_demo_login_shows_every_section_of_the_queue(db: DB) -> None:
    assert db.cli("demo", "--accounts", "300", "--seed", "7", "--at", AT, "--weeks", "4").code == 0
    assert db.cli("sweep", "--at", AT).code == 0
    logins = {role: email for email, role, _ in people.set_demo_passwords(
        db.engine, FixedClock(datetime.fromisoformat(AT)))}
    sizes = people.queue_sizes(db.engine, logins["account_manager"], date.fromisoformat(AT))
    with db.engine.connect() as conn:
        anyone_due_today = conn.execute(select(func.count()).select_from(
            TASK.join(PERSON, PERSON.c.email == TASK.c.assignee)).where(
            TASK.c.status == "open", TASK.c.due == date.fromisoformat(AT),
            PERSON.c.role == "account_manager")).scalar_one()
    assert sizes["overdue"] > 0 and sizes["upcoming"] > 0
    assert (sizes["due_today"] > 0) == (anyone_due_today > 0)
