"""Databases for the tests, migrated once per session and handed out as copies.

Migrating a database takes about a second, and the suite asks for several hundred. So each
kind of database is migrated once, into a template, and every test gets a copy:

- SQLite: the template is a file; a test's database is a copy of it in the test's tmp_path.
- PostgreSQL: the template is a schema in the database of KAMFLOW_TEST_POSTGRES_URL. A
  test's database is a schema of its own (a new name each time, so nothing keyed by the
  schema, such as the scheduler's advisory lock, carries over), whose rows are deleted and
  copied from the template's with `INSERT ... SELECT` and whose sequences are set to the
  template's. Schemas are reused; one whose tables a test changed is dropped, not reused.
  (`CREATE DATABASE ... TEMPLATE` takes seconds here; re-migrating a fresh schema about one.)

A *seed* is a template with more in it, such as the imported and swept portfolio behind the
web tests: built once per session and kind by its `build` function, on top of its parent
seed, then restored into a test's database in place (`Stores.restore`).
"""

from __future__ import annotations

import graphlib
import hashlib
import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from kamflow.store import tally
from kamflow.store.db import db_for, dispose, migrate
from kamflow.store.versions import activate
from support import DB

START = datetime(2026, 1, 1)


def postgres_url() -> str:
    """KAMFLOW_TEST_POSTGRES_URL; without it skip, visibly, or fail under CI=true."""
    base = os.environ.get("KAMFLOW_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("CI=true but KAMFLOW_TEST_POSTGRES_URL is not set: postgres tests must run")
        pytest.skip("postgres store tests skipped: set KAMFLOW_TEST_POSTGRES_URL to run them")
    return base


def schema_url(base: str, schema: str) -> str:
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@dataclass(frozen=True)
class Seed:
    """A database state built once per session and kind: `build(db, folder)` on a copy of
    `parent` (the migrated database with the bundled playbooks when None). What `build`
    returns is handed to every test that restores the seed."""

    name: str
    build: Callable[[DB, Path], Any]
    parent: Seed | None = None


@dataclass
class _Template:
    where: str  # SQLite: the file; PostgreSQL: the schema
    meta: Any = None
    filled: tuple[str, ...] = ()  # PostgreSQL: the tables that hold rows


@dataclass
class _Postgres:
    base: str
    admin: Engine
    tables: list[str] = field(default_factory=list)  # parents before children
    sequences: list[str] = field(default_factory=list)
    shape: str = ""  # the tables' columns and indexes, to notice a test that changed them
    free: list[str] = field(default_factory=list)
    made: list[str] = field(default_factory=list)


class Stores:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.templates: dict[tuple[str, str], _Template] = {}
        self.schemas: dict[str, str] = {}  # url of a test's PostgreSQL database -> its schema
        self._pg: _Postgres | None = None

    # -- handing out databases -------------------------------------------------------------

    @contextmanager
    def database(self, kind: str, folder: Path, name: str = "kamflow") -> Iterator[DB]:
        """A migrated database with the bundled playbooks active, for one test."""
        db = self._checkout(kind, folder, name)
        try:
            yield db
            tally_holds(db)
        finally:
            self._checkin(db)

    def restore(self, db: DB, seed: Seed) -> Any:
        """Make `db` (from `database`) hold `seed` instead, in place; return its `build`'s
        result. Connections to `db` are closed; its engine stays usable."""
        kind = "sqlite" if db.engine.dialect.name == "sqlite" else "postgres"
        template = self._template(kind, seed)
        db.engine.dispose()
        if kind == "sqlite":
            _copy_sqlite(Path(template.where), _sqlite_path(db.url))
        else:
            self._pg_fill(self.schemas[db.url], template)
        return template.meta

    def close(self) -> None:
        for key in list(self.templates):
            if key[0] == "sqlite":
                dispose(f"sqlite:///{self.templates[key].where}")
        if self._pg is not None:
            for schema in self._pg.made:  # one at a time: each takes a lock per table
                with self._pg.admin.begin() as conn:
                    conn.execute(text("SET LOCAL lock_timeout = '10s'"))
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            self._pg.admin.dispose()

    # -- templates ---------------------------------------------------------------------------

    def _template(self, kind: str, seed: Seed | None) -> _Template:
        key = (kind, seed.name if seed else "")
        if key not in self.templates:
            self.templates[key] = self._build(kind, seed)
        return self.templates[key]

    def _build(self, kind: str, seed: Seed | None) -> _Template:
        # a new folder per attempt: a build that failed is tried again by the next test
        folder = self.root / kind / f"{seed.name if seed else 'migrated'}-{uuid.uuid4().hex[:6]}"
        folder.mkdir(parents=True)
        if kind == "sqlite":
            url = f"sqlite:///{folder / 'template.db'}"
            db = DB(url, db_for(url))
            if seed is None:
                _ready(db)
                meta = None
            else:
                _copy_sqlite(Path(self._template(kind, seed.parent).where), folder / "template.db")
                try:
                    meta = seed.build(db, folder)
                finally:
                    dispose(url)
            dispose(url)
            _checkpoint(folder / "template.db")
            return _Template(str(folder / "template.db"), meta)
        pg = self._postgres()
        if seed is None:
            schema = self._new_schema(pg)
            url = schema_url(pg.base, schema)
            db = DB(url, db_for(url))
            _ready(db)
            meta = None
        else:
            parent = self._template(kind, seed.parent)
            schema = self._pg_schema(pg)
            self._pg_fill(schema, parent)
            url = schema_url(pg.base, schema)
            db = DB(url, db_for(url))
            try:
                meta = seed.build(db, folder)
            except BaseException:
                dispose(url)
                pg.free.append(schema)  # its rows are replaced when it is handed out again
                raise
        dispose(url)
        with pg.admin.connect() as conn:
            if seed is None:  # the first template: learn the tables, their order and shape
                pg.tables = _table_order(conn, schema)
                pg.sequences = list(conn.execute(text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = :s AND c.relkind = 'S' ORDER BY 1"), {"s": schema}).scalars())
                pg.shape = _shape(conn, schema)
            filled = tuple(t for t in pg.tables
                           if conn.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{schema}"."{t}")'))
                           .scalar())
        return _Template(schema, meta, filled)

    # -- checking out and in ------------------------------------------------------------------

    def _checkout(self, kind: str, folder: Path, name: str) -> DB:
        if kind == "sqlite":
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{name}.db"
            _copy_sqlite(Path(self._template("sqlite", None).where), path)
            url = f"sqlite:///{path}"
            return DB(url, db_for(url))
        base = self._template("postgres", None)
        pg = self._postgres()
        schema = self._pg_schema(pg)
        self._pg_fill(schema, base)
        url = schema_url(pg.base, schema)
        self.schemas[url] = schema
        return DB(url, db_for(url))

    def _checkin(self, db: DB) -> None:
        dispose(db.url)
        schema = self.schemas.pop(db.url, None)
        if schema is not None:
            assert self._pg is not None
            self._pg.free.append(schema)

    # -- PostgreSQL --------------------------------------------------------------------------

    def _postgres(self) -> _Postgres:
        if self._pg is None:
            base = postgres_url()
            self._pg = _Postgres(base, create_engine(base))
        return self._pg

    def _pg_schema(self, pg: _Postgres) -> str:
        """A schema under a new name with the migrated tables (their rows: whatever a
        previous test left), from the free ones or made afresh."""
        while pg.free:
            old = pg.free.pop()
            schema = f"t_{uuid.uuid4().hex[:12]}"
            try:
                with pg.admin.begin() as conn:
                    conn.execute(text("SET LOCAL lock_timeout = '5s'"))
                    conn.execute(text(f'ALTER SCHEMA "{old}" RENAME TO "{schema}"'))
                    same = _shape(conn, schema) == pg.shape
            except Exception:  # still locked by something the last test left running
                continue
            pg.made[pg.made.index(old)] = schema
            if same:
                return schema
            # the last test dropped or changed a table: start afresh
            with pg.admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            pg.made.remove(schema)
        schema = self._new_schema(pg)
        url = schema_url(pg.base, schema)
        migrate(db_for(url))
        dispose(url)
        return schema

    def _new_schema(self, pg: _Postgres) -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with pg.admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        pg.made.append(schema)
        return schema

    def _pg_fill(self, schema: str, template: _Template) -> None:
        """Make `schema` hold exactly the template's rows and sequence positions."""
        pg = self._postgres()
        src = template.where
        sql = ["SET LOCAL lock_timeout = '20s'"]
        sql += [f'DELETE FROM "{schema}"."{t}"' for t in reversed(pg.tables)]
        sql += [f'INSERT INTO "{schema}"."{t}" OVERRIDING SYSTEM VALUE SELECT * FROM "{src}"."{t}"'
                for t in template.filled]
        sql += [f"SELECT setval('\"{schema}\".\"{s}\"', last_value, is_called) "
                f'FROM "{src}"."{s}"' for s in pg.sequences]
        with pg.admin.begin() as conn:
            conn.exec_driver_sql(";\n".join(sql))


def tally_holds(db: DB) -> None:
    """Whatever a test did through kamflow, the boards' kept counts still equal a recount of
    the tasks (kamflow.store.tally): a writer that forgot them fails the test that used it.
    A test that edits task rows behind kamflow's back says so with `db.tampered = True`.
    On SQLite stores only, to keep the suite's time."""
    if db.tampered or db.engine.dialect.name != "sqlite":
        return  # the writers' code is the same on PostgreSQL: test_tally walks them there
    try:
        with db.engine.connect() as conn:
            wrong = tally.drift(conn)
    except (OperationalError, ProgrammingError):
        return  # a test that migrated down, or removed its database file or schema
    assert not wrong, f"task_tally differs from a recount (kept, counted): {sorted(wrong.items())[:5]}"


def _ready(db: DB) -> None:
    migrate(db.engine)
    with db.engine.begin() as conn:
        activate(conn, None, START)


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    assert database, url
    return Path(database)


def _checkpoint(path: Path) -> None:
    """Fold the write-ahead log into the file, so that copying the file copies everything."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)


def _copy_sqlite(src: Path, dst: Path) -> None:
    for extra in ("-wal", "-shm"):
        Path(f"{dst}{extra}").unlink(missing_ok=True)
    shutil.copyfile(src, dst)


def _table_order(conn: Any, schema: str) -> list[str]:
    """The schema's tables, each after the tables its foreign keys point to."""
    tables = conn.execute(text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :s AND c.relkind IN ('r', 'p')"), {"s": schema}).scalars().all()
    graph: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent in conn.execute(text(
            "SELECT c.relname, p.relname FROM pg_constraint k "
            "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid "
            "JOIN pg_namespace n ON n.oid = k.connamespace "
            "WHERE k.contype = 'f' AND n.nspname = :s"), {"s": schema}):
        if child != parent:
            graph[child].add(parent)
    return list(graphlib.TopologicalSorter(graph).static_order())


def _shape(conn: Any, schema: str) -> str:
    """A digest of the schema's tables, columns, indexes and sequences."""
    rows = conn.execute(text(
        "SELECT c.relname, c.relkind, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "WHERE n.nspname = :s ORDER BY 1, 4"), {"s": schema}).all()
    return hashlib.sha256(repr(rows).encode()).hexdigest()
