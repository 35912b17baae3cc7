"""Resource-investment class, key-account flag, three-way segment and portrait fit.

Thresholds and criteria come from classification.yaml; nothing here is tuned
by hand. The key-account thresholds (top 80 % of revenue, top 10 % by potential...) need
the whole portfolio, so they are computed once per sweep (`portfolio_figures`) and passed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kamflow.engine.metrics import Values
from kamflow.playbooks.schema import Classification, Factor, KeyAccountRule, KeyTest, Levels

SEGMENTS = {"A": "loyal", "B": "loyal", "C": "high_potential", "D": "small"}


@dataclass(frozen=True, slots=True)
class PortfolioStats:
    accounts: int
    total_revenue: float
    average_revenue: float
    key_cutoff: float  # smallest revenue among the top accounts making the key share
    cutoffs: Mapping[str, float] = field(default_factory=dict)  # key test -> its threshold
    top_concentration: float | None = None  # revenue share of the N largest accounts

    @classmethod
    def empty(cls) -> PortfolioStats:
        return cls(0, 0.0, 0.0, INF)


INF = float("inf")
LABELS = {"revenue_t12": "revenue", "potential": "potential", "wallet_gap": "wallet gap",
          "portrait_fit": "portrait fit"}


def _top_share_cutoff(ranked: Sequence[float], share: float) -> float:
    """The smallest value among the top values that together make `share` of the total
    (`ranked`: the positive values, largest first)."""
    total = sum(ranked)
    if not ranked:
        return INF
    cutoff, running = ranked[0], 0.0
    for value in ranked:
        if running >= share * total:
            break
        running += value
        cutoff = value
    return cutoff


def _cutoff(ranked: Sequence[float], n: int, test: KeyTest) -> float:
    """The threshold a portfolio-wide test sets: the least value that passes it (`ranked`:
    the positive values of the metric, largest first; `n`: every account)."""
    if test.top_share is not None:
        return _top_share_cutoff(ranked, test.top_share)
    if test.top_percent is not None:
        k = max(1, math.ceil(n * test.top_percent / 100 - 1e-9))
        return ranked[k - 1] if len(ranked) >= k else (ranked[-1] if ranked else INF)
    assert test.times_average is not None
    average = sum(ranked) / n if n else 0.0
    return test.times_average * average if average > 0 else INF


def portfolio_figures(accounts: Sequence[tuple[float, float]], rule: KeyAccountRule
                      ) -> PortfolioStats:
    """`accounts`: (trailing-12-month revenue, potential) of every account in the portfolio."""
    ranked_by: dict[str, list[float]] = {}  # each metric read and sorted once, if a test reads it

    def ranked_of(metric: str) -> list[float]:
        if metric not in ranked_by:
            values = (r for r, _ in accounts) if metric == "revenue_t12" \
                else (p for _, p in accounts) if metric == "potential" \
                else (p - r for r, p in accounts)  # wallet_gap: max(0, p - r), positive only
            ranked_by[metric] = sorted((v for v in values if v > 0), reverse=True)
        return ranked_by[metric]

    n = len(accounts)
    cutoffs = {name: _cutoff(ranked_of(t.metric), n, t) for name, t in rule.tests.items()
               if t.at_least is None}
    ranked = ranked_of("revenue_t12")
    total = sum(ranked)
    shares = [t.top_share for t in rule.tests.values()
              if t.metric == "revenue_t12" and t.top_share is not None]
    return PortfolioStats(
        n, total, total / n if n and ranked else 0.0,
        _top_share_cutoff(ranked, shares[0]) if shares else INF, cutoffs,
        sum(ranked[: rule.concentration_top]) / total if total > 0 else None)


def portfolio_stats(revenues: Iterable[float], accounts: int, rule: KeyAccountRule) -> PortfolioStats:
    """`revenues`: trailing-12-month revenue of the accounts that have any (no potentials)."""
    known = [(r, 0.0) for r in revenues]
    return portfolio_figures(known + [(0.0, 0.0)] * max(0, accounts - len(known)), rule)


def _fallback(test: KeyTest, stats: PortfolioStats) -> float:
    """For figures made without a test's cutoff (by hand): the revenue ones of old."""
    if test.metric == "revenue_t12" and test.top_share is not None:
        return stats.key_cutoff
    if test.metric == "revenue_t12" and test.times_average is not None:
        return test.times_average * stats.average_revenue if stats.average_revenue > 0 else INF
    return INF


