"""`once` with `upon: condition`: one occurrence a state spell, starting at the first sweep
that sees the step's `when` hold, whenever that is (not only near the entry)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kamflow.playbooks.schema import Once, Step
from kamflow.tasks.cadence import StepContext, occurrences

UPON = Once(kind="once", offset_days=0, upon="condition")
ENTRY = Once(kind="once", offset_days=0)


def test_the_first_sweep_that_sees_the_condition_starts_it_whenever_that_is() -> None:
    late = StepContext(entered=date(2025, 3, 1), at=date(2026, 6, 15), fiscal_start_month=1)
    [occ] = occurrences(UPON, 30, late)
    assert (occ.period, occ.start, occ.due) == ("once@2025-03-01", date(2026, 6, 15),
                                                date(2026, 7, 15))
    assert occurrences(ENTRY, 30, late) == []  # an entry step is long past its window
    # a later sweep of the same spell names the same occurrence: the store keeps the first
    again = occurrences(UPON, 30, StepContext(entered=date(2025, 3, 1), at=date(2026, 9, 1),
                                              fiscal_start_month=1))
    assert [o.period for o in again] == ["once@2025-03-01"]


def test_an_imported_state_and_go_live_and_the_offset() -> None:
    imported = StepContext(entered=date(2026, 1, 1), at=date(2026, 1, 1), fiscal_start_month=1,
                           imported=True, go_live=date(2026, 1, 1))
    assert [o.start for o in occurrences(UPON, 7, imported)] == [date(2026, 1, 1)]
    assert occurrences(ENTRY, 7, imported) == []  # "on entry" does not fire for an import
    waiting = Once(kind="once", offset_days=10, upon="condition")
    early = StepContext(entered=date(2026, 1, 1), at=date(2026, 1, 5), fiscal_start_month=1)
    assert occurrences(waiting, 7, early) == []
    assert [o.start for o in occurrences(
        waiting, 7, StepContext(entered=date(2026, 1, 1), at=date(2026, 1, 12),
                                fiscal_start_month=1))] == [date(2026, 1, 12)]
    assert occurrences(waiting, 7, StepContext(entered=date(2026, 1, 1), at=date(2026, 1, 1)
                                               + timedelta(days=9), fiscal_start_month=1)) == []


def test_upon_condition_needs_a_when() -> None:
    with pytest.raises(ValueError, match="'upon: condition' needs the step's 'when'"):
        Step(key="x", title="x", cadence=UPON, deadline_days=1, raci={"owner": "R", "sales": "A"},
             escalation={"after_days": 1, "then_days": 1})
