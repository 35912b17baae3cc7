"""An empty database of each kind for the migration tests: a SQLite file, or a PostgreSQL
schema of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from kamflow.store.db import make_db
from support.stores import postgres_url, schema_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        db = make_db(f"sqlite:///{tmp_path / 'm.db'}")
        yield db
        db.dispose()
        return
    base = postgres_url()
    admin = create_engine(base)
    schema = f"m_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = create_engine(schema_url(base, schema))
    yield db
    db.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
