"""The database as a person or a job meets it: created and migrated, or opened checked.

`init` is the one place that creates or migrates the schema and loads the first
playbooks; everything else opens a database that must already be current, and
says how to make it so when it is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Engine

from kamflow.errors import Refused
from kamflow.store import golive
from kamflow.store.db import db_for, migrate, schema_is_current
from kamflow.store.versions import Activation, activate, active_book


class NotInitialised(Refused):
    """The database exists but has no schema, or an older one."""


@dataclass(frozen=True)
class Initialised:
    url: str
    created: bool  # False: an existing schema was migrated (or already current)
    activation: Activation
    go_live: date | None = None


def init(url: str, playbooks: Path | None, now: datetime,
         go_live: date | None = None) -> Initialised:
    """Create or migrate the schema, then activate the playbooks, in one go; `go_live`
    stores the day the process starts (refused once sweeps ran, or against the playbooks)."""
    db = db_for(url)
    before = migrate(db)
    with db.begin() as conn:
        act = activate(conn, playbooks, now)
        book = active_book(conn)
        if go_live is not None:
            declared = book.organization.go_live
            if declared is not None and declared != go_live:
                raise Refused(f"--go-live: organization.yaml declares go_live: {declared}")
            stored = golive.stored_go_live(conn)
            if stored is not None and stored != go_live and golive.last_sweep(conn) is not None:
                raise Refused(f"--go-live: go-live is {stored} and sweeps have run since")
            golive.set_go_live(conn, go_live, now)
        day = golive.go_live(conn, book)
    return Initialised(repr(db.url), before is None, act, day)


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
