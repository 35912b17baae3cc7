"""Store reads that only the pages need (aggregate queries; no web framework here).

The pages call the same use cases as the API (kamflow.queue, accounts, audit, portfolio);
what those do not answer is read here: the class of the accounts on a board, a
department's members, the weekly on-time rate, escalated tasks, revenue per account for the
portfolio matrix, an account's contacts, feedback and revenue per month.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.sql.elements import ColumnElement

from kamflow.access import LEAD
from kamflow.playbooks.schema import Step
from kamflow.store.facts import trailing_12_months
from kamflow.store.tables import ACCOUNT, CONTACT, FEEDBACK, PERSON, REVENUE, TASK
from kamflow.store.versions import book_of


def accounts_of(conn: Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """id -> name, class, state, key-account flag and its reason of the given accounts."""
    wanted = sorted(set(ids))
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(wanted), 900):  # SQLite's bound-parameter limit
        q = select(ACCOUNT.c.id, ACCOUNT.c.name, ACCOUNT.c.klass, ACCOUNT.c.state,
                   ACCOUNT.c.key_account, ACCOUNT.c.key_reason).where(
            ACCOUNT.c.id.in_(wanted[i : i + 900])
        )
        out.update({r.id: dict(r._mapping) for r in conn.execute(q)})
    return out


def members(conn: Connection, department: str, limit: int | None = None
            ) -> list[dict[str, str]]:
    """The active people of a department (the first `limit` by name): email, name, role."""
    q = (select(PERSON.c.email, PERSON.c.name, PERSON.c.role)
         .where(PERSON.c.department == department, PERSON.c.active.is_(True))
         .order_by(PERSON.c.name).limit(limit))
    return [dict(r._mapping) for r in conn.execute(q)]


# People offered as a list (a plan's contacts, a board's members) in full up to this many;
# beyond, the page offers the account's own people or asks for an email
SUGGESTED = 200


def plan_contacts(conn: Connection, owner: str, sponsor: str | None, named: Iterable[str]
                  ) -> list[str]:
    """Whom a plan form offers as our side of a relationship (any active person may be typed):
    everyone in a company of up to SUGGESTED people; in a larger one the account's owner and
    sponsor, those the plan names already and each department's lead. Every person of a
    20,000-person company was 900 KiB of the account page's 963 KiB."""
    active = PERSON.c.active.is_(True)
    everyone = list(conn.execute(select(PERSON.c.email).where(active).order_by(PERSON.c.email)
                                 .limit(SUGGESTED + 1)).scalars())
    if len(everyone) <= SUGGESTED:
        return everyone
    leads = conn.execute(select(PERSON.c.email).where(active, PERSON.c.role == LEAD))
    return sorted({owner, *([sponsor] if sponsor else []), *named, *leads.scalars()} - {""})


def steps_of(conn: Connection, tasks: Iterable[dict[str, Any]]) -> dict[tuple[str, str], Step]:
    """(playbook version, "state.key") -> the step, for the tasks given."""
    out: dict[tuple[str, str], Step] = {}
    for version in {t["playbook_version"] for t in tasks}:
        book = book_of(conn, version)
        for state, pb in book.states.items():
            for s in pb.steps:
                out[(version, f"{state}.{s.key}")] = s
    return out


# -- adherence extras -------------------------------------------------------------------


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Week:
    start: date
    due: int
    on_time: int

    @property
    def rate(self) -> float | None:
        return self.on_time / self.due if self.due else None


def escalated(conn: Connection, start: date, end: date, limit: int = 50,
              scope: ColumnElement[bool] | None = None) -> tuple[int, list[dict[str, Any]]]:
    """Tasks due in [start, end] that were escalated: how many, and the latest ones."""
    cond = [TASK.c.due.between(start, end), TASK.c.escalation_level > 0]
    if scope is not None:
        cond.append(scope)
    n = conn.execute(select(func.count()).select_from(TASK).where(*cond)).scalar_one()
    q = (select(TASK.c.id, TASK.c.account_id, TASK.c.step, TASK.c.title, TASK.c.due, TASK.c.status,
                TASK.c.assignee, TASK.c.queue, TASK.c.escalation_level, TASK.c.escalated_at)
         .where(*cond).order_by(TASK.c.escalated_at.desc(), TASK.c.id.desc()).limit(limit))
    return int(n), [dict(r._mapping) for r in conn.execute(q)]


# -- the portfolio ----------------------------------------------------------------------


@dataclass(frozen=True)
class AccountRevenue:
    id: str
    name: str
    klass: str | None
    state: str
    potential: float
    revenue: float

    @property
    def gap(self) -> float:
        return max(self.potential - self.revenue, 0.0)


def revenue_by_account(conn: Connection, at: datetime) -> list[AccountRevenue]:
    """Every account with its potential and trailing-12-month revenue as of `at`."""
    rev = (select(REVENUE.c.account_id, func.sum(REVENUE.c.amount).label("t12"))
           .where(trailing_12_months(at)).group_by(REVENUE.c.account_id).subquery())
    q = (select(ACCOUNT.c.id, ACCOUNT.c.name, ACCOUNT.c.klass, ACCOUNT.c.state, ACCOUNT.c.potential,
                func.coalesce(rev.c.t12, 0).label("t12"))
         .select_from(ACCOUNT.outerjoin(rev, rev.c.account_id == ACCOUNT.c.id)).order_by(ACCOUNT.c.id))
    return [AccountRevenue(r.id, r.name, r.klass, r.state, float(r.potential or 0),
                           float(r.t12 or 0)) for r in conn.execute(q)]


def sample(rows: list[AccountRevenue], at_most: int) -> list[AccountRevenue]:
    """Every k-th account (by id) when there are more than `at_most`."""
    if len(rows) <= at_most:
        return rows
    step = len(rows) / at_most
    return [rows[int(i * step)] for i in range(at_most)]


# -- one account ------------------------------------------------------------------------


def contacts(conn: Connection, account_id: str, limit: int = 20) -> list[dict[str, Any]]:
    q = (
        select(
            CONTACT.c.date, CONTACT.c.channel, CONTACT.c.person_email, CONTACT.c.nature, CONTACT.c.note
        )
        .where(CONTACT.c.account_id == account_id)
        .order_by(CONTACT.c.date.desc(), CONTACT.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in conn.execute(q)]


def feedback(conn: Connection, account_id: str, limit: int = 20) -> list[dict[str, Any]]:
    q = (select(FEEDBACK.c.date, FEEDBACK.c.score, FEEDBACK.c.comment, FEEDBACK.c.task_id)
         .where(FEEDBACK.c.account_id == account_id).order_by(FEEDBACK.c.date.desc()).limit(limit))
    return [dict(r._mapping) for r in conn.execute(q)]


def monthly_revenue(conn: Connection, account_id: str, first: date, end: date
                    ) -> dict[date, float]:
    """An account's revenue per month (its first day) in [first, end), all product lines."""
    q = (select(REVENUE.c.month, func.sum(REVENUE.c.amount))
         .where(REVENUE.c.account_id == account_id, REVENUE.c.month >= first,
                REVENUE.c.month < end)
         .group_by(REVENUE.c.month))
    return {month: float(total or 0) for month, total in conn.execute(q).tuples()}
