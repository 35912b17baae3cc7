"""Set-based writes that work the same on SQLite and PostgreSQL.

`insert_all`, `insert_new`, `insert_returning` and `update_by_key` build their statements
here and hand the driver whole chunks:

- PostgreSQL (psycopg): one statement per chunk reading the rows from a source (pgbulk.py:
  each column's values as one array, or from 1,000 rows a temp table filled by COPY):
  `INSERT ... SELECT * FROM <source> ON CONFLICT (keys) DO NOTHING RETURNING ...` and
  `UPDATE t SET ... FROM <source> AS v WHERE t.key = v.key [AND t.guard = v.guard]`.
  psycopg parses one short statement per chunk instead of a 1,000-row VALUES list, and
  an update is one statement instead of one per row.
- SQLite: updates and plain inserts are one prepared statement run by the driver's
  executemany; inserts that skip conflicts are multi-row `VALUES ... ON CONFLICT DO
  NOTHING RETURNING`, as many rows per statement as SQLite's limit on parameters allows.

Values go through each column's own SQLAlchemy bind processor first, so what is stored
is exactly what Core would store (JSON text or JSONB, SQLite's date strings, JSON
`null` for None), and returned columns go through the result processors. A column
type not listed in `_array_type`, a default that is not a plain value, another
driver, a chunk that updates the same key twice or mixes value types in a column
(psycopg arrays hold one type) takes the Core executemany path, as before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BindParameter,
    Connection,
    CursorResult,
    Table,
    and_,
    bindparam,
    or_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import sqltypes
from sqlalchemy.types import TypeDecorator, TypeEngine

from kamflow.store.pgbulk import PgColumn, pg_column, rows_source

Row = dict[str, Any]
CHUNK = 5000
SQLITE_ROWS = 256  # most rows per multi-row INSERT on SQLite (fewer if the parameter limit says so)


def _insert(conn: Connection, table: Table) -> Any:
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table)


def literal_in(values: Sequence[Any]) -> BindParameter[Any]:
    """The values of an IN written into the statement: a prepared IN of hundreds of
    parameters gets a generic plan on PostgreSQL, and SQLite caps a statement's parameters."""
    return bindparam(None, list(values), expanding=True, literal_execute=True)


def add_to(conn: Connection, table: Table, rows: Sequence[Row], keys: Sequence[str],
           column: str, chunk: int = 500) -> None:
    """Counters: insert each row, or on a key conflict add its `column` to the stored one.
    Pass the rows in key order, so that two writers take their row locks in the same order."""
    ins = _insert(conn, table)
    stmt = ins.on_conflict_do_update(index_elements=list(keys),
                                     set_={column: table.c[column] + ins.excluded[column]})
    for start in range(0, len(rows), chunk):
        conn.execute(stmt, list(rows[start:start + chunk]))


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Row],
    keys: Sequence[str],
    update_cols: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
) -> None:
    """Insert rows; on a key conflict update `update_cols` where they differ (else do nothing)."""
    ins = _insert(conn, table)
    if update_cols:
        differs = or_(*(table.c[c].is_distinct_from(ins.excluded[c]) for c in update_cols))
        stmt = ins.on_conflict_do_update(
            index_elements=list(keys), set_={c: ins.excluded[c] for c in update_cols}, where=differs
        )
    else:
        stmt = ins.on_conflict_do_nothing(index_elements=list(keys))
    for start in range(0, len(rows), CHUNK):
        batch = rows[start:start + CHUNK]
        conn.execute(stmt, list(batch))
        if progress:
            progress(len(batch))


def insert_all(conn: Connection, table: Table, rows: Sequence[Row]) -> None:
    """Plain INSERT of every row (no conflict handling, nothing returned): what
    `conn.execute(table.insert(), rows)` does, through the driver (e.g. audit events)."""
    for start in range(0, len(rows), CHUNK):
        batch = rows[start:start + CHUNK]
        if not _fast_insert_all(conn, table, batch):
            conn.execute(table.insert(), list(batch))


