"""Where a PostgreSQL bulk write reads its rows from: column arrays, or COPY into a temp table.

bulk.py writes a chunk on PostgreSQL as one INSERT ... SELECT or UPDATE ... FROM reading
the rows from a source given here:

- small chunks: `unnest(CAST(%(p0)b AS type[]), ...)`, each column one binary array
  parameter, so the statement and its rows take one round trip;
- from COPY_ROWS rows on: the rows are sent with binary COPY (`set_types`, each value
  packed by psycopg's C dumper for the column's type) into a temporary table (ON COMMIT
  DROP, emptied before each use), which the statement then reads. At 5,000 rows that took
  less client CPU than the arrays; at 1,000 and below it saved nothing (README, Benchmark).

The temp table's columns have the same types the arrays are cast to. A binary dumper packs
whatever it is given as its type, so a column goes through COPY only when all its values
are that type's own Python type (no ints in a float column, no aware datetimes in a naive
timestamp, no numeric); otherwise the chunk uses arrays, where the server casts.
Errors raised by the COPY come out as SQLAlchemy's DBAPIError, like any statement's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

COPY_ROWS = 2000  # fewest rows that go through COPY (below: arrays; measured, see the docstring)
_NONE = type(None)
_BINARY: dict[str, tuple[str, type]] = {  # column type -> (psycopg's name, the Python type)
    "text": ("text", str), "boolean": ("bool", bool), "date": ("date", date),
    "INTEGER": ("int4", int), "BIGINT": ("int8", int), "SMALLINT": ("int2", int),
    "FLOAT": ("float8", float), "DOUBLE PRECISION": ("float8", float),
    "timestamp without time zone": ("timestamp", datetime),
    "timestamp with time zone": ("timestamptz", datetime),
}


@dataclass(frozen=True, slots=True)
class PgColumn:
    """One column's values as the source sends them."""

    type: str  # the PostgreSQL type the values are read as
    values: list[Any]
    copy_as: str | None  # psycopg's name for the type binary COPY packs them as; None: arrays only


def pg_column(type_: str, is_float: bool, values: list[Any]) -> PgColumn | None:
    """The values as psycopg can send them as one array (one Python type), or None."""
    kinds = {v.__class__ for v in values}
    kinds.discard(_NONE)
    if len(kinds) > 1:
        if not (is_float and kinds <= {int, float}):
            return None
        values = [float(v) if v.__class__ is int else v for v in values]
        kinds = {float}
    aware = {v.tzinfo is not None for v in values if v is not None} if kinds == {datetime} else set()
    if len(aware) > 1:
        return None
    copy_as: str | None = None
    if type_ in ("json", "jsonb"):
        copy_as = type_  # bind-processed into psycopg's Json/Jsonb wrappers (JSON null too)
    elif type_ in _BINARY and kinds <= {_BINARY[type_][1]}:
        copy_as = _BINARY[type_][0]
        if aware and aware != {type_ == "timestamp with time zone"}:
            copy_as = None  # naive into timestamptz or aware into timestamp: the server converts
    return PgColumn(type_, values, copy_as)


def rows_source(conn: Connection, columns: Sequence[PgColumn]) -> tuple[str, dict[str, Any]]:
    """A FROM item yielding the rows (one column per entry, in order) and the statement's
    parameters; rows at or above COPY_ROWS are COPYed into a temp table first (not in
    autocommit mode, where an ON COMMIT DROP table is gone after each statement)."""
    raw: Any = conn.connection.driver_connection
    if (len(columns[0].values) < COPY_ROWS or not all(c.copy_as for c in columns)
            or getattr(raw, "autocommit", True)):
        casts = ", ".join(f"CAST(%(p{i})b AS {c.type}[])" for i, c in enumerate(columns))
        return f"unnest({casts})", {f"p{i}": c.values for i, c in enumerate(columns)}
    return copy_into_temp(conn, columns), {}


def copy_into_temp(conn: Connection, columns: Sequence[PgColumn]) -> str:
    """COPY the rows into an emptied temp table (columns c0, c1, ...); its name."""
    # the connection's own cursor: the COPY runs in the caller's transaction
    shape = ", ".join(f"c{i} {c.type}" for i, c in enumerate(columns))
    name = "kamflow_copy_" + hashlib.sha1(shape.encode()).hexdigest()[:16]
    conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({shape}) ON COMMIT DROP")
    conn.exec_driver_sql(f"TRUNCATE {name}")
    sql = f"COPY {name} FROM STDIN (FORMAT BINARY)"
    dbapi: Any = conn.dialect.loaded_dbapi
    raw: Any = conn.connection.driver_connection
    try:
        with raw.cursor() as cur, cur.copy(sql) as copy:
            copy.set_types([c.copy_as for c in columns])
            write = copy.write_row
            for row in zip(*(c.values for c in columns), strict=True):
                write(row)
    except dbapi.Error as e:
        raise DBAPIError.instance(sql, None, e, dbapi.Error, dialect=conn.dialect) from e
    return name
