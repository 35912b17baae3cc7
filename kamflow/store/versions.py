"""Playbook versions in the store: what is loaded is what the sweep runs.

A version is the exact set of YAML texts, keyed by their content hash; the
active one is the most recently activated. Its departments are mirrored into
the department table so people and queues can reference them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select, update

from kamflow.engine.lifecycle import LifecycleEngine
from kamflow.errors import NoPlaybooks
from kamflow.playbooks.loader import PlaybookSet, bundled_dir, load_dir, load_sources
from kamflow.store import changes
from kamflow.store.bulk import upsert
from kamflow.store.tables import DEPARTMENT, PLAYBOOK_VERSION


@dataclass(frozen=True)
class Activation:
    version: str
    new: bool  # first time this exact set was loaded
    changed: bool  # the active version changed


def activate(conn: Connection, directory: Path | None, now: datetime) -> Activation:
    """Validate a folder (default: the bundled playbooks) and make it the active version."""
    folder = directory or bundled_dir()
    book = load_dir(folder)
    current = active_version(conn)
    row = conn.execute(
        select(PLAYBOOK_VERSION.c.id).where(PLAYBOOK_VERSION.c.version == book.version)
    ).first()
    changed = current != book.version  # always so for a version not loaded before
    if changed:
        # The newest activation is the active one: this one comes after the last even when
        # the clock says otherwise (two loads in one second, a fixed clock, a replay at an
        # earlier moment), or going back to an older version would leave the newer active.
        last = conn.execute(select(func.max(PLAYBOOK_VERSION.c.activated_at))).scalar()
        if last is not None:
            now = max(now, last + timedelta(microseconds=1))
        changes.mark_all(conn)  # other rules: every account is read by the next sweep
        changes.forget_retired(conn)  # and its tasks of other versions are looked at again
    if row is None:
        conn.execute(PLAYBOOK_VERSION.insert().values(
            version=book.version, origin=str(folder), sources=dict(book.sources),
            loaded_at=now, activated_at=now,
        ))
    elif changed:
        conn.execute(
            update(PLAYBOOK_VERSION).where(PLAYBOOK_VERSION.c.id == row.id).values(activated_at=now)
        )
    depts = [{"key": k, "name": d.name} for k, d in book.organization.departments.items()]
    upsert(conn, DEPARTMENT, depts, ["key"], ["name"])
    return Activation(book.version, row is None, changed)


def active_version(conn: Connection) -> str | None:
    return conn.execute(
        select(PLAYBOOK_VERSION.c.version)
        .order_by(PLAYBOOK_VERSION.c.activated_at.desc(), PLAYBOOK_VERSION.c.id.desc())
        .limit(1)
    ).scalar()


def active_book(conn: Connection) -> PlaybookSet:
    version = active_version(conn)
    if version is None:
        raise NoPlaybooks()
    return book_of(conn, version)


def book_of(conn: Connection, version: str) -> PlaybookSet:
    sources = conn.execute(
        select(PLAYBOOK_VERSION.c.sources).where(PLAYBOOK_VERSION.c.version == version)
    ).scalar_one()
    return _parse(version, tuple(sorted(sources.items())))


@lru_cache(maxsize=8)
def _parse(version: str, sources: tuple[tuple[str, str], ...]) -> PlaybookSet:
    return load_sources(dict(sources), origin=f"playbook version {version}")


@lru_cache(maxsize=8)
def lifecycle_of(book: PlaybookSet) -> LifecycleEngine:
    """One state machine per playbook version, shared by every account."""
    return LifecycleEngine(book)


def listing(conn: Connection) -> dict[str, Any]:
    """Every loaded version, newest activation first, the active one named."""
    active = active_version(conn)
    rows = conn.execute(
        select(
            PLAYBOOK_VERSION.c.version,
            PLAYBOOK_VERSION.c.origin,
            PLAYBOOK_VERSION.c.loaded_at,
            PLAYBOOK_VERSION.c.activated_at,
        ).order_by(PLAYBOOK_VERSION.c.activated_at.desc(), PLAYBOOK_VERSION.c.id.desc())
    ).all()
    return {"active": active,
            "versions": [{**r._mapping, "active": r.version == active} for r in rows]}