def insert_new(conn: Connection, table: Table, rows: Sequence[Row], keys: Sequence[str],
               returning: str) -> set[Any]:
    """Insert, skipping key conflicts; return the `returning` column of the rows that went in."""
    if not rows:
        return set()
    inserted: set[Any] = set()
    for start in range(0, len(rows), CHUNK):
        batch = rows[start:start + CHUNK]
        got = _fast_insert(conn, table, batch, keys, (returning,))
        if got is None:
            stmt = _insert(conn, table).on_conflict_do_nothing(index_elements=list(keys))
            got = list(conn.execute(stmt.returning(table.c[returning]), list(batch)).tuples())
        inserted.update(r[0] for r in got)
    return inserted


def insert_returning(conn: Connection, table: Table, rows: Sequence[Row], keys: Sequence[str],
                     returning: Sequence[str]) -> list[Row]:
    """Insert, skipping key conflicts; return `returning` columns of the rows that went in."""
    if not rows:
        return []
    out: list[Row] = []
    names = list(returning)
    for start in range(0, len(rows), CHUNK):
        batch = rows[start:start + CHUNK]
        got = _fast_insert(conn, table, batch, keys, names)
        if got is None:
            stmt = _insert(conn, table).on_conflict_do_nothing(index_elements=list(keys))
            stmt = stmt.returning(*(table.c[c] for c in names))
            out.extend(dict(r._mapping) for r in conn.execute(stmt, list(batch)))
        else:
            out.extend(dict(zip(names, r, strict=True)) for r in got)
    return out


def update_by_key(conn: Connection, table: Table, rows: Sequence[Row], key: str,
                  guard: Sequence[str] = ()) -> None:
    """UPDATE ... SET <the rows' other columns> WHERE key = _key [AND guard column = _<guard>],
    row by row in effect: a guard that no longer matches leaves that row alone."""
    if not rows:
        return
    cols = [c for c in rows[0] if c != key and not c.startswith("_")]
    for start in range(0, len(rows), CHUNK):
        batch = rows[start:start + CHUNK]
        if not _fast_update(conn, table, batch, key, cols, guard):
            _core_update(conn, table, batch, key, cols, guard)


def _core_update(conn: Connection, table: Table, rows: Sequence[Row], key: str,
                 cols: Sequence[str], guard: Sequence[str]) -> None:
    """executemany UPDATE ... WHERE key = :_key [AND guard columns = :_guard]."""
    cond = [table.c[key] == bindparam("_key")]
    cond += [table.c[g] == bindparam(f"_{g}") for g in guard]
    stmt = update(table).where(and_(*cond)).values({c: bindparam(c) for c in cols})
    params = []
    for r in rows:
        p = {c: r[c] for c in cols}
        p["_key"] = r[key]
        p.update({f"_{g}": r[f"_{g}"] for g in guard})
        params.append(p)
    conn.execute(stmt, params)


# -- the driver-level paths -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Col:
    quoted: str
    bind: Callable[[Any], Any] | None  # the column type's bind processor for this dialect
    array: str  # element type of the PostgreSQL array the values travel in
    is_float: bool
    few: bool = False  # dates and times: a chunk's rows share few values (its moment, due days)


def _path(conn: Connection) -> str | None:
    d = conn.dialect
    if d.name == "sqlite" and d.driver == "pysqlite":
        return "sqlite"
    if d.name == "postgresql" and d.driver == "psycopg":
        return "postgresql"
    return None


def _array_type(declared: TypeEngine[Any], impl: TypeEngine[Any], dialect: Dialect) -> str | None:
    """The PostgreSQL type to cast a column's value array to; None: not handled here.

    `declared` is the column's type as written (TypeDecorators unwrapped), `impl` what the
    dialect makes of it (JSON becomes JSONB through the variant). Strings travel as text:
    a cast to varchar(n) would silently truncate, whereas the assignment to the column
    raises like a direct insert does; numeric without its precision for the same reason.
    Floats travel as float8, never numeric (float8 -> numeric keeps only 15 digits).
    """
    base = impl.impl_instance if isinstance(impl, TypeDecorator) else impl
    if isinstance(base, sqltypes.JSON):
        return "jsonb" if isinstance(base, postgresql.JSONB) else "json"
    if isinstance(declared, sqltypes.Boolean):
        return "boolean"
    if isinstance(declared, sqltypes.Integer | sqltypes.Float):
        return declared.compile(dialect=dialect)
    if isinstance(declared, sqltypes.Numeric):
        return "numeric"
    if isinstance(declared, sqltypes.DateTime):
        return "timestamp with time zone" if declared.timezone else "timestamp without time zone"
    if isinstance(declared, sqltypes.Date):
        return "date"
    if isinstance(declared, sqltypes.String) and not isinstance(declared, sqltypes.Enum):
        return "text"
    return None


