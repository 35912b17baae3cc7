"""Which playbook version is in force: load a folder and activate it, read the active set."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from kamflow.engine.lifecycle import LifecycleEngine
from kamflow.playbooks.loader import PlaybookSet
from kamflow.store import versions
from kamflow.store.versions import Activation


def current(conn: Connection) -> PlaybookSet:
    """The active set, inside a read the caller already holds."""
    return versions.active_book(conn)


def lifecycle_of(book: PlaybookSet) -> LifecycleEngine:
    return versions.lifecycle_of(book)


def load(db: Engine, directory: Path | None, now: datetime) -> Activation:
    """Validate a folder and make it the active version, in one transaction."""
    with db.begin() as conn:
        return versions.activate(conn, directory, now)


def active_book(db: Engine) -> PlaybookSet:
    with db.connect() as conn:
        return versions.active_book(conn)


def listing(db: Engine) -> dict[str, Any]:
    """Every loaded version, newest activation first, the active one marked."""
    with db.connect() as conn:
        return versions.listing(conn)


def diagram(book: PlaybookSet) -> str:
    """The lifecycle as a Mermaid state diagram, from the version's shared machine."""
    return versions.lifecycle_of(book).diagram()
