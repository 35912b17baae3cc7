"""Touchpoint check: the meetings the account plans ask for (who of ours meets which
customer role, how often) that are overdue, like the contact-frequency check but per role.

A contact logged with a customer_role counts for a touchpoint when its person plays our
side (playbooks.touchpoints.meets). Never met: due every_days after the plan that asked for
it was first saved. This is the report behind `kamflow plan touchpoints`; the sweep makes a
task of each one that comes due (kamflow.store.touchpoint_tasks).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from kamflow.engine.metrics import fiscal_year_start
from kamflow.playbooks.touchpoints import Touchpoint, due, meets
from kamflow.store import touchpoints as store
from kamflow.store.versions import active_book


def check(conn: Connection, at: datetime, owner: str | None = None, overdue_only: bool = True
          ) -> dict[str, Any]:
    """Every planned touchpoint of the latest plans (overdue ones only unless asked), most
    overdue first."""
    today = at.date()
    fsm = active_book(conn).organization.fiscal_year_start_month
    year = fiscal_year_start(date(today.year, today.month, 1), fsm).year
    plans = store.planned(conn, year, owner)
    met = store.last_met(conn, [p.account_id for p in plans], today)
    rows: list[dict[str, Any]] = []
    for p in plans:
        for item in p.touchpoints:
            t = Touchpoint.model_validate(item)
            last = max((day for role, person, dept, day in met.get(p.account_id, [])
                        if role == t.theirs and meets(t, person, dept, p.owner, p.sponsor)),
                       default=None)
            when = due(t, last, p.planned_on)
            late = (today - when).days
            if overdue_only and late <= 0:
                continue
            rows.append({"account": p.account_id, "name": p.name, "owner": p.owner,
                         "ours": t.ours, "theirs": t.theirs, "every_days": t.every_days,
                         "last_met": last.isoformat() if last else None,
                         "due": when.isoformat(), "days_overdue": max(0, late),
                         "plan": f"FY{p.fiscal_year}",
                         "no_sponsor": t.ours == "sponsor" and p.sponsor is None})
    rows.sort(key=lambda r: (-r["days_overdue"], r["account"], r["ours"], r["theirs"]))
    return {"as_of": at.isoformat(), "overdue": sum(1 for r in rows if r["days_overdue"] > 0),
            "touchpoints": rows}
