"""The login throttle's rows: count failed logins per key under a row lock.

A try is recorded *before* the password is checked (a reservation, counted as a failure
until it succeeds), in the same locked step that decides whether it may go ahead: 30
parallel wrong passwords get exactly `limit` password checks, not "as many as read the
count before the first one was written".

Each key has a number of free failures; past it, every further try must wait
2^(failures - free) seconds (capped) after the previous one, and tries refused while
waiting change nothing. So a flood slows its target instead of locking them out, and the
account owner always gets a try again after the delay. A key whose last failure is older
than the window starts again from zero.

Keys are locked in sorted order (see kamflow.store.locking), so two logins never deadlock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select, update

from kamflow.store.bulk import upsert
from kamflow.store.tables import LOGIN_THROTTLE


@dataclass(frozen=True)
class Limit:
    key: str
    free: int  # failures allowed before any delay
    max_delay: timedelta


def _delay(failures: int, limit: Limit) -> timedelta:
    """Wait after the `failures`-th failure: nothing under the limit, then 1 s, 2 s, 4 s..."""
    if failures < limit.free:
        return timedelta(0)
    step = failures - limit.free
    return min(timedelta(seconds=2 ** min(step, 30)), limit.max_delay)


def reserve(conn: Connection, limits: Sequence[Limit], now: datetime,
            window: timedelta) -> int | None:
    """Lock every key's row; when all allow a try now, count one failure on each and return
    None; else return the seconds to wait (and change nothing)."""
    ordered = sorted(limits, key=lambda limit: limit.key)
    upsert(conn, LOGIN_THROTTLE, [{"key": lim.key, "failures": 0, "last_at": now,
                                   "next_at": None} for lim in ordered], ["key"])
    rows = {r.key: r for r in conn.execute(
        select(LOGIN_THROTTLE).where(LOGIN_THROTTLE.c.key.in_([lim.key for lim in ordered]))
        .order_by(LOGIN_THROTTLE.c.key).with_for_update())}
    wait = 0.0
    for lim in ordered:
        row = rows[lim.key]
        fresh = row.last_at < now - window
        if not fresh and row.next_at is not None and now < row.next_at:
            wait = max(wait, (row.next_at - now).total_seconds())
    if wait > 0:
        return math.ceil(wait)
    for lim in ordered:
        row = rows[lim.key]
        failures = 1 if row.last_at < now - window else row.failures + 1
        delay = _delay(failures, lim)
        conn.execute(update(LOGIN_THROTTLE).where(LOGIN_THROTTLE.c.key == lim.key).values(
            failures=failures, last_at=now, next_at=now + delay if delay else None))
    return None


def succeeded(conn: Connection, limits: Sequence[Limit], forget: str) -> None:
    """A reserved try was right: forget the `forget` key (the email and address), and give
    the others their reservation back."""
    ordered = sorted(limits, key=lambda limit: limit.key)
    for lim in ordered:
        if lim.key == forget:
            conn.execute(delete(LOGIN_THROTTLE).where(LOGIN_THROTTLE.c.key == lim.key))
            continue
        row = conn.execute(select(LOGIN_THROTTLE.c.failures).where(
            LOGIN_THROTTLE.c.key == lim.key).with_for_update()).first()
        if row is None:
            continue
        failures = max(row.failures - 1, 0)
        values: dict[str, object] = {"failures": failures}
        if failures < lim.free:
            values["next_at"] = None
        conn.execute(update(LOGIN_THROTTLE).where(LOGIN_THROTTLE.c.key == lim.key).values(values))


def prune(conn: Connection, before: datetime) -> None:
    """Forget keys with no failure since `before` (keeps the table small)."""
    conn.execute(delete(LOGIN_THROTTLE).where(LOGIN_THROTTLE.c.last_at < before))
