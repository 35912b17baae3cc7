"""The audit trail on a real store (SQLite and PostgreSQL): appends chain across
transactions and threads, tampering with raw SQL is named by `audit verify`, and the
adherence report's figures match a hand-made set of tasks."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, update

from kamflow.store import audit
from kamflow.store.adherence import report
from kamflow.store.tables import ACCOUNT, AUDIT_EVENT, PERSON, TASK
from kamflow.tasks.chain import chain_hash
from support import DB

T0 = datetime(2026, 3, 1, 8, 0)


def ev(i: int, actor: str = "system") -> dict[str, Any]:
    """Events with what the JSON round trip must survive: dates, floats, nested unordered keys."""
    return {
        "at": T0 + timedelta(hours=i, microseconds=i * 7),
        "actor": actor,
        "entity": ("task", "account", "person")[i % 3],
        "entity_id": str(1000 + i),
        "action": ("created", "done", "transitioned", "escalated")[i % 4],
        "before": None if i % 4 == 0 else {"status": "open", "due": date(2026, 3, 1 + i % 28),
                                           "level": i % 3},
        "after": {"zeta": [1.0, 0.1 + 0.2, 1e16, 1.5e-10, -0.0], "status": "done",
                  "done_at": T0 + timedelta(days=i), "nested": {"b": i, "a": "ünïcødé ✓"},
                  "potential": 1234567.891, "none": None},
    }


def fill(db: DB, n: int = 10) -> list[int]:
    """n events in two transactions; their ids."""
    with db.engine.begin() as conn:
        audit.append(conn, [ev(i) for i in range(n // 2)])
    with db.engine.begin() as conn:
        audit.append(conn, [ev(i) for i in range(n // 2, n)])
        audit.append(conn, [])
    with db.engine.connect() as conn:
        return list(conn.execute(select(AUDIT_EVENT.c.id).order_by(AUDIT_EVENT.c.id)).scalars())


def test_appends_chain_across_transactions_and_survive_the_json_round_trip(db: DB) -> None:
    ids = fill(db)
    assert len(ids) == 10
    with db.engine.connect() as conn:
        assert audit.verify_chain(conn) is None
        assert audit.check_chain(conn, chunk=3) == (10, None)  # keyset pages of 3
        rows = conn.execute(select(AUDIT_EVENT).order_by(AUDIT_EVENT.c.id)).mappings().all()
    assert rows[0]["prev_hash"] == ""
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(rows, rows[1:], strict=False))
    assert rows[5]["before"] == {"status": "open", "due": "2026-03-06", "level": 2}
    assert rows[5]["after"]["done_at"] == "2026-03-06T08:00:00"
    r = db.cli("audit", "verify")
    assert r.code == 0, r.stderr
    assert r.stdout.strip().splitlines() == [  # no KAMFLOW_AUDIT_KEY here: see test_audit_anchor
        "audit chain intact: 10 events",
        "head not anchored: set KAMFLOW_AUDIT_KEY (or KAMFLOW_AUDIT_KEY_FILE)",
        "task rows intact: 0 match their creation events",
        "board counts match the tasks: 0 cells"]
    r = db.cli("audit", "verify", "--json")
    assert json.loads(r.stdout) == {"intact": True, "events": 10, "broken_at": None, "reason": None,
                                    "anchored": False, "checkpoint_event": None,
                                    "head_problems": [], "tasks_checked": 0,
                                    "task_problems": [], "counts_checked": 0,
                                    "count_problems": []}


def test_an_empty_trail_is_intact(db: DB) -> None:
    r = db.cli("audit", "verify")
    assert r.code == 0 and r.stdout.strip().splitlines()[0] == "audit chain intact: 0 events"


def _edit_after(db: DB, ids: list[int]) -> tuple[int, str]:
    with db.engine.begin() as conn:
        conn.execute(update(AUDIT_EVENT).where(AUDIT_EVENT.c.id == ids[3]).values(
            after={"status": "skipped", "note": "nothing to see"}))
    return ids[3], "edited"


def _edit_actor(db: DB, ids: list[int]) -> tuple[int, str]:
    with db.engine.begin() as conn:
        conn.execute(
            update(AUDIT_EVENT).where(AUDIT_EVENT.c.id == ids[6]).values(actor="mallory@x.test")
        )
    return ids[6], "edited"


def _delete_middle(db: DB, ids: list[int]) -> tuple[int, str]:
    with db.engine.begin() as conn:
        conn.execute(delete(AUDIT_EVENT).where(AUDIT_EVENT.c.id == ids[4]))
    return ids[5], f"does not match event {ids[3]}"


def _insert_forged(db: DB, ids: list[int]) -> tuple[int, str]:
    # Well-formed: linked to a real event and hashed like the real ones, but not onto the last.
    with db.engine.begin() as conn:
        prev = conn.execute(select(AUDIT_EVENT.c.hash).where(AUDIT_EVENT.c.id == ids[7])).scalar_one()
        forged = {**ev(99, actor="mallory@x.test"), "entity": "task", "entity_id": "1003",
                  "before": None, "after": {"status": "done"}, "prev_hash": prev}
        forged["hash"] = chain_hash(prev, forged)
        new_id = conn.execute(
            insert(AUDIT_EVENT).values(forged).returning(AUDIT_EVENT.c.id)
        ).scalar_one()
    return new_id, f"does not match event {ids[-1]}"


@pytest.mark.parametrize("tamper", [_edit_after, _edit_actor, _delete_middle, _insert_forged],
                         ids=["edit-after", "edit-actor", "delete", "insert"])
def test_tampering_is_named_by_verify(db: DB, tamper: Any) -> None:
    ids = fill(db)
    assert db.cli("audit", "verify").code == 0
    bad_id, why = tamper(db, ids)
    with db.engine.connect() as conn:
        found = audit.verify_chain(conn)
        assert audit.verify_chain(conn, chunk=2) == found
    assert found is not None and found.id == bad_id and why in found.reason, found
    r = db.cli("audit", "verify")
    assert r.code == 1
    assert r.stdout.startswith(f"audit chain broken at event {bad_id}: "), r.stdout
    assert why in " ".join(r.stdout.split())
    assert json.loads(db.cli("audit", "verify", "--json").stdout)["broken_at"] == bad_id


def test_concurrent_appends_never_fork_the_chain(db: DB) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer(name: str) -> None:
        try:
            start.wait()
            for batch in range(10):  # 10 transactions of 20 events, interleaving with the other
                with db.engine.begin() as conn:
                    audit.append(conn, [ev(batch * 20 + i, actor=name) for i in range(20)])
        except BaseException as e:  # reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(f"{n}@x.test",)) for n in ("ann", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.engine.connect() as conn:
        assert audit.check_chain(conn) == (400, None)
        per_actor = dict(
            conn.execute(select(AUDIT_EVENT.c.actor, func.count()).group_by(AUDIT_EVENT.c.actor)).all()
        )
    assert per_actor == {"ann@x.test": 200, "bob@x.test": 200}


def test_events_lists_newest_first_with_filters(db: DB) -> None:
    ids = fill(db, 12)
    with db.engine.connect() as conn:
        assert [e["id"] for e in audit.events(conn, limit=3)] == ids[:-4:-1]
        tasks = audit.events(conn, entity="task")
        assert [e["entity_id"] for e in tasks] == ["1009", "1006", "1003", "1000"]
        one = audit.events(conn, entity="account", entity_id="1004")
        assert len(one) == 1 and one[0]["action"] == "created" and one[0]["after"]["status"] == "done"
        with pytest.raises(ValueError, match="--limit"):
            audit.events(conn, limit=0)
    r = db.cli("audit", "events", "--entity", "task", "--limit", "2", "--json")
    assert r.code == 0, r.stderr
    data = json.loads(r.stdout)
    assert [(d["entity_id"], d["at"]) for d in data] == [("1009", "2026-03-01T17:00:00.000063"),
                                                         ("1006", "2026-03-01T14:00:00.000042")]
    r = db.cli("audit", "events", "--id", "1004")
    assert r.code == 0, r.stderr
    assert "account 1004" in r.stdout and "1 event(s)" in r.stdout
    assert db.cli("audit", "events", "--limit", "0").code == 2


# -- adherence ------------------------------------------------------------------------

AS_OF = date(2026, 3, 20)
QPR, MTT, AAP = ("loyal.quarterly_plan_review", "loyal.monthly_target_tracking",
                 "loyal.annual_account_plan")
PEOPLE = {"ann@x.test": "sales", "bob@x.test": "sales", "cat@x.test": "quotes",
          "mia@x.test": "management"}
ACCOUNTS = {"ACC1": ("A", "loyal"), "ACC2": ("B", "loyal"), "ACC3": (None, "prospect")}
# (account, step, due day in March, status, done_at, assignee, queue, reason)
TASKS: list[tuple[str, str, int, str, datetime | None, str | None, str | None, str | None]] = [
    ("ACC1", QPR, 10, "done", datetime(2026, 3, 9, 15), "ann@x.test", None, None),  # on time
    ("ACC2", QPR, 10, "done", datetime(2026, 3, 10, 23, 59), "bob@x.test", None, None),  # same day
    ("ACC1", QPR, 5, "done", datetime(2026, 3, 8, 1), "ann@x.test", None, None),  # 3 days late
    ("ACC3", QPR, 5, "done", datetime(2026, 3, 12, 9), "cat@x.test", None, None),  # 7 days late
    ("ACC2", QPR, 15, "skipped", None, "ann@x.test", None, "customer closed"),
    ("ACC3", QPR, 25, "open", None, "ann@x.test", None, None),  # not yet due
    ("ACC1", MTT, 1, "done", datetime(2026, 3, 2, 10), None, "quotes", None),  # 1 day late
    ("ACC2", MTT, 18, "open", None, None, "delivery", None),  # overdue
    ("ACC3", MTT, 19, "snoozed", None, "mia@x.test", None, "waiting"),  # overdue
    ("ACC1", MTT, 20, "open", None, "mia@x.test", None, None),  # due on as_of: not overdue
    ("ACC2", MTT, 12, "cancelled", None, "ann@x.test", None, "account lost"),
    ("ACC3", MTT, 14, "skipped", None, None, "quotes", "customer closed"),
    ("ACC1", MTT, 16, "skipped", None, "bob@x.test", "service", None),  # queue wins
    ("ACC2", AAP, 31, "cancelled", None, "ann@x.test", None, "duplicate"),
]
OUTSIDE = [("ACC1", QPR, date(2026, 2, 28), "done"), ("ACC2", MTT, date(2026, 4, 1), "open")]


@pytest.fixture
def planned(db: DB) -> DB:
    with db.engine.begin() as conn:
        conn.execute(insert(PERSON), [{"email": e, "name": e.split("@")[0].title(), "department": d,
                                  "role": "account_manager", "active": True}
                                 for e, d in PEOPLE.items()])
        conn.execute(insert(ACCOUNT), [{"id": aid, "name": f"{aid} GmbH", "industry": "machinery",
                                  "owner_email": "ann@x.test", "sponsor_email": None,
                                  "potential": 100_000.0, "criteria": {}, "state": state,
                                  "state_since": T0, "created_at": T0, "klass": klass,
                                  "key_account": False}
                                 for aid, (klass, state) in ACCOUNTS.items()])
        rows = [(acc, step, date(2026, 3, day), status, done_at, who, queue, reason)
                for acc, step, day, status, done_at, who, queue, reason in TASKS]
        rows += [(acc, step, due, status, datetime(2026, 2, 20) if status == "done" else None,
                  "ann@x.test", None, None) for acc, step, due, status in OUTSIDE]
        conn.execute(insert(TASK), [_task(n, *r) for n, r in enumerate(rows)])
    return db


def _task(n: int, account: str, step: str, due: date, status: str, done_at: datetime | None,
          assignee: str | None, queue: str | None, reason: str | None) -> dict[str, Any]:
    return {"account_id": account, "step": step, "period": f"p{n}", "state": step.split(".")[0],
            "playbook_version": "test", "title": step, "start": due - timedelta(days=14),
            "due": due, "status": status, "assignee": assignee, "queue": queue,
            "responsible_dept": "sales", "accountable": None, "accountable_dept": "management",
            "co_responsible": ",", "consulted": ",", "informed": ",", "escalation_level": 0,
            "fields": {}, "reason": reason, "done_at": done_at,
            "done_by": assignee if done_at else None, "created_at": T0, "updated_at": T0,
            "why": {}}


def row(group: str, due: int, on_time: int, late: int, skipped: int, overdue: int, not_yet: int,
        cancelled: int, median: float | None, reasons: dict[str, int]) -> dict[str, Any]:
    return {"group": group, "due": due, "done_on_time": on_time, "done_late": late,
            "skipped": skipped, "missed": 0, "open_overdue": overdue, "open_not_yet_due": not_yet,
            "cancelled": cancelled, "on_time_rate": on_time / due if due else None,
            "median_lateness_days": median, "skip_reasons": reasons}


TOTAL = row("(total)", 12, 2, 3, 3, 2, 2, 2, 3.0, {"(no reason)": 1, "customer closed": 2})
BY_STEP = [
    row(AAP, 0, 0, 0, 0, 0, 0, 1, None, {}),
    row(MTT, 6, 0, 1, 2, 2, 1, 1, 1.0, {"(no reason)": 1, "customer closed": 1}),
    row(QPR, 6, 2, 2, 1, 0, 1, 0, 5.0, {"customer closed": 1}),
    TOTAL,
]


def test_adherence_by_step_and_department_matches_hand_counts(planned: DB) -> None:
    with planned.engine.connect() as conn:
        by_step = report(conn, date(2026, 3, 1), date(2026, 3, 31), "step", AS_OF)
        by_dept = report(conn, date(2026, 3, 1), date(2026, 3, 31), "department", AS_OF)
    assert by_step == BY_STEP
    assert by_step[-1]["on_time_rate"] == pytest.approx(2 / 12)
    assert by_step[0]["on_time_rate"] is None  # only a cancelled task
    assert by_dept == CLI_BY_DEPARTMENT  # every department the RACI names (see below)


def test_adherence_other_groupings_and_window(planned: DB) -> None:
    def groups(by: str, start: date = date(2026, 3, 1), end: date = date(2026, 3, 31),
               as_of: date = AS_OF) -> dict[str, tuple[int, int, int]]:
        with planned.engine.connect() as conn:
            rows = report(conn, start, end, by, as_of)
        return {r["group"]: (r["due"], r["open_overdue"], r["cancelled"]) for r in rows}

    assert groups("person") == {
        "(total)": (12, 2, 2), "ann@x.test": (4, 0, 2), "bob@x.test": (2, 0, 0),
        "cat@x.test": (1, 0, 0), "mia@x.test": (2, 1, 0), "queue:delivery": (1, 1, 0),
        "queue:quotes": (2, 0, 0)}
    assert groups("class") == {"(total)": (12, 2, 2), "A": (5, 0, 0), "B": (3, 1, 2),
                               "(none)": (4, 1, 0)}
    assert groups("state") == {"(total)": (12, 2, 2), "loyal": (12, 2, 2)}
    # a later as_of makes every open task overdue; the window bounds are inclusive
    assert groups("step", as_of=date(2026, 4, 30))["(total)"] == (12, 4, 2)
    assert groups("step", date(2026, 2, 28), date(2026, 4, 1))["(total)"] == (14, 2, 2)
    assert groups("step", date(2027, 1, 1), date(2027, 1, 31)) == {"(total)": (0, 0, 0)}
    with planned.engine.connect() as conn, pytest.raises(ValueError, match="--by"):
        report(conn, date(2026, 3, 1), date(2026, 3, 31), "team", AS_OF)


# The CLI's department (kamflow.store.adherence) is every department the RACI names: each
# task here is sales' (R) and management's (A), and the queue holding it is R as well.
CLI_BY_DEPARTMENT = [
    row("delivery", 1, 0, 0, 0, 1, 0, 0, None, {}),
    {**TOTAL, "group": "management"},
    row("quotes", 2, 0, 1, 1, 0, 0, 0, 1.0, {"customer closed": 1}),
    {**TOTAL, "group": "sales"},
    row("service", 1, 0, 0, 1, 0, 0, 0, None, {"(no reason)": 1}),
    TOTAL,
]


def test_adherence_cli(planned: DB) -> None:
    r = planned.cli("audit", "adherence", "--from", "2026-03-01", "--to", "2026-03-31",
                    "--by", "department", "--at", "2026-03-20", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout) == {"from": "2026-03-01", "to": "2026-03-31", "as_of": "2026-03-20",
                                    "by": "department", "department": None, "letter": None,
                                    "rows": CLI_BY_DEPARTMENT}
    r = planned.cli("audit", "adherence", "--from", "2026-03-01", "--to", "2026-03-31",
                    "--at", "2026-03-20")
    assert r.code == 0, r.stderr
    assert "loyal.quarterly_plan_review" in r.stdout and "(total)" in r.stdout
    assert "customer closed: 2" in r.stdout and "17%" in r.stdout
    for args, option in [(("--by", "team"), "--by"), (("--from", "March"), "--from"),
                         (("--to", "2026-02-30"), "--to"), (("--at", "soon"), "--at"),
                         (("--from", "2026-04-01"), "--from")]:
        base = {"--from": "2026-03-01", "--to": "2026-03-31", "--by": "step"}
        base.update(dict([args]))
        r = planned.cli("audit", "adherence", *(x for kv in base.items() for x in kv))
        assert r.code == 2, (args, r.stdout)
        assert option in r.stderr, (args, r.stderr)
