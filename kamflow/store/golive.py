"""When the process started (go-live) and how far the sweeps have come (the last sweep).

Both live in the `setting` table; go-live declared in organization.yaml wins over the
stored one. Times are naive UTC like everywhere in the store.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection, select

from kamflow.playbooks.loader import PlaybookSet
from kamflow.store import changes
from kamflow.store.bulk import upsert
from kamflow.store.tables import SETTING

GO_LIVE = "go_live"
LAST_SWEEP = "last_sweep"


def _get(conn: Connection, key: str) -> str | None:
    value = conn.execute(select(SETTING.c.value).where(SETTING.c.key == key)).scalar()
    return str(value) if value is not None else None


def _put(conn: Connection, key: str, value: str, at: datetime) -> None:
    upsert(conn, SETTING, [{"key": key, "value": value, "updated_at": at}], ["key"],
           ["value", "updated_at"])


def stored_go_live(conn: Connection) -> date | None:
    value = _get(conn, GO_LIVE)
    return date.fromisoformat(value) if value else None


def go_live(conn: Connection, book: PlaybookSet) -> date | None:
    """The declared go-live, else the stored one (None before the first sweep)."""
    return book.organization.go_live or stored_go_live(conn)


def set_go_live(conn: Connection, day: date, at: datetime) -> None:
    if stored_go_live(conn) != day:
        changes.mark_all(conn)  # which periods are owed changed for every account
    _put(conn, GO_LIVE, day.isoformat(), at)


def go_live_for_sweep(conn: Connection, book: PlaybookSet, at: datetime) -> date:
    """The go-live a sweep at `at` works with: the first sweep stores its own day."""
    day = go_live(conn, book)
    if day is None:
        day = at.date()
        set_go_live(conn, day, at)
    return day


def last_sweep(conn: Connection) -> datetime | None:
    value = _get(conn, LAST_SWEEP)
    return datetime.fromisoformat(value) if value else None


def record_sweep(conn: Connection, at: datetime) -> None:
    """Remember the latest moment swept (never goes back, a replay included)."""
    before = last_sweep(conn)
    if before is None or at > before:
        _put(conn, LAST_SWEEP, at.isoformat(), at)
