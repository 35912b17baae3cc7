"""Working tasks: the queue and board queries, the guarded task actions, contacts,
events and deactivating a person. Each action is one transaction with its audit events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, Select, and_, select, update

from kamflow import filters, people, plans
from kamflow.engine.clock import Clock
from kamflow.engine.metrics import BadEventField, quote_fields
from kamflow.errors import NotFound, Refused
from kamflow.playbooks import touchpoints
from kamflow.playbooks.schema import Step
from kamflow.store import (
    audit,
    changes,
    events,
    locking,
    outbox,
    parties,
    task_writes,
    touchpoint_tasks,
)
from kamflow.store.bulk import upsert
from kamflow.store.tables import ACCOUNT, CONTACT, DEPARTMENT, PERSON, TASK
from kamflow.store.versions import active_book, book_of
from kamflow.tasks.status import Request, Status, TaskView, check

STATUSES = ("open", "overdue", "due-today", "upcoming", "done", "snoozed", "skipped",
            "missed", "cancelled", "all")
COLUMNS = (
    TASK.c.id,
    TASK.c.account_id,
    TASK.c.step,
    TASK.c.period,
    TASK.c.title,
    TASK.c.status,
    TASK.c.start,
    TASK.c.due,
    TASK.c.assignee,
    TASK.c.queue,
    TASK.c.responsible_dept,
    TASK.c.accountable,
    TASK.c.accountable_dept,
    TASK.c.consulted,
    TASK.c.informed,
    TASK.c.co_responsible,
    TASK.c.escalation_level,
    TASK.c.snoozed_until,
    TASK.c.outcome,
    TASK.c.reason,
    TASK.c.playbook_version,
    TASK.c.why,
    TASK.c.done_at,
    TASK.c.done_by,
)


def list_tasks(conn: Connection, today: date, assignee: str | None = None,
               department: str | None = None, raci: str | None = None,
               status: str = "open", account: str | None = None,
               limit: int | None = None, *, scope: Any = None,
               step: str | None = None) -> list[dict[str, Any]]:
    """The account manager's queue (--assignee) and the department lead's board (--department).
    `scope`: an extra condition on the task table (the web app's visibility rule)."""
    q = tasks_query(today, assignee, department, raci, status, account, limit, scope=scope,
                    step=step)
    filters.check(conn, department=department or None, person=assignee or None,
                  step=step or None)
    rows = []
    for row in conn.execute(q):
        d = dict(row._mapping)
        d["roles"] = _roles(d, assignee or department)
        rows.append(d)
    return rows


def tasks_query(today: date, assignee: str | None = None, department: str | None = None,
                raci: str | None = None, status: str = "open", account: str | None = None,
                limit: int | None = None, *, scope: Any = None,
                step: str | None = None) -> Select[Any]:
    """The statement list_tasks runs (built without a database, so its plan can be checked).
    A person or a department with a RACI letter is a lookup in task_party (store.parties)."""
    if status not in STATUSES:
        raise ValueError(f"--status: '{status}' is not one of {', '.join(STATUSES)}")
    if raci is not None and raci not in ("R", "A", "C", "I"):
        raise ValueError(f"--raci: '{raci}' is not one of R, A, C, I")
    q = select(*COLUMNS).order_by(TASK.c.due, TASK.c.id)
    live = TASK.c.status == Status.OPEN.value
    q = q.where({
        "open": TASK.c.status.in_(task_writes.LIVE),
        "overdue": and_(live, TASK.c.due < today),
        "due-today": and_(live, TASK.c.due == today),
        "upcoming": and_(live, TASK.c.due > today),
        "all": TASK.c.id.is_not(None),
    }.get(status, TASK.c.status == status))
    if account:
        q = q.where(TASK.c.account_id == account)
    if step:
        q = q.where(TASK.c.step == step)
    if scope is not None:
        q = q.where(scope)
    live_only = status in ("open", "overdue", "due-today", "upcoming", "snoozed")
    for who, holds in ((assignee, parties.PERSON), (department, parties.DEPARTMENT)):
        if who is not None:
            q = q.where(TASK.c.id.in_(parties.task_ids(who, holds, raci, live_only)))
    return q.limit(limit) if limit else q


def _roles(task: Mapping[str, Any], who: str | None) -> str:
    if who is None:
        return ""
    out = ""
    if who in (task["assignee"], task["responsible_dept"]) or f",{who}," in task["co_responsible"]:
        out += "R"
    if who in (task["accountable"], task["accountable_dept"]):
        out += "A"
    if f",{who}," in task["consulted"]:
        out += "C"
    if f",{who}," in task["informed"]:
        out += "I"
    return out


@dataclass(frozen=True)
class ActionResult:
    task_id: int
    action: str
    status: str
    detail: str = ""


def _step(conn: Connection, version: str, step_id: str) -> Step | None:
    state, key = step_id.split(".", 1)
    pb = book_of(conn, version).states.get(state)
    return next((s for s in pb.steps if s.key == key), None) if pb else None


def act(db: Engine, task_id: int, action: str, clock: Clock, actor: str | None = None,
        **params: Any) -> ActionResult:
    """Apply one guarded action to one task, or refuse it and change nothing."""
    at = clock.now()
    with db.begin() as conn:
        locking.audit_first(conn)  # then the task row (kamflow.store.locking)
        row = conn.execute(select(*COLUMNS, TASK.c.fields).where(TASK.c.id == task_id)
                           .with_for_update()).first()
        if row is None:
            raise NotFound(f"unknown task {task_id}")
        person = params.get("person")
        info = conn.execute(select(PERSON.c.active, PERSON.c.department).where(PERSON.c.email == person)
                            ).first() if person else None
        if actor is not None and conn.execute(select(PERSON.c.active).where(PERSON.c.email == actor)
                                              ).scalar() is None:
            raise NotFound(f"--by: unknown person '{actor}'")
        req = Request(action=action, today=at.date(), outcome=params.get("outcome"),
                      note=params.get("note"), fields=params.get("fields") or {},
                      until=params.get("until"), reason=params.get("reason"), person=person,
                      person_active=bool(info and info.active),
                      person_department=info.department if info else None)
        view = TaskView(row.id, row.status, row.due, row.assignee, row.queue)
        step = _step(conn, row.playbook_version, row.step)
        new_status = check(view, step, req)
        if action == "done" and step is not None and step.plan is not None:
            # On the plan of its fiscal year, in this transaction (or refused: nothing changes).
            plans.on_step_done(conn, row, step, req.outcome, req.note, req.fields, at,
                               actor or row.assignee or "operator")
        values: dict[str, Any] = {"status": new_status.value, "updated_at": at}
        before: dict[str, Any] = {"status": row.status}
        after: dict[str, Any] = {"status": new_status.value}
        if action == "done":
            values.update(outcome=req.outcome, note=req.note, fields=dict(req.fields),
                          done_at=at, done_by=actor or row.assignee)
            after.update(outcome=req.outcome, fields=dict(req.fields))
        elif action == "snooze":  # the escalation level and its events stay as they are
            values.update(snoozed_until=req.until, reason=req.reason)
            after.update(until=req.until.isoformat() if req.until else None, reason=req.reason,
                         **({"escalation_level": row.escalation_level}
                            if row.escalation_level else {}))
        elif action in ("skip", "cancel"):
            values.update(reason=req.reason)
            after.update(reason=req.reason)
        elif action in ("reassign", "claim"):
            values.update(assignee=person, queue=None)
            before.update(assignee=row.assignee, queue=row.queue)
            after.update(assignee=person, queue=None)
        conn.execute(update(TASK).where(TASK.c.id == task_id).values(values))
        if action == "done":  # a completion anchors the step's next occurrence
            changes.mark(conn, [row.account_id])
        parties.sync(conn, [task_id])  # its parties (reassign, claim) and their `live`
        audit.append(conn, [{"at": at, "actor": actor or "operator", "entity": "task",
                             "entity_id": str(task_id),
                             "action": {"done": "done", "snooze": "snoozed", "skip": "skipped",
                                        "cancel": "cancelled", "reassign": "reassigned",
                                        "claim": "claimed", "wake": "woke"}[action],
                             "before": before, "after": after}])
        if action == "reassign" and person and person != actor:
            outbox.on_reassigned(conn, task_id, person, at)  # same transaction
    return ActionResult(task_id, action, new_status.value)


def _exists(conn: Connection, account_id: str) -> None:
    """Lock the account, then the audit lock, before its tasks (kamflow.store.locking)."""
    if not locking.lock_account(conn, account_id):
        raise NotFound(f"unknown account '{account_id}'")
    locking.audit_first(conn)


def log_contact(db: Engine, account_id: str, channel: str, by: str, note: str,
                day: date | None, clock: Clock, *, customer_role: str = ""
                ) -> task_writes.TaskCounts:
    """`customer_role`: whom we met at the customer (the account plan's touchpoints)."""
    at = clock.now()
    with db.begin() as conn:
        _exists(conn, account_id)
        book = active_book(conn)
        try:
            channel = book.organization.channel(channel)  # a synonym names its channel
        except ValueError as e:
            raise Refused(f"--channel: {e}") from None
        if conn.execute(select(PERSON.c.email).where(PERSON.c.email == by)).first() is None:
            raise NotFound(f"--by: unknown person '{by}'")
        when = day or at.date()
        if when > at.date():
            raise Refused(f"--date: {when.isoformat()} is in the future")
        role = touchpoints.customer_role(customer_role)
        upsert(conn, CONTACT, [{"account_id": account_id, "date": when, "channel": channel,
                          "person_email": by, "note": note, "nature": "", "customer_role": role}],
               ["account_id", "date", "channel", "person_email"],
               ["note", "customer_role"] if role else ["note"])
        counts = task_writes.refresh_account(conn, account_id, at)
        counts.checks_completed += touchpoint_tasks.complete_for(conn, [account_id], at)
        return counts


def post_event(db: Engine, account_id: str, event: str, ref: str, actor: str | None,
               clock: Clock, *, outcome: str | None = None, amount: float | None = None
               ) -> task_writes.TaskCounts:
    """A quote event may carry an outcome (won, lost, open) and an amount; reporting a
    quote again by its reference records its new outcome (kamflow.store.events)."""
    at = clock.now()
    try:
        outcome, amount = quote_fields(event, outcome, amount)
    except BadEventField as e:
        raise Refused(f"--{e.field}: {e.problem}") from None
    with db.begin() as conn:
        _exists(conn, account_id)
        book = active_book(conn)
        if event not in book.organization.events:
            raise Refused(f"unknown event '{event}'; events: "
                          + ", ".join(book.organization.events))
        events.record(conn, account_id, event, at, ref, actor or "operator", outcome, amount)
        return task_writes.refresh_account(conn, account_id, at)


def deactivate(db: Engine, email: str, to_person: str | None, to_department: str | None,
               actor: str | None, clock: Clock) -> dict[str, int]:
    """Hand everything of a leaving person over, in one transaction; then deactivate them."""
    if (to_person is None) == (to_department is None):
        raise Refused("give exactly one of --to EMAIL or --to-department DEPARTMENT")
    at = clock.now()
    with db.begin() as conn:
        me = conn.execute(select(PERSON.c.active).where(PERSON.c.email == email)).first()
        if me is None:
            raise NotFound(f"unknown person '{email}'")
        if not me.active:
            raise Refused(f"'{email}' is already deactivated")
        if to_person is not None:
            other = conn.execute(select(PERSON.c.active).where(PERSON.c.email == to_person)).first()
            if other is None or not other.active or to_person == email:
                raise Refused(f"--to: '{to_person}' is not another active person")
            owner, task_assignee, task_queue = to_person, to_person, None
        else:
            if (
                conn.execute(select(DEPARTMENT.c.key).where(DEPARTMENT.c.key == to_department)).first()
                is None
            ):
                raise NotFound(f"--to-department: unknown department '{to_department}'")
            lead = conn.execute(select(PERSON.c.email).where(
                PERSON.c.department == to_department, PERSON.c.role == "department_lead",
                PERSON.c.active.is_(True), PERSON.c.email != email).order_by(PERSON.c.email)).scalar()
            if lead is None:
                raise Refused(f"--to-department: {to_department} has no active lead to own the "
                              "accounts")
            owner, task_assignee, task_queue = lead, None, to_department
        events: list[dict[str, Any]] = []
        accounts = conn.execute(  # account rows first, in id order (kamflow.store.locking)
            select(ACCOUNT.c.id).where(ACCOUNT.c.owner_email == email).order_by(ACCOUNT.c.id)
            .with_for_update()).scalars().all()
        conn.execute(select(ACCOUNT.c.id).where(ACCOUNT.c.sponsor_email == email)
                     .order_by(ACCOUNT.c.id).with_for_update())
        conn.execute(update(ACCOUNT).where(ACCOUNT.c.owner_email == email).values(owner_email=owner,
                                                                                   changed=True))
        sponsored = (
            conn.execute(select(ACCOUNT.c.id).where(ACCOUNT.c.sponsor_email == email)).scalars().all()
        )
        conn.execute(
            update(ACCOUNT).where(ACCOUNT.c.sponsor_email == email)
            .values(sponsor_email=owner, changed=True)
        )
        for aid in accounts:
            events.append({"at": at, "actor": actor or "operator", "entity": "account",
                           "entity_id": aid, "action": "reassigned",
                           "before": {"owner": email}, "after": {"owner": owner}})
        for aid in sponsored:
            events.append({"at": at, "actor": actor or "operator", "entity": "account",
                           "entity_id": aid, "action": "reassigned",
                           "before": {"sponsor": email}, "after": {"sponsor": owner}})
        locking.audit_first(conn)  # before the task rows
        live = TASK.c.status.in_(task_writes.LIVE)
        # RETURNING: an event for each row this statement really changed, not for one read
        # before a concurrent change.
        moved = sorted(conn.execute(update(TASK).where(live, TASK.c.assignee == email).values(
            assignee=task_assignee, queue=task_queue, updated_at=at,
            **({"responsible_dept": task_queue} if task_queue else {}))
            .returning(TASK.c.id)).scalars().all())
        for tid in moved:
            events.append({"at": at, "actor": actor or "operator", "entity": "task",
                           "entity_id": str(tid), "action": "reassigned",
                           "before": {"assignee": email},
                           "after": {"assignee": task_assignee, "queue": task_queue}})
        accountable = sorted(conn.execute(
            update(TASK).where(live, TASK.c.accountable == email)
            .values(accountable=owner, updated_at=at).returning(TASK.c.id)).scalars().all())
        for tid in accountable:
            events.append({"at": at, "actor": actor or "operator", "entity": "task",
                           "entity_id": str(tid), "action": "reassigned",
                           "before": {"accountable": email}, "after": {"accountable": owner}})
        parties.sync(conn, moved + accountable)
        conn.execute(update(PERSON).where(PERSON.c.email == email).values(active=False))
        people.end_sessions(conn, email, at, "deactivated")
        events.append({"at": at, "actor": actor or "operator", "entity": "person",
                       "entity_id": email, "action": "deactivated", "before": {"active": True},
                       "after": {"active": False, "handed_to": to_person or to_department}})
        audit.append(conn, events)
    return {"accounts": len(accounts), "sponsored": len(sponsored), "tasks": len(moved),
            "accountable": len(accountable)}


def calendar_tasks(conn: Connection, email: str, limit: int) -> Sequence[Any]:
    """A person's open tasks for the calendar feed, soonest first."""
    return conn.execute(
        select(
            TASK.c.id,
            TASK.c.title,
            TASK.c.due,
            TASK.c.account_id,
            ACCOUNT.c.name.label("account_name"),
            TASK.c.step,
            TASK.c.status,
            TASK.c.escalation_level,
            TASK.c.updated_at,
        )
        .select_from(TASK.join(ACCOUNT, ACCOUNT.c.id == TASK.c.account_id))
        .where(TASK.c.assignee == email, TASK.c.status == "open")
        .order_by(TASK.c.due, TASK.c.id)
        .limit(limit)
    ).all()
