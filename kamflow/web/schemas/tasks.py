"""Tasks and the playbooks they come from."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field

from kamflow.web.schemas.base import (
    MAX_ID,
    Day,
    Email,
    Input,
    Key,
    Line,
    Moment,
    Note,
    Output,
    Reason,
)

# -- tasks ---------------------------------------------------------------------------------


class TaskOut(Output):
    id: int
    account_id: str
    step: str
    period: str
    title: str
    status: str = Field(description="open, snoozed, done, skipped, cancelled, or missed "
                        "(still live when the next occurrence opened)")
    start: date
    due: date
    assignee: str | None
    queue: str | None
    responsible_dept: str
    accountable: str | None
    accountable_dept: str
    co_responsible: list[str]
    consulted: list[str]
    informed: list[str]
    escalation_level: int
    snoozed_until: date | None
    outcome: str | None
    reason: str | None
    playbook_version: str
    why: dict[str, Any]
    done_at: Moment | None
    done_by: str | None
    roles: str = Field("", description="R, A, C, I: what the filtered person or department is")


class TaskDetail(TaskOut):
    state: str
    note: str | None
    fields: dict[str, Any]
    evidence: dict[str, Any] | None
    escalated_at: Moment | None
    created_at: Moment
    updated_at: Moment


class DoneIn(Input):
    outcome: Line | None = None
    note: Note | None = None
    fields: dict[Key, Line] = Field(
        default_factory=dict, description="What the step requires, e.g. {\"asked\": \"Eva\"}")


class SnoozeIn(Input):
    until: Day
    reason: Reason


class SkipIn(Input):
    reason: Reason


class ReassignIn(Input):
    to: Email


class ClaimIn(Input):
    pass


BulkAction = Literal["claim", "assign", "snooze", "done", "skip"]
MAX_BULK = 500  # kamflow.bulk_actions.MAX_TASKS


class BulkIn(Input):
    """One action on many tasks, in one transaction; each task changed or refused on its own.
    assign needs `to`; snooze `until` and `reason`; skip `reason`."""

    action: BulkAction
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        min_length=1, max_length=MAX_BULK, description="The tasks, each once")
    to: Email | None = Field(None, description="assign: the person")
    until: Day | None = Field(None, description="snooze: the day it wakes")
    reason: Reason | None = Field(None, description="snooze, skip: why")
    outcome: Line | None = Field(None, description="done: the outcome")
    note: Note | None = None
    fields: dict[Key, Line] = Field(default_factory=dict,
                                    description="done: what the steps require")


class BulkTaskOut(Output):
    id: int
    ok: bool
    status: str = Field(description="The task's status after (or as it stays, when refused)")
    code: int = Field(description="200, or what the single action answers: 403 may not, "
                                  "404 unknown (or not seen), 409 its guard refused")
    error: str = Field("", description="Why it was refused")


class BulkOut(Output):
    action: str
    changed: int
    refused: int
    results: list[BulkTaskOut]


# -- playbooks -----------------------------------------------------------------------------


class PlaybookVersionOut(Output):
    version: str
    origin: str
    loaded_at: Moment
    activated_at: Moment
    active: bool


class PlaybooksOut(Output):
    active: str | None
    versions: list[PlaybookVersionOut]


class StepOut(Output):
    key: str
    title: str
    description: str
    cadence: dict[str, Any]
    deadline_days: int
    classes: list[str]
    raci: dict[str, list[str]] = Field(description="R, A, C, I -> parties")
    escalation: dict[str, int]
    max_snooze_days: int
    requires: dict[str, Any]
    notify: str
    on_change: str


class StateOut(Output):
    key: str
    title: str
    description: str
    purpose: str
    steps: list[StepOut]


class RuleOut(Output):
    rule: str
    from_states: list[str] = Field(alias="from")
    to_state: str = Field(alias="to")
    priority: int
    when: str | None
    manual: bool
    description: str


class ActivePlaybookOut(Output):
    version: str
    initial: str
    states: list[StateOut]
    transitions: list[RuleOut]


