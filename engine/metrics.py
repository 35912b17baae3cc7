"""Derived account metrics, from aggregates the store computed set-based.

The store sums revenue over the windows `windows(at)` returns and hands one
`AccountFacts` per account; everything here is arithmetic on those facts.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

Values = dict[str, object]


@dataclass(frozen=True, slots=True)
class Windows:
    """Revenue windows for a sweep at `at`: complete calendar months only."""

    prev_start: date  # first month of the 12 before the trailing 12
    t12_start: date  # first month of the trailing 12
    end: date  # first day of the sweep's month (exclusive for the windows)
    fy_start: date  # first month of the fiscal year the sweep's month falls in
    contact_start: date  # first day of the 12 months of contact regularity (this one included)


def add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def windows(at: datetime, fiscal_start_month: int = 1) -> Windows:
    end = date(at.year, at.month, 1)
    return Windows(add_months(end, -24), add_months(end, -12), end,
                   fiscal_year_start(end, fiscal_start_month), add_months(end, -11))


def fiscal_year_start(month: date, fiscal_start_month: int) -> date:
    """First month of the fiscal year `month` falls in (labelled by the year it starts in)."""
    year = month.year if month.month >= fiscal_start_month else month.year - 1
    return date(year, fiscal_start_month, 1)


def months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def attainment(revenue: float, targets: Sequence[float] | None, months: int
               ) -> tuple[float | None, float | None]:
    """(target to date, revenue / target to date) after `months` complete months of a fiscal
    year; None for both without targets, the ratio None while the target to date is 0."""
    if targets is None:
        return None, None
    target = float(sum(targets[: max(0, min(months, 12))]))
    return target, (revenue / target if target else None)


def month_end(month: date) -> date:
    return date(month.year, month.month, calendar.monthrange(month.year, month.month)[1])


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What the store knows about one account, aggregated up to the sweep date."""

    account_id: str
    state: str
    state_since: datetime
    created_at: datetime
    potential: float
    revenue_t12: float = 0.0
    revenue_prev12: float = 0.0
    months_with_revenue: int = 0
    last_revenue_month: date | None = None
    last_contact: date | None = None
    feedback_score: float | None = None
    baseline_revenue: float | None = None
    criteria: Mapping[str, float] = field(default_factory=dict)
    previous_feedback: float | None = None  # the score before the latest
    months_with_contact: int = 0
    revenue_fy: float = 0.0  # fiscal year to date, complete months only
    fy_months: int = 0  # how many months of the fiscal year are complete
    plan_targets: tuple[float, ...] | None = None  # this fiscal year's plan, 12 monthly targets
    closeness: float | None = None  # of the latest plan's relationship map


def _ratio(num: float, den: float | None) -> float | None:
    return num / den if den else None


def base_metrics(f: AccountFacts, at: datetime) -> Values:
    """Every documented metric except those classification adds (class, segment, ...)."""
    today = at.date()
    last_rev = f.last_revenue_month
    since_contact = f.last_contact or f.created_at.date()
    target_fy, attained = attainment(f.revenue_fy, f.plan_targets, f.fy_months)
    fb, before = f.feedback_score, f.previous_feedback
    return {
        "revenue_t12": f.revenue_t12,
        "revenue_prev12": f.revenue_prev12,
        "revenue_trend": _ratio(f.revenue_t12 - f.revenue_prev12, f.revenue_prev12),
        "potential": f.potential,
        "wallet_share": _ratio(f.revenue_t12, f.potential),
        "days_since_contact": max(0, (today - since_contact).days),
        "days_since_revenue": (
            None if last_rev is None else max(0, (today - month_end(last_rev)).days)
        ),
        "feedback_score": fb,
        "feedback_trend": None if fb is None or before is None else fb - before,
        "months_with_contact": f.months_with_contact,
        "revenue_fy": f.revenue_fy,
        "target_fy": target_fy,
        "target_attainment": attained,
        "relationship_closeness": f.closeness,
        "baseline_ratio": _ratio(f.revenue_t12, f.baseline_revenue),
        "months_with_revenue": f.months_with_revenue,
        "days_in_state": max(0, (at - f.state_since).days),
        "has_revenue": last_rev is not None,
    }
