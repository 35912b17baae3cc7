"""The task lists of the queue, the board and GET /api/tasks in SQL: a filter, a sort,
keyset pages and exact counts.

Who: `person` and `department` are task_party lookups (kamflow.store.parties), the tasks
where they hold `raci` (any letter when None); `assignee` and `queue` are the task's own
columns, who holds it now. `klass` and `key_account` are the account's, tested per task
by the account's key, so they never decide how the task tables are read.

Two ways to read the same rows (`drive`); kamflow.queue chooses by the size of the party
(`party_sizes`: counts that stop at a bound):

- "party": the party's task ids from ix_task_party_party, then each task by its key, then
  sorted. Its cost follows the party's live tasks: right for a person or a rare department.
  On PostgreSQL as `id = ANY(ARRAY(...))` (AmongIds), on SQLite with the status column
  kept off its index (Unindexed): neither planner may walk the status index instead, which
  a party whose tasks fall late in due-date order makes slow. A page of live tasks by due
  date takes a `window` first: the party's first so many live tasks in that order, from
  ix_task_party_due (party, live, due, task_id) alone (`walks_party`), each then looked up.
- "task": the tasks in sort order from ix_task_status_due (status, due, id), each kept when
  a task_party row names the party (a key lookup). `window` bounds the walk to the first
  so many tasks of that status, read from the index alone: a department named on most tasks
  fills its page from them at once, and one that does not is read again by the party's
  window, then "party"-wise. Open tasks (open or snoozed) are two ranges of the index, read
  as two runs and merged.

Counting a party's open tasks reads them all whichever way. A small party's are counted
from its ids ("party"); a large party's as a plain `IN` ("planner"): SQLite reads the ids
first, PostgreSQL picks a semi-join (a hash of the ids against the open tasks), twice as
fast there as looking up each id.

Every sort ends with the task id, a total order. The page after a row holds the rows
strictly after its sort key: `lead >= v AND (columns) > (values)`, the first term an index
range and the second the exact cut, so a task is listed once across pages even while tasks
are added. Counts are COUNT(*) over the same filter, never capped; a department's
breakdown by class and due date, when nothing but its letter and key-account flag narrow it,
is read from the counts kept as tasks change (kamflow.store.tally, by kamflow.queue).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from kamflow.store import parties
from kamflow.store.scope import Unindexed
from kamflow.store.tables import ACCOUNT, TASK, TASK_PARTY
from kamflow.tasks.status import LIVE, Status

STATUSES = ("open", "overdue", "due-today", "upcoming", "done", "snoozed", "skipped",
            "missed", "cancelled", "all")
LIVE_STATUSES = ("open", "overdue", "due-today", "upcoming", "snoozed", "awake")
AWAKE = "awake"  # open and not snoozed: one run of the open tasks (rows, drive "task")
CLASSES = ("A", "B", "C", "D")
UNCLASSIFIED = "-"
# name -> (columns, descending); each ends with the id
SORTS: dict[str, tuple[tuple[str, ...], bool]] = {
    "due": (("due", "id"), False),
    "-due": (("due", "id"), True),
}
ORDERS = {**SORTS, "-done": (("done_at", "id"), True)}  # and the board's "done lately"
COLUMNS = (
    TASK.c.id, TASK.c.account_id, TASK.c.step, TASK.c.period, TASK.c.title, TASK.c.status,
    TASK.c.start, TASK.c.due, TASK.c.assignee, TASK.c.queue, TASK.c.responsible_dept,
    TASK.c.accountable, TASK.c.accountable_dept, TASK.c.consulted, TASK.c.informed,
    TASK.c.co_responsible, TASK.c.escalation_level, TASK.c.snoozed_until, TASK.c.outcome,
    TASK.c.reason, TASK.c.playbook_version, TASK.c.why, TASK.c.done_at, TASK.c.done_by,
)
Drive = Literal["party", "task", "planner"]


@dataclass(frozen=True)
class TaskFilter:
    """Which tasks a list shows; `scope`: an extra condition on the task table (the web
    app's visibility rule, kamflow.access)."""

    today: date
    person: str | None = None
    department: str | None = None
    raci: str | None = None
    status: str = "open"
    account: str | None = None
    step: str | None = None
    state: str | None = None
    klass: str | None = None  # A-D, or "-" for an account not classified yet
    key_account: bool | None = None
    assignee: str | None = None
    queue: str | None = None
    due_from: date | None = None
    due_to: date | None = None
    done_since: datetime | None = None
    scope: Any = None

    def but(self, **changes: Any) -> TaskFilter:
        return replace(self, **changes)

    @property
    def parties(self) -> list[tuple[str, Any]]:
        """(name, the kinds of row it holds a letter by) of the person and the department."""
        return [(who, holds) for who, holds in ((self.person, parties.PERSON),
                                                (self.department, parties.DEPARTMENT))
                if who is not None]


class AmongIds(ColumnElement[bool]):
    """`column IN (ids)`, read from the ids: on PostgreSQL `column = ANY(ARRAY(ids))`, which
    its planner cannot turn into a walk of another index (a semi-join it may choose when
    it misjudges how the party's tasks spread over the due dates).

    Cacheable, by the column and the ids' statement: a statement that holds an uncacheable
    element is compiled again on every request (a third of a queue page's CPU)."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("ids", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: Any, ids: Select[Any]) -> None:
        self.column, self.ids = column, ids


@compiles(AmongIds)
def _among(element: AmongIds, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column.in_(element.ids), **kw))


@compiles(AmongIds, "postgresql")
def _among_postgresql(element: AmongIds, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} = ANY(ARRAY({compiler.process(element.ids, **kw)}))"


def check(f: TaskFilter, sort: str = "due") -> None:
    """ValueError naming the option for a status, letter, class or sort that does not exist."""
    if f.status not in (*STATUSES, AWAKE):
        raise ValueError(f"--status: '{f.status}' is not one of {', '.join(STATUSES)}")
    if f.raci is not None and f.raci not in ("R", "A", "C", "I"):
        raise ValueError(f"--raci: '{f.raci}' is not one of R, A, C, I")
    if f.klass is not None and f.klass not in (*CLASSES, UNCLASSIFIED):
        raise ValueError(f"--class: '{f.klass}' is not one of A, B, C, D, {UNCLASSIFIED}")
    if sort not in ORDERS:
        raise ValueError(f"--sort: '{sort}' is not one of {', '.join(SORTS)}")


def status_condition(status: str, today: date, column: Any = TASK.c.status
                     ) -> ColumnElement[bool]:
    """The statuses in the SQL text itself, not as parameters: each is a very different share
    of the table, which a plan made for any value (PostgreSQL's generic plans) cannot see."""

    def named(*values: str) -> ColumnElement[bool]:
        if len(values) == 1:
            one: ColumnElement[bool] = column == bindparam(None, values[0], literal_execute=True)
            return one
        many: ColumnElement[bool] = column.in_(bindparam(None, list(values), expanding=True,
                                                         literal_execute=True))
        return many

    awake = named(Status.OPEN.value)
    return {
        "open": named(*(s.value for s in LIVE)),
        "overdue": and_(awake, TASK.c.due < today),
        "due-today": and_(awake, TASK.c.due == today),
        "upcoming": and_(awake, TASK.c.due > today),
        AWAKE: awake,
        "all": true(),
    }.get(status, named(status))


def conditions(f: TaskFilter, drive: Drive = "party", walked: bool = False
               ) -> list[ColumnElement[bool]]:
    """`walked`: the first party's tasks are those a window of its rows yields (`rows`)."""
    check(f)
    party = drive == "party" and bool(f.parties)
    out = [status_condition(f.status, f.today, Unindexed(TASK.c.status) if party
                            else TASK.c.status)]
    for column, value in ((TASK.c.account_id, f.account), (TASK.c.step, f.step),
                          (TASK.c.state, f.state), (TASK.c.assignee, f.assignee),
                          (TASK.c.queue, f.queue)):
        if value is not None:
            out.append(column == value)
    out += _due_range(f, TASK.c.due)
    if f.done_since is not None:
        out.append(TASK.c.done_at >= f.done_since)
    acc = ACCOUNT.alias("acc")  # its own name: the breakdown joins the account too
    account: list[ColumnElement[bool]] = []
    if f.klass is not None:
        account.append(acc.c.klass.is_(None) if f.klass == UNCLASSIFIED
                       else acc.c.klass == f.klass)
    if f.key_account is not None:
        account.append(acc.c.key_account.is_(True) if f.key_account
                       else acc.c.key_account.is_not(True))
    if account:
        out.append(exists().where(acc.c.id == TASK.c.account_id, *account))
    if f.scope is not None:
        out.append(f.scope)
    live = f.status in LIVE_STATUSES
    for who, holds in f.parties[1:] if walked else f.parties:
        ids = parties.task_ids(who, holds, f.raci, live)
        out.append(AmongIds(TASK.c.id, ids) if drive == "party"
                   else ids.where(TASK_PARTY.c.task_id == TASK.c.id).exists() if drive == "task"
                   else TASK.c.id.in_(ids))
    return out


def party_sizes(f: TaskFilter, bound: int) -> list[Select[Any]]:
    """How many task_party rows name the filter's person, its department, each counted no
    further than `bound`: what `drive` is chosen by, at the cost of `bound` index entries."""
    live = f.status in LIVE_STATUSES
    return [select(func.count()).select_from(
        parties.task_ids(who, holds, f.raci, live).limit(bound).subquery())
        for who, holds in f.parties]


def rows(f: TaskFilter, sort: str = "due", after: Sequence[Any] | None = None,
         limit: int | None = None, drive: Drive = "party", window: int | None = None
         ) -> Select[Any]:
    """The tasks of `f` in `sort` order, those after the sort key `after` (keyset), at most
    `limit`. `window`: look only at the first `window` tasks in that order that have the
    status asked (drive "task"), or that its first party holds live (drive "party", when
    `walks_party`), whatever the rest of the filter says; when fewer than `limit` of them
    pass, the caller asks again another way."""
    check(f, sort)
    if drive == "task" and f.status == "open" and limit:
        runs = [_rows(f.but(status=s), sort, after, limit, drive, window).subquery()
                for s in (AWAKE, Status.SNOOZED.value)]
        merged = union_all(*(select(r) for r in runs)).subquery()
        names, desc = ORDERS[sort]
        return (select(*(merged.c[c.name] for c in COLUMNS))
                .order_by(*(merged.c[n].desc() if desc else merged.c[n] for n in names))
                .limit(limit))
    return _rows(f, sort, after, limit, drive, window)


def _rows(f: TaskFilter, sort: str, after: Sequence[Any] | None, limit: int | None,
          drive: Drive, window: int | None) -> Select[Any]:
    names, desc = ORDERS[sort]
    columns = [TASK.c[n] for n in names]
    order: list[Any] = [c.desc() if desc else c for c in columns]
    cut = [keyset(columns, after, desc)] if after is not None else []
    walked = drive == "party" and bool(window)
    q = select(*COLUMNS).where(*conditions(f, drive, walked), *cut)
    if walked:
        # The party's first `window` live tasks in order, from ix_task_party_due alone, each
        # looked up by its key (AmongIds: PostgreSQL would rather hash every live task) and
        # tested; the few that pass are sorted.
        first = _party_window(f, sort, after, window or 0).subquery("first")
        q = q.where(AmongIds(TASK.c.id, select(first.c.id)))
    elif drive == "task" and window:
        # The first `window` tasks in order, from the index alone (ix_task_status_due holds
        # status, due and id), each joined to its row and tested in that order: the page
        # stops at its last task, or at the window's end.
        first = _window(f, sort, after, window).subquery("first")
        q = q.select_from(first.join(TASK, TASK.c.id == first.c.id))
        order = [first.c[n].desc() if desc else first.c[n] for n in names]
    q = q.order_by(*order)
    return q.limit(limit) if limit else q


def _window(f: TaskFilter, sort: str, after: Sequence[Any] | None, window: int
            ) -> Select[Any]:
    names, desc = ORDERS[sort]
    columns = [TASK.c[n] for n in names]
    cut = [keyset(columns, after, desc)] if after is not None else []
    ranges = _due_range(f, TASK.c.due)
    ranges += [TASK.c.done_at >= f.done_since] if f.done_since is not None else []
    return (select(*columns).where(status_condition(f.status, f.today), *ranges, *cut)
            .order_by(*(c.desc() if desc else c for c in columns)).limit(window))


def walks_party(f: TaskFilter, sort: str) -> bool:
    """Can a window of `f`'s first party's rows (`_party_window`) hold its page: live tasks
    by due date."""
    return bool(f.parties) and f.status in LIVE_STATUSES and sort in SORTS


def _party_window(f: TaskFilter, sort: str, after: Sequence[Any] | None, window: int
                  ) -> Select[Any]:
    """The first `window` live tasks of the first party in due order, each once (a party
    may hold a task by several rows), from ix_task_party_due alone."""
    who, holds = f.parties[0]
    desc = ORDERS[sort][1]
    columns = [TASK_PARTY.c.due, TASK_PARTY.c.task_id]
    cut = [keyset(columns, after, desc)] if after is not None else []
    today, due = f.today, TASK_PARTY.c.due
    ranges = _due_range(f, due)
    if f.status in ("overdue", "due-today", "upcoming"):  # as status_condition has them
        ranges.append({"overdue": due < today, "due-today": due == today,
                       "upcoming": due > today}[f.status])
    return (parties.task_ids(who, holds, f.raci, live=True)
            .with_only_columns(due.label("due"), TASK_PARTY.c.task_id.label("id"))
            .where(*ranges, *cut).distinct()
            .order_by(*(c.desc() if desc else c for c in columns)).limit(window))


def _due_range(f: TaskFilter, due: Any) -> list[ColumnElement[bool]]:
    """The filter's due-date range, on `due` (the task's column or its party rows')."""
    return ([due >= f.due_from] if f.due_from is not None else []) \
        + ([due <= f.due_to] if f.due_to is not None else [])


def window_used(f: TaskFilter, sort: str, after: Sequence[Any] | None, window: int,
                drive: Drive = "task") -> Select[Any]:
    """How many tasks the window of `rows` held (all of them, when fewer than `window`:
    then what it found is the whole answer); open tasks read "task"-wise: one count per
    run."""
    if drive == "party":
        return select(select(func.count()).select_from(
            _party_window(f, sort, after, window).subquery()).scalar_subquery())
    statuses = [AWAKE, Status.SNOOZED.value] if f.status == "open" else [f.status]
    return select(*(select(func.count()).select_from(
        _window(f.but(status=s), sort, after, window).subquery()).scalar_subquery()
        for s in statuses))


def keyset(columns: Sequence[Any], after: Sequence[Any], desc: bool) -> ColumnElement[bool]:
    if len(after) != len(columns):
        raise ValueError("cursor: not a cursor of this list")
    lead, key = columns[0], tuple_(*columns)
    if desc:
        return and_(lead <= after[0], key < tuple_(*after))
    return and_(lead >= after[0], key > tuple_(*after))


def sort_key(row: Any, sort: str) -> list[Any]:
    """The values of a row's sort columns (what `after` takes for the next page)."""
    return [row[n] for n in ORDERS[sort][0]]


def count(f: TaskFilter, drive: Drive = "party") -> Select[Any]:
    """How many tasks `f` selects."""
    return select(func.count()).select_from(TASK).where(*conditions(f, drive))


def breakdown(f: TaskFilter, week_end: date | None = None, drive: Drive = "party"
              ) -> Select[Any]:
    """The live tasks of `f` counted by account class and bucket, whatever `f` says about
    those two: (klass, bucket, n) rows, from which a page shows each chip's count. With
    `week_end`, upcoming is split into "week" (due by then) and "later"."""
    g = f.but(status="open", klass=None, due_from=None, due_to=None)
    soon = [(TASK.c.due <= week_end, "week")] if week_end else []
    when = case((TASK.c.status == Status.SNOOZED.value, "snoozed"),
                (TASK.c.due < f.today, "overdue"), (TASK.c.due == f.today, "due-today"),
                *soon, else_="later" if week_end else "upcoming")
    acc = ACCOUNT.alias("k")  # its own name: a scope may test the account too
    inner = (select(acc.c.klass, when.label("bucket"))
             .select_from(TASK.join(acc, acc.c.id == TASK.c.account_id))
             .where(*conditions(g, drive))).subquery()
    return (select(inner.c.klass, inner.c.bucket, func.count().label("n"))
            .group_by(inner.c.klass, inner.c.bucket))
