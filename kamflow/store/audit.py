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
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, select

from kamflow.store import anchor, locking
from kamflow.store.tables import AUDIT_EVENT
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
