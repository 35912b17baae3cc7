"""Wake-ups: never later than the first day something new would be made or decided.

`next_start` against `occurrences` itself, day by day; `guard_wake` against `decide`
itself, day by day: the wake-up is exactly the first day the answer changes.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kamflow.engine.assess import full_metrics
from kamflow.engine.classify import PortfolioStats
from kamflow.engine.lifecycle import LifecycleEngine
from kamflow.playbooks.loader import bundled_dir, load_dir
from kamflow.playbooks.schema import Cadence, Every, Monthly, NoContact, Once, Quarterly, Yearly
from kamflow.tasks.cadence import StepContext, next_start, occurrences
from kamflow.tasks.wake import DAILY, WakeRules, guard_wake, month_after, wake_at
from support import account_facts

BOOK = load_dir(bundled_dir())
LIFE = LifecycleEngine(BOOK)
STATS = PortfolioStats(100, 40_000_000.0, 400_000.0, 1_000_000.0)
HORIZON, BACKFILL, WITHIN = 14, 30, 45

CADENCES: list[Cadence] = [
    Once(kind="once", offset_days=10), Once(kind="once", offset_days=10, upon="condition"),
    Every(kind="every", days=30, counted_from="entry"),
    Every(kind="every", days=120, counted_from="completion"), Monthly(kind="monthly", day=5),
    Quarterly(kind="quarterly", offset_days=45), Yearly(kind="yearly", offset_days=0),
    NoContact(kind="no_contact", days=60, channels=("visit",)),
]
days = st.dates(date(2025, 1, 1), date(2027, 12, 31))


def made(cadence: Cadence, ctx: StepContext, deadline: int) -> set[str]:
    return {o.period for o in occurrences(cadence, deadline, ctx, HORIZON, BACKFILL)}


@settings(max_examples=300)
@given(cadence=st.sampled_from(CADENCES), entered=days, ahead=st.integers(0, 400),
       done=st.none() | st.integers(0, 300), contact=st.none() | st.integers(0, 300),
       fsm=st.integers(1, 12), deadline=st.integers(0, 30))
def test_nothing_new_is_made_before_the_next_start_and_something_is_on_it(
        cadence: Cadence, entered: date, ahead: int, done: int | None, contact: int | None,
        fsm: int, deadline: int) -> None:
    at = entered + timedelta(days=ahead)
    ctx = StepContext(entered, at, fsm,
                      None if done is None else entered + timedelta(days=min(done, ahead)),
                      None if contact is None else entered + timedelta(days=min(contact, ahead)))
    first = made(cadence, ctx, deadline)
    wake = next_start(cadence, deadline, ctx, HORIZON, BACKFILL, WITHIN)
    until = wake if wake is not None else at + timedelta(days=WITHIN)
    day = at + timedelta(days=1)
    while day < until:
        later = StepContext(entered, day, fsm, ctx.last_done, ctx.last_contact)
        assert made(cadence, later, deadline) <= first, (day, wake)
        day += timedelta(days=1)
    if wake is not None:
        assert wake > at
        on = StepContext(entered, wake, fsm, ctx.last_done, ctx.last_contact)
        assert made(cadence, on, deadline) - first, f"nothing new on the wake-up {wake}"


def test_the_bundled_guards_are_bounded_by_their_literals() -> None:
    rules = WakeRules.of(BOOK)
    assert rules.by_state["loyal"] == {"days_since_contact": (120.0,),
                                       "days_since_revenue": (365.0,)}
    assert rules.by_state["prospect"] == {}  # its guards read no day metric
    assert all(v is not DAILY for v in rules.by_state.values())


def test_a_day_metric_read_another_way_makes_its_state_wake_daily(tmp_path: object) -> None:
    import shutil
    from pathlib import Path

    folder = Path(str(tmp_path)) / "pb"
    shutil.copytree(bundled_dir(), folder)
    life = folder / "lifecycle.yaml"
    life.write_text(life.read_text().replace("days_since_contact > 120",
                                             "days_since_contact in [121, 122]"))
    rules = WakeRules.of(load_dir(folder))
    assert rules.by_state["loyal"] is DAILY and rules.by_state["declining"] is not DAILY
    at = datetime(2026, 6, 15, 6)
    f = account_facts()
    values, _ = full_metrics(f, at, BOOK, STATS)
    assert guard_wake(rules, LIFE, f, values, at, STATS, month_after(at)) == datetime(2026, 6, 16)


@settings(max_examples=200)
@given(contact_ago=st.integers(0, 200), day=st.integers(1, 28), hour=st.integers(0, 23),
       in_state=st.integers(1, 400))
def test_the_guard_wake_is_the_first_moment_a_transition_fires(contact_ago: int, day: int,
                                                               hour: int, in_state: int) -> None:
    at = datetime(2026, 6, day, hour)
    f = account_facts(last_contact=at.date() - timedelta(days=contact_ago),
                      state_since=at - timedelta(days=in_state, hours=3))
    values, _ = full_metrics(f, at, BOOK, STATS)
    if LIFE.decide(f.state, values) is not None:
        return  # it moves now: the sweep wakes it at once instead
    until = month_after(at)
    wake = wake_at(WakeRules.of(BOOK), LIFE, f, values, at, STATS)
    assert at < wake <= until
    moment = datetime.combine(at.date() + timedelta(days=1), datetime.min.time())
    while moment < wake:  # every midnight before the wake-up: nothing fires
        later, _ = full_metrics(f, moment, BOOK, STATS)
        assert LIFE.decide(f.state, later) is None, moment
        moment += timedelta(days=1)
    if wake < until:  # woken by a guard: it fires then
        later, _ = full_metrics(f, wake, BOOK, STATS)
        assert LIFE.decide(f.state, later) is not None
