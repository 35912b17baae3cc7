"""Derived account metrics, from aggregates the store computed set-based.

The store sums revenue over the windows `windows(at)` returns and hands one
`AccountFacts` per account; everything here is arithmetic on those facts.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

Values = dict[str, object]


@dataclass(frozen=True, slots=True)
class Windows:
    """Revenue windows for a sweep at `at`: complete calendar months only."""

    prev_start: date  # first month of the 12 before the trailing 12
    t12_start: date  # first month of the trailing 12
    end: date  # first day of the sweep's month (exclusive for the windows)


def add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def windows(at: datetime) -> Windows:
    end = date(at.year, at.month, 1)
    return Windows(add_months(end, -24), add_months(end, -12), end)


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


def _ratio(num: float, den: float | None) -> float | None:
    return num / den if den else None


def base_metrics(f: AccountFacts, at: datetime) -> Values:
    """Every documented metric except those classification adds (class, segment, ...)."""
    today = at.date()
    last_rev = f.last_revenue_month
    since_contact = f.last_contact or f.created_at.date()
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
        "feedback_score": f.feedback_score,
        "baseline_ratio": _ratio(f.revenue_t12, f.baseline_revenue),
        "months_with_revenue": f.months_with_revenue,
        "days_in_state": max(0, (at - f.state_since).days),
        "has_revenue": last_rev is not None,
    }
