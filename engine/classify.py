"""Resource-investment class, key-account flag, three-way segment and portrait fit.

Thresholds and criteria come from classification.yaml; nothing here is tuned
by hand. The key-account cutoff needs the whole portfolio, so it is computed
once per sweep (`portfolio_stats`) and passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kamflow.engine.metrics import Values
from kamflow.playbooks.schema import Classification, Factor, KeyAccountRule, Levels

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
    values: Values, criteria: Mapping[str, float], rules: Classification, stats: PortfolioStats,
    detail: bool = True,
) -> Classified:
    """`detail=False` leaves `fit_detail` empty (the sweep never reads it); nothing else changes."""
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
    fit, scores = portrait_fit(values, criteria, rules, detail)
    return Classified(klass, pot, con, key, SEGMENTS[klass], fit, scores)


@dataclass(frozen=True, slots=True)
class _Criterion:
    key: str
    weight: float
    column: str | None  # a stored score ...
    metric: str  # ... or a metric mapped from lo (score 0) to lo + span (score 10)
    lo: float
    span: float
    missing: float  # the score of an unknown value
    title: str


@dataclass(frozen=True, slots=True)
class _Plan:
    criteria: tuple[_Criterion, ...]
    total: float


_PLANS: dict[int, tuple[tuple[Factor, ...], _Plan]] = {}


def _plan(factors: tuple[Factor, ...]) -> _Plan:
    """Factors unpacked once per declaration (cached by identity of the frozen tuple)."""
    hit = _PLANS.get(id(factors))
    if hit is not None and hit[0] is factors:
        return hit[1]
    items = []
    for c in factors:
        lo, hi = c.scale if c.scale is not None else (0.0, 1.0)
        items.append(_Criterion(c.key, c.weight, c.column, c.metric or "", lo, hi - lo, c.missing,
                                c.title or c.key))
    plan = _Plan(tuple(items), sum(c.weight for c in factors))
    if len(_PLANS) >= 64:  # playbook versions come and go: never let the cache grow unbounded
        _PLANS.clear()
    _PLANS[id(factors)] = (factors, plan)  # holding `factors` keeps its id from being reused
    return plan


def _score(c: _Criterion, values: Values, criteria: Mapping[str, float]) -> tuple[object, float]:
    """(raw value, score 0-10) of one factor."""
    if c.column is not None:
        raw: object = criteria.get(c.column)
        score = c.missing if raw is None else float(raw)  # type: ignore[arg-type]
    else:
        raw = values.get(c.metric)
        score = c.missing if not isinstance(raw, int | float) else 10 * (raw - c.lo) / c.span
    # min(10.0, max(0.0, score)) without the calls, NaN and -0.0 included
    score = score if score > 0.0 else 0.0
    return raw, score if score < 10.0 else 10.0


def portrait_fit(
    values: Values, criteria: Mapping[str, float], rules: Classification, detail: bool = True
) -> tuple[float, dict[str, float]]:
    """Weighted mean of criterion scores (0-10), as 0-100; a missing score counts as its
    `missing` score (0 unless declared).

    The per-criterion scores (rounded) come back only with `detail`; else an empty dict.
    """
    if not rules.portrait:
        return 0.0, {}
    plan = _plan(rules.portrait)
    scores: dict[str, float] = {}
    weighted = 0.0
    for c in plan.criteria:
        score = _score(c, values, criteria)[1]
        if detail:
            scores[c.key] = round(score, 2)
        weighted += c.weight * score
    return round(10 * weighted / plan.total, 1), scores


@dataclass(frozen=True, slots=True)
class Contribution:
    """One stability factor's part of the retention score: why the score is what it is."""

    key: str
    title: str
    value: object  # the metric or imported column it read (None: unknown)
    score: float  # 0-10
    weight: float
    points: float  # of the 0-100 score; the points of all factors add up to it


def retention_score(values: Values, criteria: Mapping[str, float], rules: Classification,
                    detail: bool = True) -> tuple[float | None, list[Contribution]]:
    """Weighted stability factors as 0-100; None when classification.yaml declares none."""
    if not rules.retention:
        return None, []
    plan = _plan(rules.retention)
    parts: list[Contribution] = []
    weighted = 0.0
    for c in plan.criteria:
        raw, score = _score(c, values, criteria)
        weighted += c.weight * score
        if detail:
            parts.append(Contribution(c.key, c.title, raw, round(score, 2), c.weight,
                                      round(10 * c.weight * score / plan.total, 1)))
    return round(10 * weighted / plan.total, 1), parts