def _col(conn: Connection, table: Table, name: str) -> _Col | None:
    dialect = conn.dialect
    column = table.c[name]
    declared = column.type
    if isinstance(declared, TypeDecorator):
        declared = declared.impl_instance
    impl = column.type.dialect_impl(dialect)
    array = _array_type(declared, impl, dialect)
    if array is None:
        return None
    return _Col(dialect.identifier_preparer.quote(name), impl.bind_processor(dialect), array,
                isinstance(declared, sqltypes.Float),
                isinstance(declared, sqltypes.Date | sqltypes.DateTime))


def _processed(col: _Col, values: list[Any]) -> list[Any]:
    bind = col.bind
    if bind is None:
        return values
    if not col.few:
        return [bind(v) for v in values]
    done: dict[Any, Any] = {}  # each distinct value formatted once (SQLite: 1-2 µs a value)
    out = []
    for v in values:
        p = done.get(v, done)
        if p is done:
            p = done[v] = bind(v)
        out.append(p)
    return out


def _pg_columns(cols: Sequence[_Col], values: list[list[Any]]) -> list[PgColumn] | None:
    """The columns as the PostgreSQL source sends them; None: one cannot travel as an array."""
    out: list[PgColumn] = []
    for c, v in zip(cols, values, strict=True):
        pg = pg_column(c.array, c.is_float, v)
        if pg is None:
            return None
        out.append(pg)
    return out


def _insert_columns(conn: Connection, table: Table, rows: Sequence[Row]
                    ) -> tuple[list[_Col], list[list[Any]]] | None:
    """The columns to insert and their bind-processed values, column by column; the
    columns' plain default values filled in where the rows leave them out (as Core does)."""
    names = list(rows[0])
    cols: list[_Col] = []
    values: list[list[Any]] = []
    for name in names:
        c = _col(conn, table, name)
        if c is None:
            return None
        cols.append(c)
        values.append(_processed(c, [r[name] for r in rows]))
    for column in table.columns:
        if column.name in rows[0]:
            continue
        default = column.default
        if default is None:
            continue
        if not default.is_scalar:
            return None
        c = _col(conn, table, column.name)
        if c is None:
            return None
        cols.append(c)
        values.append(_processed(c, [default.arg] * len(rows)))  # type: ignore[attr-defined]
    return cols, values


