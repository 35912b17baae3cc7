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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, func, select

from kamflow.store import anchor, locking
from kamflow.store.tables import AUDIT_EVENT, TASK
from kamflow.tasks.chain import (
    DIGEST_HEX,
    TASK_FIELDS,
    ChainBreak,
    ChainVerifier,
    batch_key,
    id_ranges,
    link,
    range_ids,
    task_digest,
)

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


Tick = Callable[[int], None]  # told how many more rows were checked, for a progress bar


def _quiet(_n: int) -> None:
    pass


def check_chain(conn: Connection, chunk: int = CHUNK, tick: Tick = _quiet
                ) -> tuple[int, ChainBreak | None]:
    """(events read, first break or None): stops reading at the first break."""
    checker = ChainVerifier()
    for row in _stream(conn, chunk):
        found = checker.feed(row)
        if found is not None:
            return checker.count, found
        if checker.count % chunk == 0:
            tick(chunk)
    tick(checker.count % chunk)
    return checker.count, None


def sizes(conn: Connection) -> tuple[int, int]:
    """(events, task rows): what a full verification reads, for its progress bars."""
    return (int(conn.execute(select(func.count()).select_from(AUDIT_EVENT)).scalar_one()),
            int(conn.execute(select(func.count()).select_from(TASK)).scalar_one()))


def verify_chain(conn: Connection, chunk: int = CHUNK) -> ChainBreak | None:
    """The first event that breaks the chain, or None when it is intact."""
    return check_chain(conn, chunk)[1]


def events(conn: Connection, entity: str | None = None, entity_id: str | None = None,
           limit: int = 100) -> list[dict[str, Any]]:
    """The most recent events, newest first, optionally of one entity kind or one entity.
    A task's creation, audited with its chunk (`created_batch`), is told as the task's own
    event: who made it, when, and why (the row's rule, playbook version and occurrence)."""
    if limit < 1:
        raise ValueError(f"--limit: {limit} is not a positive number")
    query = select(AUDIT_EVENT).order_by(AUDIT_EVENT.c.id.desc()).limit(limit)
    if entity is not None:
        query = query.where(AUDIT_EVENT.c.entity == entity)
    if entity_id is not None:
        query = query.where(AUDIT_EVENT.c.entity_id == entity_id)
    found = [dict(r) for r in conn.execute(query).mappings()]
    if entity == "task" and entity_id is not None and entity_id.isdigit():
        found += _creation_of(conn, int(entity_id))
        found.sort(key=lambda e: e["id"], reverse=True)
    return found[:limit]


# -- task rows audited a chunk at a time ------------------------------------------------

BATCH_LOOKBACK = 20  # batches whose first id is at or below a task's: chunks rarely overlap


def created_batch(at: datetime, actor: str, version: str,
                  tasks: Sequence[tuple[int, Mapping[str, Any]]]) -> dict[str, Any]:
    """One event for task rows made together: their ids and a digest of each row."""
    tasks = sorted(tasks, key=lambda t: t[0])
    ids = [t[0] for t in tasks]
    return {"at": at, "actor": actor, "entity": "task", "entity_id": batch_key(ids[0], ids[-1]),
            "action": "created", "before": None,
            "after": {"tasks": len(ids), "playbook_version": version, "ids": id_ranges(ids),
                      "digests": "".join(task_digest(i, row) for i, row in tasks)}}


def _is_batch(entity_id: str) -> bool:
    return entity_id.startswith("0") and "-" in entity_id


def _creation_of(conn: Connection, task_id: int) -> list[dict[str, Any]]:
    """The chunk event that created `task_id`, told as the task's own event."""
    upto = batch_key(task_id, 0)[:12] + "~"  # every key whose first id is <= task_id
    candidates = conn.execute(
        select(AUDIT_EVENT).where(AUDIT_EVENT.c.entity == "task",
                                  AUDIT_EVENT.c.entity_id >= "0", AUDIT_EVENT.c.entity_id < upto)
        .order_by(AUDIT_EVENT.c.entity_id.desc()).limit(BATCH_LOOKBACK)).mappings().all()
    for ev in candidates:
        if ev["action"] != "created" or task_id not in set(range_ids(ev["after"]["ids"])):
            continue
        row = conn.execute(select(TASK).where(TASK.c.id == task_id)).mappings().first()
        told: dict[str, Any] = {"batch": ev["entity_id"], "batch_event": ev["id"]}
        if row is not None:
            told.update(account=row["account_id"], step=row["step"], period=row["period"],
                        playbook_version=row["playbook_version"], why=row["why"])
        return [{**dict(ev), "entity_id": str(task_id), "after": told}]
    return []


@dataclass
class Findings:
    """What a check found: rows (or cells) checked and the first problems, in words."""
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    more: int = 0  # problems beyond the first MAX_PROBLEMS

    def add(self, problem: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.more += 1


MAX_PROBLEMS = 20


def check_tasks(conn: Connection, chunk: int = CHUNK, tick: Tick = _quiet) -> Findings:
    """Every task row against the events that created it: a covered row that is gone was
    deleted, one whose digest differs was edited, and a row no event covers was inserted
    behind kamflow's back. Rows made before chunk events carry only their own event."""
    report = Findings()
    covered: list[list[int]] = []
    for ev in conn.execute(
            select(AUDIT_EVENT.c.entity_id, AUDIT_EVENT.c.after)
            .where(AUDIT_EVENT.c.entity == "task", AUDIT_EVENT.c.action == "created")
            .order_by(AUDIT_EVENT.c.id)).mappings():
        key = ev["entity_id"]
        if not _is_batch(key):
            if key.isdigit():
                covered.append([int(key), int(key)])
            continue
        after = ev["after"] or {}
        ranges = after.get("ids") or []
        covered += [[int(a), int(b)] for a, b in ranges]
        ids = range_ids(ranges)
        _check_batch(conn, ids, str(after.get("digests", "")), report)
        tick(len(ids))
    _check_coverage(conn, covered, chunk, report)
    return report


def _check_batch(conn: Connection, ids: list[int], digests: str, report: Findings) -> None:
    if not ids:
        return
    cols = [TASK.c.id, *(TASK.c[f] for f in TASK_FIELDS)]
    rows: dict[int, Mapping[str, Any]] = {r["id"]: dict(r) for r in conn.execute(
        select(*cols).where(TASK.c.id.between(ids[0], ids[-1]))).mappings()}
    for n, task_id in enumerate(ids):
        report.checked += 1
        row = rows.get(task_id)
        if row is None:
            report.add(f"task {task_id}: deleted (its creation event lists it)")
        elif task_digest(task_id, row) != digests[n * DIGEST_HEX:(n + 1) * DIGEST_HEX]:
            report.add(f"task {task_id}: edited (its creation content does not match the "
                       "digest its creation event holds)")


def _check_coverage(conn: Connection, covered: list[list[int]], chunk: int,
                    report: Findings) -> None:
    """Stream task ids in order beside the merged covered ranges."""
    merged: list[list[int]] = []
    for a, b in sorted(covered):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    k, after = 0, 0
    while True:
        ids = conn.execute(select(TASK.c.id).where(TASK.c.id > after).order_by(TASK.c.id)
                           .limit(chunk)).scalars().all()
        for task_id in ids:
            while k < len(merged) and merged[k][1] < task_id:
                k += 1
            if k == len(merged) or merged[k][0] > task_id:
                report.add(f"task {task_id}: no creation event (inserted outside kamflow)")
        if len(ids) < chunk:
            return
        after = ids[-1]
