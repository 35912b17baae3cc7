"""Touchpoint plans: which of our roles meets which customer role, how often.

An account plan lists them (`touchpoints:`); a contact logged with a customer_role meets
one when its person plays our side: the account's owner, its sponsor, or a member of the
named department. kamflow.touchpoints lists the ones overdue.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from kamflow.playbooks.schema import KEY, Model


def customer_role(text: str) -> str:
    """One spelling of a customer role: lower case, single spaces (as contacts store it)."""
    return " ".join(text.lower().split())


class Touchpoint(Model):
    """`ours`: owner, sponsor or a department key; `theirs`: a customer role."""

    ours: Annotated[str, Field(pattern=KEY)]
    theirs: str = Field(min_length=1, max_length=100)
    every_days: int = Field(gt=0, le=3660)

    @field_validator("theirs")
    @classmethod
    def _one_spelling(cls, v: str) -> str:
        return customer_role(v)


def _one_each(v: tuple[Touchpoint, ...]) -> tuple[Touchpoint, ...]:
    pairs = [f"{t.ours} meets {t.theirs}" for t in v]
    twins = sorted({p for p in pairs if pairs.count(p) > 1})
    if twins:
        raise ValueError(f"touchpoints given twice: {', '.join(twins)}")
    return v


Touchpoints = Annotated[tuple[Touchpoint, ...], AfterValidator(_one_each)]


OUR_ROLES = ("owner", "sponsor")


def problems(touchpoints: tuple[Touchpoint, ...], departments: Iterable[str]
             ) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path, problem) for each touchpoint whose `ours` is neither a role nor a department."""
    known = set(departments)
    for i, t in enumerate(touchpoints):
        if t.ours not in OUR_ROLES and t.ours not in known:
            yield (("touchpoints", i, "ours"),
                   f"'{t.ours}' is not owner, sponsor or a department ("
                   + ", ".join(sorted(known)) + ")")


def meets(t: Touchpoint, person: str, department: str | None, owner: str,
          sponsor: str | None) -> bool:
    """Whether a contact by `person` plays our side of the touchpoint."""
    if t.ours == "owner":
        return person == owner
    if t.ours == "sponsor":
        return sponsor is not None and person == sponsor
    return department == t.ours


def due(t: Touchpoint, last_met: date | None, planned_on: date) -> date:
    """When the next meeting is due: every_days after the last one, or after the plan that
    asked for it was first saved when they never met."""
    return (last_met or planned_on) + timedelta(days=t.every_days)
