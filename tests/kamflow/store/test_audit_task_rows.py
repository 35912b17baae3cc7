"""A sweep chunk's new tasks are audited by one chained event holding their ids and a
digest per row: `audit verify` still names an edited, deleted or inserted task row, and
`audit events --entity task --id ID` still tells who made a task, when and why."""

from __future__ import annotations

import json

from sqlalchemy import delete, func, insert, select, update

from kamflow import adherence
from kamflow.store.tables import AUDIT_EVENT, TASK
from support.web import World


def _verify(world: World) -> dict[str, object]:
    r = world.db.cli("audit", "verify", "--json")
    return dict(json.loads(r.stdout), code=r.code)


def test_one_event_per_chunk_covers_every_new_task(world: World) -> None:
    with world.db.engine.connect() as conn:
        tasks = conn.execute(select(func.count()).select_from(TASK)).scalar_one()
        created = conn.execute(select(AUDIT_EVENT.c.after).where(
            AUDIT_EVENT.c.entity == "task", AUDIT_EVENT.c.action == "created")).scalars().all()
    assert tasks > 10 and len(created) < tasks  # not an event per task
    assert sum(e["tasks"] for e in created) == tasks
    got = _verify(world)
    assert got["code"] == 0 and got["intact"] is True
    assert got["tasks_checked"] == tasks and got["task_problems"] == []


def test_an_edited_a_deleted_and_an_inserted_task_row_are_named(world: World) -> None:
    review = world.task("STEADY", "loyal.quarterly_plan_review")
    loss = world.task("GONE", "lost.record_loss")
    world.db.tampered = True  # rows deleted behind kamflow's back: the tally cannot follow
    with world.db.engine.begin() as conn:
        conn.execute(update(TASK).where(TASK.c.id == review).values(
            why={"rule": "forged", "playbook_version": "x"}))
        for table in TASK.metadata.sorted_tables:  # what points at the row goes first
            for fk in table.foreign_keys:
                if fk.column.table is TASK:
                    conn.execute(delete(table).where(fk.parent == loss))
        conn.execute(delete(TASK).where(TASK.c.id == loss))
        row = dict(conn.execute(select(TASK).where(TASK.c.id == review)).one()._mapping)
        row.pop("id")
        forged = conn.execute(insert(TASK).values(**{**row, "period": "forged"})
                              .returning(TASK.c.id)).scalar_one()
    got = _verify(world)
    assert got["code"] == 1 and got["intact"] is False
    problems = got["task_problems"]
    assert isinstance(problems, list)
    assert sorted(problems) == sorted([
        f"task {review}: edited (its creation content does not match the digest its "
        "creation event holds)",
        f"task {loss}: deleted (its creation event lists it)",
        f"task {forged}: no creation event (inserted outside kamflow)"])
    r = world.db.cli("audit", "verify")
    assert r.code == 1 and f"task rows: task {forged}: no creation event" in r.stdout


def test_a_task_s_events_tell_who_made_it_when_and_why(world: World) -> None:
    review = world.task("STEADY", "loyal.quarterly_plan_review")
    r = world.db.cli("audit", "events", "--entity", "task", "--id", str(review), "--json")
    assert r.code == 0, r.stderr
    made = [e for e in json.loads(r.stdout) if e["action"] == "created"]
    assert len(made) == 1
    assert made[0]["actor"] == "system" and made[0]["entity_id"] == str(review)
    assert made[0]["after"]["step"] == "loyal.quarterly_plan_review"
    assert made[0]["after"]["why"]["rule"] == "loyal.quarterly_plan_review"
    assert made[0]["after"]["batch"].startswith("0")
    other = world.task("GONE", "lost.record_loss")
    r = world.db.cli("audit", "events", "--entity", "task", "--id", str(other), "--json")
    assert [e["entity_id"] for e in json.loads(r.stdout) if e["action"] == "created"] == [
        str(other)]


def test_verify_tells_its_progress_part_by_part(world: World) -> None:
    """`audit verify` at a million accounts reads millions of rows: each part it checks
    starts a progress bar sized by what it will read and advances it to the end."""
    started: list[tuple[str, int | None]] = []
    ticked: dict[str, int] = {}

    def stage(label: str, rows: int | None) -> adherence.audit.Tick:
        started.append((label, rows))
        ticked[label] = 0
        return lambda n: ticked.__setitem__(label, ticked[label] + n)

    with world.db.engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(AUDIT_EVENT)).scalar_one()
        tasks = conn.execute(select(func.count()).select_from(TASK)).scalar_one()
    found = adherence.verify(world.db.engine, stage)
    assert found.intact and found.events == events > 5 and found.rows.checked == tasks > 10
    assert started == [("audit chain", events), ("task rows", tasks), ("board counts", None)]
    assert ticked == {"audit chain": events, "task rows": tasks, "board counts": 0}
    assert adherence.verify(world.db.engine).as_dict() == found.as_dict()  # no bar, one verdict
