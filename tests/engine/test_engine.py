"""The pure engine: metrics, classification and lifecycle decisions on hand-made facts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from kamflow.engine.assess import assess, next_baseline
from kamflow.engine.classify import PortfolioStats, classify, portfolio_stats
from kamflow.engine.errors import IllegalTransition
from kamflow.engine.lifecycle import LifecycleEngine
from kamflow.engine.metrics import base_metrics, windows
from kamflow.playbooks.loader import PlaybookSet, bundled_dir, load_dir
from support import account_facts as facts

AT = datetime(2026, 6, 15)
BOOK: PlaybookSet = load_dir(bundled_dir())
LIFE = LifecycleEngine(BOOK)
STATS = PortfolioStats(accounts=100, total_revenue=10_000_000, average_revenue=100_000,
                       key_cutoff=400_000)


def test_windows_are_complete_calendar_months() -> None:
    w = windows(AT)
    assert (w.prev_start, w.t12_start, w.end) == (date(2024, 6, 1), date(2025, 6, 1),
                                                  date(2026, 6, 1))


def test_base_metrics() -> None:
    m = base_metrics(facts(revenue_t12=300_000, revenue_prev12=400_000, last_contact=None,
                           created_at=datetime(2026, 6, 1), baseline_revenue=500_000), AT)
    assert m["revenue_trend"] == pytest.approx(-0.25)
    assert m["wallet_share"] == pytest.approx(0.5)
    assert m["days_since_contact"] == 14  # never contacted: counted from creation
    assert m["days_since_revenue"] == 15  # from the end of May
    assert m["baseline_ratio"] == pytest.approx(0.6)
    assert m["has_revenue"] is True
    none = base_metrics(facts(revenue_prev12=0, potential=0, last_revenue_month=None), AT)
    assert none["revenue_trend"] is None and none["wallet_share"] is None
    assert none["days_since_revenue"] is None and none["has_revenue"] is False


@pytest.mark.parametrize(
    ("potential", "revenue", "klass"),
    [
        (600_000, 300_000, "A"),  # high potential, high contribution (50% of it)
        (600_000, 200_000, "C"),  # high potential, medium contribution
        (2_000_000, 300_000, "C"),  # high absolute contribution but only 15% of potential
        (300_000, 280_000, "B"),  # medium potential, high contribution
        (100_000, 260_000, "B"),  # low potential (estimate too low), high contribution
        (200_000, 20_000, "C"),  # medium potential, low contribution
        (100_000, 60_000, "D"),  # low potential, medium contribution
        (50_000, 0, "D"),
    ],
)
def test_resource_investment_class(potential: float, revenue: float, klass: str) -> None:
    values = base_metrics(facts(potential=potential, revenue_t12=revenue), AT)
    c = classify(values, {}, BOOK.classification, STATS)
    assert c.klass == klass
    assert c.segment == {"A": "loyal", "B": "loyal", "C": "high_potential", "D": "small"}[klass]


def test_key_account_cutoff_is_the_top_eighty_percent() -> None:
    rule = BOOK.classification.key_account
    stats = portfolio_stats([500, 300, 100, 50, 50], 10, rule)
    assert stats.key_cutoff == 300  # 500 + 300 = 80% of 1000
    assert stats.average_revenue == 100
    v = base_metrics(facts(revenue_t12=250), AT)
    assert classify(v, {}, BOOK.classification, stats).key_account is True  # >= 2x average
    v = base_metrics(facts(revenue_t12=150), AT)
    assert classify(v, {}, BOOK.classification, stats).key_account is False


def test_portrait_fit_weights_columns_and_metrics() -> None:
    values = base_metrics(facts(revenue_t12=500_000, potential=1_000_000), AT)
    perfect = dict.fromkeys(BOOK.classification.criteria_columns, 10.0)
    c = classify(values, perfect, BOOK.classification, STATS)
    assert c.portrait_fit == 100.0
    c = classify(values, {}, BOOK.classification, STATS)
    # only metric criteria score: turnover 10 (w2), loyalty 10 (w1), room_to_grow 10 (w3)
    total = sum(cr.weight for cr in BOOK.classification.portrait)
    assert c.portrait_fit == pytest.approx(round(10 * (2 + 1 + 3) * 10 / total, 1))
    assert c.fit_detail["size"] == 0.0


CASES = [
    # (from state, facts, expected destination or None, expected rule)
    ("prospect", {"revenue_t12": 0, "last_revenue_month": None}, None, None),
    ("prospect", {"revenue_t12": 20_000, "potential": 900_000}, "high_potential",
     "first_revenue_with_potential"),
    ("prospect", {"revenue_t12": 5_000, "potential": 50_000}, "optimization",
     "first_revenue_without_potential"),
    ("prospect", {"revenue_t12": 300_000, "potential": 320_000}, "loyal",
     "first_revenue_high_contribution"),
    ("high_potential", {"revenue_t12": 350_000, "potential": 600_000}, "loyal", "first_supplier"),
    ("high_potential", {"revenue_t12": 100_000, "revenue_prev12": 90_000, "potential": 600_000},
     None, None),
    ("loyal", {}, None, None),
    ("loyal", {"revenue_t12": 330_000}, "declining", "drifting_away"),  # -17.5%
    ("loyal", {"last_contact": date(2026, 2, 1)}, "declining", "drifting_away"),  # 134 days
    ("loyal", {"feedback_score": 6.0}, "declining", "drifting_away"),
    ("loyal", {"last_revenue_month": date(2025, 5, 1), "revenue_t12": 0}, "lost",
     "no_revenue_for_a_year"),
    ("declining", {"revenue_t12": 200_000}, "recovery", "steep_decline"),  # -50%
    ("declining", {"revenue_t12": 410_000}, "loyal", "stabilised"),
    ("declining", {"revenue_t12": 410_000, "feedback_score": 5.0}, None, None),
    ("lost", {"last_revenue_month": date(2026, 5, 1)}, "recovery", "new_revenue_after_loss"),
    ("recovery", {"revenue_t12": 330_000, "baseline_revenue": 400_000}, "loyal", "recovered"),
    ("recovery", {"revenue_t12": 300_000, "baseline_revenue": 400_000}, None, None),
    ("optimization", {"revenue_t12": 30_000, "potential": 80_000}, None, None),
    ("optimization", {"revenue_t12": 30_000, "potential": 700_000}, "high_potential",
     "potential_reassessed"),
]


@pytest.mark.parametrize(("state", "kw", "dest", "rule"), CASES)
def test_default_transitions(state: str, kw: dict[str, Any], dest: str | None,
                             rule: str | None) -> None:
    a = assess(facts(state=state, **kw), AT, LIFE, STATS)
    if dest is None:
        assert a.decision is None
    else:
        assert a.decision is not None
        assert (a.decision.source, a.decision.dest, a.decision.rule) == (state, dest, rule)
        cond = BOOK.conditions[rule]
        assert set(a.decision.seen) == set(cond.names)


def test_an_account_that_moved_at_this_moment_stays_put() -> None:
    a = assess(facts(state="loyal", feedback_score=2.0, state_since=AT), AT, LIFE, STATS)
    assert a.decision is None


def test_lost_outranks_declining() -> None:
    a = assess(facts(last_revenue_month=date(2025, 1, 1), revenue_t12=0, feedback_score=1.0),
               AT, LIFE, STATS)
    assert a.decision is not None and a.decision.dest == "lost"


def test_baseline_is_recorded_kept_and_cleared() -> None:
    values = base_metrics(facts(revenue_t12=300_000, revenue_prev12=420_000), AT)
    assert next_baseline(BOOK, "declining", None, values) == 420_000
    assert next_baseline(BOOK, "recovery", 500_000, values) == 500_000
    assert next_baseline(BOOK, "lost", 500_000, values) == 500_000
    assert next_baseline(BOOK, "loyal", 500_000, values) is None


def test_manual_moves_follow_declared_transitions_only() -> None:
    assert LIFE.move("declining", "recovery") == "start_win_back"
    assert LIFE.move("loyal", "declining") == "drifting_away"
    with pytest.raises(IllegalTransition) as info:
        LIFE.move("prospect", "lost")
    assert str(info.value) == ("no declared transition from prospect to lost; from prospect an "
                               "account may go to: high_potential, loyal, optimization")


def test_one_machine_serves_every_account() -> None:
    before = len(LIFE.machine.models)
    for i in range(100):
        assess(facts(account_id=str(i), feedback_score=float(i % 10)), AT, LIFE, STATS)
    assert len(LIFE.machine.models) == before == 0


def test_diagram_is_mermaid_of_the_declared_lifecycle() -> None:
    text = LIFE.diagram()
    assert text.startswith("stateDiagram-v2\n    [*] --> prospect")
    for t in BOOK.lifecycle.transitions:
        for s in t.source:
            assert f"{s} --> {t.dest} : {t.rule}" in text
