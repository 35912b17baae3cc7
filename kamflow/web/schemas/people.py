"""Audit, people, tokens, the session, the portfolio and health."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field

from kamflow.web.schemas.base import (
    Email,
    Input,
    Key,
    Label,
    Moment,
    Name,
    Output,
    Password,
    Role,
    Secret,
    Short,
)

# -- audit ---------------------------------------------------------------------------------


class AdherenceRow(Output):
    group: str
    due: int
    done_on_time: int
    done_late: int
    skipped: int
    missed: int  # still open when the next occurrence opened
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
    tasks_checked: int  # task rows checked against their creation events' digests
    task_problems: list[str]  # the first 20: "task 12: edited (...)"
    anchored: bool  # a checkpoint key is configured (KAMFLOW_AUDIT_KEY)
    checkpoint_event: int | None  # the event the newest good checkpoint signed
    head_problems: list[str]
    counts_checked: int  # board-count cells (task_tally) checked against the tasks
    count_problems: list[str]


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
