"""The department board: the open tasks a department is Responsible, Accountable,
Consulted or Informed for, 50 a page, with the filters of kamflow.web.task_lists, exact
counts by due date and account class, and bulk actions (kamflow.web.pages_bulk); below,
what the department finished lately."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from kamflow import access, views
from kamflow import queue as task_queue
from kamflow.access import ADMIN, LEAD, MANAGER, Forbidden
from kamflow.activation import current as active_book
from kamflow.errors import NotFound
from kamflow.people import Principal
from kamflow.web import task_lists
from kamflow.web.deps import context
from kamflow.web.pagekit import Viewer, field_message, page, render

if TYPE_CHECKING:
    from sqlalchemy import Connection

router = APIRouter()
RECENT_DAYS = 14  # the board's "done lately"
RECENT = 10  # of which it shows the latest few (and counts them all)
ACTIONS = ("claim", "assign", "snooze", "done", "skip")


def department_of(conn: Connection, user: Principal, department: str | None) -> str:
    """The department whose board `user` asks for: their own for a lead; any for a manager
    or an admin."""
    if user.role not in (LEAD, MANAGER, ADMIN):
        raise Forbidden("the department board is for department leads, managers and admins")
    dept = department or user.department
    if dept not in active_book(conn).organization.departments:
        raise NotFound(f"department: unknown department '{dept}'")
    if user.role == LEAD and dept != user.department:
        raise Forbidden(f"you lead {user.department}; the {dept} board is for its lead and "
                        "managers")
    return dept


@router.get("/board", response_class=HTMLResponse)
def board(request: Request, viewer: Viewer,
          department: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    """The open tasks the department is R, A, C or I for; filters, counts, pages, bulk."""

    def build(user: Principal) -> Response:
        ctx = context(request)
        now = ctx.clock.now()
        today = now.date()
        a = task_lists.asked(request.query_params)
        here = {"department": department} if department else {}
        error, rows, shown, counts = "", [], None, None
        with ctx.db.connect() as conn:
            dept = department_of(conn, user, department)
            departments = dict(active_book(conn).organization.departments)
            scope = access.list_scope(user, None, dept)
            try:
                f = task_lists.to_filter(a, user, today, department=dept, scope=scope)
                listed = task_queue.task_page(conn, f, a.sort, task_lists.after(a),
                                              total=False)
                counts = task_lists.counts(conn, f, a)
                listed = task_queue.Page(listed.rows, counts.total, listed.next_key)
                shown, rows = task_lists.shown(a, listed, **here), listed.rows
            except ValueError as e:
                error = field_message(str(e))
            accounts = views.accounts_of(conn, (t["account_id"] for t in rows))
            recent = task_queue.task_page(
                conn, task_queue.TaskFilter(today, department=dept, status="done",
                                            done_since=now - timedelta(days=RECENT_DAYS),
                                            scope=scope), "-done", limit=RECENT)
            accounts.update(views.accounts_of(conn, (t["account_id"] for t in recent.rows)))
            # a choice of every member: up to SUGGESTED of them; beyond, an email is typed
            # (14,000 in sales at a million accounts were 1.6 MB of the board, twice over)
            members = views.members(conn, dept, views.SUGGESTED + 1)
            choices = task_lists.choices(conn)
        for t in rows:
            acc = accounts.get(t["account_id"], {})
            t.update(account_name=acc.get("name", t["account_id"]), klass=acc.get("klass"),
                     key_account=acc.get("key_account"), days=(t["due"] - today).days)
        for t in recent.rows:
            t["account_name"] = accounts.get(t["account_id"], {}).get("name", t["account_id"])
            t["on_time"] = t["done_at"].date() <= t["due"]
        return render(request, "board.html", user, 422 if error else 200, department=dept,
                      departments=departments, may_choose=user.role in (MANAGER, ADMIN),
                      a=a, rows=rows, shown=shown, counts=counts, error=error,
                      recent=recent.rows, recent_total=recent.total, recent_days=RECENT_DAYS,
                      members=members, members_many=len(members) > views.SUGGESTED,
                      due_labels=task_lists.DUE, sorts=task_lists.SORTS,
                      classes=task_lists.CLASSES, actions=ACTIONS,
                      link=lambda **c: "/board?" + task_lists.query(a.but(**c), **here),
                      **choices)

    return page(request, viewer, build)
