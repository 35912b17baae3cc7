"""Writing account events: a new event is a row; a quote already known by its reference
gets its outcome and amount updated instead of a second row, so recording that a quote was
won does not report the quote again (no second round of the steps it triggers).

A quote is decided when its outcome turns won or lost: `decided_at` is that moment, and
quote_success_rate counts quotes by it. Every outcome change is in the audit trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from kamflow.engine.metrics import is_quote_event
from kamflow.store import audit
from kamflow.store.tables import ACCOUNT_EVENT

Row = dict[str, Any]
DECIDED = ("won", "lost")


def record(conn: Connection, account_id: str, event: str, at: datetime, ref: str,
           actor: str, outcome: str | None, amount: float | None) -> bool:
    """Store one reported event; True if it is new, False if it updated a known quote."""
    return write(conn, [{"account_id": account_id, "event": event, "at": at, "ref": ref,
                         "actor": actor, "outcome": outcome, "amount": amount,
                         "decided_at": at if outcome in DECIDED else None}], at, actor) > 0


def write(conn: Connection, rows: Sequence[Row], now: datetime, actor: str) -> int:
    """Insert the rows that are new; update the known ones (a quote by account, event and
    reference; any other event by account, event, moment and reference). Returns how many
    were new. A known quote keeps its decided_at while its outcome stays decided."""
    known = _known(conn, rows)
    new: dict[tuple[Any, ...], Row] = {}
    changes: list[Row] = []
    for row in rows:
        key = _key(row)
        old = known.get(key)
        if old is None:  # a later line of the same quote updates the earlier one
            first = new.setdefault(key, {**row, "outcome": _opened(row), "decided_at": None})
            _update(first, first["outcome"], row)
            continue
        mine = {"outcome": old.outcome, "amount": old.amount, "decided_at": old.decided_at}
        _update(mine, old.outcome, row)
        after = {"outcome": mine["outcome"], "amount": mine["amount"]}
        if (old.outcome, old.amount) == (after["outcome"], after["amount"]):
            continue
        conn.execute(ACCOUNT_EVENT.update().where(ACCOUNT_EVENT.c.id == old.id)
                     .values(decided_at=mine["decided_at"], **after))
        changes.append({"at": now, "actor": actor, "entity": "account",
                        "entity_id": row["account_id"], "action": "quote_updated",
                        "before": {"event": old.event, "ref": old.ref, "outcome": old.outcome,
                                   "amount": old.amount},
                        "after": {"event": row["event"], "ref": row["ref"], **after}})
    if new:
        conn.execute(ACCOUNT_EVENT.insert(), list(new.values()))
    if changes:
        audit.append(conn, changes)
    return len(new)


def _opened(row: Row) -> str | None:
    return "open" if is_quote_event(row["event"]) else None


def _update(into: Row, was: str | None, row: Row) -> None:
    """What `row` changes on a quote: the outcome and amount it gives (the others stay), and
    the decision moment when the outcome turns won or lost (kept while it stays decided)."""
    outcome = row["outcome"] or into["outcome"]
    if row["amount"] is not None:
        into["amount"] = row["amount"]
    if outcome not in DECIDED:
        into["decided_at"] = None
    elif outcome != was or into["decided_at"] is None:
        into["decided_at"] = row["decided_at"] or row["at"]
    into["outcome"] = outcome


def _key(row: Any) -> tuple[Any, ...]:
    get = row.get if isinstance(row, dict) else row._mapping.get
    if is_quote_event(str(get("event"))) and get("ref"):
        return get("account_id"), get("event"), get("ref")
    return get("account_id"), get("event"), get("ref"), get("at")


def _known(conn: Connection, rows: Sequence[Row]) -> dict[tuple[Any, ...], Any]:
    e = ACCOUNT_EVENT.c
    out: dict[tuple[Any, ...], Any] = {}
    ids = sorted({r["account_id"] for r in rows})
    for start in range(0, len(ids), 500):
        q = (select(e.id, e.account_id, e.event, e.ref, e.at, e.outcome, e.amount, e.decided_at)
             .where(e.account_id.in_(ids[start:start + 500])).order_by(e.id))
        for r in conn.execute(q):
            out.setdefault(_key(r), r)  # the first row of a quote is the quote
    return out
