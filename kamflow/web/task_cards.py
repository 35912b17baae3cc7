"""What a task card shows (My queue, the department queue, an action's answer): the
account, the step's requirements, the snooze limit, the days to the due date and which
actions the viewer may take on it."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from kamflow import access, views
from kamflow.access import Forbidden
from kamflow.activation import current as active_book
from kamflow.people import Principal
from kamflow.tasks.status import snooze_limit

if TYPE_CHECKING:
    from sqlalchemy import Connection


def cards(conn: Connection, tasks: list[dict[str, Any]], mode: str, user: Principal,
          today: date) -> list[dict[str, Any]]:
    """Tasks with what their card shows: account, step requirements, snooze limit, days."""
    accounts = views.accounts_of(conn, (t["account_id"] for t in tasks))
    steps = views.steps_of(conn, tasks)
    out = []
    for t in tasks:
        step = steps.get((t["playbook_version"], t["step"]))
        out.append({
            "task": t, "mode": mode,
            "account": accounts.get(t["account_id"], {"name": t["account_id"], "klass": None}),
            "requires": step.requires if step else None,
            "snooze_max": snooze_limit(t["due"], today, step) if step else None,
            "snooze_min": today + timedelta(days=1),
            "days": (t["due"] - today).days,
            "may_work": may(access.may_work_task, user, t),
            "may_claim": t.get("queue") is not None and t["queue"] == user.department,
        })
    return out


def may(check: Any, user: Principal, task: dict[str, Any]) -> bool:
    try:
        check(user, SimpleNamespace(**task), "work")
    except Forbidden:
        return False
    return True


def extras(conn: Connection, tasks: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    """What the cards' forms offer: the contact channels; for queue cards, each queue's
    members to assign to."""
    channels = list(active_book(conn).organization.contact_channels)
    members: dict[str, list[dict[str, str]]] = {}
    if mode == "queue":
        for q in {t["queue"] for t in tasks if t.get("queue")}:
            members[q] = views.members(conn, q)
    return {"channels": channels, "members": members}
