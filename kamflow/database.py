"""The database as a person or a job meets it: created and migrated, or opened checked.

`init` is the one place that creates or migrates the schema and loads the first
playbooks; everything else opens a database that must already be current, and
says how to make it so when it is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from kamflow.errors import Refused
from kamflow.store.db import db_for, migrate, schema_is_current
from kamflow.store.versions import Activation, activate


class NotInitialised(Refused):
    """The database exists but has no schema, or an older one."""


@dataclass(frozen=True)
class Initialised:
    url: str
    created: bool  # False: an existing schema was migrated (or already current)
    activation: Activation


def init(url: str, playbooks: Path | None, now: datetime) -> Initialised:
    """Create or migrate the schema, then activate the playbooks, in one go."""
    db = db_for(url)
    before = migrate(db)
    with db.begin() as conn:
        act = activate(conn, playbooks, now)
    return Initialised(repr(db.url), before is None, act)


def connect(url: str) -> Engine:
    """The engine for a URL, whether or not its schema is current (for health checks)."""
    return db_for(url)


def is_current(db: Engine) -> bool:
    return schema_is_current(db)


def open_db(url: str) -> Engine:
    """The engine for a migrated database, or NotInitialised naming the fix."""
    db = db_for(url)
    if not schema_is_current(db):
        raise NotInitialised(f"the database at {db.url!r} is not initialised or not migrated: "
                             "run `kamflow init`")
    return db
