"""The accounts one sweep chunk reads: an id range, and within it only the listed ids.

A full sweep's chunks are dense ranges (the range alone is the filter); the daily sweep's
are the marked and woken accounts, sparse within their range, so every per-chunk query
also filters on the ids and reads nothing of the accounts in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam


@dataclass(frozen=True, slots=True)
class Scope:
    lo: str
    hi: str
    ids: tuple[str, ...] | None = None  # None: every account in lo..hi

    def where(self, column: Any) -> Any:
        """`column` (an account id) is in this chunk."""
        in_range = column.between(self.lo, self.hi)
        if self.ids is None:
            return in_range
        # Literal ids: a prepared statement with thousands of parameters gets a generic
        # plan on PostgreSQL, and SQLite caps the number of parameters.
        return and_(in_range, column.in_(bindparam(None, list(self.ids), expanding=True,
                                                   literal_execute=True)))
