"""Touchpoint plans make tasks in the sweep and contacts complete them, on both stores.

Worked by hand: BIG's FY2026 plan is first saved on 5 January; go-live is 2 January (the
first sweep). The owner is to meet the plant manager every 30 days: due from 4 February
(5 Jan + 30), the task due a week later; the service department the maintenance lead
every 60 days: from 6 March; the sponsor the purchasing director every 90 days: 5 April.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from kamflow.engine.clock import FixedClock
from kamflow.playbooks.touchpoints import Touchpoint, period
from kamflow.store import audit
from kamflow.store.tables import ACCOUNT, NOTICE, OUTBOX, TASK
from kamflow.sweep import run_sweep
from support import DB

PEOPLE = ("email,name,department,role\nann@x.test,Ann Am,sales,account_manager\n"
          "lea@x.test,Lea Lead,sales,department_lead\n"
          "sam@x.test,Sam Sponsor,management,manager\nsid@x.test,Sid Service,service,"
          "department_lead\n")
ACCOUNTS = ("account_id,name,industry,owner_email,sponsor_email,potential,state,created_at\n"
            "BIG,Big Foods,food,ann@x.test,sam@x.test,1000000,loyal,2024-01-01\n")
PLAN = """\
touchpoints:
  - {ours: owner, theirs: Plant Manager, every_days: 30}
  - {ours: service, theirs: maintenance lead, every_days: 60}
  - {ours: sponsor, theirs: purchasing director, every_days: 90}
