"""Derived account metrics, from aggregates the store computed set-based.

The store sums revenue over the windows `windows(at)` returns and hands one
`AccountFacts` per account; everything here is arithmetic on those facts.

Events count over this month and the 11 before, up to `at` (from `Windows.contact_start`,
as months_with_contact): the span moves on the first of a month, like the revenue windows,
so time alone changes these metrics only then (tasks/wake.py wakes every account monthly).
A quote counts by its outcome once decided (won or lost) in that span; a complaint by
when it was reported. `complaint_rate` is complaints per twelve months, not per order:
orders need not be reported as events, so a per-order rate would read an unreported order
as a complaint-free one.
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


QUOTE_OUTCOMES = ("won", "lost", "open")
COMPLAINT_EVENT = "complaint"


def is_quote_event(event: str) -> bool:
    """A quote event (quote_created, quote_revised, ...): the one kind that carries an outcome
    and an amount."""
    return event.startswith("quote")


class BadEventField(ValueError):
    """An event's outcome or amount is wrong: `field` names which."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


def quote_fields(event: str, outcome: str | None, amount: float | None
                 ) -> tuple[str | None, float | None]:
    """The outcome and amount an event carries, checked: only a quote event has them (None
    where not given: a new quote is open, a known one keeps what it had)."""
    outcome = (outcome or "").strip().lower() or None
    if not is_quote_event(event):
        for name, value in (("outcome", outcome), ("amount", amount)):
            if value is not None:
                raise BadEventField(name, f"only a quote event (quote_...) carries an {name}; "
                                    f"'{event}' is not one")
        return None, None
    if outcome is not None and outcome not in QUOTE_OUTCOMES:
        raise BadEventField("outcome", f"'{outcome}' is not one of {', '.join(QUOTE_OUTCOMES)}")
    if amount is not None and not 0 <= amount < float("inf"):
        raise BadEventField("amount", f"{amount:g} is not a finite amount of 0 or more")
    return outcome, amount


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


def line_attainment(revenue: Mapping[str, float], lines: Mapping[str, float],
                    target_to_date: float | None, target_year: float | None
                    ) -> list[dict[str, object]]:
    """Per product line: revenue against the line's share of the plan's target to date (the
    line's yearly target / the yearly target, so a by_month split shapes every line alike).
    Lines in name order, then those with revenue but no target, with no target; '' is
    revenue given as month totals."""
    out: list[dict[str, object]] = []
    for line, yearly in sorted(lines.items()):
        share = yearly / target_year if target_year else None
        target = None if share is None or target_to_date is None else target_to_date * share
        got = float(revenue.get(line, 0.0))
        out.append({"product_line": line, "target_year": yearly, "target_to_date": target,
                    "revenue": got, "attainment": _ratio(got, target)})
    for line in sorted(set(revenue) - set(lines)):
        out.append({"product_line": line, "target_year": None, "target_to_date": None,
                    "revenue": float(revenue[line]), "attainment": None})
    return out


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
    quotes_won: int = 0  # quote events decided won this month and the 11 before, up to `at`
    quotes_decided: int = 0  # won or lost in that span
    complaints: int = 0  # complaint events reported in that span
    margin_t12: float | None = None  # margin of the trailing 12 months; None: no margin rows


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
        "quote_success_rate": _ratio(f.quotes_won, f.quotes_decided),
        "quotes_decided": f.quotes_decided,
        "complaint_rate": f.complaints,
        "margin_t12": f.margin_t12,
        "margin_share": None if f.margin_t12 is None else _ratio(f.margin_t12, f.revenue_t12),
    }
