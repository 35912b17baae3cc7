"""Resource-investment class, key-account flag, three-way segment and portrait fit.

Thresholds and criteria come from classification.yaml; nothing here is tuned
by hand. The key-account cutoff needs the whole portfolio, so it is computed
once per sweep (`portfolio_stats`) and passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.metrics import Values
from playbooks.schema import Classification, KeyAccountRule, Levels

SEGMENTS = {"A": "loyal", "B": "loyal", "C": "high_potential", "D": "small"}


@dataclass(frozen=True, slots=True)
class PortfolioStats:
    accounts: int
    total_revenue: float
    average_revenue: float
    key_cutoff: float  # smallest revenue among the top accounts making the key share

    @classmethod
    def empty(cls) -> PortfolioStats:
        return cls(0, 0.0, 0.0, float("inf"))


def portfolio_stats(revenues: Iterable[float], accounts: int, rule: KeyAccountRule) -> PortfolioStats:
    """`revenues`: trailing-12-month revenue of the accounts that have any."""
    ranked = sorted((r for r in revenues if r > 0), reverse=True)
    total = sum(ranked)
    if not ranked or accounts <= 0:
        return PortfolioStats(accounts, total, 0.0, float("inf"))
    cutoff, running = ranked[0], 0.0
    for revenue in ranked:
        if running >= rule.top_revenue_share * total:
            break
        running += revenue
        cutoff = revenue
    return PortfolioStats(accounts, total, total / accounts, cutoff)


@dataclass(frozen=True, slots=True)
class Classified:
    klass: str
    potential_level: str
    contribution_level: str
    key_account: bool
    segment: str
    portrait_fit: float
    fit_detail: Mapping[str, float]  # criterion -> score 0-10


def _level(value: float, levels: Levels) -> str:
    return "high" if value >= levels.high else "medium" if value >= levels.medium else "low"


def classify(
    values: Values, criteria: Mapping[str, float], rules: Classification, stats: PortfolioStats
) -> Classified:
    potential = float(values["potential"])  # type: ignore[arg-type]
    revenue = float(values["revenue_t12"])  # type: ignore[arg-type]
    pot = _level(potential, rules.potential)
    con = _level(revenue, rules.contribution)
    if con == "high" and potential > 0 and revenue / potential < rules.min_share_for_high_contribution:
        con = "medium"
    if con == "high":
        klass = "A" if pot == "high" else "B"
    else:
        klass = "D" if pot == "low" else "C"
    key = revenue > 0 and (
        revenue >= stats.key_cutoff
        or revenue >= rules.key_account.above_average_factor * stats.average_revenue > 0
    )
    fit, detail = portrait_fit(values, criteria, rules)
    return Classified(klass, pot, con, key, SEGMENTS[klass], fit, detail)


def portrait_fit(
    values: Values, criteria: Mapping[str, float], rules: Classification
) -> tuple[float, dict[str, float]]:
    """Weighted mean of criterion scores (0-10), as 0-100; a missing score counts as 0."""
    if not rules.portrait:
        return 0.0, {}
    detail: dict[str, float] = {}
    weighted = 0.0
    for c in rules.portrait:
        if c.column is not None:
            score = float(criteria.get(c.column, 0.0))
        else:
            assert c.metric is not None
            assert c.scale is not None
            raw = values.get(c.metric)
            lo, hi = c.scale
            score = 0.0 if not isinstance(raw, int | float) else 10 * (raw - lo) / (hi - lo)
        score = min(10.0, max(0.0, score))
        detail[c.key] = round(score, 2)
        weighted += c.weight * score
    total = sum(c.weight for c in rules.portrait)
    return round(10 * weighted / total, 1), detail
