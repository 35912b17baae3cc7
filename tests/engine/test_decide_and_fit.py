"""The sweep's fast paths in the pure engine decide exactly what the plain versions did.

`LifecycleEngine.decide` checks the guards itself and triggers only the rule that holds;
`portrait_fit` unpacks the criteria once per Classification and can skip the detail.
Each is compared with a reference copy of the previous implementation on random input.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kamflow.engine.assess import assess, full_metrics
from kamflow.engine.classify import PortfolioStats, classify, portrait_fit
from kamflow.engine.lifecycle import Decision, LifecycleEngine, _Token
from kamflow.engine.metrics import Values, base_metrics
from kamflow.playbooks.loader import PlaybookSet, bundled_dir, load_dir
from kamflow.playbooks.metrics import METRICS, MetricType
from kamflow.playbooks.schema import Classification, Criterion, Levels
from support import account_facts as _facts
from support import examples

BOOK: PlaybookSet = load_dir(bundled_dir())
LIFE = LifecycleEngine(BOOK)
STATS = PortfolioStats(accounts=100, total_revenue=10_000_000, average_revenue=100_000,
                       key_cutoff=400_000)
AT = datetime(2026, 6, 15)


# -- reference implementations (the code before the fast paths) ------------------------------


def reference_decide(engine: LifecycleEngine, state: str, values: Values) -> Decision | None:
    """Trigger every candidate in priority order through the machine until one fires."""
    token = _Token(state)
    for rule in engine._candidates.get(state, ()):
        if engine.machine.events[rule].trigger(token, values=values):
            seen = {n: values.get(n) for n in sorted(engine.book.conditions[rule].names)}
            return Decision(rule, state, token.state, seen)
    return None


def reference_fit(values: Values, criteria: dict[str, float], rules: Classification
                  ) -> tuple[float, dict[str, float]]:
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


# -- strategies -------------------------------------------------------------------------------

# Numbers near the thresholds the default rules use, and anywhere else.
EDGES = [-0.5, -0.4, -0.15, 0.0, 0.5, 0.8, 6.0, 45.0, 60.0, 120.0, 365.0]
NUMBER = st.one_of(
    st.none(),
    st.sampled_from(EDGES),
    st.sampled_from(EDGES).map(lambda v: v + 1e-9),
    st.sampled_from(EDGES).map(lambda v: v - 1e-9),
    st.integers(-10, 1000),
    st.floats(-2.0, 2.0, allow_nan=False),
    st.floats(-1e7, 1e7, allow_nan=False),
)
TEXT = {"class": st.sampled_from(["A", "B", "C", "D"]),
        "segment": st.sampled_from(["loyal", "high_potential", "small"])}


def metric_value(name: str) -> st.SearchStrategy[Any]:
    kind = METRICS[name].type
    if kind is MetricType.BOOL:
        return st.booleans()
    if kind is MetricType.TEXT:
        return TEXT.get(name, st.text(max_size=3))
    return NUMBER


VALUES = st.fixed_dictionaries({name: metric_value(name) for name in METRICS})
STATES = st.sampled_from(sorted(BOOK.lifecycle.states))


@settings(max_examples=examples(3000), deadline=None)
@given(state=STATES, values=VALUES)
def test_decide_matches_triggering_every_candidate(state: str, values: Values) -> None:
    assert LIFE.decide(state, values) == reference_decide(LIFE, state, values)


def test_only_accounts_that_move_reach_the_machine() -> None:
    calls: list[str] = []
    events = LIFE.machine.events
    originals = {rule: events[rule].trigger for rule in LIFE.rules if rule in events}

    def spy(rule: str) -> Any:
        def trigger(*args: Any, **kwargs: Any) -> bool:
            calls.append(rule)
            return bool(originals[rule](*args, **kwargs))
        return trigger

    try:
        for rule in originals:
            events[rule].trigger = spy(rule)  # instance attribute: looked up at call time
        stay = base_metrics(_facts(), AT)
        stay.update({"class": "A", "segment": "loyal", "key_account": True, "portrait_fit": 80.0})
        assert LIFE.decide("loyal", stay) is None
        assert calls == []
        moving = dict(stay, feedback_score=2.0)
        decision = LIFE.decide("loyal", moving)
        assert decision is not None and decision.rule == "drifting_away"
        assert calls == ["drifting_away"]  # the machine performed the one move that happened
    finally:
        for rule in originals:
            del events[rule].trigger
    assert len(LIFE.machine.models) == 0


# -- portrait fit -------------------------------------------------------------------------------

SCORE = st.one_of(st.floats(-5, 15, allow_nan=False), st.integers(-3, 12), st.just(float("nan")),
                  st.just(-0.0), st.none())


@st.composite
def classifications(draw: st.DrawFn) -> Classification:
    n = draw(st.integers(0, 6))
    portrait = []
    for i in range(n):
        weight = draw(st.floats(0.01, 10, allow_nan=False))
        if draw(st.booleans()):
            portrait.append(Criterion(key=f"c{i}", group="profile", weight=weight,
                                      column=f"col{i % 3}"))
        else:
            lo = draw(st.floats(-1e6, 1e6, allow_nan=False))
            hi = draw(st.floats(-1e6, 1e6, allow_nan=False).filter(lambda v, lo=lo: v != lo))
            portrait.append(Criterion(key=f"c{i}", group="history", weight=weight,
                                      metric=draw(st.sampled_from(sorted(METRICS))),
                                      scale=(lo, hi)))
    return Classification(potential=Levels(high=500_000, medium=150_000),
                          contribution=Levels(high=250_000, medium=50_000),
                          portrait=tuple(portrait))


@settings(max_examples=examples(1500), deadline=None)
@given(rules=st.one_of(st.just(BOOK.classification), classifications()), values=VALUES,
       criteria=st.dictionaries(st.sampled_from(["col0", "col1", "col2", "size", "market_fit",
                                                 "structure"]),
                                SCORE.filter(lambda v: v is not None)))
def test_portrait_fit_matches_the_reference(rules: Classification, values: Values,
                                            criteria: dict[str, float]) -> None:
    want_fit, want_detail = reference_fit(values, criteria, rules)
    fit, detail = portrait_fit(values, criteria, rules)
    lean_fit, lean_detail = portrait_fit(values, criteria, rules, detail=False)
    assert (fit, detail) == (want_fit, want_detail) or (fit != fit and want_fit != want_fit)
    assert lean_fit == fit or (fit != fit and lean_fit != lean_fit)
    assert lean_detail == {}


def test_the_plan_cache_follows_the_classification_object() -> None:
    values: Values = {"revenue_t12": 100.0}
    a = Classification(potential=Levels(high=2, medium=1), contribution=Levels(high=2, medium=1),
                       portrait=(Criterion(key="r", group="history", weight=1,
                                           metric="revenue_t12", scale=(0, 100)),))
    b = a.model_copy(update={"portrait": (Criterion(key="r", group="history", weight=1,
                                                    metric="revenue_t12", scale=(0, 200)),)})
    assert portrait_fit(values, {}, a) == (100.0, {"r": 10.0})
    assert portrait_fit(values, {}, b) == (50.0, {"r": 5.0})
    assert portrait_fit(values, {}, a) == (100.0, {"r": 10.0})


def test_the_sweep_skips_the_detail_and_account_show_keeps_it() -> None:
    f = _facts(revenue_t12=500_000, potential=1_000_000,
               criteria=dict.fromkeys(BOOK.classification.criteria_columns, 7.0))
    _, shown = full_metrics(f, AT, BOOK, STATS)
    assert set(shown.fit_detail) == {c.key for c in BOOK.classification.portrait}
    swept = assess(f, AT, LIFE, STATS).classified
    assert swept.fit_detail == {}
    assert swept == classify(base_metrics(f, AT), f.criteria, BOOK.classification, STATS,
                             detail=False)
    assert (swept.klass, swept.portrait_fit, swept.key_account) == (
        shown.klass, shown.portrait_fit, shown.key_account)
