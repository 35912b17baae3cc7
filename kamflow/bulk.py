"""Set-based writes that work the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, or_, update
from sqlalchemy.dialects import postgresql, sqlite

Row = dict[str, Any]
CHUNK = 5000


def _insert(conn: Connection, table: Table) -> Any:
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table)


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


def insert_new(conn: Connection, table: Table, rows: Sequence[Row], keys: Sequence[str],
               returning: str) -> set[Any]:
    """Insert, skipping key conflicts; return the `returning` column of the rows that went in."""
    if not rows:
        return set()
    stmt = _insert(conn, table).on_conflict_do_nothing(index_elements=list(keys))
    stmt = stmt.returning(table.c[returning])
    inserted: set[Any] = set()
    for start in range(0, len(rows), CHUNK):
        result = conn.execute(stmt, list(rows[start:start + CHUNK]))
        inserted.update(r[0] for r in result)
    return inserted


def insert_returning(conn: Connection, table: Table, rows: Sequence[Row], keys: Sequence[str],
                     returning: Sequence[str]) -> list[Row]:
    """Insert, skipping key conflicts; return `returning` columns of the rows that went in."""
    if not rows:
        return []
    stmt = _insert(conn, table).on_conflict_do_nothing(index_elements=list(keys))
    stmt = stmt.returning(*(table.c[c] for c in returning))
    out: list[Row] = []
    for start in range(0, len(rows), CHUNK):
        out.extend(dict(r._mapping) for r in conn.execute(stmt, list(rows[start:start + CHUNK])))
    return out


def update_by_key(conn: Connection, table: Table, rows: Sequence[Row], key: str,
                  guard: Sequence[str] = ()) -> None:
    """executemany UPDATE ... WHERE key = :_key [AND guard columns = :_guard]."""
    if not rows:
        return
    cols = [c for c in rows[0] if c != key and not c.startswith("_")]
    cond = [table.c[key] == bindparam("_key")]
    cond += [table.c[g] == bindparam(f"_{g}") for g in guard]
    stmt = update(table).where(and_(*cond)).values({c: bindparam(c) for c in cols})
    params = []
    for r in rows:
        p = {c: r[c] for c in cols}
        p["_key"] = r[key]
        p.update({f"_{g}": r[f"_{g}"] for g in guard})
        params.append(p)
    for start in range(0, len(params), CHUNK):
        conn.execute(stmt, params[start:start + CHUNK])
