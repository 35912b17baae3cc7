"""What an admin does to people beyond kamflow.people and kamflow.queue: give a person a new
role or department, and see what deactivating them would hand over before doing it.

Deactivating itself is kamflow.queue.deactivate (one transaction, audited); the preview
here reads the same rows it moves: the accounts the person owns or sponsors, the live
(open or snoozed) tasks assigned to them or naming them Accountable. Playbook versions
uploaded from the admin pages are kamflow.admin_playbooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from kamflow import filters, queue
from kamflow.engine.clock import Clock
from kamflow.errors import NotFound, Refused
from kamflow.store import audit, changes
from kamflow.store.models import ROLES
from kamflow.store.tables import ACCOUNT, DEPARTMENT, PERSON, TASK
from kamflow.store.task_writes import LIVE

SHOWN = 50  # rows of each kind the preview lists; the counts are exact


@dataclass(frozen=True)
class Handover:
    """What deactivating `email` hands to whom. `owner` gets the accounts and sponsorships
    (the person chosen, or the lead of the department chosen); open tasks go to `assignee`,
    or to the `queue` of that department. Counts use the keys kamflow.queue.deactivate
    answers with; each list holds the first SHOWN rows."""

    email: str
    name: str
    owner: str | None = None
    assignee: str | None = None
    queue: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _active_person(conn: Connection, email: str) -> Any:
    row = conn.execute(select(PERSON.c.email, PERSON.c.name, PERSON.c.role,
                              PERSON.c.department, PERSON.c.active)
                       .where(PERSON.c.email == email)).first()
    if row is None:
        raise NotFound(f"unknown person '{email}'")
    if not row.active:
        raise Refused(f"'{email}' is already deactivated")
    return row


def _lead_of(conn: Connection, department: str, leaving: str) -> str:
    """The lead who would own the accounts, as kamflow.queue.deactivate chooses them."""
    if conn.execute(select(DEPARTMENT.c.key).where(DEPARTMENT.c.key == department)).first() is None:
        raise NotFound(f"--to-department: unknown department '{department}'")
    lead = conn.execute(select(PERSON.c.email).where(
        PERSON.c.department == department, PERSON.c.role == "department_lead",
        PERSON.c.active.is_(True), PERSON.c.email != leaving).order_by(PERSON.c.email)).scalar()
    if lead is None:
        raise Refused(f"--to-department: {department} has no active lead to own the accounts")
    return str(lead)


def handover(db: Engine, email: str, to_person: str | None = None,
             to_department: str | None = None) -> Handover:
    """The preview of deactivating `email` (to nobody yet, to a person or to a department):
    refused as kamflow.queue.deactivate would refuse it."""
    with db.connect() as conn:
        me = _active_person(conn, email)
        owner = assignee = dept = None
        if to_person is not None:
            other = conn.execute(select(PERSON.c.active)
                                 .where(PERSON.c.email == to_person)).first()
            if other is None or not other.active or to_person == email:
                raise Refused(f"--to: '{to_person}' is not another active person")
            owner = assignee = to_person
        elif to_department is not None:
            owner, dept = _lead_of(conn, to_department, email), to_department
        live = TASK.c.status.in_(LIVE)
        accounts = select(ACCOUNT.c.id, ACCOUNT.c.name).order_by(ACCOUNT.c.id)
        tasks = select(TASK.c.id, TASK.c.account_id, TASK.c.title, TASK.c.due,
                       TASK.c.status).order_by(TASK.c.due, TASK.c.id)
        kinds = {"accounts": (accounts, ACCOUNT.c.owner_email == email),
                 "sponsored": (accounts, ACCOUNT.c.sponsor_email == email),
                 "tasks": (tasks, live & (TASK.c.assignee == email)),
                 "accountable": (tasks, live & (TASK.c.accountable == email))}
        counts, rows = {}, {}
        for kind, (q, where) in kinds.items():
            table = ACCOUNT if kind in ("accounts", "sponsored") else TASK
            counts[kind] = int(conn.execute(select(func.count()).select_from(table)
                                            .where(where)).scalar_one())
            rows[kind] = [dict(r._mapping) for r in conn.execute(q.where(where).limit(SHOWN))]
    return Handover(email, me.name, owner, assignee, dept, counts, rows)


def deactivate(db: Engine, email: str, to_person: str | None, to_department: str | None,
               actor: str, clock: Clock) -> dict[str, int]:
    """kamflow.queue.deactivate, for someone else than the admin acting."""
    if email == actor:
        raise Refused("you cannot deactivate yourself")
    return queue.deactivate(db, email, to_person, to_department, actor, clock)


def change_person(db: Engine, email: str, role: str, department: str, actor: str,
                  clock: Clock) -> dict[str, tuple[str, str]]:
    """A new role or department, in one transaction with its audit event; what changed
    ({field: (before, after)}, empty when nothing did). The next sweep re-reads the
    accounts the person owns or sponsors (routing may follow a department)."""
    if role not in ROLES:
        raise ValueError(f"role: '{role}' is not one of {', '.join(ROLES)}")
    with db.begin() as conn:
        filters.check(conn, department=department)
        me = _active_person(conn, email)
        if email == actor and role != me.role:
            raise Refused("role: you cannot change your own role (another admin can)")
        changed = {k: (before, after) for k, before, after in
                   (("role", me.role, role), ("department", me.department, department))
                   if before != after}
        if not changed:
            return {}
        changes.mark_people(conn, [email])
        conn.execute(update(PERSON).where(PERSON.c.email == email)
                     .values(role=role, department=department))
        audit.append(conn, [{"at": clock.now(), "actor": actor, "entity": "person",
                             "entity_id": email, "action": "changed",
                             "before": {k: v[0] for k, v in changed.items()},
                             "after": {k: v[1] for k, v in changed.items()}}])
    return changed


def departments(db: Engine) -> dict[str, str]:
    """key -> name of every department, for the forms."""
    with db.connect() as conn:
        rows = conn.execute(select(DEPARTMENT.c.key, DEPARTMENT.c.name)
                            .order_by(DEPARTMENT.c.key)).all()
    return {r.key: r.name for r in rows}
