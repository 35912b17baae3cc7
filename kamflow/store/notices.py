"""Notices: who is to be told about which new task, kept until that person's digest tells
them. One row per (task, person), unrendered; the digest that carries a notice is recorded
on it (`digest_id`, an outbox row) in the transaction that queues the digest, and the
deliverer renders the digest from its notices, with the tasks as they are then.

So a sweep that makes 100,000 tasks writes 100,000 short rows in one bulk INSERT per chunk,
not 100,000 rendered emails, and each person gets one message a day about them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from kamflow.store.bulk import insert_all
from kamflow.store.tables import NOTICE

IN_CHUNK = 1000


def add(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert the notices (task_id, recipient, kind, created_at, digest_id None) of tasks
    this transaction inserted: none can be noted yet, so a plain bulk insert, once per
    (task, person) (the first row of a pair wins). Returns the rows added."""
    seen: set[tuple[int, str]] = set()
    once = []
    for r in rows:
        if (r["task_id"], r["recipient"]) not in seen:
            seen.add((r["task_id"], r["recipient"]))
            once.append(r)
    insert_all(conn, NOTICE, once)
    return len(once)


def waiting(conn: Connection, emails: Sequence[str], at: datetime) -> set[str]:
    """Those of `emails` with notices recorded by `at` that no digest carries yet."""
    out: set[str] = set()
    for start in range(0, len(emails), IN_CHUNK):
        out.update(conn.execute(
            select(NOTICE.c.recipient).distinct()
            .where(NOTICE.c.digest_id.is_(None), NOTICE.c.created_at <= at,
                   NOTICE.c.recipient.in_(emails[start:start + IN_CHUNK]))).scalars())
    return out


def attach(conn: Connection, digests: Iterable[Mapping[str, Any]], at: datetime) -> None:
    """Give each person's waiting notices (recorded by `at`) to their new digest row
    (`{"id": outbox id, "recipient": email}`): one UPDATE, run once per digest."""
    params = [{"b_digest": d["id"], "b_recipient": d["recipient"]} for d in digests]
    if not params:
        return
    conn.execute(update(NOTICE)
                 .where(NOTICE.c.recipient == bindparam("b_recipient"),
                        NOTICE.c.digest_id.is_(None), NOTICE.c.created_at <= at)
                 .values(digest_id=bindparam("b_digest")), params)


def carried(conn: Connection, digest_ids: Sequence[int]) -> dict[int, list[int]]:
    """The task ids each digest carries."""
    out: dict[int, list[int]] = defaultdict(list)
    for start in range(0, len(digest_ids), IN_CHUNK):
        for r in conn.execute(select(NOTICE.c.digest_id, NOTICE.c.task_id).where(
                NOTICE.c.digest_id.in_(digest_ids[start:start + IN_CHUNK]))):
            out[r.digest_id].append(r.task_id)
    return out
