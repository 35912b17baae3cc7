"""The store's tables. Rows hold data and references, never playbook definitions:
a transition names the playbook version that produced it.

Times are naive UTC: the clock hands out naive UTC and bulk Core
statements compare them without per-row conversion.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Field, SQLModel, col

# The sign-in tables are declared in their own module and registered with the same metadata.
from kamflow.store.signin_models import ApiToken as ApiToken
from kamflow.store.signin_models import LoginAttempt as LoginAttempt
from kamflow.store.signin_models import LoginThrottle as LoginThrottle
from kamflow.store.signin_models import WebSecret as WebSecret
from kamflow.store.signin_models import WebSession as WebSession

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
    # Web sign-in (kamflow.people): an argon2 hash; None means the person cannot log in.
    password_hash: str | None = Field(default=None, sa_type=Text)
    # sha256 of the secret in the person's iCalendar feed URL (kamflow.web.calendar), or None.
    calendar_token: str | None = Field(default=None, max_length=64, unique=True, index=True)


class AuditCheckpoint(SQLModel, table=True):
    """A signed statement "the trail ends at event `event_id`, whose hash is `head`, after
    `events` events" (kamflow.store.anchor): HMAC-SHA256 with a key kept outside the database."""

    __tablename__ = "audit_checkpoint"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=DateTime)
    event_id: int
    events: int
    head: str = Field(max_length=64)
    prev_mac: str = Field(default="", max_length=64)
    mac: str = Field(max_length=64)


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
    # True while the state is the one an import gave without a state_since: known since
    # then, not entered then ("on entry" steps do not fire for it).
    state_imported: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(sa_type=DateTime)
    klass: str | None = Field(default=None, max_length=1, index=True)
    key_account: bool = False
    # The key-account tests it passed, in words (classification.yaml key_account).
    key_reason: str | None = Field(default=None, max_length=500)
    segment: str | None = Field(default=None, max_length=32)
    portrait_fit: float | None = None
    baseline_revenue: float | None = None
    classified_at: datetime | None = Field(default=None, sa_type=DateTime)
    # Change tracking (kamflow.store.changes): new data since the last sweep marks the
    # account; `wake_at` is the earliest moment time alone can change its outcome.
    # The daily sweep reads marked accounts and those whose wake-up has come, nothing else.
    changed: bool = Field(default=True, index=True, sa_column_kwargs={"server_default": "1"})
    wake_at: datetime | None = Field(default=None, sa_type=DateTime, index=True)
    # The retention score (0-100) as of the last sweep that read the account; None when
    # classification.yaml declares no retention factors (the accounts list filters and sorts
    # by it).
    retention_score: float | None = None
    # Trailing-12-month revenue as the last sweep that read the account summed it, for the
    # window ending before `t12_window` (the first of that sweep's month): the portfolio
    # figures read it instead of every account's revenue rows while the account is unmarked
    # and the window has not moved (kamflow.store.facts.stats).
    revenue_t12: float | None = None
    t12_window: date | None = None
    # The potential as that sweep read it: with revenue_t12, what the figures it classified
    # with counted for this account. A daily sweep keeps those figures while no account's
    # pair moved (kamflow.sweep.prepare) instead of reading every account again.
    potential_read: float | None = None


class NameKey(FunctionElement[str]):
    """lower(x), compared byte by byte on both databases (COLLATE "C" on PostgreSQL), so the
    accounts list sorts by it and finds a name prefix as one range of ix_account_name
    whatever the database's locale."""

    type = String()
    name = "name_key"
    inherit_cache = True


@compiles(NameKey)
def _name_key(element: NameKey, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(NameKey, "postgresql")
def _name_key_postgresql(element: NameKey, compiler: Any, **kw: Any) -> str:
    return f'lower({compiler.process(element.clauses, **kw)}) COLLATE "C"'


# The accounts list (kamflow.store.account_search): each sort it offers is an index on
# (sort key, id), read in keyset order.
# An account without a score sorts as -1, below every score (the same on both databases);
# the score itself is in the index too, so PostgreSQL counts a band from the index alone.
RETENTION_KEY = func.coalesce(col(Account.retention_score), literal_column("-1"))
Index("ix_account_name", NameKey(col(Account.name)), col(Account.id))
Index("ix_account_retention", RETENTION_KEY, col(Account.id), col(Account.retention_score))
Index("ix_account_potential", col(Account.potential), col(Account.id))
Index("ix_account_key", col(Account.key_account), col(Account.klass))  # key accounts (of a class)


class Setting(SQLModel, table=True):
    """What the organization's process remembers about itself: go_live, last_sweep (ISO), the
    portfolio figures the last sweep classified with (JSON)."""

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_type=Text)
    updated_at: datetime = Field(sa_type=DateTime)


class Revenue(SQLModel, table=True):
    account_id: str = Field(foreign_key="account.id", primary_key=True, max_length=64)
    month: date = Field(primary_key=True)
    # '' when revenue.csv gives the month's total without a product line.
    product_line: str = Field(default="", primary_key=True, max_length=64,
                              sa_column_kwargs={"server_default": ""})
    amount: float


