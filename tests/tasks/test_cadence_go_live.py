"""Go-live and imported states in the pure cadence rules."""

from __future__ import annotations

from datetime import date

from kamflow.playbooks.schema import Every, Monthly, NoContact, Once, Quarterly, Yearly
from kamflow.tasks.cadence import StepContext, occurrences

GO = date(2026, 6, 30)


def ctx(**kw: object) -> StepContext:
    base: dict[str, object] = {"entered": date(2020, 1, 1), "at": GO, "fiscal_start_month": 1,
                               "go_live": GO}
    base.update(kw)
    return StepContext(**base)  # type: ignore[arg-type]


def test_a_quarter_or_month_that_began_before_go_live_makes_nothing() -> None:
    assert occurrences(Quarterly(kind="quarterly", offset_days=45), 21, ctx()) == []
    months = occurrences(Monthly(kind="monthly", day=5), 10, ctx())
    assert [o.period for o in months] == ["M2026-07"]  # June began before go-live
    # without go-live the ending quarter's review was made, moved to the import and overdue-ish
    old = occurrences(Quarterly(kind="quarterly", offset_days=45), 21,
                      ctx(go_live=None, entered=GO, imported=False))
    assert [o.period for o in old] == ["FY2026-Q2"]


def test_the_next_period_comes_in_the_horizon_as_usual() -> None:
    got = occurrences(Monthly(kind="monthly", day=5), 10, ctx(at=date(2026, 7, 1)))
    assert [(o.period, o.start) for o in got] == [("M2026-07", date(2026, 7, 5))]


def test_a_step_due_at_go_live_gets_the_current_period_from_go_live() -> None:
    got = occurrences(Yearly(kind="yearly", offset_days=0), 30, ctx(at_go_live=True))
    assert [(o.period, o.start, o.due) for o in got] == [
        ("FY2026", GO, date(2026, 7, 30))]
    assert occurrences(Yearly(kind="yearly", offset_days=0), 30, ctx()) == []


def test_an_imported_state_fires_no_entry_step() -> None:
    imported = ctx(entered=GO, imported=True, go_live=date(2026, 1, 1))
    assert occurrences(Once(kind="once", offset_days=0), 7, imported) == []
    # ...and the period holding the import is not moved up to it
    assert occurrences(Quarterly(kind="quarterly", offset_days=45), 21, imported) == []
    entered = ctx(entered=GO, imported=False, go_live=date(2026, 1, 1))
    assert [o.period for o in occurrences(Once(kind="once", offset_days=0), 7, entered)] == [
        "once@2026-06-30"]


def test_an_owed_condition_is_due_from_go_live_so_it_can_be_met() -> None:
    check = occurrences(NoContact(kind="no_contact", days=60), 7,
                        ctx(last_contact=date(2026, 1, 10)))
    assert [(o.start, o.due) for o in check] == [(GO, date(2026, 7, 7))]
    every = occurrences(Every(kind="every", days=120, counted_from="completion"), 14, ctx())
    assert [(o.start, o.due) for o in every] == [(GO, date(2026, 7, 14))]


def test_an_entry_step_due_at_go_live_is_owed_by_an_imported_state_too() -> None:
    imported = ctx(entered=GO, imported=True, at_go_live=True)
    got = occurrences(Once(kind="once", offset_days=0), 21, imported)
    assert [(o.period, o.start, o.due) for o in got] == [
        ("once@2026-06-30", GO, date(2026, 7, 21))]
    assert "imported, not entered" in got[0].why
