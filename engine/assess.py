"""One account's assessment at one moment: metrics -> class -> at most one transition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kamflow.engine.classify import Classified, PortfolioStats, classify, retention_score
from kamflow.engine.lifecycle import Decision, LifecycleEngine
from kamflow.engine.metrics import AccountFacts, Values, base_metrics
from kamflow.playbooks.loader import PlaybookSet


@dataclass(frozen=True, slots=True)
class Assessment:
    facts: AccountFacts
    values: Values
    classified: Classified
    decision: Decision | None
    baseline: float | None  # the revenue baseline after the decision


def full_metrics(facts: AccountFacts, at: datetime, book: PlaybookSet,
                 stats: PortfolioStats, detail: bool = True) -> tuple[Values, Classified]:
    """`detail=False`: no per-criterion portrait scores (`fit_detail` stays empty)."""
    values = base_metrics(facts, at)
    c = classify(values, facts.criteria, book.classification, stats, detail)
    values["class"] = c.klass
    values["segment"] = c.segment
    values["key_account"] = c.key_account
    values["portrait_fit"] = c.portrait_fit
    values["retention_score"] = retention_score(values, facts.criteria, book.classification,
                                                detail=False)[0]
    total = stats.total_revenue
    values["revenue_share"] = facts.revenue_t12 / total if total > 0 else None
    values["top_concentration"] = stats.top_concentration
    return values, c


def next_baseline(book: PlaybookSet, dest: str, current: float | None, values: Values) -> float | None:
    """Apply the destination state's baseline policy (record / keep / clear)."""
    policy = book.lifecycle.states[dest].baseline
    if policy == "clear":
        return None
    if policy == "keep" or current:
        return current
    level = max(float(values["revenue_t12"]), float(values["revenue_prev12"]))  # type: ignore[arg-type]
    return level or None


def assess(facts: AccountFacts, at: datetime, lifecycle: LifecycleEngine,
           stats: PortfolioStats) -> Assessment:
    """Idempotent by construction: an account that already moved at or after `at` stays put."""
    book = lifecycle.book
    values, c = full_metrics(facts, at, book, stats, detail=False)  # the sweep stores no detail
    decision = lifecycle.decide(facts.state, values) if facts.state_since < at else None
    baseline = facts.baseline_revenue
    if decision is not None:
        baseline = next_baseline(book, decision.dest, baseline, values)
    return Assessment(facts, values, c, decision, baseline)
