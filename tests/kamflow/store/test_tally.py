"""The boards' kept counts (kamflow.store.tally) on both databases: after every kind of
writer they equal a count of the tasks, for every department, letter and key-account
choice; and a board's counts then read the tally alone, never a task row."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from sqlalchemy import event, select, update

from kamflow import bulk_actions, queue
from kamflow.engine.clock import FixedClock
from kamflow.people import Principal
from kamflow.store import tally, task_list
from kamflow.store.tables import ACCOUNT, TASK, TASK_PARTY
from kamflow.sweep import escalate
from support import DB
from support.web import NOW, World

LEA = Principal("lea@x.test", "Lea Lead", "department_lead", "sales")
WEEK = 7


def counted(conn: Any, f: queue.TaskFilter) -> dict[tuple[str, str], int]:
    """A board's breakdown by counting the tasks (what the page did before the tally)."""
    q = task_list.breakdown(f, f.today + timedelta(days=WEEK), "planner")
    return {(k or task_list.UNCLASSIFIED, b): int(n) for k, b, n in conn.execute(q)}


def boards_agree(db: DB, today: date) -> int:
    """Every department's breakdown, by letter and key-account choice, from the tally and
    by counting; returns how many live tasks name a department (so a test sees it had some)."""
    with db.engine.connect() as conn:
        assert tally.drift(conn) == {}
        depts = sorted(set(conn.execute(select(TASK_PARTY.c.party)
                                        .where(TASK_PARTY.c.kind == "dept")).scalars()))
        for dept in depts:
            for letter in (None, "R", "A", "C", "I"):
                for key in (None, True, False):
                    f = queue.TaskFilter(today, department=dept, raci=letter, key_account=key)
                    assert tally.serves(f)
                    got = queue.breakdown(conn, f, today + timedelta(days=WEEK))
                    assert got == counted(conn, f), (dept, letter, key)
        return sum(n for (_, letter, *_), n in tally.recount(conn).items()
                   if letter == tally.ANY)


def live_of(db: DB, account: str, naming: str | None = None) -> list[int]:
    """The account's live tasks in id order; with `naming`, those whose RACI names that
    department (which its lead may act on)."""
    q = select(TASK.c.id).where(TASK.c.account_id == account, TASK.c.status.in_(tally.LIVE))
    if naming is not None:
        q = q.where(TASK.c.id.in_(select(TASK_PARTY.c.task_id).where(
            TASK_PARTY.c.party == naming)))
    with db.engine.connect() as conn:
        return list(conn.execute(q.order_by(TASK.c.id)).scalars())


def test_the_kept_counts_follow_every_writer(world: World, tmp_path: Any) -> None:
    db, today = world.db, NOW.date()
    clock = FixedClock(NOW)
    assert boards_agree(db, today) > 0  # the sweep's new tasks
    steady = live_of(db, "STEADY")
    queue.act(db.engine, steady[0], "done", clock, "ann@x.test", outcome="ok")  # a task action
    queue.act(db.engine, steady[1], "snooze", clock, "ann@x.test",
              until=today + timedelta(days=3), reason="away")
    boards_agree(db, today)
    drift = live_of(db, "DRIFT", naming="sales")  # Lea leads sales
    assert len(drift) >= 2
    done = bulk_actions.run(db.engine, LEA, "skip", drift[:2], clock, reason="covered")
    assert not done.refused
    boards_agree(db, today)
    later = FixedClock(NOW + timedelta(days=4))
    assert escalate(db.engine, later).woke == 1  # the snooze ended
    boards_agree(db, today)
    # a leaving account manager's tasks go to the marketing queue: responsible_dept moves
    assert db.cli("people", "deactivate", "bob@x.test", "--to-department", "marketing",
                  "--at", "2026-06-19").code == 0
    boards_agree(db, today)
    # a month of revenue that makes a small prospect a large account: the sweep reclassifies
    # it, and its live tasks move to their new class
    small = live_of(db, "NEWSMALL")
    assert small
    before = klass(db, "NEWSMALL")
    revenue = tmp_path / "revenue.csv"
    revenue.write_text("account_id,month,amount\nNEWSMALL,2026-06,4000000\n")
    assert db.cli("import", "revenue", str(revenue), "--at", "2026-07-01").code == 0
    r = db.cli("sweep", "--at", "2026-07-01T03:00:00")
    assert r.code == 0, r.stderr
    assert klass(db, "NEWSMALL") != before
    assert set(small) & set(live_of(db, "NEWSMALL"))  # some of its tasks lived on through it
    boards_agree(db, date(2026, 7, 1))


def klass(db: DB, account: str) -> str | None:
    with db.engine.connect() as conn:
        return conn.execute(select(ACCOUNT.c.klass).where(ACCOUNT.c.id == account)).scalar()


def test_a_boards_counts_read_the_tally_alone(world: World) -> None:
    """One statement, on task_tally: the count no longer grows with the department's tasks."""
    seen: list[str] = []

    def log(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    f = queue.TaskFilter(NOW.date(), department="sales")
    with world.db.engine.connect() as conn:
        event.listen(conn, "before_cursor_execute", log)
        cells = queue.breakdown(conn, f, NOW.date() + timedelta(days=WEEK))
        event.remove(conn, "before_cursor_execute", log)
        assert cells == counted(conn, f) and sum(cells.values()) > 0
    queries = [q for q in seen if not q.startswith("BEGIN")]
    assert len(queries) == 1 and "FROM task_tally" in queries[0]
    # a filter the tally cannot answer (one step) is still counted from the tasks
    assert not tally.serves(f.but(step="loyal.quarterly_plan_review"))


def test_audit_verify_names_counts_a_task_edited_in_sql_left_off_and_recount_mends_them(
        world: World) -> None:
    review = world.task("STEADY", "loyal.quarterly_plan_review")
    due = world.row(review)["due"]
    moved = due + timedelta(days=100)
    with world.db.engine.begin() as conn:  # behind kamflow's back: the tally cannot follow
        conn.execute(update(TASK).where(TASK.c.id == review).values(due=moved))
    r = world.db.cli("audit", "verify", "--json")
    got = json.loads(r.stdout)
    assert r.code == 1 and got["intact"] is False and got["task_problems"] == []
    problems = got["count_problems"]
    assert problems and got["counts_checked"] > 0
    # the task left the cells of its old due date and is missing from those of its new one
    assert any(f"due {due.isoformat()}" in p and "the tasks say" in p for p in problems)
    assert any(f"due {moved.isoformat()}" in p and "kept 0" in p for p in problems)
    r = world.db.cli("audit", "verify")
    assert r.code == 1 and "board counts: department sales" in r.stdout
    assert "kamflow audit recount" in r.stdout
    api = world.client.get("/api/audit/verify", headers=world.as_("ada@x.test")).json()
    assert api == got  # the API gives the CLI's verdict, not a part of it

    r = world.db.cli("audit", "recount")
    assert r.code == 0, r.stderr
    assert f"{len(problems)} cell(s) had been off" in r.stdout
    with world.db.engine.connect() as conn:
        assert tally.drift(conn) == {}
    r = world.db.cli("audit", "verify", "--json")
    got = json.loads(r.stdout)
    assert r.code == 0 and got["intact"] is True and got["count_problems"] == []
    assert world.row(review)["due"] == moved  # the tasks are what the counts follow
