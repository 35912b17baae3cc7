"""Change tracking: new data marks its accounts; a sweep reads the marked and the woken.

Every write that can change what a sweep does to an account marks it (`mark`): imports,
contacts, events, feedback, plans, manual moves, finished tasks, a new owner. A sweep that
read an account settles it: unmarked, with its wake-up (kamflow.tasks.wake). A new playbook
version, a new go-live or portfolio figures that moved mark every account (`mark_all`).
The daily sweep then reads `due` accounts only; `sweep --full` reads all, to the same end.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, select, true, union, update

from kamflow.engine.classify import PortfolioStats
from kamflow.engine.metrics import windows
from kamflow.store.bulk import literal_in, update_by_key, upsert
from kamflow.store.tables import ACCOUNT, SETTING, TASK

FIGURES = "sweep_figures"  # the portfolio figures the last sweep classified with, as JSON
RETIRED = "steps_retired_for"  # see retired_for
_BATCH = 1000


def mark(conn: Connection, account_ids: Iterable[str]) -> None:
    """New data for these accounts: the next sweep reads them."""
    ids = sorted(set(account_ids))
    for start in range(0, len(ids), _BATCH):
        conn.execute(update(ACCOUNT).where(ACCOUNT.c.id.in_(literal_in(ids[start:start + _BATCH])),
                                           ACCOUNT.c.changed.is_not(True))
                     .values(changed=True))


def mark_tasks(conn: Connection, task_ids: Iterable[int]) -> None:
    """The accounts of these tasks (a finished task moves the anchor of its next one)."""
    ids = sorted(set(task_ids))
    for start in range(0, len(ids), _BATCH):
        owners = select(TASK.c.account_id).where(TASK.c.id.in_(literal_in(ids[start:start + _BATCH])))
        conn.execute(update(ACCOUNT).where(ACCOUNT.c.id.in_(owners),
                                           ACCOUNT.c.changed.is_not(True))
                     .values(changed=True))


def mark_people(conn: Connection, emails: Iterable[str]) -> None:
    """The accounts these people own or sponsor (routing, and whether a sponsor is senior)."""
    people = sorted(set(emails))
    for start in range(0, len(people), _BATCH):
        part = literal_in(people[start:start + _BATCH])
        conn.execute(update(ACCOUNT).where(
            ACCOUNT.c.owner_email.in_(part) | ACCOUNT.c.sponsor_email.in_(part),
            ACCOUNT.c.changed.is_not(True)).values(changed=True))


def mark_all(conn: Connection) -> None:
    """Everything may have changed (a new playbook version, go-live, portfolio figures)."""
    conn.execute(update(ACCOUNT).where(ACCOUNT.c.changed.is_not(True)).values(changed=True))


def retired_for(conn: Connection) -> str | None:
    """The playbook version whose first sweep retired older versions' dropped steps: until
    another version is activated, no task of an older one can come back to retire."""
    return conn.execute(select(SETTING.c.value).where(SETTING.c.key == RETIRED)).scalar()


def record_retired(conn: Connection, version: str, at: datetime) -> None:
    upsert(conn, SETTING, [{"key": RETIRED, "value": version, "updated_at": at}], ["key"],
           ["value", "updated_at"])


def forget_retired(conn: Connection) -> None:
    """Another version became active: tasks made under it may belong to steps the next one
    (even one active before) lacks."""
    conn.execute(SETTING.delete().where(SETTING.c.key == RETIRED))


def due(conn: Connection, at: datetime) -> list[str]:
    """The accounts the daily sweep at `at` reads: marked, woken, or never swept."""
    q = union(select(ACCOUNT.c.id).where(ACCOUNT.c.changed == true()),
              select(ACCOUNT.c.id).where(ACCOUNT.c.wake_at <= at),
              select(ACCOUNT.c.id).where(ACCOUNT.c.wake_at.is_(None)))
    return sorted(conn.execute(q).scalars())


def chunks(ids: Sequence[str], size: int) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    for start in range(0, len(ids), size):
        part = tuple(ids[start:start + size])
        yield part[0], part[-1], part


def settle(conn: Connection, wakes: dict[str, datetime],
           pairs: Mapping[str, tuple[float, float]], window: date) -> None:
    """These accounts were read at their latest: unmarked, each with its wake-up and the
    (trailing-12-month revenue for `window`, potential) pair the sweep read (the portfolio
    figures read the sum back, kamflow.store.facts.stats; a daily sweep compares both,
    facts.pairs_kept)."""
    update_by_key(conn, ACCOUNT, [{"id": a, "changed": False, "wake_at": w,
                                   "revenue_t12": pairs[a][0], "t12_window": window,
                                   "potential_read": pairs[a][1]}
                                  for a, w in sorted(wakes.items())], "id")


def _kept(conn: Connection) -> dict[str, Any] | None:
    text = conn.execute(select(SETTING.c.value).where(SETTING.c.key == FIGURES)).scalar()
    return None if text is None else dict(json.loads(text))


def stats_moved(conn: Connection, figures: PortfolioStats) -> bool:
    """The portfolio figures differ from those the last sweep classified with."""
    kept = _kept(conn)
    return kept is None or PortfolioStats(**kept["figures"]) != figures


def record_stats(conn: Connection, figures: PortfolioStats, at: datetime, version: str,
                 exact: bool = False) -> None:
    """The figures a sweep at `at` classified with: the next sweep compares its own with them
    (`stats_moved`), pages show an account between sweeps with them (`kept_figures`).
    `exact`: every account read since the figures were worked out still held the pair they
    counted, so the next daily sweep may keep them (`reusable_figures`)."""
    kept = json.dumps({"window": windows(at).end.isoformat(), "version": version,
                       "figures": asdict(figures), "exact": exact}, sort_keys=True)
    upsert(conn, SETTING, [{"key": FIGURES, "value": kept, "updated_at": at}], ["key"],
           ["value", "updated_at"])


def kept_figures(conn: Connection, at: datetime, version: str) -> PortfolioStats | None:
    """The figures the last sweep classified with, if it summed the revenue window of `at`
    under this playbook version; None: work them out (kamflow.store.facts.stats)."""
    return _figures(_kept(conn), at, version)


def reusable_figures(conn: Connection, at: datetime, version: str) -> PortfolioStats | None:
    """The last sweep's figures, if a sweep at `at` may classify with them as long as the
    portfolio has as many accounts and no marked one holds another pair (facts.pairs_kept):
    same window and version, and no account changed under that sweep (`exact`)."""
    kept = _kept(conn)
    return _figures(kept, at, version) if kept is not None and kept.get("exact") else None


def _figures(kept: dict[str, Any] | None, at: datetime, version: str) -> PortfolioStats | None:
    if kept is None or kept["window"] != windows(at).end.isoformat() \
            or kept["version"] != version:
        return None
    return PortfolioStats(**kept["figures"])


def count_accounts(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(ACCOUNT)).scalar_one())