class Margin(SQLModel, table=True):
    """Gross margin (revenue less the cost to serve) per account and month (margin.csv)."""

    account_id: str = Field(foreign_key="account.id", primary_key=True, max_length=64)
    month: date = Field(primary_key=True)
    margin: float  # may be negative: the account cost more than it brought


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
    customer_role: str = Field(default="", max_length=100)  # whom we met, e.g. purchasing director


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
        Index("ix_task_status_due", "status", "due", "id"),  # a page in (due, id) order
        Index("ix_task_status_done", "status", "done_at"),  # the tasks done lately
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


class TaskParty(SQLModel, table=True):
    """A task's parties, one row per (letter, kind, name), kept with the task by
    kamflow.store.parties: "tasks where X is R, A, C or I" is an index lookup, not a LIKE
    over every task. kind: person (assignee, accountable), dept (responsible_dept,
    accountable_dept), queue, named (a name in co_responsible, consulted or informed).
    `live` repeats "the task is open or snoozed", so a queue reads its live work, not the
    party's whole history; `due` repeats the task's due date (which never changes), so a
    page of a party's live tasks by due date is a walk of ix_task_party_due in order that
    stops at the page's end, not a sort of all of them."""

    __tablename__ = "task_party"
    __table_args__ = (ForeignKeyConstraint(["task_id"], ["task.id"], name="fk_task_party_task"),
                      Index("ix_task_party_party", "party", "live", "letter", "kind", "task_id"),
                      Index("ix_task_party_due", "party", "live", "due", "task_id", "letter",
                            "kind"))
    task_id: int = Field(primary_key=True)
    letter: str = Field(primary_key=True, max_length=1)  # R | A | C | I
    kind: str = Field(primary_key=True, max_length=8)
    party: str = Field(primary_key=True, max_length=254)  # an email or a department key
    live: bool
    due: date | None = None  # the task's; nullable only as a column added to a filled table


class TaskTally(SQLModel, table=True):
    """How many live tasks name a department, by letter (or "*": any), status, due date,
    account class ("-": none yet) and key-account flag; kept by kamflow.store.tally, so a
    board's counts are a range of this key, not a count over the department's tasks."""

    __tablename__ = "task_tally"
    party: str = Field(primary_key=True, max_length=254)
    letter: str = Field(primary_key=True, max_length=1)
    status: str = Field(primary_key=True, max_length=16)
    due: date = Field(primary_key=True)
    klass: str = Field(primary_key=True, max_length=1)
    key_account: bool = Field(primary_key=True)
    n: int


# The accounts a person owns or sponsors (kamflow.access) are read by index, both of them.
Index("ix_account_sponsor_email", col(Account.sponsor_email))
# The accounts list's "overdue work" (kamflow.store.account_search): the accounts of the open
# tasks due before a day, from the index alone; only open tasks are in it. (A query must
# say status = 'open' as a literal for SQLite to use it.)
Index("ix_task_open_due", col(Task.status), col(Task.due), col(Task.account_id),
      sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'"))
# The live tasks an older playbook version made (kamflow.store.supersede): after a new
# version, the sweep looks for them; the index holds only live tasks, so finding none reads
# nothing of the current version's. (Literal statuses again.)
Index("ix_task_live_version", col(Task.playbook_version),
      sqlite_where=text("status IN ('open', 'snoozed')"),
      postgresql_where=text("status IN ('open', 'snoozed')"))


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
    # A quote event's outcome (won | lost | open), its amount, and when it was decided.
    outcome: str | None = Field(default=None, max_length=16)
    amount: float | None = None
    decided_at: datetime | None = Field(default=None, sa_type=DateTime)


class JobRun(SQLModel, table=True):
    """One scheduled moment of one job (kamflow.jobs.registry), claimed before it runs.

    (job, scheduled_for) is unique: whoever inserts the row runs the job, so a
    moment never runs twice. `covers` counts the fire times the row stands for:
    missed moments within the grace are coalesced into one run, older ones are
    recorded as one `missed` row.
    """

    __tablename__ = "job_run"
    __table_args__ = (
        UniqueConstraint("job", "scheduled_for", name="uq_job_run_slot"),
        Index("ix_job_run_job_outcome", "job", "outcome", "scheduled_for"),
    )
    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=32)
    scheduled_for: datetime = Field(sa_type=DateTime)
    trigger: str = Field(max_length=16)  # schedule | manual
    outcome: str = Field(max_length=16)  # running | ok | error | missed
    covers: int = 1
    missed_from: datetime | None = Field(default=None, sa_type=DateTime)  # first fire time missed
    started_at: datetime | None = Field(default=None, sa_type=DateTime)
    finished_at: datetime | None = Field(default=None, sa_type=DateTime)
    seconds: float | None = None
    error: str | None = Field(default=None, sa_type=Text)
    summary: dict[str, Any] | None = Field(default=None, sa_column=Column(Json))
    host: str = Field(default="", max_length=255)
    pid: int | None = None
    attempts: int = Field(default=1, sa_column_kwargs={"server_default": "1"})  # runs of this slot
    retry_at: datetime | None = Field(default=None, sa_type=DateTime)  # when a failed slot runs again


