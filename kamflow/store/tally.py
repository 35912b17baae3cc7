"""How many live tasks name each department, by letter, status, due date, account class and
key-account flag: the counts a department board shows, kept as they change.

Counting them on each view reads every open task a department is named on (about 4 µs a
task: seconds for a department named on millions). Here they are a few hundred rows per
department, read in a millisecond, and exact: every writer that changes a live task's
status, due date or parties, or an account's class or key-account flag, shifts the cells
its rows counted in, in its own transaction. It does so while holding the audit lock
(kamflow.store.locking), which every task writer takes before its first task row, so no
two shifts interleave and what a writer read as "before" is what the tally holds.

A cell counts each task once per (department, letter), whichever of its columns name the
department (responsible_dept and co_responsible are both R), and once per department under
the letter ANY. The department's rows are task_party's kinds "dept" and "named", less the
people a list names (an e-mail has an "@", a department key never: kamflow.playbooks.model).

`drift` recounts from the tasks and says where the tally differs (the tests call it after
every store they used); `mend` sets the cells it finds off (`kamflow audit recount`);
`rebuild` writes it anew from them (migration 0018).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, func, insert, select, union_all

from kamflow.store import locking, parties
from kamflow.store.bulk import add_to, literal_in
from kamflow.store.tables import ACCOUNT, TASK, TASK_PARTY, TASK_TALLY
from kamflow.store.task_list import TaskFilter
from kamflow.tasks.status import Status

ANY = "*"  # the letter under which a task counts once for its department, whatever it holds
UNCLASSIFIED = "-"
KINDS = ("dept", "named")
LIVE = (Status.OPEN.value, Status.SNOOZED.value)
BATCH = 5000  # literal ids per statement
KEY = ("party", "letter", "status", "due", "klass", "key_account")  # task_tally's primary key

# (party, letter, status, due, klass, key_account)
Cell = tuple[str, str, str, date, str, bool]
ROW = (TASK.c.id, TASK.c.account_id, TASK.c.status, TASK.c.due,
       *(TASK.c[c] for c in parties.COLUMNS))
# The columns that can name a department (a person's columns never do): a task row's
# values of them, as one tuple, say where it counts.
NAMING = tuple(c for _, kind, c in parties.SINGLE if kind in KINDS) + tuple(
    c for _, c in parties.LISTED)
_naming = itemgetter(*NAMING)


def _named() -> Select[Any]:
    """The (task, party, letter, status, due, class, key) rows of live tasks naming a
    department, one per (task, party, letter), from task_party: the recount."""
    klass = func.coalesce(ACCOUNT.c.klass, UNCLASSIFIED).label("klass")
    key = func.coalesce(ACCOUNT.c.key_account, False).label("key_account")
    return (select(TASK_PARTY.c.task_id, TASK_PARTY.c.party, TASK_PARTY.c.letter,
                   TASK.c.status, TASK.c.due, klass, key)
            .select_from(TASK_PARTY.join(TASK, TASK.c.id == TASK_PARTY.c.task_id)
                         .join(ACCOUNT, ACCOUNT.c.id == TASK.c.account_id))
            .where(TASK_PARTY.c.kind.in_(KINDS), TASK_PARTY.c.live.is_(True),
                   TASK_PARTY.c.party.not_like("%@%"), TASK.c.status.in_(LIVE))
            .distinct())


def _cells() -> Select[Any]:
    """Every cell, counted from task_party: each letter, and ANY."""
    named = _named().subquery("named")
    dims = (named.c.status, named.c.due, named.c.klass, named.c.key_account)
    by_letter = (select(named.c.party, named.c.letter, *dims, func.count().label("n"))
                 .group_by(named.c.party, named.c.letter, *dims))
    anyone = (select(named.c.party, bindparam(None, ANY).label("letter"), *dims,
                     func.count(func.distinct(named.c.task_id)).label("n"))
              .group_by(named.c.party, *dims))
    return union_all(by_letter, anyone).subquery("cells").select()


def _counter(conn: Connection, q: Select[Any]) -> Counter[Cell]:
    return Counter({(r.party, r.letter, r.status, _day(r.due), r.klass, bool(r.key_account)):
                    int(r.n) for r in conn.execute(q)})


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def counted(tasks: Iterable[Mapping[Any, Any]], classes: Mapping[str, tuple[str | None, bool]]
            ) -> Counter[Cell]:
    """What task rows count for (a mapping with the ROW columns each), their accounts'
    (class, key-account flag) as `classes` says: the rows task_party holds for them
    (kamflow.store.parties.held), read the way `recount` reads them. Tasks alike in status,
    due date, class and the departments they name are counted together first: a sweep's
    62,527 tasks at 20,000 accounts are 2,537 such groups."""
    alike: Counter[tuple[Any, ...]] = Counter()
    for t in tasks:
        if t["status"] in LIVE:
            alike[(t["status"], t["due"], *classes[t["account_id"]], _naming(t))] += 1
    out: Counter[Cell] = Counter()
    known: dict[tuple[Any, ...], list[tuple[str, str]]] = {}  # shared by many groups
    for (status, due, klass, key, naming), n in alike.items():
        named = known.get(naming)
        if named is None:
            named = known[naming] = _department_letters(naming)
        dims = (status, _day(due), klass or UNCLASSIFIED, bool(key))
        for party, letter in named:
            out[(party, letter, *dims)] += n
    return out


def _department_letters(naming: tuple[Any, ...]) -> list[tuple[str, str]]:
    """(department, letter) a task with these NAMING values counts under: each letter it
    holds, and ANY once."""
    task = {**dict.fromkeys(parties.COLUMNS), **dict(zip(NAMING, naming, strict=True))}
    letters: dict[str, set[str]] = {}
    for letter, kind, party in parties.held(task):
        if kind in KINDS and "@" not in party:
            letters.setdefault(party, set()).add(letter)
    return [(party, letter) for party, held in letters.items() for letter in (*held, ANY)]


def classes_of(conn: Connection, account_ids: Iterable[str]) -> dict[str, tuple[str | None, bool]]:
    ids = sorted(set(account_ids))
    out: dict[str, tuple[str | None, bool]] = {}
    for start in range(0, len(ids), BATCH):
        out.update((r.id, (r.klass, bool(r.key_account))) for r in conn.execute(
            select(ACCOUNT.c.id, ACCOUNT.c.klass, ACCOUNT.c.key_account)
            .where(ACCOUNT.c.id.in_(literal_in(ids[start:start + BATCH])))))
    return out


def of(conn: Connection, task_ids: Iterable[int]) -> Counter[Cell]:
    """What these tasks count for now: their rows by primary key, their accounts' too (no
    join a planner without statistics could misread)."""
    ids = sorted(set(task_ids))
    rows: list[Mapping[Any, Any]] = []
    for start in range(0, len(ids), BATCH):
        rows.extend(r._mapping for r in conn.execute(
            select(*ROW).where(TASK.c.id.in_(literal_in(ids[start:start + BATCH])))))
    return counted(rows, classes_of(conn, (r["account_id"] for r in rows)))


@contextmanager
def kept(conn: Connection, task_ids: Iterable[int]) -> Iterator[None]:
    """Around a change to these tasks: the tally follows it. Takes the audit lock first (free
    when held), so the "before" it reads is the tally's."""
    locking.audit_first(conn)
    ids = sorted(set(task_ids))
    before = of(conn, ids)
    yield
    shift(conn, before, of(conn, ids))


