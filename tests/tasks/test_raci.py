"""RACI routing, pure: each party resolves to a person or a department queue; a Responsible
party nobody fills sends the task to the Accountable department's queue, with the reason;
C and I parties are stored as departments and people, packed so LIKE finds them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kamflow.playbooks.loader import bundled_dir, load_dir
from kamflow.playbooks.schema import Step
from kamflow.tasks.raci import Person, Routing, Team, packed, resolve, route, unpacked

ANN, SAM, LEA, OLD = "ann@x.test", "sam@x.test", "lea@x.test", "old@x.test"
PEOPLE: dict[str, Person] = {
    ANN: (True, "sales"),
    SAM: (True, "management"),
    LEA: (True, "sales"),
    OLD: (False, "service"),  # has left: still in the directory, no longer active
}
LEADS = {"sales": LEA, "service": OLD}  # service's lead has left; finance has none


def team(owner: str = ANN, sponsor: str | None = SAM, **people: Person) -> Team:
    return Team(owner, sponsor, {**PEOPLE, **people}, LEADS)


def step(**raci: str) -> Step:
    """A step with these parties (`sales_lead` spells the party sales.lead)."""
    return Step(key="review", title="Review", cadence={"kind": "once"}, deadline_days=7,
                raci={party.replace("_lead", ".lead"): letter for party, letter in raci.items()},
                escalation={"after_days": 3, "then_days": 7})


# -- one party ------------------------------------------------------------------------------


@pytest.mark.parametrize(("party", "who", "expected"), [
    ("owner", team(), (ANN, None)),
    ("sponsor", team(), (SAM, None)),
    ("sales.lead", team(), (LEA, None)),
    ("finance", team(), (None, "finance")),  # a department is its queue
    ("sponsor", team(sponsor=None), (None, None)),  # the account has no sponsor
    ("owner", team(owner=OLD), (None, None)),  # the owner has left
    ("sponsor", team(sponsor="nobody@x.test"), (None, None)),  # not in the directory
    ("service.lead", team(), (None, None)),  # the lead has left
    ("finance.lead", team(), (None, None)),  # finance has no lead
])
def test_a_party_resolves_to_an_active_person_or_a_queue(party: str, who: Team,
                                                         expected: tuple[Any, Any]) -> None:
    assert resolve(party, who) == expected


# -- routing a step -------------------------------------------------------------------------


def test_owner_responsible_sponsor_accountable() -> None:
    r = route(step(owner="R", sponsor="A", finance="C", marketing="I"), team())
    assert r == Routing(assignee=ANN, queue=None, responsible_dept="sales", accountable=SAM,
                        accountable_dept="management", co_responsible=(), consulted=("finance",),
                        informed=("marketing",), note="")


def test_a_department_responsible_is_its_queue() -> None:
    r = route(step(quotes="R", owner="A"), team())
    assert (r.assignee, r.queue, r.responsible_dept) == (None, "quotes", "quotes")
    assert (r.accountable, r.accountable_dept, r.note) == (ANN, "sales", "")


def test_a_department_accountable_names_no_person() -> None:
    r = route(step(sponsor="R", management="A"), team())
    assert (r.assignee, r.responsible_dept) == (SAM, "management")
    assert (r.accountable, r.accountable_dept) == (None, "management")


def test_an_owner_who_left_sends_the_task_to_the_accountable_queue_and_says_why() -> None:
    r = route(step(owner="R", sales_lead="A"), team(owner=OLD))
    assert (r.assignee, r.queue, r.responsible_dept) == (None, "sales", "sales")
    assert r.accountable == LEA
    assert r.note == "owner could not be resolved for this account; routed to the sales queue"


def test_no_sponsor_falls_back_to_the_accountable_department() -> None:
    r = route(step(sponsor="R", management="A"), team(sponsor=None))
    assert (r.assignee, r.queue, r.responsible_dept) == (None, "management", "management")
    assert "sponsor could not be resolved" in r.note


def test_a_department_without_a_lead_is_still_that_department() -> None:
    # nobody fills finance.lead, but the task belongs to finance: the queue is finance's
    r = route(step(owner="R", finance_lead="A"), team(owner=OLD))
    assert (r.accountable, r.accountable_dept, r.queue) == (None, "finance", "finance")


def test_an_accountable_sponsor_who_left_keeps_the_sponsors_department() -> None:
    r = route(step(owner="R", sponsor="A"), team(sponsor=OLD))
    assert (r.assignee, r.accountable, r.accountable_dept) == (ANN, None, "service")


def test_a_missing_sponsor_counts_in_the_owners_department() -> None:
    r = route(step(owner="R", sponsor="A"), team(sponsor=None))
    assert (r.accountable, r.accountable_dept) == (None, "sales")


def test_the_first_responsible_is_assigned_the_others_are_co_responsible() -> None:
    r = route(step(owner="R", sponsor="A", sales_lead="R", marketing="R"), team())
    assert r.assignee == ANN
    assert r.co_responsible == ("sales", LEA, "marketing")


def test_consulted_and_informed_name_departments_and_people_once_each() -> None:
    r = route(step(owner="R", sponsor="A", finance="C", sales_lead="C"), team())
    assert r.consulted == ("finance", "sales", LEA)
    r = route(step(sponsor="R", management="A", owner="C", sales_lead="I", sales="I"), team())
    assert r.consulted == ("sales", ANN)
    assert r.informed == ("sales", LEA)  # sales once, though two parties name it
    # a party nobody fills still stands for its department
    r = route(step(owner="R", management="A", sponsor="C", service_lead="I"), team(sponsor=None))
    assert (r.consulted, r.informed) == (("sales",), ("service",))


def test_a_step_needs_one_accountable_and_a_responsible() -> None:
    with pytest.raises(ValueError, match="two Accountable"):
        step(owner="R", sponsor="A", finance="A")
    with pytest.raises(ValueError, match="no Responsible"):
        step(sponsor="A", finance="C")


# -- every bundled step, any team: never assigned to nobody ------------------------------

STEPS = [s for p in load_dir(bundled_dir()).states.values() for s in p.steps]
EMAILS = [ANN, SAM, LEA, OLD, "bob@x.test"]


@given(
    step_=st.sampled_from(STEPS),
    owner=st.sampled_from(EMAILS),
    sponsor=st.none() | st.sampled_from(EMAILS),
    active=st.dictionaries(st.sampled_from(EMAILS), st.booleans()),
    leads=st.dictionaries(st.sampled_from(["sales", "service", "marketing"]),
                          st.sampled_from(EMAILS)),
)
def test_a_bundled_step_is_assigned_to_an_active_person_or_a_queue(
        step_: Step, owner: str, sponsor: str | None, active: dict[str, bool],
        leads: dict[str, str]) -> None:
    people: dict[str, Person] = {e: (active.get(e, True), dept) for e, dept in
                                 zip(EMAILS, ["sales", "management", "sales", "service", "sales"],
                                     strict=True)}
    r = route(step_, Team(owner, sponsor, people, leads))
    assert (r.assignee is None) != (r.queue is None)
    if r.assignee is not None:
        assert people[r.assignee][0], r
    assert r.queue != ""
    first = step_.parties("R")[0]
    person = {"owner": owner, "sponsor": sponsor,  # owner.lead: the lead of the owner's dept
              "owner.lead": leads.get(people[owner][1])}.get(first, leads.get(first[:-5]))
    unfilled = (first in ("owner", "sponsor") or first.endswith(".lead")) and (
        person is None or not people[person][0])
    assert bool(r.note) == unfilled, r


def test_the_bundled_playbooks_are_readable() -> None:
    assert len(STEPS) > 20  # the property above sees real steps


# -- parties as stored ------------------------------------------------------------------


def test_packing_brackets_each_name_with_commas() -> None:
    assert packed(("finance", "ann@x.test")) == ",finance,ann@x.test,"
    assert packed(()) == ","
    assert unpacked(",finance,ann@x.test,") == ["finance", "ann@x.test"]
    assert unpacked(",") == []


NAMES = st.text(st.characters(blacklist_characters=",", blacklist_categories=("Cs",)),
                min_size=1, max_size=12)


@given(st.lists(NAMES, max_size=6, unique=True), NAMES)
def test_packed_names_unpack_and_match_exactly_one_way(names: list[str], probe: str) -> None:
    text = packed(tuple(names))
    assert unpacked(text) == names
    # LIKE '%,probe,%' finds a name only when it is one of them, never a part of one
    assert (f",{probe}," in text) == (probe in names)


def test_the_owners_lead_is_the_lead_of_the_owners_department() -> None:
    r = route(step(owner_lead="R", management="A", owner="I"), team())
    assert (r.assignee, r.queue, r.responsible_dept) == (LEA, None, "sales")
    gone = route(step(owner_lead="R", management="A"), team(owner=OLD))  # service: lead left
    assert (gone.assignee, gone.queue) == (None, "management")
    assert gone.note == ("owner.lead could not be resolved for this account; routed to the "
                         "management queue")
    assert resolve("owner.lead", team(owner="who@x.test")) == (None, None)
