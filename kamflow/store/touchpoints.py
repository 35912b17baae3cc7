"""What the touchpoint check reads: each account's latest plan up to a fiscal year with the
touchpoints it lists, and the last day each of our people met each customer role there."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select

from kamflow.store.scope import Scope
from kamflow.store.tables import ACCOUNT, ACCOUNT_PLAN, CONTACT, PERSON


@dataclass(frozen=True, slots=True)
class Planned:
    account_id: str
    name: str
    owner: str
    sponsor: str | None
    fiscal_year: int
    planned_on: date  # the plan's first save
    touchpoints: list[dict[str, Any]]  # as the document stores them
    revision: int = 1


def planned(conn: Connection, fiscal_year: int, owner: str | None = None,
            scope: Scope | None = None) -> list[Planned]:
    """Accounts whose latest plan (of `fiscal_year` or before) lists touchpoints; only those
    of a sweep chunk's `scope` when given."""
    ranked = (
        select(ACCOUNT_PLAN.c.account_id, ACCOUNT_PLAN.c.fiscal_year, ACCOUNT_PLAN.c.document,
               ACCOUNT_PLAN.c.created_at, ACCOUNT_PLAN.c.revision,
               func.row_number().over(partition_by=ACCOUNT_PLAN.c.account_id,
                                      order_by=ACCOUNT_PLAN.c.fiscal_year.desc()).label("rn"))
        .where(ACCOUNT_PLAN.c.fiscal_year <= fiscal_year)
    )
    if scope is not None:
        ranked = ranked.where(scope.where(ACCOUNT_PLAN.c.account_id))
    plans = ranked.subquery()
    q = (select(ACCOUNT.c.id, ACCOUNT.c.name, ACCOUNT.c.owner_email, ACCOUNT.c.sponsor_email,
                plans.c.fiscal_year, plans.c.created_at, plans.c.document, plans.c.revision)
         .join(plans, plans.c.account_id == ACCOUNT.c.id)
         .where(plans.c.rn == 1)
         .order_by(ACCOUNT.c.id))
    if owner:
        q = q.where(ACCOUNT.c.owner_email == owner)
    return [Planned(r.id, r.name, r.owner_email, r.sponsor_email, r.fiscal_year,
                    r.created_at.date(), list(r.document.get("touchpoints") or []), r.revision)
            for r in conn.execute(q) if r.document.get("touchpoints")]


def last_met(conn: Connection, account_ids: Sequence[str], until: date
             ) -> dict[str, list[tuple[str, str, str | None, date]]]:
    """Per account: (customer role, our person, their department, last day met) up to
    `until`, for contacts that name a customer role."""
    out: dict[str, list[tuple[str, str, str | None, date]]] = {}
    ids = sorted(account_ids)
    for start in range(0, len(ids), 1000):
        q = (select(CONTACT.c.account_id, CONTACT.c.customer_role, CONTACT.c.person_email,
                    PERSON.c.department, func.max(CONTACT.c.date).label("last"))
             .join(PERSON, PERSON.c.email == CONTACT.c.person_email)
             .where(CONTACT.c.account_id.in_(ids[start:start + 1000]),
                    CONTACT.c.customer_role != "", CONTACT.c.date <= until)
             .group_by(CONTACT.c.account_id, CONTACT.c.customer_role, CONTACT.c.person_email,
                       PERSON.c.department))
        for account_id, role, person, dept, last in conn.execute(q).tuples():
            if isinstance(last, str):  # SQLite hands MAX(date) back as text
                last = date.fromisoformat(last)
            out.setdefault(account_id, []).append((role, person, dept, last))
    return out
