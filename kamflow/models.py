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
