"""Bulk actions (kamflow.bulk_actions) on both databases: each task changed or refused on
its own, with the single action's code and reason; an audit event per task changed; one
transaction for the lot."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from kamflow import bulk_actions, queue
from kamflow.engine.clock import FixedClock
from kamflow.people import Principal
from kamflow.store import audit
from kamflow.store.tables import AUDIT_EVENT, TASK
from support.web import NOW, World, snapshot

ANN = Principal("ann@x.test", "Ann Am", "account_manager", "sales")
CLOCK = FixedClock(NOW)


def events(world: World) -> list[Any]:
    with world.db.engine.connect() as conn:
        return list(conn.execute(select(AUDIT_EVENT).order_by(AUDIT_EVENT.c.id)))


def test_each_task_is_changed_or_refused_with_the_reason_and_audited_alone(
        world: World) -> None:
    mine = [world.task("STEADY", "loyal.quarterly_plan_review"),
            world.task("DRIFT", "declining.drift_analysis")]
    closed = world.task("STEADY", "loyal.monthly_target_tracking")
    queue.act(world.db.engine, closed, "done", CLOCK, ANN.email, outcome="on target")
    sams = world.task("DRIFT", "declining.senior_visit")  # ann sees it, may not work it
    bobs = world.task("GONE", "lost.record_loss")  # ann does not see it
    refused = [closed, sams, bobs]
    before = {t: world.row(t) for t in refused}
    seen = len(events(world))
    done = bulk_actions.run(world.db.engine, ANN, "skip",
                            [mine[0], closed, sams, mine[1], bobs, 999_999, mine[0]], CLOCK,
                            reason="covered at the annual review")
    assert [(o.task_id, o.code) for o in done.outcomes] == [
        (mine[0], 200), (closed, 409), (sams, 403), (mine[1], 200), (bobs, 404),
        (999_999, 404)]  # each once, in the order asked
    why = {o.task_id: o.error for o in done.refused}
    assert why[closed] == f"task {closed} is done; 'skip' needs a task that is open or snoozed"
    assert why[sams].startswith("only the assignee, the Accountable or a lead")
    assert why[bobs] == f"unknown task {bobs}" and why[999_999] == "unknown task 999999"
    assert {t: world.row(t) for t in refused} == before
    for t in mine:
        row = world.row(t)
        assert (row["status"], row["reason"]) == ("skipped", "covered at the annual review")
    new = events(world)[seen:]
    assert sorted((e.entity_id, e.action, e.actor) for e in new) == sorted(
        (str(t), "skipped", ANN.email) for t in mine)
    with world.db.engine.connect() as conn:
        assert audit.verify_chain(conn) is None


def test_a_bulk_action_is_one_transaction(world: World, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """Every task applied, then the audit append fails: none of them changed."""
    lea = Principal("lea@x.test", "Lea Lead", "department_lead", "sales")
    ids = [world.task("STEADY", "loyal.quarterly_plan_review"),
           world.task("DRIFT", "declining.drift_analysis"),
           world.task("UNHAPPY", "declining.recovery_plan")]
    base = snapshot(world.db)

    def broken(conn: Any, rows: Any) -> None:
        assert len(rows) == len(ids)  # every task was applied, in this transaction
        if conn.dialect.name == "postgresql":  # written, not committed (SQLite: locked)
            with world.db.engine.connect() as other:
                assert set(other.execute(select(TASK.c.status).where(TASK.c.id.in_(ids)))
                           .scalars()) == {"open"}
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(audit, "append", broken)
    with pytest.raises(RuntimeError, match="the disk is full"):
        bulk_actions.run(world.db.engine, lea, "snooze", ids, CLOCK,
                         until=NOW.date().replace(day=20), reason="trade fair")
    monkeypatch.undo()
    assert snapshot(world.db) == base


def test_bad_input_names_the_field_and_changes_nothing(world: World) -> None:
    tid = world.task("STEADY", "loyal.quarterly_plan_review")
    base = snapshot(world.db)
    for action, ids, params, field in (
            ("archive", [tid], {}, "action"), ("skip", [], {"reason": "r"}, "ids"),
            ("skip", [tid], {"reason": "  "}, "reason"), ("snooze", [tid], {"reason": "r"}, "until"),
            ("assign", [tid], {}, "to"),
            ("skip", list(range(1, bulk_actions.MAX_TASKS + 2)), {"reason": "r"}, "ids")):
        with pytest.raises(ValueError, match=f"^{field}: "):
            bulk_actions.run(world.db.engine, ANN, action, ids, CLOCK, **params)
    assert snapshot(world.db) == base
