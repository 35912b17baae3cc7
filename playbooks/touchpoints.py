"""Touchpoint plans: which of our roles meets which customer role, how often.

An account plan lists them (`touchpoints:`); a contact logged with a customer_role meets
one when its person plays our side: the account's owner, its sponsor, or a member of the
named department. kamflow.touchpoints lists the ones overdue; the sweep makes a task of
each one that comes due (kamflow.store.touchpoint_tasks), shaped here: its occurrence key,
title and RACI.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from kamflow.playbooks.schema import KEY, Escalation, Model, NoContact, Step


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


STEP_KEY = "touchpoint"  # the task's step is `<state>.touchpoint`
DEADLINE_DAYS = 7
_PLAIN = re.compile(r"^[a-z0-9 ]+$")
_ROOM = 26  # 40 (the period column) - len("tp:") - len("@YYYY-MM-DD") - 1 spare


def ident(t: Touchpoint) -> str:
    """`<ours>:<theirs slug>`, at most 26 characters and one per touchpoint: a role that is
    not plain words, or too long, is cut and given a hash of the whole ('~' marks it)."""
    slug = t.theirs.replace(" ", "-")
    text = f"{t.ours}:{slug}"
    if _PLAIN.match(t.theirs) and len(text) <= _ROOM:
        return text
    digest = hashlib.sha1(f"{t.ours}:{t.theirs}".encode()).hexdigest()[:8]
    return f"{text[:_ROOM - 9]}~{digest}"


def period(t: Touchpoint, anchor: date) -> str:
    """The task's occurrence key: one task per touchpoint and anchor."""
    return f"tp:{ident(t)}@{anchor.isoformat()}"


def title(t: Touchpoint) -> str:
    return f"Touchpoint: {t.ours} meets {t.theirs} (every {t.every_days} days)"


def step(t: Touchpoint) -> Step:
    """The step a touchpoint task is routed as: `ours` Responsible, the owner Accountable
    (the owner's lead when the owner is the one to meet them). Never in a playbook."""
    raci = {"owner": "R", "owner.lead": "A"} if t.ours == "owner" else {t.ours: "R",
                                                                         "owner": "A"}
    return Step(key=STEP_KEY, title=title(t), deadline_days=DEADLINE_DAYS, raci=raci,
                cadence=NoContact(kind="no_contact", days=t.every_days),
                escalation=Escalation(after_days=DEADLINE_DAYS, then_days=DEADLINE_DAYS))
