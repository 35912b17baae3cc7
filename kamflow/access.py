"""Who may see and do what: the one authorization policy every route applies.

Seeing; a hidden object answers 404, as if it did not exist.

- account_manager: tasks assigned to them, on accounts they own or sponsor, naming them
  (Accountable, co-Responsible, Consulted, Informed) or in their department's queue; the
  accounts they own or sponsor and the accounts of the tasks they see.
- department_lead: as an account manager, plus the tasks their department is R, A, C or I
  for, and the accounts of those tasks.
- manager, admin: everything.

Doing; a visible object the caller may not act on answers 403.

- done, snooze, skip, reassign a task: its assignee, its Accountable person, a lead of its
  Responsible or Accountable department or of the department whose queue holds it, an admin.
- claim a task: a member of the department whose queue holds it (an admin reassigns).
- move an account: its owner or sponsor, an admin.
- log a contact: anyone who sees the account (it is their own contact).
- report an event: the owner or sponsor, a department lead who sees the account, an admin.
- audit, portfolio, metrics: managers and admins; a department lead sees the adherence of
  the tasks their own department is named on (another department's: 403).
- people, other people's tokens, changes at another moment (`?at=` on a POST): admins.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, and_, exists, or_, select, union
from sqlalchemy.sql.elements import ColumnElement

from kamflow.errors import NotFound
from kamflow.people import Principal
from kamflow.store import parties
from kamflow.store.tables import ACCOUNT, TASK

ADMIN, MANAGER, LEAD = "admin", "manager", "department_lead"


class Forbidden(Exception):
    """The caller sees the object but may not do this to it (403)."""


def sees_everything(p: Principal) -> bool:
    return p.role in (MANAGER, ADMIN)


def _own_accounts(p: Principal) -> ColumnElement[bool]:
    return or_(ACCOUNT.c.owner_email == p.email, ACCOUNT.c.sponsor_email == p.email)


def _named(p: Principal) -> ColumnElement[bool]:
    """The tasks a person sees other than through their own accounts: naming them, in their
    department's queue, naming their department (a lead); looked up in task_party."""
    return TASK.c.id.in_(parties.seen_by(p.email, p.department, p.role == LEAD))


def task_scope(p: Principal) -> ColumnElement[bool] | None:
    """A condition on the task table selecting what `p` may see; None: everything. Both
    terms test the row at hand by an index (task_party, the account's key), so the list's
    own filter drives the query."""
    if sees_everything(p):
        return None
    return or_(_named(p), exists().where(ACCOUNT.c.id == TASK.c.account_id, _own_accounts(p)))


def list_scope(p: Principal, person: str | None, department: str | None
               ) -> ColumnElement[bool] | None:
    """task_scope(p) for a list of the tasks naming `person` or `department`: None when that
    already keeps within what `p` sees (their own queue; their department's board, for its
    lead), so the list is a plain task_party lookup."""
    if person == p.email or (p.role == LEAD and department == p.department):
        return None
    return task_scope(p)


def account_scope(p: Principal) -> ColumnElement[bool] | None:
    """A condition on the account table selecting what `p` may see; None: everything."""
    if sees_everything(p):
        return None
    # One IN over a UNION, not `owner OR sponsor OR id IN (...)`: PostgreSQL has no index
    # plan for an OR holding a subquery and would read every account.
    return ACCOUNT.c.id.in_(union(
        select(ACCOUNT.c.id).where(ACCOUNT.c.owner_email == p.email),
        select(ACCOUNT.c.id).where(ACCOUNT.c.sponsor_email == p.email),
        select(TASK.c.account_id).where(_named(p))))


def visible_task(conn: Connection, p: Principal, task_id: int) -> Any:
    """The task row if `p` may see it; else NotFound, as for a task that does not exist."""
    return _visible(conn, select(TASK).where(TASK.c.id == task_id), task_scope(p),
                    f"unknown task {task_id}")


def task_row(conn: Connection, task_id: int) -> Any:
    """The task row as it is now (after an action the caller was allowed to take)."""
    return conn.execute(select(TASK).where(TASK.c.id == task_id)).one()