class NotificationPref(SQLModel, table=True):
    """How one person wants to be told: channel, digest hour in their time zone, opt-outs.
    A person without a row gets the defaults (email, 08:00 UTC, nothing opted out)."""

    __tablename__ = "notification_pref"
    email: str = Field(primary_key=True, foreign_key="person.email", max_length=254)
    channel: str = Field(default="email", max_length=16)  # email | webhook | log
    webhook_url: str | None = Field(default=None, max_length=2000)
    digest_hour: int = 8  # 0-23, local time
    timezone: str = Field(default="UTC", max_length=64)  # IANA name
    opted_out: list[str] = Field(default_factory=list, sa_column=Column(Json, nullable=False))
    updated_at: datetime = Field(sa_type=DateTime)


class Outbox(SQLModel, table=True):
    """Notifications written in the transaction of the change that caused them, rendered,
    then sent by the deliverer: pending -> sending (claimed) -> sent | failed.
    `dedupe_key` makes each notification unique, so reruns and races add nothing."""

    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
                      Index("ix_outbox_status_next", "status", "next_attempt_at"))
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    recipient: str = Field(max_length=254, index=True)
    channel: str = Field(max_length=16)
    # NULL until the deliverer renders the row (kamflow.store.compose), once, at its first claim.
    subject: str | None = Field(default=None, max_length=300)
    body_txt: str | None = Field(default=None, sa_type=Text)
    body_html: str | None = Field(default=None, sa_type=Text)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(Json, nullable=False))
    dedupe_key: str = Field(max_length=400)
    created_at: datetime = Field(sa_type=DateTime)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=DateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    sent_at: datetime | None = Field(default=None, sa_type=DateTime)


class Notice(SQLModel, table=True):
    """Who is to be told about which new task (kind task_assigned | informed), unrendered:
    the digest that carries it (`digest_id`, an outbox row) renders it at delivery."""

    __table_args__ = (ForeignKeyConstraint(["task_id"], ["task.id"], name="fk_notice_task"),
                      Index("ix_notice_digest", "digest_id", "recipient"))
    task_id: int = Field(primary_key=True)
    recipient: str = Field(primary_key=True, max_length=254)
    kind: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=DateTime)
    digest_id: int | None = None


class AccountPlan(SQLModel, table=True):
    """One account's plan for one fiscal year: the document as a person wrote it (validated by
    playbooks.plan), with what the metrics read from it derived once when it is saved."""

    __tablename__ = "account_plan"
    __table_args__ = (
        UniqueConstraint("account_id", "fiscal_year", name="uq_account_plan_year"),
        ForeignKeyConstraint(["account_id"], ["account.id"], name="fk_account_plan_account"),
    )
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(max_length=64)
    fiscal_year: int  # labelled by the calendar year it starts in
    document: dict[str, Any] = Field(sa_column=Column(Json, nullable=False))
    revision: int = 1
    target_revenue: float | None = None
    monthly_targets: list[float] | None = Field(default=None, sa_column=Column(Json))  # fiscal order
    closeness: float | None = None  # influence-weighted, 1-5
    created_at: datetime = Field(sa_type=DateTime)
    updated_at: datetime = Field(sa_type=DateTime)
    updated_by: str = Field(max_length=254)


class PlanEntry(SQLModel, table=True):
    """The plan's history: each edit, each quarterly evaluation and each monthly tracking,
    with the attainment at that moment and what changed in the document since the previous
    entry of its kind. A task's entry is unique: completing it records it once."""

    __tablename__ = "plan_entry"
    __table_args__ = (
        UniqueConstraint("task_id", name="uq_plan_entry_task"),
        ForeignKeyConstraint(["plan_id"], ["account_plan.id"], name="fk_plan_entry_plan"),
        ForeignKeyConstraint(["task_id"], ["task.id"], name="fk_plan_entry_task"),
        Index("ix_plan_entry_plan", "plan_id", "at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int
    kind: str = Field(max_length=16)  # edit | draft | evaluation | tracking
    period: str = Field(default="", max_length=40)  # the task's period, e.g. FY2026-Q2
    task_id: int | None = None
    at: datetime = Field(sa_type=DateTime)
    actor: str = Field(max_length=254)
    revision: int  # of the document this entry saw
    outcome: str | None = None
    note: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict, sa_column=Column(Json, nullable=False))
    revenue_fy: float | None = None
    target_fy: float | None = None
    attainment: float | None = None
    changes: list[Any] = Field(default_factory=list, sa_column=Column(Json, nullable=False))
    document: dict[str, Any] | None = Field(default=None, sa_column=Column(Json))  # after an edit
