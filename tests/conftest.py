"""Shared fixtures: a real database of each kind, migrated, with the bundled playbooks.

Store tests take `db` and run once on SQLite (a file in tmp_path) and once on
PostgreSQL (a fresh schema in the database named by KAMFLOW_TEST_POSTGRES_URL).
Without that variable the PostgreSQL half skips with a visible reason; under
CI=true it fails instead, so CI can never pass without PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from kamflow.engine.clock import FixedClock
from kamflow.store.db import db_for, dispose, migrate
from kamflow.store.versions import activate
from support import DB

START = datetime(2026, 1, 1)


def _postgres_url() -> str:
    base = os.environ.get("KAMFLOW_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("CI=true but KAMFLOW_TEST_POSTGRES_URL is not set: postgres tests must run")
        pytest.skip("postgres store tests skipped: set KAMFLOW_TEST_POSTGRES_URL to run them")
    return base


@contextmanager
def fresh_url(kind: str, tmp_path: Path, name: str = "kamflow") -> Iterator[str]:
    """An empty database of `kind`: a SQLite file, or a new schema on the test PostgreSQL."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        yield url
        dispose(url)
        return
    base = _postgres_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    try:
        yield rendered
    finally:
        dispose(rendered)
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_url(request.param, tmp_path) as url:
        yield url


def _ready(url: str) -> DB:
    engine = db_for(url)
    migrate(engine)
    with engine.begin() as conn:
        activate(conn, None, START)
    return DB(url, engine)


@pytest.fixture
def db(db_url: str) -> DB:
    """A migrated database with the bundled playbooks active."""
    return _ready(db_url)


@pytest.fixture
def pg_db(tmp_path: Path) -> Iterator[DB]:
    """`db` on PostgreSQL only, for what SQLite cannot show (it skips, visibly, without
    KAMFLOW_TEST_POSTGRES_URL, and fails in CI)."""
    with fresh_url("postgres", tmp_path) as url:
        yield _ready(url)


@pytest.fixture
def twin(db_url: str, tmp_path: Path) -> Iterator[DB]:
    """A second database of the same kind as `db`, to compare two ways of doing the same."""
    kind = make_url(db_url).get_backend_name()
    with fresh_url("sqlite" if kind == "sqlite" else "postgres", tmp_path, "twin") as url:
        yield _ready(url)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)