"""


def _import(db: DB, tmp_path: Path, kind: str, text: str, at: str) -> None:
    path = tmp_path / f"{kind}.csv"
    path.write_text(text)
    r = db.cli("import", kind, str(path), "--at", at)
    assert r.code == 0, r.stderr


def _setup(db: DB, tmp_path: Path) -> None:
    _import(db, tmp_path, "people", PEOPLE, "2026-01-01")
    _import(db, tmp_path, "accounts", ACCOUNTS, "2026-01-01")
    run_sweep(db.engine, FixedClock(datetime(2026, 1, 2, 6)))  # go-live: 2 January
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    r = db.cli("plan", "edit", "BIG", "--from", str(plan), "--at", "2026-01-05")
    assert r.code == 0, r.stderr


def _sweep(db: DB, day: date) -> None:
    run_sweep(db.engine, FixedClock(datetime(day.year, day.month, day.day, 6)))


def _touchpoint_tasks(db: DB) -> list[Any]:
    with db.engine.connect() as conn:
        return list(conn.execute(
            select(TASK.c.id, TASK.c.step, TASK.c.period, TASK.c.title, TASK.c.start, TASK.c.due,
                   TASK.c.status, TASK.c.assignee, TASK.c.queue, TASK.c.accountable,
                   TASK.c.accountable_dept, TASK.c.evidence, TASK.c.why)
            .where(TASK.c.step.like("%.touchpoint")).order_by(TASK.c.id)))


def _state(db: DB) -> str:
    with db.engine.connect() as conn:
        return str(conn.execute(select(ACCOUNT.c.state).where(ACCOUNT.c.id == "BIG")).scalar())


def _contact(db: DB, by: str, role: str, day: str) -> None:
    r = db.cli("contact", "log", "BIG", "--channel", "visit", "--by", by, "--date", day,
               "--customer-role", role, "--at", day)
    assert r.code == 0, r.stderr


def test_a_due_touchpoint_makes_one_task_routed_to_our_side(db: DB, tmp_path: Path) -> None:
    _setup(db, tmp_path)
    _sweep(db, date(2026, 2, 3))
    assert _touchpoint_tasks(db) == []  # 29 days after the plan: not due yet
    with db.engine.connect() as conn:
        wake = conn.execute(select(ACCOUNT.c.wake_at).where(ACCOUNT.c.id == "BIG")).scalar()
    assert wake is not None and wake <= datetime(2026, 2, 4)  # it wakes on its due day
    for day in (4, 5, 9):  # one task per anchor, not one per sweep
        _sweep(db, date(2026, 2, day))
    (task,) = _touchpoint_tasks(db)
    assert task.step == f"{_state(db)}.touchpoint"
    assert task.period == "tp:owner:plant-manager@2026-01-05"
    assert task.title == "Touchpoint: owner meets plant manager (every 30 days)"
    assert (task.start, task.due, task.status) == (date(2026, 2, 4), date(2026, 2, 11), "open")
    # ours (the owner) is Responsible, the owner's lead Accountable
    assert (task.assignee, task.queue, task.accountable) == ("ann@x.test", None, "lea@x.test")
    why = task.why
    assert why["plan"] == {"account": "BIG", "fiscal_year": 2026, "revision": 1}
    assert why["touchpoint"] == {"ours": "owner", "theirs": "plant manager", "every_days": 30}
    assert (why["anchor"], why["days"]) == ("2026-01-05", 30)
    with db.engine.connect() as conn:
        created = [e for e in audit.events(conn, "task", str(task.id))
                   if e["action"] == "created"]
        # The assignee is told: at once (outbox) or in the digest (notice).
        told = conn.execute(select(OUTBOX.c.kind).where(
            OUTBOX.c.dedupe_key.like(f"%:{task.id}:ann@x.test"))).all() + conn.execute(
            select(NOTICE.c.kind).where(NOTICE.c.task_id == task.id,
                                        NOTICE.c.recipient == "ann@x.test")).all()
    assert len(created) == 1 and len(told) == 1

    # 6 March: the service department's, to its queue, the owner Accountable.
    _sweep(db, date(2026, 3, 6))
    service = [t for t in _touchpoint_tasks(db) if t.period.startswith("tp:service:")]
    assert [(t.period, t.start, t.queue, t.assignee, t.accountable) for t in service] == [
        ("tp:service:maintenance-lead@2026-01-05", date(2026, 3, 6), "service", None,
         "ann@x.test")]


def test_only_a_qualifying_contact_completes_it(db: DB, tmp_path: Path) -> None:
    _setup(db, tmp_path)
    _sweep(db, date(2026, 2, 4))
    (task,) = _touchpoint_tasks(db)
    # Someone else met the plant manager; the owner met another role: neither counts.
    _contact(db, "sid@x.test", "plant manager", "2026-02-05")
    _contact(db, "ann@x.test", "maintenance lead", "2026-02-06")
    _sweep(db, date(2026, 2, 6))
    assert [t.status for t in _touchpoint_tasks(db)] == ["open"]
    _contact(db, "ann@x.test", "PLANT  manager", "2026-02-08")  # done at once, not at the sweep
    (done,) = _touchpoint_tasks(db)
    assert done.status == "done"
    assert done.evidence == {"contact_date": "2026-02-08", "person": "ann@x.test",
                             "customer_role": "plant manager"}
    # The next one is anchored on that contact: due 30 days later (10 March), not before.
    _sweep(db, date(2026, 3, 9))
    assert [t.period for t in _touchpoint_tasks(db) if t.period.startswith("tp:owner:")] == [
        "tp:owner:plant-manager@2026-01-05"]
    _sweep(db, date(2026, 3, 10))
    owner = [t for t in _touchpoint_tasks(db) if t.period.startswith("tp:owner:")]
    assert [(t.period, t.start, t.status) for t in owner] == [
        ("tp:owner:plant-manager@2026-01-05", date(2026, 2, 4), "done"),
        ("tp:owner:plant-manager@2026-02-08", date(2026, 3, 10), "open")]
    assert owner[1].why["occurrence"].endswith("since last qualifying contact 2026-02-08")


def test_an_imported_contact_completes_it(db: DB, tmp_path: Path) -> None:
    _setup(db, tmp_path)
    _sweep(db, date(2026, 3, 6))
    _import(db, tmp_path, "contacts", "account_id,date,channel,person_email,customer_role\n"
            "BIG,2026-03-07,visit,sid@x.test,Maintenance Lead\n", "2026-03-07")
    by = {t.period.split(":")[1]: t.status for t in _touchpoint_tasks(db)}
    assert by == {"owner": "open", "service": "done"}


def test_a_long_customer_role_keeps_the_key_short_and_apart() -> None:
    long = Touchpoint(ours="service", theirs="head of research & development", every_days=9)
    other = Touchpoint(ours="service", theirs="head of research & development x", every_days=9)
    keys = {period(t, date(2026, 1, 5)) for t in (long, other)}
    assert len(keys) == 2 and all(len(k) <= 40 for k in keys)
