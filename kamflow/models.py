"""The store's tables. Rows hold data and references, never playbook definitions:
a transition names the playbook version that produced it.

Times are naive UTC: the clock hands out naive UTC and bulk Core
statements compare them without per-row conversion.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

# JSONB on PostgreSQL: plain json has no equality, and upserts compare values.
Json = JSON().with_variant(JSONB(), "postgresql")

ROLES = ("account_manager", "department_lead", "manager", "admin")


class Department(SQLModel, table=True):
    key: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)


class Person(SQLModel, table=True):
    email: str = Field(primary_key=True, max_length=254)
    name: str = Field(max_length=200)
    department: str = Field(foreign_key="department.key", max_length=64, index=True)
    role: str = Field(max_length=32)
    active: bool = True


class Account(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=300)
    industry: str = Field(default="", max_length=200)
    owner_email: str = Field(foreign_key="person.email", max_length=254, index=True)
    sponsor_email: str | None = Field(default=None, foreign_key="person.email", max_length=254)
    potential: float = 0.0
    criteria: dict[str, Any] = Field(default_factory=dict, sa_column=Column(Json, nullable=False))
    state: str = Field(max_length=64, index=True)
    state_since: datetime = Field(sa_type=DateTime)
    created_at: datetime = Field(sa_type=DateTime)
    klass: str | None = Field(default=None, max_length=1, index=True)
    key_account: bool = False
    segment: str | None = Field(default=None, max_length=32)
    portrait_fit: float | None = None
    baseline_revenue: float | None = None
    classified_at: datetime | None = Field(default=None, sa_type=DateTime)


class Revenue(SQLModel, table=True):
    account_id: str = Field(foreign_key="account.id", primary_key=True, max_length=64)
    month: date = Field(primary_key=True)
    amount: float


class Contact(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("account_id", "date", "channel", "person_email", name="uq_contact_natural"),
    )
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", max_length=64)
    date: date
    channel: str = Field(max_length=32)
    person_email: str = Field(foreign_key="person.email", max_length=254)
    nature: str = Field(default="", max_length=100)
    note: str = ""


class Feedback(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("account_id", "date", name="uq_feedback_natural"),)
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", max_length=64)
    date: date
    score: int
    comment: str = ""
    # The feedback request this answers, linked by the sweep (the latest done request before it).
    task_id: int | None = Field(default=None, foreign_key="task.id")


class Transition(SQLModel, table=True):
    # At most one move per account per moment: two sweeps racing on the same
    # moment insert the same key, and only one of them gets to move the account.
    __table_args__ = (UniqueConstraint("account_id", "at", name="uq_transition_account_at"),)
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", max_length=64)
    from_state: str = Field(max_length=64)
    to_state: str = Field(max_length=64)
    at: datetime = Field(sa_type=DateTime)
    rule: str = Field(max_length=100)
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(Json, nullable=False))
    actor: str = Field(max_length=254)  # "system" for the sweep, else a person's email
    reason: str = ""
    playbook_version: str = Field(max_length=12)


class PlaybookVersion(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=12, unique=True)
    origin: str = Field(default="", max_length=500)
    sources: dict[str, Any] = Field(sa_column=Column(Json, nullable=False))
    loaded_at: datetime = Field(sa_type=DateTime)
    activated_at: datetime = Field(sa_type=DateTime)


class AuditEvent(SQLModel, table=True):
    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=DateTime)
    actor: str = Field(max_length=254)
    entity: str = Field(max_length=32)
    entity_id: str = Field(max_length=64)
    action: str = Field(max_length=32)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(Json))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(Json))
    prev_hash: str = Field(default="", max_length=64)
    hash: str = Field(default="", max_length=64)


class Task(SQLModel, table=True):
    """One occurrence of a playbook step for one account. Never deleted.

    `step` is `<state>.<step key>`; (account, step, period) is the occurrence's
    stable key, unique, so sweeps that race or rerun cannot duplicate a task.
    """

    __table_args__ = (
        UniqueConstraint("account_id", "step", "period", name="uq_task_occurrence"),
        Index("ix_task_assignee_status", "assignee", "status", "due"),
        Index("ix_task_queue_status", "queue", "status", "due"),
        Index("ix_task_status_due", "status", "due"),
        Index("ix_task_account_status", "account_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", max_length=64)
    step: str = Field(max_length=130)
    period: str = Field(max_length=40)
    state: str = Field(max_length=64)  # the lifecycle state whose playbook made it
    playbook_version: str = Field(max_length=12)
    title: str = Field(max_length=300)
    start: date
    due: date
    status: str = Field(default="open", max_length=16)
    assignee: str | None = Field(default=None, foreign_key="person.email", max_length=254)
    queue: str | None = Field(default=None, foreign_key="department.key", max_length=64)
    responsible_dept: str = Field(max_length=64)
    accountable: str | None = Field(default=None, max_length=254)  # email
    accountable_dept: str = Field(max_length=64)
    # Other parties as ",key,key," (department keys and emails): a LIKE '%,finance,%'
    # filter works the same on SQLite and PostgreSQL.
    co_responsible: str = Field(default=",", max_length=1000)
    consulted: str = Field(default=",", max_length=1000)
    informed: str = Field(default=",", max_length=1000)
    escalation_level: int = 0
    escalated_at: datetime | None = Field(default=None, sa_type=DateTime)
    snoozed_until: date | None = None
    outcome: str | None = None
    note: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict, sa_column=Column(Json, nullable=False))
    evidence: dict[str, Any] | None = Field(default=None, sa_column=Column(Json))
    reason: str | None = None  # why skipped, snoozed or cancelled
    done_at: datetime | None = Field(default=None, sa_type=DateTime)
    done_by: str | None = Field(default=None, max_length=254)
    created_at: datetime = Field(sa_type=DateTime)
    updated_at: datetime = Field(sa_type=DateTime)
    why: dict[str, Any] = Field(default_factory=dict, sa_column=Column(Json, nullable=False))


class AccountEvent(SQLModel, table=True):
    """Something another system or a person reported: quote_created, order_placed, ..."""

    __tablename__ = "account_event"
    __table_args__ = (Index("ix_event_account_at", "account_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", max_length=64)
    event: str = Field(max_length=64)
    at: datetime = Field(sa_type=DateTime)
    ref: str = Field(default="", max_length=200)  # e.g. the quote number
    actor: str = Field(max_length=254)