def _fast_insert(conn: Connection, table: Table, rows: Sequence[Row], keys: Sequence[str],
                 returning: Sequence[str]) -> list[tuple[Any, ...]] | None:
    """INSERT ... ON CONFLICT (keys) DO NOTHING RETURNING, for one chunk; None: not handled."""
    path = _path(conn)
    if path is None:
        return None
    found = _insert_columns(conn, table, rows)
    if found is None:
        return None
    cols, values = found
    q = conn.dialect.identifier_preparer
    target = q.format_table(table)
    names = ", ".join(c.quoted for c in cols)
    conflict = ", ".join(q.quote(k) for k in keys)
    ret = ", ".join(q.quote(r) for r in returning)
    if path == "postgresql":
        pg = _pg_columns(cols, values)
        if pg is None:
            return None
        source, params = rows_source(conn, pg)
        result = conn.exec_driver_sql(
            f"INSERT INTO {target} ({names}) SELECT * FROM {source} "
            f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {ret}", params)
        return _typed(conn, table, returning, result)
    one = "(" + ", ".join("?" * len(cols)) + ")"
    out: list[tuple[Any, ...]] = []
    flat_rows = list(zip(*values, strict=True))
    start = 0
    for size in _sqlite_batches(len(flat_rows), _sqlite_parameter_limit(conn) // len(cols)):
        part = flat_rows[start:start + size]
        start += size
        sql = (f"INSERT INTO {target} ({names}) VALUES {', '.join([one] * size)} "
               f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {ret}")
        result = conn.exec_driver_sql(sql, tuple(v for r in part for v in r))
        out.extend(_typed(conn, table, returning, result))
    return out


def _sqlite_batches(rows: int, most: int) -> list[int]:
    """Rows per multi-row statement: full batches, then the rest in powers of two.

    The driver keeps each distinct statement it prepared (128 per connection), and a
    statement of hundreds of VALUES rows is large: sizes from a small fixed set keep that
    cache, and the process, from growing with every chunk's odd remainder.
    """
    per = 1 << (max(1, min(SQLITE_ROWS, most)).bit_length() - 1)  # a power of two
    sizes = [per] * (rows // per)
    rest = rows % per
    while rest:
        size = 1 << (rest.bit_length() - 1)
        sizes.append(size)
        rest -= size
    return sizes


def _fast_insert_all(conn: Connection, table: Table, rows: Sequence[Row]) -> bool:
    path = _path(conn)
    found = None if path is None else _insert_columns(conn, table, rows)
    if found is None:
        return False
    cols, values = found
    target = conn.dialect.identifier_preparer.format_table(table)
    names = ", ".join(c.quoted for c in cols)
    if path == "sqlite":
        one = "(" + ", ".join("?" * len(cols)) + ")"
        conn.exec_driver_sql(f"INSERT INTO {target} ({names}) VALUES {one}",
                             list(zip(*values, strict=True)))
        return True
    pg = _pg_columns(cols, values)
    if pg is None:
        return False
    source, params = rows_source(conn, pg)
    conn.exec_driver_sql(f"INSERT INTO {target} ({names}) SELECT * FROM {source}", params)
    return True


def _typed(conn: Connection, table: Table, returning: Sequence[str],
           result: CursorResult[Any]) -> list[tuple[Any, ...]]:
    """RETURNING rows of a driver-level statement, through the columns' result processors."""
    dialect = conn.dialect
    description = result.cursor.description
    procs = [table.c[name].type.dialect_impl(dialect).result_processor(dialect, d[1])
             for name, d in zip(returning, description, strict=True)]
    raw = result.cursor.fetchall()  # the driver's tuples: no Row object per row
    result.close()
    if all(p is None for p in procs):
        return [tuple(r) for r in raw]
    return [tuple(v if p is None else p(v) for p, v in zip(procs, r, strict=True)) for r in raw]


def _sqlite_parameter_limit(conn: Connection) -> int:
    raw: Any = conn.connection.driver_connection
    try:
        return int(raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    except AttributeError:  # Python < 3.11
        return 999


def _fast_update(conn: Connection, table: Table, rows: Sequence[Row], key: str,
                 cols: Sequence[str], guard: Sequence[str]) -> bool:
    """update_by_key for one chunk through the driver; False: not handled (nothing written)."""
    path = _path(conn)
    if path is None or not cols:
        return False
    spec: list[tuple[_Col, str]] = []  # (column, the rows' field holding its value)
    for name, field in [(c, c) for c in cols] + [(key, key)] + [(g, f"_{g}") for g in guard]:
        c = _col(conn, table, name)
        if c is None:
            return False
        spec.append((c, field))
    if any(c.onupdate is not None for c in table.columns if c.name not in cols):
        return False  # Core would set those too
    values = [_processed(c, [r[field] for r in rows]) for c, field in spec]
    n = len(cols)
    q = conn.dialect.identifier_preparer
    target = q.format_table(table)
    if path == "sqlite":
        sets = ", ".join(f"{c.quoted} = ?" for c, _ in spec[:n])
        where = " AND ".join(f"{c.quoted} = ?" for c, _ in spec[n:])
        conn.exec_driver_sql(f"UPDATE {target} SET {sets} WHERE {where}",
                             list(zip(*values, strict=True)))
        return True
    keys = values[n]
    if len(set(keys)) != len(keys):
        return False  # one statement would apply only one of the rows for that key
    pg = _pg_columns([c for c, _ in spec], values)
    if pg is None:
        return False
    source, params = rows_source(conn, pg)
    alias = [f"v{i}" for i in range(len(spec))]
    sets = ", ".join(f"{c.quoted} = v.{a}" for (c, _), a in zip(spec[:n], alias[:n], strict=True))
    where = " AND ".join(f"_t.{c.quoted} = v.{a}"
                         for (c, _), a in zip(spec[n:], alias[n:], strict=True))
    conn.exec_driver_sql(
        f"UPDATE {target} AS _t SET {sets} FROM {source} AS v({', '.join(alias)}) WHERE {where}",
        params)
    return True
