"""Aggregate queries that turn the store into AccountFacts, a chunk of accounts at a time.

Set-based: one GROUP BY per table per chunk, joined to the accounts; memory
stays flat because chunks follow the primary key (keyset pagination).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from sqlalchemy import Connection, Select, and_, case, extract, func, or_, select, true

from kamflow.engine.classify import PortfolioStats, portfolio_figures
from kamflow.engine.metrics import (
    COMPLAINT_EVENT,
    AccountFacts,
    months_between,
    windows,
)
from kamflow.playbooks.schema import KeyAccountRule
from kamflow.store.scope import Scope
from kamflow.store.tables import (
    ACCOUNT,
    ACCOUNT_EVENT,
    ACCOUNT_PLAN,
    CONTACT,
    FEEDBACK,
    MARGIN,
    REVENUE,
)


@dataclass(frozen=True, slots=True)
class Stored:
    """The classification currently stored, to write only what changed."""

    klass: str | None
    key_account: bool
    segment: str | None
    portrait_fit: float | None
    owner: str = ""
    sponsor: str | None = None
    state_imported: bool = False  # the state came from an import, not an entry
    key_reason: str | None = None  # why it is a key account, as last written
    retention_score: float | None = None  # as last written: the accounts list filters on it
    # what the last sweep to read the account counted in the portfolio figures: its revenue
    # sum for this window (None: summed for another, or never) and its potential
    figures_pair: tuple[float | None, float | None] = (None, None)


def trailing_12_months(at: datetime) -> Any:
    w = windows(at)
    return and_(REVENUE.c.month >= w.t12_start, REVENUE.c.month < w.end)


def stats(conn: Connection, at: datetime, rule: KeyAccountRule) -> PortfolioStats:
    """Portfolio-wide figures the key-account tests and the concentration metrics need: every
    account's trailing-12-month revenue and potential.

    An account that the last sweep to read it summed for this window, and that nothing has
    marked since, gives the sum stored on it (kamflow.store.changes.settle); only the others'
    revenue rows are read. A daily sweep thus reads one row per account, not twelve or more."""
    result = conn.execute(t12_statement(at))
    raw = result.cursor.fetchall()  # plain floats: no Row object for each of N accounts
    result.close()
    return portfolio_figures([(money(t12), float(potential or 0)) for t12, potential in raw],
                             rule)


def pairs_kept(conn: Connection, at: datetime) -> bool:
    """Does every marked account still hold the (revenue sum, potential) pair the last sweep
    to read it counted in the portfolio figures? Then the figures cannot have moved: an
    unmarked account's data is as that sweep read it. Reads the marked accounts only."""
    q = select(_t12_sum(at), ACCOUNT.c.potential, ACCOUNT.c.revenue_t12, ACCOUNT.c.t12_window,
               ACCOUNT.c.potential_read).where(ACCOUNT.c.changed == true())
    end = windows(at).end
    return all(_as_date(window) == end and money(t12) == kept and potential == read
               for t12, potential, kept, window, read in conn.execute(q).tuples())


def money(total: float | None) -> float:
    """A sum of amounts, to the cent: the database adds a float column in whatever order its
    plan reads the rows, and the last digits of the sum differ with the order (two copies of
    one store, analysed at other moments, gave 1644052.5400000003 and 1644052.5399999998)."""
    return round(float(total or 0), 2)


def t12_statement(at: datetime) -> Select[Any]:
    """(trailing-12-month revenue, potential) of every account, as `stats` reads them."""
    kept = and_(ACCOUNT.c.changed.is_(False), ACCOUNT.c.t12_window == windows(at).end)
    return select(case((kept, ACCOUNT.c.revenue_t12), else_=_t12_sum(at)), ACCOUNT.c.potential)


def _t12_sum(at: datetime) -> Any:
    """An account's trailing-12-month revenue, read from its revenue rows."""
    return (select(func.sum(REVENUE.c.amount))
            .where(REVENUE.c.account_id == ACCOUNT.c.id, trailing_12_months(at))
            .scalar_subquery())


def chunk_bounds(conn: Connection, size: int) -> Iterator[tuple[str, str]]:
    """Consecutive (first id, last id) ranges of at most `size` accounts."""
    last: str | None = None
    while True:
        q = select(ACCOUNT.c.id).order_by(ACCOUNT.c.id).limit(size)
        if last is not None:
            q = q.where(ACCOUNT.c.id > last)
        ids = conn.execute(q).scalars().all()
        if not ids:
            return
        yield ids[0], ids[-1]
        last = ids[-1]


