"""Alembic environment: runs on the connection kamflow hands it (see kamflow.db)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import kamflow.models  # noqa: F401  (registers the tables)
from kamflow.settings import Settings

target_metadata = SQLModel.metadata


def run() -> None:
    conn = context.config.attributes.get("connection")
    if conn is not None:
        context.configure(connection=conn, target_metadata=target_metadata,
                          render_as_batch=True)
        context.run_migrations()
        return
    engine = create_engine(Settings().database_url)  # `alembic` run by a developer
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata,
                          render_as_batch=True)
        context.run_migrations()


run()
