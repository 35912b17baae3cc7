"""Cadences: hand-computed occurrences for every kind, and replay/window properties."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kamflow.playbooks.loader import bundled_dir, load_dir
from kamflow.playbooks.schema import (
    Cadence,
    Every,
    Monthly,
    NoContact,
    Once,
    OnEvent,
    Quarterly,
    Yearly,
)
from kamflow.tasks.cadence import Occurrence, StepContext, fiscal_period, occurrences

D = date
ENTRY: Every = Every(kind="every", days=180, counted_from="entry")
COMPLETION: Every = Every(kind="every", days=120, counted_from="completion")


def ctx(entered: date, at: date, fsm: int = 1, *, last_done: date | None = None,
        last_contact: date | None = None, events: Sequence[tuple[int, date]] = ()) -> StepContext:
    return StepContext(entered, at, fsm, last_done, last_contact, events)


def keys(occs: list[Occurrence]) -> list[tuple[str, date, date]]:
    return [(o.period, o.start, o.due) for o in occs]


# -- fiscal_period ------------------------------------------------------------


@pytest.mark.parametrize(("day", "fsm", "expected"), [
    (D(2026, 5, 10), 1, (2026, 2)),
    (D(2026, 1, 1), 1, (2026, 1)),
    (D(2026, 12, 31), 1, (2026, 4)),
    (D(2026, 4, 1), 4, (2026, 1)),
    (D(2026, 3, 31), 4, (2025, 4)),
    (D(2026, 2, 10), 4, (2025, 4)),
    (D(2027, 3, 31), 4, (2026, 4)),
    (D(2026, 10, 1), 4, (2026, 3)),
    (D(2026, 12, 1), 12, (2026, 1)),
    (D(2026, 11, 30), 12, (2025, 4)),
])
def test_fiscal_period_labels_the_year_it_starts_in(day: date, fsm: int,
                                                     expected: tuple[int, int]) -> None:
    assert fiscal_period(day, fsm) == expected


@pytest.mark.parametrize("fsm", [0, 13])
def test_fiscal_start_month_is_checked(fsm: int) -> None:
    with pytest.raises(ValueError, match="1..12"):
        fiscal_period(D(2026, 1, 1), fsm)
    with pytest.raises(ValueError, match="1..12"):
        ctx(D(2026, 1, 1), D(2026, 1, 1), fsm)


# -- once ---------------------------------------------------------------------

ONCE7 = Once(kind="once", offset_days=7)


def test_once_is_offset_from_entry() -> None:
    got = occurrences(ONCE7, 14, ctx(D(2026, 3, 10), D(2026, 3, 10)))
    assert keys(got) == [("once@2026-03-10", D(2026, 3, 17), D(2026, 3, 31))]
    assert got[0].why == "7 days after entry 2026-03-10"


def test_once_respects_horizon_and_backfill() -> None:
    entered = D(2026, 3, 10)
    assert occurrences(ONCE7, 14, ctx(entered, entered), horizon_days=6) == []
    assert len(occurrences(ONCE7, 14, ctx(entered, entered), horizon_days=7)) == 1
    # due 03-31: a sweep on 04-20 still catches it (backfill 30), one on 06-01 does not
    assert len(occurrences(ONCE7, 14, ctx(entered, D(2026, 4, 30)))) == 1
    assert occurrences(ONCE7, 14, ctx(entered, D(2026, 5, 1))) == []
    assert occurrences(ONCE7, 14, ctx(entered, D(2026, 6, 1))) == []


# -- every --------------------------------------------------------------------


def test_every_from_entry_counts_periods_from_entry() -> None:
    entered = D(2025, 1, 1)
    assert keys(occurrences(ENTRY, 30, ctx(entered, D(2025, 6, 25)))) == [
        ("e1@2025-01-01", D(2025, 6, 30), D(2025, 7, 30))]
    # 2026-12-20: k=4 (2026-12-22) is in the horizon; k=3 (due 2026-07-25) is past backfill
    assert keys(occurrences(ENTRY, 30, ctx(entered, D(2026, 12, 20)))) == [
        ("e4@2025-01-01", D(2026, 12, 22), D(2027, 1, 21))]
    # nothing at entry itself (k starts at 1)
    assert occurrences(ENTRY, 30, ctx(entered, entered)) == []


def test_every_from_entry_returns_every_period_in_the_window() -> None:
    weekly = Every(kind="every", days=7, counted_from="entry")
    entered = D(2026, 1, 1)
    got = occurrences(weekly, 0, ctx(entered, entered + timedelta(days=30)),
                      horizon_days=14, backfill_days=10)
    assert [o.period for o in got] == [f"e{k}@2026-01-01" for k in (3, 4, 5, 6)]
    assert [o.start for o in got] == [entered + timedelta(days=7 * k) for k in (3, 4, 5, 6)]


def test_every_from_completion_anchors_on_last_done_in_this_spell() -> None:
    entered = D(2026, 1, 1)
    never = occurrences(COMPLETION, 14, ctx(entered, D(2026, 4, 25)))
    assert keys(never) == [("c@2026-01-01", D(2026, 5, 1), D(2026, 5, 15))]
    # a completion before entry belongs to an earlier spell: ignored
    old = occurrences(COMPLETION, 14, ctx(entered, D(2026, 4, 25), last_done=D(2025, 12, 1)))
    assert keys(old) == keys(never)
    done = occurrences(COMPLETION, 14, ctx(entered, D(2026, 6, 20), last_done=D(2026, 3, 1)))
    assert keys(done) == [("c@2026-03-01", D(2026, 6, 29), D(2026, 7, 13))]
    assert done[0].why == "120 days after last completion 2026-03-01"
    # not yet within the horizon
    assert occurrences(COMPLETION, 14, ctx(entered, D(2026, 6, 14), last_done=D(2026, 3, 1))) == []


def test_every_from_completion_is_still_owed_years_later() -> None:
    """No backfill cut-off: an account loyal since 2020 that was never asked is asked now."""
    got = occurrences(COMPLETION, 14, ctx(D(2020, 1, 1), D(2026, 6, 15)))
    assert keys(got) == [("c@2020-01-01", D(2026, 5, 16), D(2026, 5, 30))]
    assert got[0].why == ("120 days after entry 2020-01-01 (owed since 2020-04-30, scheduled "
                          "from 2026-05-16)")


# -- monthly ------------------------------------------------------------------

DAY5 = Monthly(kind="monthly", day=5)


def test_monthly_is_clamped_to_entry_in_the_month_of_entry() -> None:
    entered = D(2026, 3, 10)
    got = occurrences(DAY5, 10, ctx(entered, entered))
    assert keys(got) == [("M2026-03", D(2026, 3, 10), D(2026, 3, 20))]
    assert got[0].why == "monthly on day 5 (2026-03), moved to entry 2026-03-10"
    later = occurrences(DAY5, 10, ctx(entered, D(2026, 3, 25)))
    assert keys(later) == [("M2026-03", D(2026, 3, 10), D(2026, 3, 20)),
                           ("M2026-04", D(2026, 4, 5), D(2026, 4, 15))]
    assert later[1].why == "monthly on day 5 (2026-04)"
    # entry on the last day of a month still owes that month
    last = D(2026, 3, 31)
    assert keys(occurrences(DAY5, 10, ctx(last, last), horizon_days=4)) == [
        ("M2026-03", last, D(2026, 4, 10))]


def test_monthly_window() -> None:
    first = Monthly(kind="monthly", day=1)
    # June's due (06-11) is before at - backfill (06-20); August 1 is within the horizon
    got = occurrences(first, 10, ctx(D(2020, 1, 1), D(2026, 7, 20)))
    assert [o.period for o in got] == ["M2026-07", "M2026-08"]


# -- quarterly / yearly -------------------------------------------------------

Q45 = Quarterly(kind="quarterly", offset_days=45)


def test_quarterly_calendar_fiscal_year() -> None:
    got = occurrences(Q45, 21, ctx(D(2025, 1, 1), D(2026, 5, 10), fsm=1))
    assert got == [Occurrence("FY2026-Q2", D(2026, 5, 16), D(2026, 6, 6),
                              "fiscal quarter FY2026-Q2 (starts 2026-04-01) + 45 days")]


def test_quarterly_fiscal_year_from_april() -> None:
    got = occurrences(Q45, 21, ctx(D(2025, 1, 1), D(2026, 5, 10), fsm=4))
    assert keys(got) == [("FY2026-Q1", D(2026, 5, 16), D(2026, 6, 6))]
    # January-March 2026 is the fourth quarter of FY2025
    got = occurrences(Q45, 21, ctx(D(2025, 1, 1), D(2026, 2, 10), fsm=4))
    assert keys(got) == [("FY2025-Q4", D(2026, 2, 15), D(2026, 3, 8))]
    assert got[0].why == "fiscal quarter FY2025-Q4 (starts 2026-01-01) + 45 days"


def test_quarterly_is_clamped_to_entry() -> None:
    q14 = Quarterly(kind="quarterly", offset_days=14)
    entered = D(2026, 5, 20)
    got = occurrences(q14, 30, ctx(entered, entered, fsm=1))
    assert got == [Occurrence("FY2026-Q2", entered, D(2026, 6, 19),
                              "fiscal quarter FY2026-Q2 (starts 2026-04-01) + 14 days, "
                              "moved to entry 2026-05-20")]
    # the quarter before entry is never owed, even within the backfill
    assert all(o.start >= entered for o in occurrences(q14, 30, ctx(entered, D(2026, 7, 1))))


def test_a_quarter_whose_start_overflows_it_is_skipped() -> None:
    # Validation caps the offset at 80, which always fits; the rule still holds for any offset.
    q90 = Quarterly.model_construct(kind="quarterly", offset_days=90)
    entered = D(2025, 6, 1)
    # Q1 2026 has 90 days: +90 is April 1, after its last day, so Q1 is skipped
    assert occurrences(q90, 10, ctx(entered, D(2026, 3, 25))) == []
    # Q2 has 91 days: +90 is June 30
    assert keys(occurrences(q90, 10, ctx(entered, D(2026, 6, 25)))) == [
        ("FY2026-Q2", D(2026, 6, 30), D(2026, 7, 10))]


def test_yearly() -> None:
    y0 = Yearly(kind="yearly", offset_days=0)
    assert keys(occurrences(y0, 30, ctx(D(2020, 1, 1), D(2026, 3, 25), fsm=4))) == [
        ("FY2026", D(2026, 4, 1), D(2026, 5, 1))]
    assert keys(occurrences(y0, 30, ctx(D(2020, 1, 1), D(2025, 12, 20), fsm=1))) == [
        ("FY2026", D(2026, 1, 1), D(2026, 1, 31))]
    got = occurrences(y0, 30, ctx(D(2026, 7, 15), D(2026, 7, 15), fsm=4))
    assert got == [Occurrence("FY2026", D(2026, 7, 15), D(2026, 8, 14),
                              "fiscal year FY2026 (starts 2026-04-01) + 0 days, "
                              "moved to entry 2026-07-15")]


def test_a_fiscal_year_whose_start_overflows_it_is_skipped() -> None:
    y365 = Yearly.model_construct(kind="yearly", offset_days=365)
    entered = D(2020, 1, 1)
    assert occurrences(y365, 0, ctx(entered, D(2027, 12, 31))) == []  # 2027 has 365 days
    assert keys(occurrences(y365, 0, ctx(entered, D(2028, 12, 31)))) == [
        ("FY2028", D(2028, 12, 31), D(2028, 12, 31))]


# -- event --------------------------------------------------------------------

QUOTE = OnEvent(kind="event", event="quote_created")
EVENTS = [(7, D(2026, 2, 20)), (9, D(2026, 3, 5)), (8, D(2026, 3, 2)), (9, D(2026, 3, 7)),
          (3, D(2026, 1, 1))]


def test_events_after_entry_each_give_one_occurrence() -> None:
    got = occurrences(QUOTE, 1, ctx(D(2026, 3, 1), D(2026, 3, 10), events=EVENTS))
    assert keys(got) == [("ev8", D(2026, 3, 2), D(2026, 3, 3)),
                         ("ev9", D(2026, 3, 5), D(2026, 3, 6))]
    assert got[0].why == "quote_created event #8 on 2026-03-02"
    # long past the backfill: nothing
    assert occurrences(QUOTE, 1, ctx(D(2026, 3, 1), D(2026, 5, 1), events=EVENTS)) == []


# -- no_contact ---------------------------------------------------------------

NC30 = NoContact(kind="no_contact", days=30, channels=("visit",))


def test_no_contact_ignores_backfill_for_old_contacts() -> None:
    entered = D(2024, 1, 1)
    got = occurrences(NC30, 5, ctx(entered, D(2026, 3, 10), last_contact=D(2025, 1, 10)))
    assert got == [Occurrence("nc@2025-01-10", D(2025, 2, 9), D(2025, 2, 14),
                              "no qualifying contact for 30 days since last contact 2025-01-10")]
    never = occurrences(NC30, 5, ctx(entered, D(2026, 3, 10)))
    assert keys(never) == [("nc@2024-01-01", D(2024, 1, 31), D(2024, 2, 5))]
    before_entry = occurrences(NC30, 5, ctx(entered, D(2026, 3, 10), last_contact=D(2023, 6, 1)))
    assert keys(before_entry) == keys(never)


def test_no_contact_ignores_the_horizon() -> None:
    entered = D(2024, 1, 1)
    # the window ends 03-22, within the 14-day horizon, but it has not elapsed yet
    assert occurrences(NC30, 5, ctx(entered, D(2026, 3, 10), last_contact=D(2026, 2, 20))) == []
    assert keys(occurrences(NC30, 5, ctx(entered, D(2026, 3, 22), last_contact=D(2026, 2, 20)))) \
        == [("nc@2026-02-20", D(2026, 3, 22), D(2026, 3, 27))]


# -- the bundled playbooks ----------------------------------------------------


def test_every_bundled_step_yields_well_formed_occurrences() -> None:
    book = load_dir(bundled_dir())
    events = [(1, D(2026, 2, 3)), (2, D(2026, 4, 30))]
    seen_kinds: set[str] = set()
    for pb in book.states.values():
        for step in pb.steps:
            seen_kinds.add(step.cadence.kind)
            for at in (D(2026, 1, 5), D(2026, 5, 1), D(2026, 12, 31)):
                c = ctx(D(2026, 1, 1), at, book.organization.fiscal_year_start_month,
                        last_done=D(2026, 2, 1), last_contact=D(2026, 1, 20), events=events)
                check(step.cadence, step.deadline_days, c, 14, 30,
                      occurrences(step.cadence, step.deadline_days, c))
    assert seen_kinds >= {"once", "every", "monthly", "quarterly", "yearly", "event", "no_contact"}


# -- properties ---------------------------------------------------------------


def check(cadence: Cadence, deadline: int, c: StepContext, horizon: int, backfill: int,
          got: list[Occurrence]) -> None:
    periods = [o.period for o in got]
    assert len(set(periods)) == len(periods)
    assert [o.start for o in got] == sorted(o.start for o in got)
    for o in got:
        assert len(o.period) <= 40 and o.why
        assert o.start >= c.entered
        assert o.due == o.start + timedelta(days=deadline)
        if cadence.kind == "no_contact":
            assert o.start <= c.at
        else:
            assert o.start <= c.at + timedelta(days=horizon)
            owed = isinstance(cadence, Every) and cadence.counted_from == "completion"
            if not owed:  # the next completion-based one is owed however late it is
                assert o.due >= c.at - timedelta(days=backfill)
    if cadence.kind in ("once", "no_contact") or (
            isinstance(cadence, Every) and cadence.counted_from == "completion"):
        assert len(got) <= 1


days = st.dates(min_value=D(1990, 1, 1), max_value=D(2060, 12, 31))
cadences = st.one_of(
    st.builds(Once, kind=st.just("once"), offset_days=st.integers(0, 400)),
    st.builds(Every, kind=st.just("every"), days=st.integers(1, 400),
              counted_from=st.sampled_from(["entry", "completion"])),
    st.builds(Monthly, kind=st.just("monthly"), day=st.integers(1, 28)),
    st.builds(Quarterly, kind=st.just("quarterly"), offset_days=st.integers(0, 80)),
    st.builds(Yearly, kind=st.just("yearly"), offset_days=st.integers(0, 360)),
    st.builds(OnEvent, kind=st.just("event"), event=st.just("complaint")),
    st.builds(NoContact, kind=st.just("no_contact"), days=st.integers(1, 400)),
)


@settings(max_examples=300, deadline=None)
@given(cadence=cadences, entered=days, after=st.integers(0, 4000), fsm=st.integers(1, 12),
       deadline=st.integers(0, 120), horizon=st.integers(0, 90), backfill=st.integers(0, 90),
       last_done=st.none() | days, last_contact=st.none() | days,
       events=st.lists(st.tuples(st.integers(0, 10**12), days), max_size=8))
def test_window_rule_holds_for_random_input(cadence: Cadence, entered: date, after: int, fsm: int,
                                            deadline: int, horizon: int, backfill: int,
                                            last_done: date | None, last_contact: date | None,
                                            events: list[tuple[int, date]]) -> None:
    c = StepContext(entered, entered + timedelta(days=after), fsm, last_done, last_contact, events)
    check(cadence, deadline, c, horizon, backfill,
          occurrences(cadence, deadline, c, horizon, backfill))


@settings(max_examples=100, deadline=None)
@given(kind=st.sampled_from(["monthly", "quarterly", "yearly"]), offset=st.integers(0, 80),
       at=days, fsm=st.integers(1, 12), deadline=st.integers(0, 120), before=st.integers(0, 3000))
def test_calendar_cadences_do_not_depend_on_an_entry_before_the_window(
        kind: str, offset: int, at: date, fsm: int, deadline: int, before: int) -> None:
    cadence: Cadence = (Monthly(kind="monthly", day=offset % 28 + 1) if kind == "monthly"
                        else Quarterly(kind="quarterly", offset_days=offset) if kind == "quarterly"
                        else Yearly(kind="yearly", offset_days=offset))
    # entered before the fiscal year holding the window's first start: nothing to clamp
    window_start = at - timedelta(days=30 + deadline)
    long_ago = window_start - timedelta(days=366 + before)
    recent = occurrences(cadence, deadline, ctx(long_ago, at, fsm))
    ancient = occurrences(cadence, deadline, ctx(D(1, 1, 1), at, fsm))
    assert ancient == recent


def add_months(d: date, n: int) -> date:
    i = d.year * 12 + d.month - 1 + n
    return D(i // 12, i % 12 + 1, 1)


@settings(max_examples=40, deadline=None)
@given(fy=st.integers(2000, 2040), fsm=st.integers(1, 12), q_offset=st.integers(0, 80),
       y_offset=st.integers(0, 360), day=st.integers(1, 28), every=st.integers(1, 200),
       deadline=st.integers(0, 60), horizon=st.integers(0, 30), backfill=st.integers(0, 60),
       entry=st.integers(-2000, 364))
def test_replaying_a_fiscal_year_day_by_day(fy: int, fsm: int, q_offset: int, y_offset: int,
                                            day: int, every: int, deadline: int, horizon: int,
                                            backfill: int, entry: int) -> None:
    fy_start, fy_end = D(fy, fsm, 1), add_months(D(fy, fsm, 1), 12) - timedelta(days=1)
    entered = fy_start + timedelta(days=entry)
    cadences: dict[str, Cadence] = {
        "quarterly": Quarterly(kind="quarterly", offset_days=q_offset),
        "yearly": Yearly(kind="yearly", offset_days=y_offset),
        "monthly": Monthly(kind="monthly", day=day),
        "every": Every(kind="every", days=every, counted_from="entry"),
        "once": Once(kind="once", offset_days=every),
    }
    seen: dict[str, dict[str, Occurrence]] = {k: {} for k in cadences}
    at = fy_start
    while at <= fy_end:
        c = StepContext(entered, at, fsm)
        for name, cadence in cadences.items():
            for o in occurrences(cadence, deadline, c, horizon, backfill):
                assert o.start >= entered
                first = seen[name].setdefault(o.period, o)
                assert (first.start, first.due) == (o.start, o.due), "period key is not stable"
        at += timedelta(days=1)

    def in_year(name: str) -> list[Occurrence]:
        return [o for o in seen[name].values() if fy_start <= o.start <= fy_end]

    quarters_owed = sum(add_months(fy_start, 3 * q + 3) - timedelta(days=1) >= entered
                        for q in range(4))
    months_owed = sum(add_months(fy_start, m + 1) - timedelta(days=1) >= entered for m in range(12))
    if entered < fy_start:
        assert (quarters_owed, months_owed) == (4, 12)
    assert len(in_year("quarterly")) == quarters_owed
    assert len(in_year("yearly")) == 1
    assert len(in_year("monthly")) == months_owed
    assert sorted(o.period for o in in_year("quarterly")) == [
        f"FY{fy}-Q{q}" for q in range(5 - quarters_owed, 5)]
    assert [o.period for o in in_year("yearly")] == [f"FY{fy}"]
    assert all(fiscal_period(o.start, fsm) == (fy, int(o.period[-1])) for o in in_year("quarterly"))
    expected_every = [entered + timedelta(days=k * every) for k in range(1, 3000)]
    assert sorted(o.start for o in in_year("every")) == [
        s for s in expected_every if fy_start <= s <= fy_end]
