"""Request and response models of the REST API, with the constraints the store needs:
no text can carry a NUL or an unpaired surrogate (PostgreSQL and SQLite refuse them),
no text is longer than its column, dates stay within 1970-2999, ids within 32 bits."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from kamflow.people import ROLES

EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)
MAX_ID = 2**31 - 1


def clean(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode text") from None
    return value


def _utc(moment: datetime) -> datetime:
    """The store keeps naive UTC; the API says so (RFC 3339: `...Z`)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _in_range(day: date) -> date:
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return day


def _text(max_length: int, min_length: int = 0, strip: bool = False) -> StringConstraints:
    return StringConstraints(min_length=min_length, max_length=max_length,
                             strip_whitespace=strip)


Clean = AfterValidator(clean)
Name = Annotated[str, _text(200, 1), Clean]
Key = Annotated[str, _text(64, 1), Clean]  # account ids, states, departments, events, channels
Label = Annotated[str, _text(100, 1), Clean]
Short = Annotated[str, _text(254), Clean]
Ref = Annotated[str, _text(200), Clean]  # account_event.ref
Line = Annotated[str, _text(2000), Clean]
Note = Annotated[str, _text(10_000), Clean]
Reason = Annotated[str, _text(2000, 1, strip=True), Clean]
Secret = Annotated[str, _text(256), Clean]
Password = Annotated[str, _text(256, 10), Clean]
Email = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=254,
                                         pattern=r"^[^@\s]+@[^@\s]+$"), Clean]
Day = Annotated[date, AfterValidator(_in_range)]
Moment = Annotated[datetime, AfterValidator(_utc)]  # in responses
Role = Literal["account_manager", "department_lead", "manager", "admin"]
assert set(ROLES) == {"account_manager", "department_lead", "manager", "admin"}


class Input(BaseModel):
    """Request bodies: unknown fields are an error, so a typo is not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(populate_by_name=True, from_attributes=True)


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

    yaml: Annotated[str, _text(200_000, 1)]


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
    date: Day | None = Field(default=None, description="Day of the contact; default: today.")


class ContactOut(Output):
    account_id: str
    channel: str
    date: date
    checks_completed: int


class EventIn(Input):
    event: Key
    ref: Ref = ""


class EventOut(Output):
    account_id: str
    event: str
    ref: str
    tasks_created: int


# -- tasks ---------------------------------------------------------------------------------


class TaskOut(Output):
    id: int
    account_id: str
    step: str
    period: str
    title: str
    status: str
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


# -- audit ---------------------------------------------------------------------------------


class AdherenceRow(Output):
    group: str
    due: int
    done_on_time: int
    done_late: int
    skipped: int
    open_overdue: int
    open_not_yet_due: int
    cancelled: int
    on_time_rate: float | None
    median_lateness_days: float | None
    skip_reasons: dict[str, int]


class AdherenceOut(Output):
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    as_of: date
    by: str
    rows: list[AdherenceRow]


class AuditEventOut(Output):
    id: int
    at: Moment
    actor: str
    entity: str
    entity_id: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    prev_hash: str
    hash: str


class VerifyOut(Output):
    intact: bool
    events: int
    broken_at: int | None
    reason: str | None


# -- people, tokens, me --------------------------------------------------------------------


class PersonOut(Output):
    email: str
    name: str
    department: str
    role: str
    active: bool
    can_log_in: bool


class PersonIn(Input):
    email: Email
    name: Name
    department: Key
    role: Role
    password: Password | None = Field(None, description="Without one, the person cannot log in.")


class PasswordIn(Input):
    password: Password


class MyPasswordIn(Input):
    current: Secret
    password: Password


class DeactivateIn(Input):
    to: Email | None = Field(None, description="Hand accounts and open tasks to this person.")
    to_department: Key | None = Field(
        None, description="Or: open tasks to this department's queue, accounts to its lead.")


class DeactivatedOut(Output):
    email: str
    accounts: int
    sponsored: int
    tasks: int
    accountable: int


class LoginIn(Input):
    email: Short
    password: Secret


class MeOut(Output):
    email: str
    name: str
    role: str
    department: str
    via: str = Field(description="session, or token")
    csrf_token: str | None = Field(None, description="Send it back as X-CSRF-Token on changes")


class TokenIn(Input):
    name: Label
    email: Email | None = Field(None, description="Whose token (admins only); default: yours.")


class TokenOut(Output):
    id: int
    email: str
    name: str
    created_at: Moment
    revoked_at: Moment | None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret: shown this once, never again")


class CalendarOut(Output):
    url: str = Field(description="Your iCalendar feed; the previous URL no longer works")


# -- portfolio -----------------------------------------------------------------------------


class ClassFigures(Output):
    accounts: int
    revenue_t12: float
    potential: float
    states: dict[str, int]


class PortfolioOut(Output):
    as_of: str
    states: list[str]
    accounts: int
    revenue_t12: float
    key_accounts: int
    key_revenue_share: float
    wallet_gap: float
    classes: dict[str, ClassFigures]


class HealthOut(Output):
    status: str
    detail: str | None = None
