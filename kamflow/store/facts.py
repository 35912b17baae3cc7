"""Aggregate queries that turn the store into AccountFacts, a chunk of accounts at a time.

Set-based: one GROUP BY per table per chunk, joined to the accounts; memory
stays flat because chunks follow the primary key (keyset pagination).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, extract, func, select

from kamflow.engine.classify import PortfolioStats, portfolio_stats
from kamflow.engine.metrics import AccountFacts, months_between, windows
from kamflow.playbooks.schema import KeyAccountRule
from kamflow.store.tables import ACCOUNT, ACCOUNT_PLAN, CONTACT, FEEDBACK, REVENUE


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


def trailing_12_months(at: datetime) -> Any:
    w = windows(at)
    return and_(REVENUE.c.month >= w.t12_start, REVENUE.c.month < w.end)


def stats(conn: Connection, at: datetime, rule: KeyAccountRule) -> PortfolioStats:
    """Portfolio-wide figures the key-account rule needs (one aggregate query)."""
    per_account = (
        select(func.sum(REVENUE.c.amount).label("t12")).where(trailing_12_months(at)).group_by(REVENUE.c.account_id)
    )
    revenues = [float(r or 0) for r in conn.execute(per_account).scalars()]
    count = conn.execute(select(func.count()).select_from(ACCOUNT)).scalar_one()
    return portfolio_stats(revenues, count, rule)


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


def load(conn: Connection, at: datetime, lo: str, hi: str, fiscal_start_month: int = 1
         ) -> list[tuple[AccountFacts, Stored]]:
    """Facts for the accounts with lo <= id <= hi, as of `at`."""
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
        .where(REVENUE.c.account_id.between(lo, hi), REVENUE.c.month <= today)
        .group_by(REVENUE.c.account_id)
        .subquery()
    )
    month_no = extract("year", CONTACT.c.date) * 12 + extract("month", CONTACT.c.date)
    con = (
        select(CONTACT.c.account_id, func.max(CONTACT.c.date).label("last_contact"),
               func.count(func.distinct(case((CONTACT.c.date >= w.contact_start, month_no))))
               .label("contact_months"))
        .where(CONTACT.c.account_id.between(lo, hi), CONTACT.c.date <= today)
        .group_by(CONTACT.c.account_id)
        .subquery()
    )
    fy_label = w.fy_start.year
    fy_months = months_between(w.fy_start, w.end)
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
        .where(ACCOUNT_PLAN.c.account_id.between(lo, hi), ACCOUNT_PLAN.c.fiscal_year <= fy_label)
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
        .where(FEEDBACK.c.account_id.between(lo, hi), FEEDBACK.c.date <= today)
        .subquery()
    )
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
        )
        .select_from(
            ACCOUNT.outerjoin(rev, rev.c.account_id == ACCOUNT.c.id)
            .outerjoin(con, con.c.account_id == ACCOUNT.c.id)
            .outerjoin(fb, fb.c.account_id == ACCOUNT.c.id)
            .outerjoin(plan, plan.c.account_id == ACCOUNT.c.id)
        )
        .where(ACCOUNT.c.id.between(lo, hi))
        .order_by(ACCOUNT.c.id)
    )
    out: list[tuple[AccountFacts, Stored]] = []
    append = out.append
    # One fetchall of plain tuples (no per-row fetchone or attribute lookups on Row),
    # and AccountFacts/Stored built positionally, in their field order.
    for (account_id, state, state_since, created_at, potential, criteria, baseline, klass,
         key_account, segment, fit, owner, sponsor, imported, t12, prev12, months, last_month,
         last_contact, score, previous, contact_months, fy, plan_year, targets, closeness,
         ) in conn.execute(q).tuples().all():
        append((
            AccountFacts(
                account_id, state, state_since, created_at, float(potential),
                float(t12 or 0), float(prev12 or 0), int(months or 0),
                _as_date(last_month), _as_date(last_contact),
                None if score is None else float(score), baseline,
                {k: float(v) for k, v in criteria.items() if v is not None} if criteria else {},
                None if previous is None else float(previous), int(contact_months or 0),
                float(fy or 0), fy_months,
                tuple(targets) if targets is not None and plan_year == fy_label else None,
                closeness,
            ),
            Stored(klass, bool(key_account), segment, fit, owner, sponsor, bool(imported)),
        ))
    return out


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
