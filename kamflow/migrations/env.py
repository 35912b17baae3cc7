"""Alembic environment: runs on the connection kamflow hands it (see kamflow.store.db)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import kamflow.store.models  # noqa: F401  (registers the tables)
from kamflow.settings import Settings

target_metadata = SQLModel.metadata
# Tables other libraries keep in our database (APScheduler's job store): not ours to migrate.
FOREIGN_TABLES = {"apscheduler_jobs"}


def include_object(obj: object, name: str | None, type_: str, reflected: bool,
                   compare_to: object) -> bool:
    return not (type_ == "table" and reflected and name in FOREIGN_TABLES)


def run() -> None:
    conn = context.config.attributes.get("connection")
    if conn is not None:
        context.configure(connection=conn, target_metadata=target_metadata,
                          render_as_batch=True, include_object=include_object)
        context.run_migrations()
        return
    db = create_engine(Settings().database_url)  # `alembic` run by a developer
    with db.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata,
                          render_as_batch=True, include_object=include_object)
        context.run_migrations()


run()