def _said(test: KeyTest, value: float, threshold: float) -> str:
    what = f"{LABELS[test.metric]} {value:,.0f}" if test.metric != "portrait_fit" \
        else f"portrait fit {value:g}"
    if test.top_percent is not None:
        return f"{what} is in the top {test.top_percent:g} %"
    if test.top_share is not None:
        return (f"{what} is among the top accounts making {test.top_share * 100:g} % of the total "
                f"(from {threshold:,.0f})")
    if test.times_average is not None:
        return (f"{what} is at least {test.times_average:g}x the average "
                f"({threshold / test.times_average:,.0f})")
    return f"{what} is at least {threshold:,.{0 if threshold >= 100 else 1}f}"


def key_account(figures: Mapping[str, float], rule: KeyAccountRule, stats: PortfolioStats
                ) -> tuple[bool, str]:
    """(key account?, why): `figures` holds revenue_t12, potential, wallet_gap and
    portrait_fit; a test passes on a positive value at or above its threshold."""
    passed: dict[str, object] = {}
    reasons: list[str] = []
    for name, test in rule.tests.items():
        value = figures[test.metric]
        threshold = test.at_least if test.at_least is not None else stats.cutoffs.get(
            name, _fallback(test, stats))
        ok = value > 0 and value >= threshold
        passed[name] = ok
        if ok and name in rule.condition.names:
            reasons.append(_said(test, value, threshold))
    if not rule.condition.evaluate(passed):
        return False, ""
    return True, ("key account because " + "; ".join(reasons))[:500]


@dataclass(frozen=True, slots=True)
class Classified:
    klass: str
    potential_level: str
    contribution_level: str
    key_account: bool
    segment: str
    portrait_fit: float
    fit_detail: Mapping[str, float]  # criterion -> score 0-10
    key_reason: str = ""  # which key-account tests it passed, in words


def _level(value: float, levels: Levels) -> str:
    return "high" if value >= levels.high else "medium" if value >= levels.medium else "low"


def classify(
    values: Values, criteria: Mapping[str, float], rules: Classification, stats: PortfolioStats,
    detail: bool = True,
) -> Classified:
    """`detail=False` leaves `fit_detail` empty (the sweep never reads it); nothing else changes."""
    potential = float(values["potential"])  # type: ignore[arg-type]
    revenue = float(values["revenue_t12"])  # type: ignore[arg-type]
    margin = values.get("margin_t12") if rules.contribution.basis == "margin" else None
    pot = _level(potential, rules.potential)
    # On the margin basis, margin where the account has any; the relative check stays on
    # revenue / potential (potential is what the customer spends, not what it earns us).
    con = _level(revenue if margin is None else float(margin),  # type: ignore[arg-type]
                 rules.contribution)
    if con == "high" and potential > 0 and revenue / potential < rules.min_share_for_high_contribution:
        con = "medium"
    if con == "high":
        klass = "A" if pot == "high" else "B"
    else:
        klass = "D" if pot == "low" else "C"
    fit, scores = portrait_fit(values, criteria, rules, detail)
    key, why = key_account({"revenue_t12": revenue, "potential": potential,
                            "wallet_gap": max(0.0, potential - revenue), "portrait_fit": fit},
                           rules.key_account, stats)
    return Classified(klass, pot, con, key, SEGMENTS[klass], fit, scores, why)


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
