"""The tables of signing in: API tokens, browser sessions, failed logins and their throttle,
and the keys cookies are signed with. Declared apart from kamflow.store.models (which
re-exports them) because no sweep or use case of the domain reads them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKeyConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class ApiToken(SQLModel, table=True):
    """A bearer token for scripts (kamflow.people): only its sha256 is kept; never deleted."""

    __tablename__ = "api_token"
    # Constraints are named, so that SQLite's batch migrations can refer to them.
    __table_args__ = (
        ForeignKeyConstraint(["email"], ["person.email"], name="fk_api_token_person"),
        UniqueConstraint("token_hash", name="uq_api_token_hash"),
    )
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, index=True)
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=DateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime)


class LoginAttempt(SQLModel, table=True):
    """A failed password login, kept for the rate limit (kamflow.people); a success clears
    the failures of its email and address."""

    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_email_ip_at", "email", "ip", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254)
    ip: str = Field(max_length=64)
    at: datetime = Field(sa_type=DateTime, index=True)


class WebSession(SQLModel, table=True):
    """A logged-in browser (kamflow.people): the cookie carries a random secret, the store
    keeps its sha256. Logout, a new password, deactivation revoke it at once."""

    __tablename__ = "web_session"
    id: str = Field(primary_key=True, max_length=64)  # sha256 of the cookie's secret
    email: str = Field(max_length=254, index=True)
    created_at: datetime = Field(sa_type=DateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime)
    revoked_why: str | None = Field(default=None, max_length=32)


class LoginThrottle(SQLModel, table=True):
    """Failed logins per key: "pair:<email>|<address>", "addr:<address>", "email:<email>",
    "all". One row per key, changed under its row lock, so counting and recording are one
    step (kamflow.store.throttle)."""

    __tablename__ = "login_throttle"
    key: str = Field(primary_key=True, max_length=340)
    failures: int = 0  # within the window; a try in flight counts until it succeeds
    last_at: datetime = Field(sa_type=DateTime)  # latest failure; quiet for a window: reset
    next_at: datetime | None = Field(default=None, sa_type=DateTime)  # no try before this


class WebSecret(SQLModel, table=True):
    """Keys the web app signs session cookies with, made on first use when
    KAMFLOW_SECRET_KEY is not set, so every process of one installation agrees."""

    __tablename__ = "web_secret"
    name: str = Field(primary_key=True, max_length=32)
    value: str = Field(max_length=128)
    created_at: datetime = Field(sa_type=DateTime)
