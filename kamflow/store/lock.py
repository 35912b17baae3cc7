"""One active scheduler per database: a lock the operating system or the server releases
when its holder dies.

- SQLite: `fcntl.flock` on `<database file>.scheduler.lock`; the holder writes its host,
  pid and start time into the file.
- PostgreSQL: a session-level `pg_try_advisory_lock` held on a dedicated autocommit
  connection; the holder names itself in that connection's `application_name`. The key is a
  fixed kamflow number plus a hash of the current schema, so kamflow installations in
  different schemas of one database (the test suite's, for one) do not exclude each other.

A kill -9 closes the file and the connection, so a standby scheduler gets the lock at its
next try. `held()` lets the holder notice a lost lock (a dropped PostgreSQL connection, a
deleted lock file) and step down.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from kamflow.store.db import is_sqlite

PG_KEY = 0x6B616D66  # "kamf"
APP_NAME = "kamflow-scheduler"


class SchedulerLock(Protocol):
    def acquire(self, since: datetime) -> bool: ...

    def held(self) -> bool: ...

    def release(self) -> None: ...


def lock_for(db: Engine) -> SchedulerLock:
    if is_sqlite(db):
        return FileLock(lock_path(db))
    return AdvisoryLock(db)


def holder(db: Engine) -> dict[str, Any] | None:
    """Who holds the scheduler lock now ({host, pid, since}), or None."""
    if is_sqlite(db):
        return FileLock(lock_path(db)).holder()
    return AdvisoryLock(db).holder()


def lock_path(db: Engine) -> Path:
    database = db.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise ValueError("the scheduler needs a SQLite database file (or PostgreSQL), "
                         f"not {db.url.render_as_string()!r}")
    return Path(database + ".scheduler.lock")


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self, since: datetime) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        me = {"host": socket.gethostname(), "pid": os.getpid(), "since": since.isoformat()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        self.fd = fd
        return True

    def held(self) -> bool:
        """Still ours: the path still names the file we locked."""
        if self.fd is None:
            return False
        try:
            return os.stat(self.path).st_ino == os.fstat(self.fd).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        if self.fd is None:
            return
        os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    def holder(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                content = os.pread(fd, 4096, 0).decode(errors="replace")
                try:
                    found: dict[str, Any] = json.loads(content)
                except ValueError:
                    found = {}
                return {"host": found.get("host"), "pid": found.get("pid"),
                        "since": found.get("since"), "lock": str(self.path)}
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


class AdvisoryLock:
    def __init__(self, db: Engine) -> None:
        # A connection of its own, outside the pool: closing it must really end the session.
        self.db = create_engine(db.url, poolclass=NullPool)
        self.conn: Connection | None = None

    def _connect(self) -> Connection:
        return self.db.connect().execution_options(isolation_level="AUTOCOMMIT")

    @staticmethod
    def _key(conn: Connection) -> int:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        return zlib.crc32(str(schema).encode()) & 0x7FFFFFFF

    def acquire(self, since: datetime) -> bool:
        conn = self._connect()
        try:
            name = f"{APP_NAME} {socket.gethostname()[:30]} {os.getpid()}"
            conn.execute(text("SELECT set_config('application_name', :n, false)"), {"n": name})
            got = conn.execute(text("SELECT pg_try_advisory_lock(:a, :b)"),
                               {"a": PG_KEY, "b": self._key(conn)}).scalar_one()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self.conn = conn
        return True

    def held(self) -> bool:
        if self.conn is None:
            return False
        try:
            mine = self._holders(self.conn, self._key(self.conn), only_me=True)
        except Exception:  # the connection is gone, and the lock with it
            return False
        return bool(mine)

    def release(self) -> None:
        if self.conn is None:
            return
        # Closing the session releases the lock too, so a failed unlock changes nothing.
        with contextlib.suppress(Exception):
            self.conn.execute(text("SELECT pg_advisory_unlock(:a, :b)"),
                              {"a": PG_KEY, "b": self._key(self.conn)})
        with contextlib.suppress(Exception):
            self.conn.close()
        self.conn = None
        self.db.dispose()

    def holder(self) -> dict[str, Any] | None:
        with self._connect() as conn:
            rows = self._holders(conn, self._key(conn), only_me=False)
        self.db.dispose()
        if not rows:
            return None
        pid, app, started = rows[0]
        since = started.astimezone(UTC).replace(tzinfo=None, microsecond=0)
        parts = str(app or "").split()
        if len(parts) == 3 and parts[0] == APP_NAME:
            return {"host": parts[1], "pid": int(parts[2]), "since": since.isoformat(),
                    "backend_pid": pid}
        return {"host": None, "pid": None, "since": since.isoformat(), "backend_pid": pid}

    @staticmethod
    def _holders(conn: Connection, key: int, only_me: bool) -> list[Any]:
        q = ("SELECT a.pid, a.application_name, a.backend_start FROM pg_locks l "
             "JOIN pg_stat_activity a ON a.pid = l.pid "
             "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
             "AND l.classid::bigint = :a AND l.objid::bigint = :b "
             "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")
        if only_me:
            q += " AND l.pid = pg_backend_pid()"
        return list(conn.execute(text(q), {"a": PG_KEY, "b": key}).tuples())
