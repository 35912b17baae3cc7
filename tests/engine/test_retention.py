"""The retention score: weighted stability factors, each one's points adding up to it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kamflow.engine.classify import retention_score
from kamflow.playbooks.schema import Classification, Factor, Levels

BASE = {"potential": Levels(high=2, medium=1), "contribution": Levels(high=2, medium=1)}
values = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False))


def _rules(factors: list[Factor]) -> Classification:
    return Classification(**BASE, retention=tuple(factors))


@st.composite
def declarations(draw: st.DrawFn) -> list[Factor]:
    n = draw(st.integers(1, 6))
    out = []
    for i in range(n):
        lo = draw(st.floats(-100, 100, allow_nan=False))
        span = draw(st.floats(0.5, 100, allow_nan=False)) * draw(st.sampled_from((1, -1)))
        out.append(Factor(key=f"f{i}", weight=draw(st.floats(0.1, 10)), metric=f"m{i}",
                          scale=(lo, lo + span), missing=draw(st.floats(0, 10))))
    return out


@given(declarations(), st.lists(values, min_size=6, max_size=6))
def test_points_add_up_to_the_score_within_rounding(factors: list[Factor],
                                                    seen: list[float | None]) -> None:
    rules = _rules(factors)
    score, parts = retention_score({f"m{i}": v for i, v in enumerate(seen)}, {}, rules)
    assert score is not None and 0 <= score <= 100
    assert abs(sum(p.points for p in parts) - score) <= 0.05 * len(parts) + 0.05
    assert [p.key for p in parts] == [f.key for f in factors]


@given(declarations(), st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=6, max_size=6),
       st.integers(0, 5), st.floats(0, 1e3, allow_nan=False))
def test_moving_a_value_toward_its_best_end_never_lowers_the_score(
        factors: list[Factor], seen: list[float], which: int, step: float) -> None:
    which %= len(factors)
    rules = _rules(factors)
    before = {f"m{i}": v for i, v in enumerate(seen)}
    lo, hi = factors[which].scale or (0, 1)
    better = dict(before, **{f"m{which}": seen[which] + (step if hi > lo else -step)})
    assert retention_score(better, {}, rules)[0] >= retention_score(before, {}, rules)[0]


def test_a_missing_value_scores_its_declared_missing_score() -> None:
    rules = _rules([Factor(key="fb", weight=1, metric="feedback_trend", scale=(-3, 3), missing=5),
                    Factor(key="deal", weight=3, column="supply_agreement")])
    score, parts = retention_score({"feedback_trend": None}, {"supply_agreement": 10}, rules)
    assert [(p.value, p.score, p.points) for p in parts] == [(None, 5.0, 12.5), (10, 10.0, 75.0)]
    assert score == 87.5
    assert retention_score({}, {}, Classification(**BASE)) == (None, [])