def load(conn: Connection, at: datetime, lo: str, hi: str, fiscal_start_month: int = 1,
         ids: Sequence[str] | None = None) -> list[tuple[AccountFacts, Stored]]:
    """Facts for the accounts with lo <= id <= hi (only `ids` among them, when given), as of
    `at`."""
    w = windows(at, fiscal_start_month)
    fy_label, fy_months = w.fy_start.year, months_between(w.fy_start, w.end)
    q = statement(at, lo, hi, fiscal_start_month, ids)
    out: list[tuple[AccountFacts, Stored]] = []
    append = out.append
    # One fetchall of plain tuples (no per-row fetchone or attribute lookups on Row),
    # and AccountFacts/Stored built positionally, in their field order.
    for (account_id, state, state_since, created_at, potential, criteria, baseline, klass,
         key_account, segment, fit, owner, sponsor, imported, t12, prev12, months, last_month,
         last_contact, score, previous, contact_months, fy, plan_year, targets, closeness,
         won, decided, complaints, margin, key_reason, retention, kept_t12, kept_window,
         potential_read) in conn.execute(q).tuples().all():
        append((
            AccountFacts(
                account_id, state, state_since, created_at, float(potential),
                money(t12), money(prev12), int(months or 0),
                _as_date(last_month), _as_date(last_contact),
                None if score is None else float(score), baseline,
                {k: float(v) for k, v in criteria.items() if v is not None} if criteria else {},
                None if previous is None else float(previous), int(contact_months or 0),
                money(fy), fy_months,
                tuple(targets) if targets is not None and plan_year == fy_label else None,
                closeness, int(won or 0), int(decided or 0), int(complaints or 0),
                None if margin is None else money(margin),
            ),
            Stored(klass, bool(key_account), segment, fit, owner, sponsor, bool(imported),
                   key_reason, None if retention is None else float(retention),
                   (kept_t12 if _as_date(kept_window) == w.end else None, potential_read)),
        ))
    return out


def statement(at: datetime, lo: str, hi: str, fiscal_start_month: int = 1,
              ids: Sequence[str] | None = None) -> Any:
    """The one query load runs, built without a connection so that its plan can be checked
    (tests/kamflow/store/test_query_plans.py): every table read by its account index."""
    scope = Scope(lo, hi, None if ids is None else tuple(ids))
    w = windows(at, fiscal_start_month)
    today = at.date()
    in_t12 = trailing_12_months(at)
    in_prev = and_(REVENUE.c.month >= w.prev_start, REVENUE.c.month < w.t12_start)
    in_fy = and_(REVENUE.c.month >= w.fy_start, REVENUE.c.month < w.end)
    rev = (
        select(
            REVENUE.c.account_id,
            func.sum(case((in_t12, REVENUE.c.amount), else_=0.0)).label("t12"),
            func.sum(case((in_prev, REVENUE.c.amount), else_=0.0)).label("prev12"),
            func.sum(case((and_(in_t12, REVENUE.c.amount > 0), 1), else_=0)).label("months"),
            func.max(case((REVENUE.c.amount > 0, REVENUE.c.month))).label("last_month"),
            func.sum(case((in_fy, REVENUE.c.amount), else_=0.0)).label("fy"),
        )
        .where(scope.where(REVENUE.c.account_id), REVENUE.c.month <= today)
        .group_by(REVENUE.c.account_id)
        .subquery()
    )
    month_no = extract("year", CONTACT.c.date) * 12 + extract("month", CONTACT.c.date)
    con = (
        select(CONTACT.c.account_id, func.max(CONTACT.c.date).label("last_contact"),
               func.count(func.distinct(case((CONTACT.c.date >= w.contact_start, month_no))))
               .label("contact_months"))
        .where(scope.where(CONTACT.c.account_id), CONTACT.c.date <= today)
        .group_by(CONTACT.c.account_id)
        .subquery()
    )
    fy_label = w.fy_start.year
    plans = (
        select(
            ACCOUNT_PLAN.c.account_id,
            ACCOUNT_PLAN.c.fiscal_year,
            ACCOUNT_PLAN.c.monthly_targets,
            ACCOUNT_PLAN.c.closeness,
            func.row_number()
            .over(partition_by=ACCOUNT_PLAN.c.account_id, order_by=ACCOUNT_PLAN.c.fiscal_year.desc())
            .label("rn"),
        )
        .where(scope.where(ACCOUNT_PLAN.c.account_id), ACCOUNT_PLAN.c.fiscal_year <= fy_label)
        .subquery()
    )
    plan = select(plans).where(plans.c.rn == 1).subquery()
    ranked = (
        select(
            FEEDBACK.c.account_id,
            FEEDBACK.c.score,
            func.row_number()
            .over(
                partition_by=FEEDBACK.c.account_id,
                order_by=(FEEDBACK.c.date.desc(), FEEDBACK.c.id.desc()),
            )
            .label("rn"),
        )
        .where(scope.where(FEEDBACK.c.account_id), FEEDBACK.c.date <= today)
        .subquery()
    )
    ev, mg = _events(scope, at), _margin(scope, at)
    fb = (select(ranked.c.account_id,
                 func.max(case((ranked.c.rn == 1, ranked.c.score))).label("score"),
                 func.max(case((ranked.c.rn == 2, ranked.c.score))).label("previous"))
          .where(ranked.c.rn <= 2).group_by(ranked.c.account_id).subquery())
    q = (
        select(
            ACCOUNT.c.id,
            ACCOUNT.c.state,
            ACCOUNT.c.state_since,
            ACCOUNT.c.created_at,
            ACCOUNT.c.potential,
            ACCOUNT.c.criteria,
            ACCOUNT.c.baseline_revenue,
            ACCOUNT.c.klass,
            ACCOUNT.c.key_account,
            ACCOUNT.c.segment,
            ACCOUNT.c.portrait_fit,
            ACCOUNT.c.owner_email,
            ACCOUNT.c.sponsor_email,
            ACCOUNT.c.state_imported,
            rev.c.t12,
            rev.c.prev12,
            rev.c.months,
            rev.c.last_month,
            con.c.last_contact,
            fb.c.score,
            fb.c.previous,
            con.c.contact_months,
            rev.c.fy,
            plan.c.fiscal_year,
            plan.c.monthly_targets,
            plan.c.closeness,
            ev.c.won,
            ev.c.decided,
            ev.c.complaints,
            mg.c.margin,
            ACCOUNT.c.key_reason,
            ACCOUNT.c.retention_score,
            ACCOUNT.c.revenue_t12,
            ACCOUNT.c.t12_window,
            ACCOUNT.c.potential_read,
        )
        .select_from(
            ACCOUNT.outerjoin(rev, rev.c.account_id == ACCOUNT.c.id)
            .outerjoin(con, con.c.account_id == ACCOUNT.c.id)
            .outerjoin(fb, fb.c.account_id == ACCOUNT.c.id)
            .outerjoin(plan, plan.c.account_id == ACCOUNT.c.id)
            .outerjoin(ev, ev.c.account_id == ACCOUNT.c.id)
            .outerjoin(mg, mg.c.account_id == ACCOUNT.c.id)
        )
        .where(scope.where(ACCOUNT.c.id))
        .order_by(ACCOUNT.c.id)
    )
    return q


