"""EXPLAIN for the plan tests: a statement's plan on SQLite and PostgreSQL, and a seeded
database with the statistics a live store has."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import ClauseElement, Connection, Executable
from sqlalchemy.ext.compiler import compiles

from kamflow.store import stats
from support import DB
from support.stores import Stores


class Explain(Executable, ClauseElement):
    """EXPLAIN of a statement, with its parameters bound as the statement's own."""

    inherit_cache = False

    def __init__(self, statement: Any, prefix: str) -> None:
        self.statement, self.prefix = statement, prefix


@compiles(Explain)
def _explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return f"{element.prefix} {compiler.process(element.statement, **kw)}"


def sqlite_details(conn: Connection, statement: Any, parameters: Any = None) -> list[str]:
    """SQLite's EXPLAIN QUERY PLAN, a detail per step; `statement` is a construct, or SQL text
    sent with `parameters`."""
    rows = conn.execute(Explain(statement, "EXPLAIN QUERY PLAN")).all() if parameters is None \
        else conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return [d for *_, d in rows]


def postgres_root(conn: Connection, statement: Any, parameters: Any = None) -> dict[str, Any]:
    """PostgreSQL's EXPLAIN (FORMAT JSON), its root node; as `sqlite_details` takes them."""
    doc = conn.execute(Explain(statement, "EXPLAIN (FORMAT JSON)")).scalar_one() \
        if parameters is None \
        else conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar_one()
    root: dict[str, Any] = (json.loads(doc) if isinstance(doc, str) else doc)[0]["Plan"]
    return root


@contextmanager
def analyzed(stores: Stores, kind: str, where: Path, seed: Callable[[DB], None]) -> Iterator[DB]:
    """A migrated database (as `db` makes them) seeded once, with the statistics
    kamflow.store.stats gathers and, on PostgreSQL, the visibility map a live store has."""
    with stores.database(kind, where) as db:
        seed(db)
        with db.engine.begin() as conn:
            stats.analyze(conn)
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM " + ", ".join(stats.BIG))
        yield db
