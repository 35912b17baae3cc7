"""The audit trail in the store: appending chained events, verifying the chain, reading
events back, and the adherence report over tasks.

Appends are serialized so that the chain never forks: on PostgreSQL by a
transaction-level advisory lock taken before the last hash is read; on SQLite
every transaction already starts with BEGIN IMMEDIATE (kamflow.store.db), which holds
the write lock from the start. The lock is held until the caller's transaction
ends, so keep transactions that append short. Each append also signs the new head
(kamflow.store.anchor) when an audit key is configured.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any, cast

from sqlalchemy import Connection, and_, case, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from kamflow.store import anchor, locking
from kamflow.store.tables import ACCOUNT, AUDIT_EVENT, PERSON, TASK
from kamflow.tasks.chain import ChainBreak, ChainVerifier, link

CHUNK = 5000
COLUMNS = ("at", "actor", "entity", "entity_id", "action", "before", "after", "prev_hash", "hash")
BY = ("step", "department", "person", "class", "state")
TOTAL = "(total)"
NO_REASON = "(no reason)"


# -- the chain ----------------------------------------------------------------------


def append(conn: Connection, events: Sequence[Mapping[str, Any]]) -> None:
    """Chain `events` (at, actor, entity, entity_id, action, before, after) onto the
    trail inside the caller's transaction."""
    if not events:
        return
    if conn.dialect.name == "postgresql" and conn.get_isolation_level() != "READ COMMITTED":
        # A snapshot taken before the lock would read a stale last hash and fork the chain.
        raise RuntimeError("audit.append needs a READ COMMITTED transaction on PostgreSQL")
    locking.audit_first(conn)  # kamflow.store.locking: step 2 of the lock order
    last = conn.execute(select(AUDIT_EVENT.c.hash).order_by(AUDIT_EVENT.c.id.desc()).limit(1)).scalar()
    rows = link(events, last or "")
    if conn.dialect.driver == "psycopg":
        _copy(conn, rows)
    else:
        stmt = AUDIT_EVENT.insert()
        for start in range(0, len(rows), CHUNK):
            conn.execute(stmt, [{c: r[c] for c in COLUMNS} for r in rows[start:start + CHUNK]])
    anchor.checkpoint(conn, rows[-1]["at"])  # still under the lock: signs the new head


def _copy(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """COPY into the audit table on the caller's connection (so in its transaction):
    several times faster than an executemany INSERT on psycopg."""
    cols = ", ".join(f'"{c}"' for c in COLUMNS)
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f'COPY "{AUDIT_EVENT.name}" ({cols}) FROM STDIN') as copy:
        for r in rows:
            copy.write_row((
                r["at"], r["actor"], r["entity"], r["entity_id"], r["action"],
                None if r["before"] is None else json.dumps(r["before"]),
                None if r["after"] is None else json.dumps(r["after"]),
                r["prev_hash"], r["hash"],
            ))


def _stream(conn: Connection, chunk: int = CHUNK) -> Iterator[Mapping[str, Any]]:
    """Every event in id order, read in keyset chunks."""
    query = (
        select(AUDIT_EVENT.c.id, *(AUDIT_EVENT.c[c] for c in COLUMNS))
        .order_by(AUDIT_EVENT.c.id)
        .limit(chunk)
    )
    after: int | None = None
    while True:
        page = query if after is None else query.where(AUDIT_EVENT.c.id > after)
        rows = cast("Sequence[Mapping[str, Any]]", conn.execute(page).mappings().all())
        yield from rows
        if len(rows) < chunk:
            return
        after = rows[-1]["id"]


def check_chain(conn: Connection, chunk: int = CHUNK) -> tuple[int, ChainBreak | None]:
    """(events read, first break or None): stops reading at the first break."""
    checker = ChainVerifier()
    for row in _stream(conn, chunk):
        found = checker.feed(row)
        if found is not None:
            return checker.count, found
    return checker.count, None


def verify_chain(conn: Connection, chunk: int = CHUNK) -> ChainBreak | None:
    """The first event that breaks the chain, or None when it is intact."""
    return check_chain(conn, chunk)[1]


def events(conn: Connection, entity: str | None = None, entity_id: str | None = None,
           limit: int = 100) -> list[dict[str, Any]]:
    """The most recent events, newest first, optionally of one entity kind or one entity."""
    if limit < 1:
        raise ValueError(f"--limit: {limit} is not a positive number")
    query = select(AUDIT_EVENT).order_by(AUDIT_EVENT.c.id.desc()).limit(limit)
    if entity is not None:
        query = query.where(AUDIT_EVENT.c.entity == entity)
    if entity_id is not None:
        query = query.where(AUDIT_EVENT.c.entity_id == entity_id)
    return [dict(r) for r in conn.execute(query).mappings()]