def visible_account(conn: Connection, p: Principal, account_id: str) -> Any:
    """The account row if `p` may see it; else NotFound."""
    return _visible(conn, select(ACCOUNT).where(ACCOUNT.c.id == account_id), account_scope(p),
                    f"unknown account '{account_id}'")


def _visible(conn: Connection, q: Select[Any], scope: ColumnElement[bool] | None,
             unknown: str) -> Any:
    """The row within the scope; outside it the same NotFound as for a row that does not exist."""
    row = conn.execute(q if scope is None else q.where(scope)).first()
    if row is None:
        raise NotFound(unknown)
    return row


def _deny(allowed: bool, message: str) -> None:
    if not allowed:
        raise Forbidden(message)


def _leads(p: Principal, *departments: str | None) -> bool:
    return p.role == LEAD and p.department in departments


def may_work_task(p: Principal, task: Any, action: str) -> None:
    """done, snooze, skip or reassign."""
    _deny(p.role == ADMIN or p.email in (task.assignee, task.accountable)
          or _leads(p, task.responsible_dept, task.accountable_dept, task.queue),
          f"only the assignee, the Accountable or a lead of the task's departments may "
          f"{action} task {task.id}")


def may_claim_task(p: Principal, task: Any) -> None:
    _deny(task.queue is not None and task.queue == p.department,
          f"task {task.id} is not in the queue of your department ({p.department}); "
          "an admin reassigns instead")


def may_move_account(p: Principal, account: Any) -> None:
    _deny(p.role == ADMIN or p.email in (account.owner_email, account.sponsor_email),
          f"only the owner, the sponsor or an admin may move account '{account.id}'")


def may_edit_plan(p: Principal, account: Any) -> None:
    _deny(p.role == ADMIN or p.email in (account.owner_email, account.sponsor_email),
          f"only the owner, the sponsor or an admin may edit the plan of account '{account.id}'")


def may_post_event(p: Principal, account: Any) -> None:
    _deny(p.role in (ADMIN, LEAD) or p.email in (account.owner_email, account.sponsor_email),
          f"only the owner, the sponsor, a department lead or an admin may report events on "
          f"account '{account.id}'")


def may_log_contact(p: Principal, account: Any) -> None:
    """Anyone who sees the account logs their own contacts with it."""


def may_audit(p: Principal) -> None:
    _deny(p.role in (MANAGER, ADMIN), "the audit is for managers and admins")


def adherence_department(p: Principal, department: str | None) -> str | None:
    """The department an adherence report is limited to: managers and admins choose (None:
    every task); a department lead gets their own, and is refused another one."""
    if p.role in (MANAGER, ADMIN):
        return department
    _deny(p.role == LEAD, "adherence is for managers, admins and department leads")
    _deny(department in (None, p.department),
          f"you lead {p.department}; the adherence of {department} is for its lead, "
          "managers and admins")
    return p.department


def may_see_portfolio(p: Principal) -> None:
    _deny(p.role in (MANAGER, ADMIN), "the portfolio is for managers and admins")


def may_read_metrics(p: Principal) -> None:
    _deny(p.role in (MANAGER, ADMIN), "metrics are for managers and admins")


def may_manage_people(p: Principal) -> None:
    _deny(p.role == ADMIN, "managing people is for admins")


def may_act_for(p: Principal, email: str) -> None:
    """Tokens of another person."""
    _deny(p.role == ADMIN or p.email == email, "only an admin may act for another person")


def may_act_at_another_moment(p: Principal) -> None:
    _deny(p.role == ADMIN, "at: only an admin may change things at another moment")


def _and(scope: ColumnElement[bool] | None, cond: ColumnElement[bool]) -> ColumnElement[bool]:
    return cond if scope is None else and_(scope, cond)


def in_queue(scope: ColumnElement[bool] | None, department: str) -> ColumnElement[bool]:
    """The scope narrowed to a department's unclaimed queue."""
    return _and(scope, TASK.c.queue == department)


def done_since(scope: ColumnElement[bool] | None, since: Any) -> ColumnElement[bool]:
    """The scope narrowed to tasks done since a moment."""
    return _and(scope, TASK.c.done_at >= since)
