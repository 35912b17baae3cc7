"""Which steps apply to an account and whom a late task escalates to, on the bundled playbooks."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from kamflow.playbooks.loader import bundled_dir, load_dir
from kamflow.playbooks.schema import Escalation, NoContact
from kamflow.tasks.policy import (
    Holder,
    applicable_steps,
    counts_as_contact,
    escalation_level,
    escalation_target,
    sponsor_problem,
    step_id,
)

BOOK = load_dir(bundled_dir())
PLAN_STEPS = {"loyal.annual_account_plan", "loyal.quarterly_plan_review",
              "loyal.monthly_target_tracking"}


def holder(klass: str | None, *, key: bool = False, fit: float | None = None,
           state: str = "loyal") -> Holder:
    return Holder("ACC-1", state, datetime(2026, 1, 5), klass, "ann@x.test", None,
                  key_account=key, portrait_fit=fit)


def ids(h: Holder) -> set[str]:
    return {sid for sid, _, _ in applicable_steps(BOOK, h)}


def test_class_a_gets_the_plan_steps_and_class_d_does_not() -> None:
    assert ids(holder("A")) >= PLAN_STEPS
    assert not PLAN_STEPS & ids(holder("D"))


def test_a_class_c_account_gets_a_plan_only_when_its_when_lets_it_through() -> None:
    assert not PLAN_STEPS & ids(holder("C", fit=40))
    assert ids(holder("C", fit=75)) >= PLAN_STEPS
    assert ids(holder("C", key=True, fit=10)) >= PLAN_STEPS


WORKED = ("loyal", "high_potential", "declining", "recovery")


def plan_steps(state: str) -> set[str]:
    draft = "account_plan" if state == "high_potential" else "annual_account_plan"
    return {f"{state}.{k}" for k in (draft, "quarterly_plan_review", "monthly_target_tracking")}


@pytest.mark.parametrize("state", WORKED)
@pytest.mark.parametrize("klass", ["A", "B", "C", "D"])
def test_every_key_account_gets_the_plan_steps_in_every_worked_state(state: str, klass: str
                                                                     ) -> None:
    assert ids(holder(klass, key=True, fit=0, state=state)) >= plan_steps(state)
    if klass == "D":  # a small non-key account: no plan anywhere
        assert not plan_steps(state) & ids(holder("D", fit=90, state=state))
    if klass == "A":
        assert ids(holder("A", fit=0, state=state)) >= plan_steps(state)


def test_over_reliance_and_the_sponsor_check_read_what_the_sweep_knows() -> None:
    h = holder("B", key=True)
    assert "loyal.concentration_risk_review" not in ids(h)  # between sweeps: unknown

    def seen(key: bool = True, share: float | None = None, unsponsored: bool | None = None
             ) -> set[str]:
        return ids(Holder("X", "loyal", datetime(2026, 1, 5), "B", "ann@x.test", None,
                          key_account=key, revenue_share=share, no_senior_sponsor=unsponsored))

    assert "loyal.concentration_risk_review" in seen(share=0.12)
    assert "loyal.concentration_risk_review" not in seen(share=0.10)
    assert "loyal.senior_sponsor_missing" in seen(unsponsored=True)
    assert "loyal.senior_sponsor_missing" not in seen(unsponsored=False)
    assert "loyal.senior_sponsor_missing" not in seen(key=False, unsponsored=True)


PEOPLE = {"ann@x.test": (True, "sales"), "sam@x.test": (True, "management"),
          "old@x.test": (False, "management")}


@pytest.mark.parametrize(("sponsor", "problem"), [
    ("sam@x.test", None),
    (None, "no sponsor"),
    ("ann@x.test", "the sponsor ann@x.test is the owner"),
    ("old@x.test", "the sponsor old@x.test is inactive"),
    ("who@x.test", "the sponsor who@x.test is not a known person"),
])
def test_a_senior_sponsor_is_an_active_senior_person_other_than_the_owner(
        sponsor: str | None, problem: str | None) -> None:
    assert sponsor_problem("ann@x.test", sponsor, PEOPLE, ("management",)) == problem
    assert sponsor_problem("bob@x.test", "ann@x.test", PEOPLE, ("management",)) == (
        "the sponsor ann@x.test is in sales, not in a senior department (management)")
    assert sponsor_problem("bob@x.test", "ann@x.test", PEOPLE, ("management", "sales")) is None


def test_the_condition_that_let_a_step_through_is_returned_for_the_why() -> None:
    found = {sid: when for sid, _, when in applicable_steps(BOOK, holder("C", key=True))}
    assert found["loyal.quarterly_plan_review"] is not None
    assert "key_account" in found["loyal.quarterly_plan_review"].text
    assert found["loyal.feedback_request"] is None


def test_a_state_without_a_playbook_has_no_steps() -> None:
    assert ids(holder("A", state="no_such_state")) == set()


def test_step_id_is_state_dot_key() -> None:
    step = BOOK.states["loyal"].steps[0]
    assert step_id("loyal", step) == f"loyal.{step.key}"


def test_a_contact_check_counts_only_its_channels() -> None:
    any_channel = NoContact(kind="no_contact", days=90)
    visits = NoContact(kind="no_contact", days=90, channels=["visit"])
    assert counts_as_contact(any_channel, "email")
    assert counts_as_contact(visits, "visit")
    assert not counts_as_contact(visits, "email")


RULE = Escalation(after_days=5, then_days=10)
DUE = date(2026, 3, 1)


@pytest.mark.parametrize(("today", "level", "expected"), [
    (date(2026, 3, 6), 0, 0),    # 5 days late: not yet past the grace
    (date(2026, 3, 7), 0, 1),    # 6 days late: to the Accountable
    (date(2026, 3, 16), 0, 1),   # 15 days: not yet past the second period
    (date(2026, 3, 17), 0, 2),   # 16 days: both levels at once
    (date(2026, 3, 17), 1, 2),
    (date(2026, 3, 2), 2, 2),    # never goes down
])
def test_escalation_level_counts_lateness_from_the_due_date(today: date, level: int,
                                                            expected: int) -> None:
    assert escalation_level(RULE, DUE, DUE, today, level) == expected


def test_no_one_is_escalated_for_the_time_before_a_task_existed() -> None:
    made_late = date(2026, 3, 20)  # imported long after its due date
    assert escalation_level(RULE, DUE, made_late, date(2026, 3, 25), 0) == 0
    assert escalation_level(RULE, DUE, made_late, date(2026, 3, 26), 0) == 1


def test_escalation_targets() -> None:
    leads = {"quotes": "lea@x.test"}
    assert escalation_target(1, "acc@x.test", "quotes", leads, []) == "acc@x.test"
    assert escalation_target(1, None, "quotes", leads, []) == "queue:quotes"
    assert escalation_target(2, "acc@x.test", "quotes", leads, ["max@x.test"]) == "lea@x.test"
    assert escalation_target(2, "acc@x.test", "sales", leads, ["max@x.test"]) == "max@x.test"
    assert escalation_target(2, "acc@x.test", "sales", leads, []) == "queue:sales"
