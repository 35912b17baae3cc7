"""Which steps apply to an account, and whom a late task escalates to: rules, no store.

The store (kamflow.store.task_writes) reads the inputs in bulk and writes the results;
what is decided in between lives here, so that it can be read and tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from kamflow.playbooks.expr import Condition
from kamflow.playbooks.loader import PlaybookSet
from kamflow.playbooks.schema import Escalation, NoContact, Step


@dataclass(frozen=True, slots=True)
class Holder:
    """An account as the task engine sees it after this sweep's transition."""

    account_id: str
    state: str
    entered: datetime
    klass: str | None
    owner: str
    sponsor: str | None
    key_account: bool = False
    portrait_fit: float | None = None
    potential: float = 0.0
    segment: str | None = None
    imported: bool = False  # the state is known since `entered` (an import), not entered then
    # Known in a sweep only (None between sweeps, so steps reading them wait for the sweep):
    revenue_share: float | None = None  # of the portfolio's trailing-12-month revenue
    top_concentration: float | None = None  # revenue share of the N largest accounts
    no_senior_sponsor: bool | None = None  # see sponsor_problem

    def classification(self) -> dict[str, object]:
        """What a step's `when` may read (playbooks.metrics.STEP_METRICS)."""
        return {"class": self.klass, "segment": self.segment, "key_account": self.key_account,
                "portrait_fit": self.portrait_fit, "potential": self.potential,
                "revenue_share": self.revenue_share, "top_concentration": self.top_concentration,
                "no_senior_sponsor": self.no_senior_sponsor}


def number(value: object) -> float | None:
    """A metric value as a number for a Holder (None for none or a non-number)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def sponsor_problem(owner: str, sponsor: str | None, people: Mapping[str, tuple[bool, str]],
                    senior: Sequence[str]) -> str | None:
    """Why `sponsor` cannot be an account's senior sponsor, or None when it can: an active
    person of a senior department (`senior`) other than the owner. `people`: email ->
    (active, department)."""
    if not sponsor:
        return "no sponsor"
    if sponsor == owner:
        return f"the sponsor {sponsor} is the owner"
    known = people.get(sponsor)
    if known is None:
        return f"the sponsor {sponsor} is not a known person"
    if not known[0]:
        return f"the sponsor {sponsor} is inactive"
    if known[1] not in senior:
        return (f"the sponsor {sponsor} is in {known[1]}, not in a senior department "
                f"({', '.join(senior)})")
    return None


def step_id(state: str, step: Step) -> str:
    return f"{state}.{step.key}"


def applicable_steps(book: PlaybookSet, holder: Holder
                     ) -> Iterator[tuple[str, Step, Condition | None]]:
    """The steps of the holder's state that its class and the steps' `when` let through, with
    the step id and the condition that let it through (for the task's why)."""
    pb = book.states.get(holder.state)
    if pb is None:
        return
    seen: dict[str, object] | None = None
    for step in pb.steps:
        if holder.klass is not None and holder.klass not in step.classes:
            continue
        sid = step_id(holder.state, step)
        when = book.step_conditions.get(sid)
        if when is not None:
            seen = seen or holder.classification()
            if not when.evaluate(seen):
                continue
        yield sid, step, when


def counts_as_contact(cadence: NoContact, channel: str) -> bool:
    """A contact on this channel satisfies the check (no channels listed: any channel)."""
    return not cadence.channels or channel in cadence.channels


def escalation_level(rule: Escalation, due: date, created: date, today: date, level: int) -> int:
    """The level a task should be at: 1 after the step's grace, 2 after the second period.
    Lateness runs from the due date, or from when the task was made if that was later:
    nobody is escalated for the time before a task existed. Never goes down."""
    late = (today - max(due, created)).days
    target = level
    if late > rule.after_days:
        target = max(target, 1)
    if late > rule.after_days + rule.then_days:
        target = 2
    return target


def escalation_target(level: int, accountable: str | None, accountable_dept: str,
                      leads: Mapping[str, str], managers: Sequence[str]) -> str:
    """Level 1 goes to the Accountable (else its department's queue); level 2 to the
    Accountable department's lead, else the first manager, else the queue."""
    if level == 1:
        return accountable or f"queue:{accountable_dept}"
    lead = leads.get(accountable_dept)
    return lead or (managers[0] if managers else f"queue:{accountable_dept}")
