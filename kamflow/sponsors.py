"""The `sponsors` report: key accounts without a valid senior sponsor.

A key account needs a senior person other than its owner who answers for it
(organization.yaml `senior_departments`); this lists every key account the last sweep
flagged whose sponsor is missing, inactive, unknown, its owner, or outside those
departments, with the owner's lead who must name one (the playbooks' senior_sponsor_missing
step makes that lead a task as well). Behind `kamflow report sponsors` and
GET /api/reports/sponsors.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from kamflow.losses import CLASSES_NOTE, NO_CLASS
from kamflow.store.directory import Directory
from kamflow.store.tables import ACCOUNT
from kamflow.store.versions import active_book
from kamflow.tasks.policy import sponsor_problem


def sponsors(conn: Connection, at: datetime) -> dict[str, Any]:
    """Every key account (flag of the last sweep) without a valid senior sponsor, owner first."""
    senior = active_book(conn).organization.senior_departments
    directory = Directory.load(conn)
    q = (select(ACCOUNT.c.id, ACCOUNT.c.name, ACCOUNT.c.klass, ACCOUNT.c.state,
                ACCOUNT.c.owner_email, ACCOUNT.c.sponsor_email, ACCOUNT.c.key_reason)
         .where(ACCOUNT.c.key_account.is_(True))
         .order_by(ACCOUNT.c.owner_email, ACCOUNT.c.id))
    rows, keys = [], 0
    for r in conn.execute(q):
        keys += 1
        problem = sponsor_problem(r.owner_email, r.sponsor_email, directory.people, senior)
        if problem is None:
            continue
        owner = directory.people.get(r.owner_email)
        rows.append({"id": r.id, "name": r.name, "class": r.klass or NO_CLASS, "state": r.state,
                     "owner": r.owner_email,
                     "owner_lead": directory.leads.get(owner[1]) if owner else None,
                     "sponsor": r.sponsor_email, "problem": problem,
                     "key_reason": r.key_reason or ""})
    return {"report": "sponsors", "as_of": at.isoformat(), "note": CLASSES_NOTE,
            "senior_departments": list(senior), "key_accounts": keys,
            "without_senior_sponsor": len(rows), "accounts": rows}