def added(conn: Connection, went_in: Sequence[tuple[int, Mapping[Any, Any]]]) -> None:
    """Tasks just inserted, as (id, the row inserted): counted from the rows themselves."""
    locking.audit_first(conn)
    rows = [r for _, r in went_in]
    shift(conn, Counter(), counted(rows, classes_of(conn, (r["account_id"] for r in rows))))


def reclassified(conn: Connection, was: Mapping[str, tuple[str | None, bool]]) -> None:
    """Accounts whose class or key-account flag this transaction changed: `was` holds what
    they were. Their live tasks move from the old cells to the new ones. The tasks are read
    by account (their status tested here, so only the account index can serve the read)."""
    locking.audit_first(conn)
    ids = sorted(was)
    rows: list[Mapping[Any, Any]] = []
    for start in range(0, len(ids), BATCH):
        rows.extend(r._mapping for r in conn.execute(
            select(*ROW).where(TASK.c.account_id.in_(literal_in(ids[start:start + BATCH]))))
            if r.status in LIVE)
    if rows:
        shift(conn, counted(rows, was), counted(rows, classes_of(conn, was)))


def shift(conn: Connection, before: Counter[Cell], after: Counter[Cell]) -> None:
    """Apply after - before: one upsert of the cells that moved, in key order, under the
    audit lock (taken by whoever read `before`)."""
    locking.audit_first(conn)
    delta = Counter(after)
    delta.subtract(before)
    rows = [{"party": c[0], "letter": c[1], "status": c[2], "due": c[3], "klass": c[4],
             "key_account": c[5], "n": n} for c, n in sorted(delta.items()) if n]
    add_to(conn, TASK_TALLY, rows, KEY, "n")