# -- adherence ----------------------------------------------------------------------


def _group_key(by: str) -> tuple[ColumnElement[Any], Any]:
    """The group expression for `by` and the FROM clause it needs."""
    if by == "step":
        return TASK.c.step, TASK
    if by == "state":
        return TASK.c.state, TASK
    if by == "person":
        queue = literal("queue:").concat(TASK.c.queue)
        return func.coalesce(TASK.c.assignee, queue, "(unassigned)"), TASK
    if by == "department":
        # The Responsible's department: the queue, else the assignee's department.
        joined = TASK.outerjoin(PERSON, PERSON.c.email == TASK.c.assignee)
        return func.coalesce(TASK.c.queue, PERSON.c.department, TASK.c.responsible_dept), joined
    if by == "class":
        return func.coalesce(ACCOUNT.c.klass, "(none)"), TASK.join(
            ACCOUNT, ACCOUNT.c.id == TASK.c.account_id
        )
    raise ValueError(f"--by: '{by}' is not one of {', '.join(BY)}")


def _count(cond: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def adherence(conn: Connection, start: date, end: date, by: str, as_of: date) -> list[dict[str, Any]]:
    """Per group, tasks due in [start, end]: how many were done on time, late, skipped,
    missed (still open when the next occurrence opened), are still open (overdue as of
    `as_of` or not yet due); cancelled ones are counted
    apart and left out of `due`. The last row, group "(total)", covers every task."""
    if start > end:
        raise ValueError(f"--from {start.isoformat()} is after --to {end.isoformat()}")
    key, source = _group_key(by)
    s = (select(key.label("grp"), TASK.c.status, TASK.c.due, TASK.c.done_at, TASK.c.reason)
         .select_from(source).where(TASK.c.due.between(start, end)).subquery())
    done_late = and_(s.c.status == "done", func.date(s.c.done_at) > s.c.due)
    live = s.c.status.in_(("open", "snoozed"))
    counts = cast("Sequence[Mapping[str, Any]]", conn.execute(
        select(
            s.c.grp,
            func.count().label("tasks"),
            _count(s.c.status == "cancelled").label("cancelled"),
            _count(s.c.status == "done").label("done"),
            _count(done_late).label("done_late"),
            _count(s.c.status == "skipped").label("skipped"),
            _count(s.c.status == "missed").label("missed"),
            _count(and_(live, s.c.due < as_of)).label("open_overdue"),
            _count(and_(live, s.c.due >= as_of)).label("open_not_yet_due"),
        ).group_by(s.c.grp)
    ).mappings().all())
    lateness: dict[str, list[int]] = defaultdict(list)
    for grp, due, done_at in conn.execute(select(s.c.grp, s.c.due, s.c.done_at).where(done_late)):
        lateness[grp].append((done_at.date() - due).days)
    reasons: dict[str, dict[str, int]] = defaultdict(dict)
    for grp, reason, n in conn.execute(
        select(s.c.grp, s.c.reason, func.count()).where(s.c.status == "skipped")
        .group_by(s.c.grp, s.c.reason)
    ):
        label = reason or NO_REASON
        reasons[grp][label] = reasons[grp].get(label, 0) + n

    rows = []
    for c in sorted(counts, key=lambda c: str(c["grp"])):
        grp = str(c["grp"])
        rows.append(_row(grp, c, lateness[grp], reasons[grp]))
    total: dict[str, int] = defaultdict(int)
    for c in counts:
        for k, v in c.items():
            if k != "grp":
                total[k] += int(v)
    all_reasons: dict[str, int] = defaultdict(int)
    for per_group in reasons.values():
        for label, n in per_group.items():
            all_reasons[label] += n
    rows.append(_row(TOTAL, total, [d for ds in lateness.values() for d in ds], all_reasons))
    return rows


def _row(group: str, c: Mapping[str, Any], late: list[int], reasons: Mapping[str, int]
         ) -> dict[str, Any]:
    due = int(c["tasks"]) - int(c["cancelled"])
    on_time = int(c["done"]) - int(c["done_late"])
    return {
        "group": group,
        "due": due,
        "done_on_time": on_time,
        "done_late": int(c["done_late"]),
        "skipped": int(c["skipped"]),
        "missed": int(c["missed"]),
        "open_overdue": int(c["open_overdue"]),
        "open_not_yet_due": int(c["open_not_yet_due"]),
        "cancelled": int(c["cancelled"]),
        "on_time_rate": on_time / due if due else None,
        "median_lateness_days": float(statistics.median(late)) if late else None,
        "skip_reasons": dict(sorted(reasons.items())),
    }
