"""What a manager asks of the trail: was the process followed, who did what, is it intact."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine

from kamflow.store import anchor, audit
from kamflow.store.audit import BY
from kamflow.tasks.chain import ChainBreak

__all__ = ["BY", "NOT_ANCHORED", "events", "export_anchor", "report", "rows", "verify",
           "verify_head"]
NOT_ANCHORED = anchor.NOT_ANCHORED


def report(db: Engine, start: date, end: date, by: str, as_of: date) -> list[dict[str, Any]]:
    """Of the tasks due in [start, end]: done on time, late, skipped, open, per group."""
    with db.connect() as conn:
        return audit.adherence(conn, start, end, by, as_of)


def rows(conn: Connection, start: date, end: date, by: str, as_of: date) -> list[dict[str, Any]]:
    """The same report inside a read the caller already holds (a page with more on it)."""
    return audit.adherence(conn, start, end, by, as_of)


def events(db: Engine, entity: str | None = None, entity_id: str | None = None,
           limit: int = 100) -> list[dict[str, Any]]:
    with db.connect() as conn:
        return audit.events(conn, entity, entity_id, limit)


def verify(db: Engine) -> tuple[int, ChainBreak | None]:
    """How many events were checked, and the first break in the chain if any."""
    with db.connect() as conn:
        return audit.check_chain(conn)


def verify_head(db: Engine) -> anchor.AnchorReport:
    """Does the end of the trail still match its newest signed checkpoint? (Truncation,
    appended forgeries, edits re-hashed to the end.)"""
    with db.connect() as conn:
        return anchor.check(conn)


def export_anchor(db: Engine) -> bool:
    """Append the newest checkpoint to the operator's append-only anchor file, if one is
    configured (after each sweep); True when a line was written."""
    path = anchor.anchor_file()
    if path is None:
        return False
    with db.connect() as conn:
        line = anchor.newest(conn)
    if line is None:
        return False
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(line, sort_keys=True) + "\n")
    return True
