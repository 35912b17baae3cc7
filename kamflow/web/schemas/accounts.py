"""Accounts, their plans, moves, contacts and events."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field

from kamflow.web.schemas.base import (
    Day,
    Input,
    Key,
    Label,
    Moment,
    Note,
    Output,
    Reason,
    Ref,
    bounded,
)

# -- accounts ------------------------------------------------------------------------------


class AccountOut(Output):
    id: str
    name: str
    owner_email: str
    state: str
    state_since: Moment
    klass: str | None = Field(alias="class")
    segment: str | None
    key_account: bool
    portrait_fit: float | None
    potential: float
    retention_score: float | None = None  # as of the last sweep: the list sorts on it


class TransitionOut(Output):
    at: str
    from_state: str = Field(alias="from")
    to_state: str = Field(alias="to")
    rule: str
    condition: str | None
    description: str
    metrics: dict[str, Any]
    actor: str
    reason: str
    playbook_version: str


class RetentionFactorOut(Output):
    """One stability factor's part of the retention score."""

    factor: str
    title: str
    value: float | None
    score: float
    weight: float
    points: float


class AccountDetail(Output):
    """What `kamflow account show` prints: why the account is where it is."""

    id: str
    name: str
    industry: str
    owner: str
    sponsor: str | None
    state: str
    state_since: str
    as_of: str
    playbook_version: str | None
    klass: str = Field(alias="class")
    potential_level: str
    contribution_level: str
    segment: str
    key_account: bool
    key_reason: str = ""  # the key-account tests it passes, in words
    portrait_fit: float
    portrait: dict[str, float]
    metrics: dict[str, Any]
    baseline_revenue: float | None
    retention_score: float | None
    retention: list[RetentionFactorOut]
    transitions: list[TransitionOut]


# -- account plans -------------------------------------------------------------------------


class PlanIn(Input):
    """The plan as the YAML document `kamflow plan template` describes."""

    yaml: Annotated[str, bounded(200_000, 1)]


class PlanChange(Output):
    field: str
    before: Any
    after: Any


class PlanSaved(Output):
    account: str
    fiscal_year: int
    revision: int
    unchanged: bool
    changes: list[PlanChange]


class PlanEntryOut(Output):
    at: str
    kind: str
    period: str
    task: int | None
    actor: str
    revision: int
    outcome: str | None
    note: str | None
    fields: dict[str, Any]
    revenue_fy: float | None
    target_fy: float | None
    attainment: float | None
    changes: list[PlanChange]


class PlanAttainment(Output):
    revenue_fy: float
    target_fy: float | None
    attainment: float | None
    target_revenue: float | None


class PlanOut(Output):
    """`kamflow plan show --json`: the document, attainment now, evaluations and history."""

    account: str
    fiscal_year: int
    revision: int
    updated_at: str
    updated_by: str
    as_of: str
    attainment: PlanAttainment
    closeness: float | None
    document: dict[str, Any]
    evaluations: list[PlanEntryOut]
    history: list[PlanEntryOut]


class MoveIn(Input):
    state: Key
    reason: Reason


class MovedOut(Output):
    account_id: str
    from_state: str = Field(alias="from")
    to_state: str = Field(alias="to")
    rule: str
    at: Moment


class ContactIn(Input):
    channel: Key
    note: Note = ""
    customer_role: Label | None = Field(default=None, description="Whom we met at the customer, "
                                        "e.g. purchasing director (touchpoint plans).")
    date: Day | None = Field(default=None, description="Day of the contact; default: today.")


class ContactOut(Output):
    account_id: str
    channel: str
    date: date
    checks_completed: int


class EventIn(Input):
    event: Key
    ref: Ref = ""
    outcome: Literal["won", "lost", "open"] | None = Field(
        default=None, description="A quote event's outcome (default open); the same ref again "
        "records the quote's new outcome.")
    amount: float | None = Field(default=None, ge=0, allow_inf_nan=False,
                                 description="A quote event's amount.")


class EventOut(Output):
    account_id: str
    event: str
    ref: str
    tasks_created: int
    outcome: str | None = None
    amount: float | None = None


