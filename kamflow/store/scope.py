"""The accounts one sweep chunk reads: an id range, and within it only the listed ids.

A full sweep's chunks are dense ranges (the range alone is the filter); the daily sweep's
are the marked and woken accounts, sparse within their range, so every per-chunk query
filters on the ids alone and reads nothing of the accounts in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal


@dataclass(frozen=True, slots=True)
class Scope:
    lo: str
    hi: str
    ids: tuple[str, ...] | None = None  # None: every account in lo..hi

    def where(self, column: Any) -> Any:
        """`column` (an account id) is in this chunk."""
        if self.ids is None:
            return column.between(self.lo, self.hi)
        # The ids alone (all within lo..hi): with the range beside them SQLite reads the whole
        # range, which a daily chunk's sparse ids span (0.19 s against 0.007 s for 689 ids of
        # 100,000 accounts). Literal ids: a prepared statement with thousands of parameters
        # gets a generic plan on PostgreSQL, and SQLite caps the number of parameters.
        return column.in_(bindparam(None, list(self.ids), expanding=True, literal_execute=True))


class Unindexed(ColumnElement[Any]):
    """A column as a value that no index serves on SQLite (`+column`); the column itself
    elsewhere. A chunk's task queries filter on the live statuses, and the sampled statistics
    SQLite keeps (kamflow.store.stats) can make "status = ?" look like a few thousand rows
    when it is nearly every task: the planner then walks every live task for a few hundred
    accounts (0.2-0.5 s a query at 100,000 accounts) instead of looking the accounts up.
    PostgreSQL's random sample sees the statuses as they are."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(Unindexed)
def _column(element: Unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column, **kw))


@compiles(Unindexed, "sqlite")
def _unary_plus(element: Unindexed, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(element.column, **kw))
