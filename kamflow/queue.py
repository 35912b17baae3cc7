"""Working tasks: the queue and board queries, the guarded task actions, contacts,
events and deactivating a person. Each action is one transaction with its audit events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, select, union, update

from kamflow import cursor, filters, people, plans
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
    tally,
    task_list,
    task_writes,
    touchpoint_tasks,
)
from kamflow.store.bulk import upsert
from kamflow.store.tables import ACCOUNT, CONTACT, DEPARTMENT, PERSON, TASK
from kamflow.store.versions import active_book, book_of
from kamflow.tasks.status import Request, TaskView, check

STATUSES = task_list.STATUSES
COLUMNS = task_list.COLUMNS
SORTS = tuple(task_list.SORTS)
TaskFilter = task_list.TaskFilter
PAGE = 50  # tasks per page on the pages; the API's `limit`
FEW = 20_000  # a party naming fewer live tasks is read from task_party (kamflow.store.task_list)
WINDOW = 1000  # a large party's page looks at the first WINDOW tasks in order first


def list_tasks(conn: Connection, today: date, assignee: str | None = None,
               department: str | None = None, raci: str | None = None,
               status: str = "open", account: str | None = None,
               limit: int | None = None, *, scope: Any = None,
               step: str | None = None) -> list[dict[str, Any]]:
    """The account manager's queue (--assignee) and the department lead's board (--department).
    `scope`: an extra condition on the task table (the web app's visibility rule)."""
    f = TaskFilter(today, assignee or None, department or None, raci, status, account, step or None,
                   scope=scope)
    return task_page(conn, f, limit=limit, total=False).rows


def tasks_query(today: date, assignee: str | None = None, department: str | None = None,
                raci: str | None = None, status: str = "open", account: str | None = None,
                limit: int | None = None, *, scope: Any = None,
                step: str | None = None) -> Select[Any]:
    """The statement list_tasks runs (built without a database, so its plan can be checked).
    A person or a department with a RACI letter is a lookup in task_party (store.parties)."""
    return task_list.rows(TaskFilter(today, assignee, department, raci, status, account, step,
                                     scope=scope), limit=limit)


@dataclass(frozen=True)
class Page:
    """One page of a task list: its rows, the exact number of tasks the filter selects, and
    the sort key to pass as `after` for the next page (None on the last)."""

    rows: list[dict[str, Any]]
    total: int
    next_key: list[Any] | None


def check_filter(conn: Connection, f: TaskFilter, sort: str = "due") -> None:
    """ValueError naming the option for any filter value that does not exist."""
    task_list.check(f, sort)
    filters.check(conn, department=f.department, person=f.person, step=f.step, state=f.state)
    filters.check(conn, department=f.queue, person=f.assignee, person_option="holder")


def drive(conn: Connection, f: TaskFilter) -> task_list.Drive:
    """How to read the tasks of `f` (kamflow.store.task_list): from the party's rows when the
    person or department it names holds few; from the task table in sort order when it
    holds many, or when nothing but the status narrows the list. A list of one assignee,
    queue or account is left to its own index ("party" with no party is the plain query)."""
    return _drive(conn, f)[0]


def _drive(conn: Connection, f: TaskFilter) -> tuple[task_list.Drive, int]:
    """`drive`, and how many rows name the first party (counted up to FEW; 0: none named)."""
    if not f.parties:
        return ("party" if f.assignee or f.queue or f.account else "task"), 0
    sizes = [int(conn.execute(q).scalar_one()) for q in task_list.party_sizes(f, FEW)]
    return ("party" if min(sizes) < FEW else "task"), sizes[0]


def counting(f: TaskFilter, how: task_list.Drive) -> task_list.Drive:
    """How to count the tasks of `f` read `how`: a large party's open tasks are all read
    whichever way, so the database chooses ("planner"); closed ones as the rows were read
    (the party's history has no bound: a recent range of ix_task_status_done, say)."""
    if how == "task" and f.status in task_list.LIVE_STATUSES and f.parties:
        return "planner"
    return how


def task_page(conn: Connection, f: TaskFilter, sort: str = "due",
              after: Sequence[Any] | None = None, limit: int | None = PAGE,
              total: bool = True) -> Page:
    """The tasks of `f` after the sort key `after`, at most `limit` (None: all of them),
    and how many there are in all (counted in SQL, when `total`).

    A page is read within a window first, each a walk of an index in order that stops at
    the page's end: for a large party, the first WINDOW tasks of the status asked (a
    department named on most tasks fills its page from them at once); for live tasks by due
    date, the first WINDOW the party holds (ix_task_party_due: a department whose tasks come
    later in the first order; a party named on fewer is read whole at once). When no window
    holds the page (the rest of the filter keeps too few), the party's rows are read whole
    and sorted. Tasks done since a moment are read in order without a window: that range
    holds the whole company's recent work, which the count reads anyway, where the party's
    rows hold all its history (a board's "done lately" at a million accounts: 290 ms by the
    party's rows)."""
    check_filter(conn, f, sort)
    how, size = _drive(conn, f)
    recent = f.status == "done" and f.done_since is not None
    page = (limit or 0) + 1
    ways: list[task_list.Drive] = []  # the windows to try, in turn
    if limit and not recent:
        if how == "task":
            ways.append("task")
        if size >= WINDOW and task_list.walks_party(f, sort):  # fewer: all at once
            ways.append("party")
    for way in ways:
        found = list(conn.execute(task_list.rows(f, sort, after, page, way, WINDOW)))
        if len(found) == page or max(conn.execute(
                task_list.window_used(f, sort, after, WINDOW, way)).one()) < WINDOW:
            break  # a whole page, or every task the window could have held
    else:
        found = list(conn.execute(task_list.rows(f, sort, after, page if limit else None,
                                                 "party" if ways else how)))
    rows = [_with_roles(r, f.person or f.department) for r in found]
    more = limit is not None and len(rows) > limit
    rows = rows[:limit] if limit else rows
    n = int(conn.execute(task_list.count(f, counting(f, how))).scalar_one()) if total \
        else len(rows)
    return Page(rows, n, task_list.sort_key(rows[-1], sort) if more else None)


def breakdown(conn: Connection, f: TaskFilter, week_end: date | None = None
              ) -> dict[tuple[str, str], int]:
    """(class or "-", bucket) -> live tasks of `f`, whatever it says about class, status and
    due dates (kamflow.store.task_list.breakdown); a department's from the tally it keeps
    (kamflow.store.tally) when nothing else narrows them."""
    if tally.serves(f):
        assert f.department is not None
        return tally.breakdown(conn, f.department, f.raci, f.key_account, f.today, week_end)
    q = task_list.breakdown(f, week_end, counting(f.but(status="open"), drive(conn, f)))
    return {(klass or task_list.UNCLASSIFIED, bucket): int(n) for klass, bucket, n in conn.execute(q)}


def cursor_of(sort: str, key: Sequence[Any]) -> str:
    """The opaque `cursor` of the page after a row with this sort key."""
    keys = [k.isoformat() if isinstance(k, date) else k for k in key]
    return cursor.encoded(sort, keys)


def key_of(cursor_text: str, sort: str) -> list[Any]:
    """The sort key a cursor carries, checked against the list it is used on (ValueError
    naming `cursor` otherwise)."""
    names = task_list.SORTS[sort][0]
    keys = cursor.decoded(cursor_text, sort, task_list.SORTS, len(names))
    bad = ValueError(cursor.NOT_OURS)
    out: list[Any] = []
    for name, value in zip(names, keys, strict=True):  # a date, then the id
        if name == "id" and isinstance(value, int) and not isinstance(value, bool) \
                and 0 <= value < 2**63:
            out.append(value)
            continue
        try:
            out.append(date.fromisoformat(value) if name == "due" else None)
        except (TypeError, ValueError):
            raise bad from None
        if out[-1] is None:
            raise bad
    return out


def tasks_by_id(conn: Connection, task_ids: Sequence[int], scope: Any = None
               ) -> list[dict[str, Any]]:
    """These tasks (those within `scope`), by id: what a bulk action's confirmation names."""
    ids = sorted(set(task_ids))
    out: list[dict[str, Any]] = []
    for start in range(0, len(ids), parties.CHUNK):
        q = select(*COLUMNS).where(TASK.c.id.in_(ids[start:start + parties.CHUNK]))
        out += [dict(r._mapping) for r in conn.execute(q if scope is None else q.where(scope))]
    return out


def _with_roles(row: Any, who: str | None) -> dict[str, Any]:
    d = dict(row._mapping)
    d["roles"] = _roles(d, who)
    return d


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


@dataclass(frozen=True)
class Applied:
    """One action applied to one locked task row, with what its transaction still owes:
    the audit event, the account to mark (a completion) and the person to tell (reassign)."""

    result: ActionResult
    event: dict[str, Any]
    mark: str | None = None
    notify: str | None = None


EVENT_NAMES = {"done": "done", "snooze": "snoozed", "skip": "skipped", "cancel": "cancelled",
               "reassign": "reassigned", "claim": "claimed", "wake": "woke"}


def _step(conn: Connection, version: str, step_id: str) -> Step | None:
    state, key = step_id.split(".", 1)
    pb = book_of(conn, version).states.get(state)
    return next((s for s in pb.steps if s.key == key), None) if pb else None


def lock_tasks(conn: Connection, task_ids: Sequence[int]) -> dict[int, Any]:
    """The task rows, locked in id order (step 3 of kamflow.store.locking: take the audit
    lock first); missing ids are left out."""
    ids = sorted(set(task_ids))
    rows: dict[int, Any] = {}
    for start in range(0, len(ids), parties.CHUNK):
        q = (select(*COLUMNS, TASK.c.fields).where(TASK.c.id.in_(ids[start:start + parties.CHUNK]))
             .order_by(TASK.c.id).with_for_update())
        rows.update((r.id, r) for r in conn.execute(q))
    return rows


def known_actor(conn: Connection, actor: str | None) -> None:
    if actor is not None and conn.execute(select(PERSON.c.active).where(PERSON.c.email == actor)
                                          ).scalar() is None:
        raise NotFound(f"--by: unknown person '{actor}'")


def apply(conn: Connection, row: Any, action: str, at: datetime, actor: str | None,
          **params: Any) -> Applied:
    """Check one action on one locked task row and write it, or raise TaskRefused / Refused
    having written nothing: every check comes before the first write."""
    person = params.get("person")
    info = conn.execute(select(PERSON.c.active, PERSON.c.department).where(PERSON.c.email == person)
                        ).first() if person else None
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
    conn.execute(update(TASK).where(TASK.c.id == row.id).values(values))
    event = {"at": at, "actor": actor or "operator", "entity": "task", "entity_id": str(row.id),
             "action": EVENT_NAMES[action], "before": before, "after": after}
    return Applied(ActionResult(row.id, action, new_status.value), event,
                   mark=row.account_id if action == "done" else None,
                   notify=person if action == "reassign" and person and person != actor else None)


def settle(conn: Connection, applied: Sequence[Applied], at: datetime) -> None:
    """What the applied actions owe, in their transaction: the accounts whose next occurrence
    a completion anchors, the tasks' parties, one audit event per task, the notices."""
    changes.mark(conn, [a.mark for a in applied if a.mark])
    parties.sync(conn, [a.result.task_id for a in applied])  # reassign, claim; their `live`
    audit.append(conn, [a.event for a in applied])
    for a in applied:
        if a.notify:
            outbox.on_reassigned(conn, a.result.task_id, a.notify, at)  # same transaction


def act(db: Engine, task_id: int, action: str, clock: Clock, actor: str | None = None,
        **params: Any) -> ActionResult:
    """Apply one guarded action to one task, or refuse it and change nothing."""
    at = clock.now()
    with db.begin() as conn:
        locking.audit_first(conn)  # then the task row (kamflow.store.locking)
        row = lock_tasks(conn, [task_id]).get(task_id)
        if row is None:
            raise NotFound(f"unknown task {task_id}")
        known_actor(conn, actor)
        with tally.kept(conn, [task_id]):  # the boards' counts
            applied = apply(conn, row, action, at, actor, **params)
            settle(conn, [applied], at)
    return applied.result


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
        theirs = conn.execute(union(  # each by its own index
            select(TASK.c.id).where(live, TASK.c.assignee == email),
            select(TASK.c.id).where(live, TASK.c.accountable == email))).scalars().all()
        counted = tally.of(conn, theirs)  # the boards' counts, before
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
        tally.shift(conn, counted, tally.of(conn, theirs))
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
