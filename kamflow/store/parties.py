"""A task's RACI parties as rows of task_party, written with the task and read by index.

The task keeps its party columns (what the API shows); task_party repeats them one name a
row, so "the tasks where X is R, A, C or I" and "the tasks of department D" look up
ix_task_party_party (party, live, letter, kind, task_id) instead of reading every live task
with LIKE '%,x,%'. A row's kind says which column named the party:

    R person: assignee      R queue: queue      R dept: responsible_dept
    A person: accountable   A dept: accountable_dept
    R/C/I named: a name in co_responsible / consulted / informed (person or department)

Each row also says whether its task is live (open or snoozed), so a queue reads the live
work of a party, not its whole history; and it repeats the task's due date, which never
changes, so a page of that work by due date walks ix_task_party_due (party, live, due,
task_id, ...) in order. Every write that changes a task's parties calls `add` (new tasks)
or `sync` (re-derive the rows from the task's columns: one DELETE and one bulk INSERT per
chunk); one that closes tasks calls `relive` (one UPDATE per chunk).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    and_,
    delete,
    or_,
    select,
    true,
    update,
)

from kamflow.store.bulk import insert_all, literal_in
from kamflow.store.tables import TASK, TASK_PARTY
from kamflow.tasks.raci import unpacked
from kamflow.tasks.status import Status

SINGLE = (("R", "person", "assignee"), ("R", "queue", "queue"),
          ("R", "dept", "responsible_dept"), ("A", "person", "accountable"),
          ("A", "dept", "accountable_dept"))
LISTED = (("R", "co_responsible"), ("C", "consulted"), ("I", "informed"))
COLUMNS = [c for _, _, c in SINGLE] + [c for _, c in LISTED]
_columns = itemgetter(*COLUMNS)  # a task row's party columns, as one tuple

# letter -> the kinds of row a person / a department holds that letter by, as the task
# filters have always read it: a person is R as the assignee (not as a co-responsible).
PERSON: Mapping[str, tuple[str, ...]] = {"R": ("person",), "A": ("person",), "C": ("named",),
                                         "I": ("named",)}
DEPARTMENT: Mapping[str, tuple[str, ...]] = {"R": ("dept", "named"), "A": ("dept",),
                                             "C": ("named",), "I": ("named",)}
CHUNK = 900  # ids per statement, under SQLite's parameter limit
LIVE = (Status.OPEN.value, Status.SNOOZED.value)


def rows_of(task: Mapping[Any, Any]) -> list[dict[str, Any]]:
    """The task_party rows of one task: a mapping with `id`, `status`, `due` and the party
    columns."""
    return _rows(task["id"], held(task), task["status"] in LIVE, task["due"])


def held(task: Mapping[Any, Any]) -> list[tuple[str, str, str]]:
    """(letter, kind, party) of every party a task's columns name, sorted."""
    seen: set[tuple[str, str, str]] = set()
    for letter, kind, column in SINGLE:
        if task[column]:
            seen.add((letter, kind, task[column]))
    for letter, column in LISTED:
        seen.update((letter, "named", name) for name in unpacked(task[column] or ""))
    return sorted(seen)


def _rows(task_id: int, parties: list[tuple[str, str, str]], live: bool, due: date
          ) -> list[dict[str, Any]]:
    return [{"task_id": task_id, "letter": letter, "kind": kind, "party": party, "live": live,
             "due": due} for letter, kind, party in parties]


def add(conn: Connection, went_in: Iterable[tuple[int, Mapping[str, Any]]]) -> None:
    """The parties of tasks just inserted, as (id, the row inserted). Tasks routed alike
    (most of a sweep's) share their parties: each set is worked out once."""
    known: dict[tuple[Any, ...], list[tuple[str, str, str]]] = {}
    out: list[dict[str, Any]] = []
    for task_id, row in went_in:
        columns = _columns(row)
        found = known.get(columns)
        if found is None:
            found = known[columns] = held(row)
        out.extend(_rows(task_id, found, row["status"] in LIVE, row["due"]))
    insert_all(conn, TASK_PARTY, out)


def sync(conn: Connection, task_ids: Iterable[int]) -> None:
    """Re-derive the party rows of these tasks from their columns, after they changed."""
    ids = sorted(set(task_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = literal_in(ids[start:start + CHUNK])
        conn.execute(delete(TASK_PARTY).where(TASK_PARTY.c.task_id.in_(chunk)))
        tasks = conn.execute(select(TASK.c.id, TASK.c.status, TASK.c.due,
                                    *(TASK.c[c] for c in COLUMNS))
                             .where(TASK.c.id.in_(chunk)))
        insert_all(conn, TASK_PARTY, [p for t in tasks for p in rows_of(t._mapping)])


def relive(conn: Connection, task_ids: Iterable[int]) -> None:
    """Their rows' `live` as their tasks' status says now, after a status change."""
    ids = sorted(set(task_ids))
    live = (select(TASK.c.status.in_(LIVE)).where(TASK.c.id == TASK_PARTY.c.task_id)
            .scalar_subquery())
    for start in range(0, len(ids), CHUNK):
        chunk = literal_in(ids[start:start + CHUNK])
        conn.execute(update(TASK_PARTY).where(TASK_PARTY.c.task_id.in_(chunk)).values(live=live))


def task_ids(party: str, holds: Mapping[str, Sequence[str]], letter: str | None = None,
             live: bool = False) -> Select[Any]:
    """The ids of the tasks where `party` holds `letter` (any letter when None), by the
    kinds `holds` (PERSON or DEPARTMENT), only live ones if `live`: an index range on
    (party, live, letter, kind)."""
    letters = [letter] if letter else sorted(holds)
    q = select(TASK_PARTY.c.task_id).where(
        TASK_PARTY.c.party == party,
        or_(*(and_(TASK_PARTY.c.letter == x, TASK_PARTY.c.kind.in_(holds[x])) for x in letters)))
    return q.where(TASK_PARTY.c.live == true()) if live else q


def seen_by(email: str, department: str, lead: bool) -> Select[Any]:
    """The ids of the tasks a person sees by name (kamflow.access): those naming them in any
    slot, those in their department's queue, and for a lead those naming the department."""
    me = TASK_PARTY.c.party == email
    dept = TASK_PARTY.c.party == department
    # The queue's rows by every column of the index before the task id, `live` either way:
    # `party = dept AND kind = 'queue'` alone reads every row naming the department (all of
    # sales' tasks, history too) to find its queue's few.
    queued = and_(dept, TASK_PARTY.c.live.in_([True, False]), TASK_PARTY.c.letter == "R",
                  TASK_PARTY.c.kind == "queue")
    return select(TASK_PARTY.c.task_id).where(or_(me, dept) if lead else or_(me, queued))
