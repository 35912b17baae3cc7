"""Playbook versions in the store: what is loaded is what the sweep runs.

A version is the exact set of YAML texts, keyed by their content hash; the
active one is the most recently activated. Its departments are mirrored into
the department table so people and queues can reference them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection, select, update

from engine.lifecycle import LifecycleEngine
from kamflow.bulk import upsert
from kamflow.models import Department, PlaybookVersion
from playbooks.loader import PlaybookSet, bundled_dir, load_dir, load_sources

PV = PlaybookVersion.__table__  # type: ignore[attr-defined]
DEPT = Department.__table__  # type: ignore[attr-defined]


class NoPlaybooks(RuntimeError):
    def __init__(self) -> None:
        super().__init__("no playbooks loaded: run `kamflow init` first")


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
    row = conn.execute(select(PV.c.id).where(PV.c.version == book.version)).first()
    if row is None:
        conn.execute(PV.insert().values(
            version=book.version, origin=str(folder), sources=dict(book.sources),
            loaded_at=now, activated_at=now,
        ))
    elif current != book.version:
        conn.execute(update(PV).where(PV.c.id == row.id).values(activated_at=now))
    depts = [{"key": k, "name": d.name} for k, d in book.organization.departments.items()]
    upsert(conn, DEPT, depts, ["key"], ["name"])
    return Activation(book.version, row is None, current != book.version)


def active_version(conn: Connection) -> str | None:
    return conn.execute(
        select(PV.c.version).order_by(PV.c.activated_at.desc(), PV.c.id.desc()).limit(1)
    ).scalar()


def active_book(conn: Connection) -> PlaybookSet:
    version = active_version(conn)
    if version is None:
        raise NoPlaybooks()
    return book_of(conn, version)


def book_of(conn: Connection, version: str) -> PlaybookSet:
    sources = conn.execute(select(PV.c.sources).where(PV.c.version == version)).scalar_one()
    return _parse(version, tuple(sorted(sources.items())))


@lru_cache(maxsize=8)
def _parse(version: str, sources: tuple[tuple[str, str], ...]) -> PlaybookSet:
    return load_sources(dict(sources), origin=f"playbook version {version}")


@lru_cache(maxsize=8)
def lifecycle_of(book: PlaybookSet) -> LifecycleEngine:
    """One state machine per playbook version, shared by every account."""
    return LifecycleEngine(book)
