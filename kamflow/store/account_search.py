"""The accounts list's statements: who sees what, the filters, a sort read in keyset order,
and the count of everything the filters keep.

Every sort is an index on (sort key, id) (kamflow.store.models): a page is the next
`limit` rows after the last one shown, `(key, id) > (last key, last id)`, so a row is shown
once across pages however many rows are added meanwhile, and a page costs the same at any
depth. An account manager's own accounts (owner or sponsor) come first: their list is small
enough to sort whole.

A search is either some account ids (kamflow.account_list looks up whether the text is one)
or the start of a name in any case: one range of ix_account_name, lower(name) from lower(q)
up to lower(q) followed by the last code point. Each is a plain condition the index serves
(an OR of the two would leave PostgreSQL walking the whole index for a rare prefix). A word
inside a name is not found: a substring search has no index on SQLite and reads every
account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from kamflow.store.models import RETENTION_KEY, NameKey
from kamflow.store.tables import ACCOUNT, TASK

# From this many rows kept, a page reads the sort's index in order: at most
# 51 x (accounts / WALK_FROM) rows to find 51, where reading them all by a filter's index and
# sorting them would cost more. PostgreSQL's planner weighs the LIMIT itself; SQLite's
# does not, and is told the filters are likely true (Likely).
WALK_FROM = 5000
LAST = "\U0010ffff"  # after every other code point: lower(q) + LAST ends the prefix's range
# a literal: SQLite uses a partial index only for its own WHERE
OPEN: ColumnElement[str] = literal_column("'open'")
SORT_KEYS: dict[str, ColumnElement[Any]] = {
    "name": NameKey(ACCOUNT.c.name),
    "id": ACCOUNT.c.id,
    "score": RETENTION_KEY,
    "potential": ACCOUNT.c.potential,
}
COLUMNS = (ACCOUNT.c.id, ACCOUNT.c.name, ACCOUNT.c.owner_email, ACCOUNT.c.sponsor_email,
           ACCOUNT.c.state, ACCOUNT.c.state_since, ACCOUNT.c.klass, ACCOUNT.c.segment,
           ACCOUNT.c.key_account, ACCOUNT.c.portrait_fit, ACCOUNT.c.potential,
           ACCOUNT.c.retention_score)


@dataclass(frozen=True)
class Filters:
    """What the list keeps; None / False: no condition."""

    name_prefix: str | None = None  # names starting with it, in any case
    ids: tuple[str, ...] = ()  # only these accounts
    state: str | None = None
    klass: str | None = None
    key_only: bool = False
    owner: str | None = None
    score_min: float | None = None  # the retention score band, 0-100, both ends included
    score_max: float | None = None
    overdue_on: date | None = None  # only accounts with an open task due before this day


@dataclass(frozen=True)
class Order:
    sort: str  # a key of SORT_KEYS
    descending: bool = False
    mine: str | None = None  # this person's own accounts (owner or sponsor) first

    def keys(self) -> list[tuple[ColumnElement[Any], bool]]:
        """(expression, descending) from the first sort key to the last (the id)."""
        out: list[tuple[ColumnElement[Any], bool]] = []
        if self.mine is not None:
            out.append((mine_first(self.mine), False))
        if self.sort != "id":
            out.append((SORT_KEYS[self.sort], self.descending))
        out.append((ACCOUNT.c.id, self.descending))
        return out


class Likely(FunctionElement[Any]):
    """A condition SQLite's planner is told holds for most rows (likelihood(x, 0.9375)), so
    it walks the index of the ORDER BY instead of the condition's own; as is elsewhere.
    (Not typed Boolean: SQLite would compare it with 1, and the hint would be lost.)"""

    name = "likely"
    inherit_cache = True


@compiles(Likely)
def _likely(element: Likely, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)})"


@compiles(Likely, "sqlite")
def _likely_sqlite(element: Likely, compiler: Any, **kw: Any) -> str:
    return f"likelihood(({compiler.process(element.clauses, **kw)}), 0.9375)"


def mine_first(email: str) -> ColumnElement[int]:
    """0 for the accounts `email` owns or sponsors, 1 for the others."""
    own = or_(ACCOUNT.c.owner_email == email, ACCOUNT.c.sponsor_email == email)
    return case((own, 0), else_=1)


def conditions(f: Filters, scope: ColumnElement[bool] | None) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = [] if scope is None else [scope]
    if f.name_prefix:
        start = NameKey(bindparam("name_start", f.name_prefix))
        out += [SORT_KEYS["name"] >= start, SORT_KEYS["name"] < start.op("||")(literal(LAST))]
    if f.ids:
        out.append(ACCOUNT.c.id.in_(f.ids))
    if f.state:
        out.append(ACCOUNT.c.state == f.state)
    if f.klass:
        out.append(ACCOUNT.c.klass == f.klass)
    if f.key_only:
        out.append(ACCOUNT.c.key_account.is_(True))
    if f.owner:
        out.append(ACCOUNT.c.owner_email == f.owner)
    if f.score_min is not None or f.score_max is not None:
        score = SORT_KEYS["score"]  # an account without a score (-1) is outside every band
        out.append(score >= max(f.score_min or 0.0, 0.0))
        if f.score_max is not None:
            out.append(score <= f.score_max)
    if f.overdue_on is not None:  # from ix_task_open_due alone, not a probe per account
        out.append(ACCOUNT.c.id.in_(select(TASK.c.account_id).where(
            TASK.c.status == OPEN, TASK.c.due < f.overdue_on)))
    return out


def after(order: Order, last: Sequence[Any]) -> ColumnElement[bool]:
    """The rows after `last` (the sort keys of the last row shown) in `order`: the keys of one
    direction compared as one row value, which an index on them serves."""
    keys = order.keys()
    groups: list[tuple[list[int], bool]] = []
    for i, (_, desc) in enumerate(keys):
        if groups and groups[-1][1] == desc:
            groups[-1][0].append(i)
        else:
            groups.append(([i], desc))
    options: list[ColumnElement[bool]] = []
    for n, (members, desc) in enumerate(groups):
        equal = [keys[i][0] == last[i] for g, _ in groups[:n] for i in g]
        left = tuple_(*[keys[i][0] for i in members])
        right = tuple_(*[literal(last[i]) for i in members])
        beyond = left < right if desc else left > right
        options.append(and_(*equal, beyond) if equal else beyond)
    return or_(*options) if len(options) > 1 else options[0]


def page(f: Filters, order: Order, scope: ColumnElement[bool] | None,
         last: Sequence[Any] | None, limit: int, walk: bool = False) -> Select[Any]:
    """`limit` rows after `last`, with the sort keys as sort_0, sort_1... (the next cursor).
    `walk`: the filters keep many rows (see WALK_FROM), so read the sort's index in order
    and test each row, rather than read every row they keep by their own index and sort."""
    keys = order.keys()
    q = select(*COLUMNS, *[k.label(f"sort_{i}") for i, (k, _) in enumerate(keys)])
    where = conditions(f, scope)
    if walk and not (f.name_prefix or f.ids) and order.mine is None:  # (a search keeps its
        where = [Likely(c) for c in where]  # index; own-first is no index order)
    if last is not None:
        where.append(after(order, last))
    return (q.where(and_(true(), *where))
            .order_by(*[k.desc() if desc else k for k, desc in keys]).limit(limit))


def ids_among(candidates: Sequence[str], scope: ColumnElement[bool] | None) -> Select[Any]:
    """Which of these ids are accounts within `scope` (primary key lookups)."""
    q = select(ACCOUNT.c.id).where(ACCOUNT.c.id.in_(sorted(set(candidates))))
    return q if scope is None else q.where(scope)


def count(f: Filters, scope: ColumnElement[bool] | None) -> Select[Any]:
    if scope is None and f == Filters(overdue_on=f.overdue_on) and f.overdue_on is not None:
        # only "overdue work": the accounts of those tasks, from ix_task_open_due alone
        return select(func.count(TASK.c.account_id.distinct())).where(
            TASK.c.status == OPEN, TASK.c.due < f.overdue_on)
    return select(func.count()).select_from(ACCOUNT).where(and_(true(), *conditions(f, scope)))