def _events(scope: Scope, at: datetime) -> Any:
    """Per account: quotes won and decided, and complaints, this month and the 11 before."""
    e = ACCOUNT_EVENT.c
    since = datetime.combine(windows(at).contact_start, time())  # this month and the 11 before
    quote_decided = and_(e.event.like("quote%"), e.decided_at >= since, e.decided_at <= at)
    return (
        select(e.account_id,
               func.sum(case((and_(quote_decided, e.outcome == "won"), 1), else_=0)).label("won"),
               func.sum(case((and_(quote_decided, e.outcome.in_(("won", "lost"))), 1), else_=0))
               .label("decided"),
               func.sum(case((and_(e.event == COMPLAINT_EVENT, e.at >= since), 1), else_=0))
               .label("complaints"))
        .where(scope.where(e.account_id), e.at <= at,
               or_(e.event == COMPLAINT_EVENT, e.decided_at.is_not(None)))
        .group_by(e.account_id)
        .subquery()
    )


def _margin(scope: Scope, at: datetime) -> Any:
    """Per account with margin rows in the trailing 12 months: their sum."""
    w = windows(at)
    return (select(MARGIN.c.account_id, func.sum(MARGIN.c.margin).label("margin"))
            .where(scope.where(MARGIN.c.account_id), MARGIN.c.month >= w.t12_start,
                   MARGIN.c.month < w.end)
            .group_by(MARGIN.c.account_id).subquery())


def _as_date(value: Any) -> Any:
    """SQLite hands MAX(date) back as text: the CASE loses the column's type there."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).date()
    return value


def load_one(conn: Connection, at: datetime, account_id: str, fiscal_start_month: int = 1
             ) -> AccountFacts | None:
    rows = load(conn, at, account_id, account_id, fiscal_start_month)
    return rows[0][0] if rows else None


def all_bounds(conn: Connection, ids: Sequence[str] | None, size: int) -> list[tuple[str, str]]:
    if ids:
        return [(i, i) for i in sorted(ids)]
    return list(chunk_bounds(conn, size))


def later_data(conn: Connection, at: datetime, scope: Scope) -> dict[str, datetime]:
    """Per account, the earliest contact, feedback, event or quote decision dated after `at`:
    recorded ahead of time, it is not read yet, and the account must wake when it counts."""
    today = at.date()
    out: dict[str, datetime] = {}
    for table, column, after in ((CONTACT, CONTACT.c.date, today),
                                 (FEEDBACK, FEEDBACK.c.date, today),
                                 (ACCOUNT_EVENT, ACCOUNT_EVENT.c.at, at),
                                 (ACCOUNT_EVENT, ACCOUNT_EVENT.c.decided_at, at)):
        q = (select(table.c.account_id, func.min(column))
             .where(scope.where(table.c.account_id), column > after)
             .group_by(table.c.account_id))
        for account_id, first in conn.execute(q).tuples():
            moment = _as_moment(first)
            if account_id not in out or moment < out[account_id]:
                out[account_id] = moment
    return out


def _as_moment(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, datetime.min.time())