def cells(conn: Connection, party: str, letter: str | None) -> list[Any]:
    """(status, due, klass, key_account, n) of a department's cells under `letter` (ANY when
    None): the index range of the primary key."""
    t = TASK_TALLY.c
    return list(conn.execute(
        select(t.status, t.due, t.klass, t.key_account, t.n)
        .where(t.party == party, t.letter == (letter or ANY), t.n != 0)))


def serves(f: TaskFilter) -> bool:
    """Whether the tally holds the breakdown of a task filter (kamflow.store.task_list): a
    department's tasks, narrowed by letter, class, key-account flag, status and due dates
    at most (the breakdown sets the last three aside)."""
    return (f.department is not None and f.person is None and f.scope is None
            and all(v is None for v in (f.account, f.step, f.state, f.assignee, f.queue,
                                        f.done_since)))


def breakdown(conn: Connection, department: str, letter: str | None, key_account: bool | None,
              today: date, week_end: date | None) -> dict[tuple[str, str], int]:
    """(class, bucket) -> live tasks, as kamflow.store.task_list.breakdown counts them."""
    out: Counter[tuple[str, str]] = Counter()
    for status, due, klass, key, n in cells(conn, department, letter):
        if key_account is not None and bool(key) != key_account:
            continue
        out[(klass, _bucket(status, _day(due), today, week_end))] += int(n)
    return dict(out)


def _bucket(status: str, due: date, today: date, week_end: date | None) -> str:
    if status == Status.SNOOZED.value:
        return "snoozed"
    if due < today:
        return "overdue"
    if due == today:
        return "due-today"
    if week_end is None:
        return "upcoming"
    return "week" if due <= week_end else "later"


def tidy(conn: Connection) -> None:
    """Drop the cells that count nothing (days gone by, classes left)."""
    conn.execute(delete(TASK_TALLY).where(TASK_TALLY.c.n == 0))


def recount(conn: Connection) -> Counter[Cell]:
    """The tally as the tasks say it should be."""
    return _counter(conn, _cells())


def compare(conn: Connection) -> tuple[int, dict[Cell, tuple[int, int]]]:
    """How many cells the tasks call for, and those where the tally differs from that
    recount: cell -> (kept, counted)."""
    kept_now = _counter(conn, select(TASK_TALLY))
    counted = recount(conn)
    return len(counted), {c: (kept_now[c], counted[c]) for c in set(kept_now) | set(counted)
                          if kept_now[c] != counted[c]}


def drift(conn: Connection) -> dict[Cell, tuple[int, int]]:
    """Cells where the tally differs from a recount: cell -> (kept, counted)."""
    return compare(conn)[1]


def mend(conn: Connection) -> int:
    """Set the cells a recount finds off to what it counted, under the audit lock; returns
    how many were off. One recount (9.5 s at 100,000 accounts on SQLite), where checking and
    then `rebuild` took two."""
    locking.audit_first(conn)
    _, wrong = compare(conn)
    shift(conn, Counter({c: kept for c, (kept, _) in wrong.items()}),
          Counter({c: counted for c, (_, counted) in wrong.items()}))
    tidy(conn)
    return len(wrong)


def rebuild(conn: Connection) -> None:
    """The tally anew from the tasks (one statement: the migration that adds it), under the
    audit lock like every other writer of it."""
    locking.audit_first(conn)
    conn.execute(delete(TASK_TALLY))
    cells_q = _cells().subquery("c")
    conn.execute(insert(TASK_TALLY).from_select(
        list(KEY) + ["n"], select(*(cells_q.c[k] for k in KEY), cells_q.c.n)))
