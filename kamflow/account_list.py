"""The accounts list: what a person may see, found, filtered, sorted and paged; its CSV export.

One page is one read: `limit` rows after the cursor, in keyset order on (sort key, id)
(kamflow.store.account_search), and the count of every row the filters keep. The cursor
is opaque to the caller: the sort it belongs to and the sort keys of the last row shown.
An account manager sees their own accounts (owner or sponsor) first.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from kamflow import cursor, filters
from kamflow.people import Principal
from kamflow.store import account_search
from kamflow.store.account_search import Filters, Order

SORTS = tuple(s for key in account_search.SORT_KEYS for s in (key, f"-{key}"))
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
EXPORT_CHUNK = 2000


@dataclass(frozen=True)
class Asked:
    """A request for the list, as the API and the page take it."""

    q: str | None = None
    state: str | None = None
    klass: str | None = None
    key_only: bool = False
    owner: str | None = None
    score_min: float | None = None
    score_max: float | None = None
    overdue: bool = False
    sort: str = "name"  # a key of SORTS: "-" first for descending
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


@dataclass(frozen=True)
class Listed:
    rows: list[dict[str, Any]]
    total: int | None  # None when not counted (the export's later chunks)
    next_cursor: str | None  # None on the last page
    walked: bool = False  # read in the order of the sort's index (many rows kept)


def mine_first(p: Principal) -> str | None:
    """An account manager's own accounts lead their list; the others' lists start at the top
    of the sort."""
    return p.email if p.role == "account_manager" else None


def list_page(conn: Connection, asked: Asked, today: date, *,
              scope: ColumnElement[bool] | None = None, viewer: Principal | None = None
              ) -> Listed:
    """One page of the accounts `scope` lets the viewer see (kamflow.access.account_scope).
    Bad input is a ValueError naming the field; it reads nothing."""
    if not 1 <= asked.limit <= MAX_LIMIT:
        raise ValueError(f"limit: {asked.limit} is not between 1 and {MAX_LIMIT}")
    return _read(conn, asked, today, scope, viewer)


def _read(conn: Connection, asked: Asked, today: date, scope: ColumnElement[bool] | None,
          viewer: Principal | None, walk: bool | None = None) -> Listed:
    """A page; counted unless `walk` (read the sort's index in order) is decided already."""
    f, order, last = _checked(conn, asked, today, scope, viewer)
    total = None
    if walk is None:
        total = int(conn.execute(account_search.count(f, scope)).scalar_one())
        walk = total >= account_search.WALK_FROM
    rows = [] if total == 0 else [r._mapping for r in conn.execute(
        account_search.page(f, order, scope, last, asked.limit + 1, walk))]
    shown = rows[: asked.limit]
    keys = len(order.keys())
    out = [{k: v for k, v in r.items() if not k.startswith("sort_")} for r in shown]
    following = None
    if len(rows) > asked.limit:
        following = cursor.encoded(asked.sort, [shown[-1][f"sort_{i}"] for i in range(keys)])
    return Listed(out, total, following, walk)


def export(db: Engine, asked: Asked, today: date, *, scope: ColumnElement[bool] | None = None,
           viewer: Principal | None = None) -> Iterator[list[dict[str, Any]]]:
    """Every row the filters keep, a chunk at a time, each chunk read in a short transaction
    of its own (a long export holds no lock and keeps no snapshot); the cursor and limit of
    `asked` are ignored. A row added meanwhile after the export's position is included."""
    after: str | None = None
    walk: bool | None = None  # decided by the first chunk's count, kept for the others
    while True:
        step = replace(asked, limit=EXPORT_CHUNK, cursor=after)
        with db.connect() as conn:
            listed = _read(conn, step, today, scope, viewer, walk)
        yield listed.rows
        if listed.next_cursor is None:
            return
        after, walk = listed.next_cursor, listed.walked


def _checked(conn: Connection, asked: Asked, today: date, scope: ColumnElement[bool] | None,
             viewer: Principal | None) -> tuple[Filters, Order, list[Any] | None]:
    if asked.sort not in SORTS:
        raise ValueError(f"sort: '{asked.sort}' is not one of {', '.join(SORTS)}")
    for name, value in (("score_min", asked.score_min), ("score_max", asked.score_max)):
        if value is not None and not 0 <= value <= 100:
            raise ValueError(f"{name}: the retention score goes from 0 to 100, not {value}")
    if (asked.score_min is not None and asked.score_max is not None
            and asked.score_min > asked.score_max):
        raise ValueError(f"score_max: {asked.score_max} is below score_min {asked.score_min}")
    filters.check(conn, state=asked.state or None, klass=asked.klass or None,
                  person=asked.owner or None, person_option="owner")
    q = (asked.q or "").strip()
    ids: tuple[str, ...] = ()
    if q:  # an account id (as typed, in capitals, in small letters) or a name's start
        ids = tuple(conn.execute(account_search.ids_among(
            (q, q.upper(), q.lower()), scope)).scalars())
    f = Filters(name_prefix=None if ids else (q or None), ids=ids, state=asked.state or None,
                klass=asked.klass or None, key_only=asked.key_only, owner=asked.owner or None,
                score_min=asked.score_min, score_max=asked.score_max,
                overdue_on=today if asked.overdue else None)
    order = Order(asked.sort.lstrip("-"), asked.sort.startswith("-"),
                  mine_first(viewer) if viewer is not None else None)
    last = None if asked.cursor is None else _decoded(asked.cursor, asked.sort, order)
    return f, order, last


def _decoded(cursor_text: str, sort: str, order: Order) -> list[Any]:
    """The sort keys a cursor carries, checked against the list it is used on."""
    expected = [_kind(order, i) for i in range(len(order.keys()))]
    keys = cursor.decoded(cursor_text, sort, SORTS, len(expected))
    bad = ValueError(cursor.NOT_OURS)
    out: list[Any] = []
    for value, kind in zip(keys, expected, strict=True):
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise bad
        if isinstance(value, float) and not math.isfinite(value):
            raise bad
        if isinstance(value, str) and not _storable(value):
            raise bad
        out.append(value)
    return out


def _storable(text: str) -> bool:
    """Text both databases take: no NUL, no unpaired surrogate, no longer than a name."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text and len(text) <= 1000


def _kind(order: Order, i: int) -> type:
    """The Python type of the i-th sort key of `order`."""
    if order.mine is not None and i == 0:
        return int
    if i == len(order.keys()) - 1 or order.sort in ("name", "id"):
        return str
    return float
