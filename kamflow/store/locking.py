"""The one order in which a transaction takes its locks, so that no two writers deadlock.

Every multi-row transaction takes what it needs in this order, and never goes back to an
earlier kind once it holds a later one:

1. account rows, ascending id: the sweep chunk (`SELECT ... FOR UPDATE` over lo..hi), a
   contact or event for one account (`lock_account`), an import (accounts upserted in key
   order; contacts, revenue and feedback lock their accounts first, `lock_accounts`: their
   foreign keys would take share locks on those rows), deactivation (its accounts).
2. the audit lock (`audit_first`): the transaction-level advisory lock audit.append
   takes. Anything that will append an event *and* write task rows takes it before its
   first task row: the sweep chunk (after its accounts), the escalation pass and waking
   (sweep end and the escalation job), task actions, contacts, events, imports,
   deactivation. Reads that come after it see every earlier writer's commit. The sweep
   chunk reads its facts and works out its new task rows *before* taking it, since every
   chunk of a sweep takes it in turn and what comes before it runs side by side in the
   shards: what those reads see is locked with the chunk's accounts (contacts, events,
   revenue), or is a task row that only guarded statements change (a task done meanwhile
   is the same as one done just after the chunk; the unique occurrence key still stops a
   second copy). The boards' kept counts (kamflow.store.tally) are read and shifted only
   under it, so one writer's "before" is never another's "after".
3. task rows (guarded updates, in id order where a statement lists them).
4. account plans and their entries (a task done on the plan).
5. outbox rows: inserted with ON CONFLICT DO NOTHING by the writers above; claimed by the
   deliverer (`FOR UPDATE SKIP LOCKED`, oldest first) in its own transactions, which
   take nothing else.

Transactions of their own, touching nothing above: job_run slots (kamflow.runs), the
scheduler lock (kamflow.store.lock), login throttle keys (sorted, kamflow.store.throttle),
web sessions.

On SQLite every write transaction starts with BEGIN IMMEDIATE (kamflow.store.db), which
serialises writers whole: the order costs nothing there and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select, text

from kamflow.store.tables import ACCOUNT

# pg_advisory_xact_lock key for audit appends: the bytes b"kamaudit" as a bigint.
AUDIT_LOCK = int.from_bytes(b"kamaudit", "big")


def audit_first(conn: Connection) -> None:
    """Take the audit lock now (step 2), before any task row; held to the end of the
    transaction. Taking it again later (audit.append does) is free."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK})


def lock_accounts(conn: Connection, account_ids: Iterable[str]) -> None:
    """Lock these account rows in id order (step 1): a row that refers to an account (a
    contact, a revenue month) takes a share lock on it through its foreign key, which must
    not come after the audit lock either."""
    ids = sorted(set(account_ids))
    for start in range(0, len(ids), 5000):
        conn.execute(select(ACCOUNT.c.id).where(ACCOUNT.c.id.in_(ids[start:start + 5000]))
                     .order_by(ACCOUNT.c.id).with_for_update())


def lock_account(conn: Connection, account_id: str) -> bool:
    """Lock one account row (step 1); False when there is no such account."""
    found = conn.execute(select(ACCOUNT.c.id).where(ACCOUNT.c.id == account_id)
                         .with_for_update()).first()
    return found is not None
