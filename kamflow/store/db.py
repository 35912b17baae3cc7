"""Databases and migrations: the only place that knows the database URL.

SQLite gets WAL, a busy timeout, foreign keys and `BEGIN IMMEDIATE` for every
transaction: read-then-write transactions otherwise fail with "database is
locked" under concurrency (a deferred transaction cannot upgrade its read lock while
another writer holds the database).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).parent.parent / "migrations"


def is_sqlite(db: Engine | Connection) -> bool:
    return db.dialect.name == "sqlite"


_DATABASES: dict[str, Engine] = {}


def db_for(url: str) -> Engine:
    """One engine (and pool) per URL for the life of the process."""
    if url not in _DATABASES:
        _DATABASES[url] = make_db(url)
    return _DATABASES[url]


def url_of(db: Engine) -> str:
    """The URL db_for knows this database by, so that db_for(url_of(e)) is e."""
    for url, known in _DATABASES.items():
        if known is db:
            return url
    url = db.url.render_as_string(hide_password=False)
    _DATABASES.setdefault(url, db)
    return url


def dispose(url: str) -> None:
    db = _DATABASES.pop(url, None)
    if db is not None:
        db.dispose()


def make_db(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    db = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(db, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "synchronous=NORMAL",
                       "foreign_keys=ON"):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    @event.listens_for(db, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return db


@contextmanager
def transaction(db: Engine) -> Iterator[Connection]:
    """One unit of work: committed whole or not at all."""
    with db.begin() as conn:
        yield conn


def _alembic_config(conn: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def migrate(db: Engine) -> str | None:
    """Upgrade to the newest revision(s); return what the database was at before."""
    with db.begin() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
        before = ",".join(heads) if heads else None
        command.upgrade(_alembic_config(conn), "heads")
    return before


def schema_is_current(db: Engine) -> bool:
    with db.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
        heads = set(ScriptDirectory.from_config(_alembic_config(conn)).get_heads())
    return bool(current) and current == heads
