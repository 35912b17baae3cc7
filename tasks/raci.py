"""RACI parties -> people and department queues, for one step of one account.

A task is never assigned to nobody: when the Responsible party cannot be
resolved (no sponsor, an inactive person, a department without a lead), the
task goes to the Accountable department's queue and the routing says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kamflow.playbooks.schema import Step

Person = tuple[bool, str]  # (active, department)
OWNER_LEAD = "owner.lead"  # the lead of the owner's department


@dataclass(frozen=True, slots=True)
class Team:
    """Who is who for one account, plus the organisation's directory."""

    owner: str
    sponsor: str | None
    people: Mapping[str, Person]  # email -> (active, department)
    leads: Mapping[str, str]  # department -> email of an active lead


@dataclass(frozen=True, slots=True)
class Routing:
    assignee: str | None
    queue: str | None
    responsible_dept: str
    accountable: str | None
    accountable_dept: str
    co_responsible: tuple[str, ...]
    consulted: tuple[str, ...]
    informed: tuple[str, ...]
    note: str = ""


def _person(team: Team, email: str | None) -> str | None:
    if email is None:
        return None
    known = team.people.get(email)
    return email if known is not None and known[0] else None


def resolve(party: str, team: Team) -> tuple[str | None, str | None]:
    """(email, None) for a person, (None, department) for a queue, (None, None) if unresolvable."""
    if party == "owner":
        return _person(team, team.owner), None
    if party == "sponsor":
        return _person(team, team.sponsor), None
    if party == OWNER_LEAD:
        return _person(team, team.leads.get(_dept("owner", team))), None
    if party.endswith(".lead"):
        return _person(team, team.leads.get(party[:-5])), None
    return None, party


def _dept(party: str, team: Team) -> str:
    """The department a party belongs to, even when no person fills it right now."""
    if party == OWNER_LEAD:
        party = "owner"
    if party.endswith(".lead"):
        return party[:-5]
    if party in ("owner", "sponsor"):
        email = team.owner if party == "owner" else team.sponsor
        known = team.people.get(email or "") or team.people.get(team.owner)
        return known[1] if known else ""
    return party


def _names(parties: tuple[str, ...], team: Team) -> tuple[str, ...]:
    """Departments and people a C or I party stands for, as stored on the task."""
    out: list[str] = []
    for p in parties:
        email, queue = resolve(p, team)
        for name in (queue or _dept(p, team), email):
            if name and name not in out:
                out.append(name)
    return tuple(out)


def team_reads(step: Step) -> tuple[bool, bool]:
    """Whether a step's routing reads the account's owner and its sponsor: accounts whose
    owner and sponsor agree where it reads them share one routing (the directory is the
    same for a whole sweep)."""
    sponsor = "sponsor" in step.raci
    return sponsor or "owner" in step.raci or OWNER_LEAD in step.raci, sponsor


def route(step: Step, team: Team) -> Routing:
    responsible = step.parties("R")
    (accountable_party,) = step.parties("A")
    accountable, a_queue = resolve(accountable_party, team)
    accountable_dept = a_queue or _dept(accountable_party, team)
    assignee, queue = resolve(responsible[0], team)
    note = ""
    if assignee is None and queue is None:
        queue = accountable_dept
        note = (f"{responsible[0]} could not be resolved for this account; "
                f"routed to the {accountable_dept} queue")
    r_dept = queue or (team.people[assignee][1] if assignee else accountable_dept)
    return Routing(
        assignee=assignee,
        queue=queue,
        responsible_dept=r_dept,
        accountable=accountable,
        accountable_dept=accountable_dept,
        co_responsible=_names(responsible[1:], team),
        consulted=_names(step.parties("C"), team),
        informed=_names(step.parties("I"), team),
        note=note,
    )


def packed(names: tuple[str, ...]) -> str:
    """",a,b," so that LIKE '%,a,%' finds a party on any database."""
    return "," + ",".join(names) + "," if names else ","


def unpacked(text: str) -> list[str]:
    return [n for n in text.split(",") if n]
