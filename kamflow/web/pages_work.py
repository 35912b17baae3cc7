"""Working tasks in the browser: my queue, the department board and their htmx actions.

Each action posts a small form to a page endpoint here, which calls the same use cases as
the API (kamflow.queue.act / log_contact, after the same kamflow.access checks) and
answers with the task's card re-rendered, so the card updates in place. A refused action
(a required outcome missing, a snooze past the step's limit...) answers 409/422 with the
card showing the error and the form still open with what was typed; nothing changed.
"""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from kamflow import access, plans, views
from kamflow import queue as task_queue
from kamflow.access import ADMIN, LEAD, MANAGER, Forbidden
from kamflow.activation import current as active_book
from kamflow.errors import NotFound
from kamflow.people import Principal
from kamflow.playbooks.errors import PlaybookError
from kamflow.tasks.status import snooze_limit
from kamflow.web.deps import context
from kamflow.web.errors import ApiError
from kamflow.web.pagekit import Viewer, action, back, is_htmx, page, render
from kamflow.web.schemas.accounts import ContactIn, PlanIn
from kamflow.web.schemas.base import MAX_ID
from kamflow.web.schemas.tasks import DoneIn, ReassignIn, SkipIn, SnoozeIn

if TYPE_CHECKING:
    from sqlalchemy import Connection

router = APIRouter()
LIMIT = 200  # tasks per section of a page; the API lists everything
LATER = 50  # "later" (due after this week) shows the next few only
BOARD_LIMIT = 500
RECENT_DAYS = 14  # the board's "recently done"
TaskId = Annotated[int, Path(ge=1, le=MAX_ID)]
FIELD_PREFIX = "field_"


# -- what a task card needs ---------------------------------------------------------------


def _cards(conn: Connection, tasks: list[dict[str, Any]], mode: str, user: Principal,
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
            "may_work": _may(access.may_work_task, user, t),
            "may_claim": t.get("queue") is not None and t["queue"] == user.department,
        })
    return out


def _may(check: Any, user: Principal, task: dict[str, Any]) -> bool:
    try:
        check(user, SimpleNamespace(**task), "work")
    except Forbidden:
        return False
    return True


def _card(request: Request, user: Principal, task_id: int, mode: str, status: int = 200,
          **extra: Any) -> HTMLResponse:
    ctx = context(request)
    today = ctx.clock.now().date()
    with ctx.db.connect() as conn:
        row = dict(access.visible_task(conn, user, task_id)._mapping)
        card = _cards(conn, [row], mode, user, today)[0]
        more = _card_extras(conn, [row], mode)
    return render(request, "_task.html", user, status, card=card, **more, **extra)


def _card_extras(conn: Connection, tasks: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    channels = list(active_book(conn).organization.contact_channels)
    members: dict[str, list[dict[str, str]]] = {}
    if mode == "queue":
        for q in {t["queue"] for t in tasks if t.get("queue")}:
            members[q] = views.members(conn, q)
    return {"channels": channels, "members": members}


def _failed_card(request: Request, user: Principal | None, task_id: int, mode: str,
                 form_name: str, form: Any) -> Any:
    """What an htmx action that was refused answers: the card, with the error and the form
    left open with what was typed."""
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}

    def failed(status: int, message: str) -> Response:
        if user is None:
            return render(request, "_flash.html", user, status, error=message)
        try:
            return _card(request, user, task_id, mode, status, error=message, open=form_name,
                         values=values)
        except NotFound:
            return render(request, "_flash.html", user, status, error=message)

    return failed


# -- my queue -----------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def queue(request: Request, viewer: Viewer) -> Response:
    """The tasks assigned to me: overdue, due today, due this week, later, snoozed; and the
    unassigned tasks in my department's queue, to claim."""

    def build(user: Principal) -> Response:
        ctx = context(request)
        today = ctx.clock.now().date()
        scope = access.task_scope(user)
        with ctx.db.connect() as conn:
            def mine(status: str) -> list[dict[str, Any]]:
                return task_queue.list_tasks(conn, today, user.email, None, "R", status,
                                          limit=LIMIT + 1,
                                          scope=access.list_scope(user, user.email, None))

            overdue, due_today, upcoming, snoozed = (
                mine("overdue"), mine("due-today"), mine("upcoming"), mine("snoozed"))
            week_end = today + timedelta(days=7)
            in_week = [t for t in upcoming if t["due"] <= week_end]
            later = [t for t in upcoming if t["due"] > week_end]
            more_later = len(later) > LATER
            later = later[:LATER]
            unassigned = task_queue.list_tasks(conn, today, status="open", limit=LIMIT + 1,
                                            scope=access.in_queue(scope, user.department))
            sections = [
                ("overdue", "Overdue", overdue), ("today", "Due today", due_today),
                ("week", "This week", in_week), ("later", "Later", later),
                ("snoozed", "Snoozed", snoozed),
            ]
            everything = [t for _, _, ts in sections for t in ts[:LIMIT]]
            cards = {t["id"]: c for t, c in zip(everything, _cards(conn, everything, "mine",
                                                                    user, today), strict=True)}
            queue_cards = _cards(conn, unassigned[:LIMIT], "queue", user, today)
            extras = _card_extras(conn, unassigned[:LIMIT], "queue")
        shown = [(key, title, [cards[t["id"]] for t in ts[:LIMIT]],
                  more_later if key == "later" else len(ts) > LIMIT)
                 for key, title, ts in sections]
        return render(request, "queue.html", user, sections=shown, queue_cards=queue_cards,
                      queue_more=len(unassigned) > LIMIT, limit=LIMIT, later_limit=LATER,
                      **extras)

    return page(request, viewer, build)


# -- the department board -------------------------------------------------------------------


def _board_department(conn: Connection, user: Principal, department: str | None) -> str:
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
    """The open tasks the department is R, A, C or I for, by account class; its queue."""

    def build(user: Principal) -> Response:
        ctx = context(request)
        today = ctx.clock.now().date()
        scope = access.task_scope(user)
        with ctx.db.connect() as conn:
            dept = _board_department(conn, user, department)
            departments = dict(active_book(conn).organization.departments)
            tasks = task_queue.list_tasks(conn, today, None, dept, None, "open",
                                       limit=BOARD_LIMIT + 1,
                                       scope=access.list_scope(user, None, dept))
            accounts = views.accounts_of(conn, (t["account_id"] for t in tasks))
            since = ctx.clock.now() - timedelta(days=RECENT_DAYS)
            recent = task_queue.list_tasks(conn, today, None, dept, None, "done", limit=LIMIT,
                                        scope=access.done_since(
                                            access.list_scope(user, None, dept), since))
            accounts.update(views.accounts_of(conn, (t["account_id"] for t in recent)))
            unassigned = task_queue.list_tasks(conn, today, status="open", limit=LIMIT + 1,
                                            scope=access.in_queue(scope, dept))
            queue_cards = _cards(conn, unassigned[:LIMIT], "queue", user, today)
            extras = _card_extras(conn, unassigned[:LIMIT], "queue")
        recent.sort(key=lambda t: (t["done_at"], t["id"]), reverse=True)
        for t in recent:
            t["account_name"] = accounts.get(t["account_id"], {}).get("name", t["account_id"])
            t["on_time"] = t["done_at"].date() <= t["due"]
        by_class: dict[str, list[dict[str, Any]]] = {k: [] for k in ("A", "B", "C", "D", "-")}
        for t in tasks[:BOARD_LIMIT]:
            acc = accounts.get(t["account_id"], {})
            row = {**t, "account_name": acc.get("name", t["account_id"]),
                   "days": (t["due"] - today).days}
            by_class.setdefault(acc.get("klass") or "-", []).append(row)
        return render(request, "board.html", user, department=dept, departments=departments,
                      may_choose=user.role in (MANAGER, ADMIN), by_class=by_class,
                      total=min(len(tasks), BOARD_LIMIT), more=len(tasks) > BOARD_LIMIT,
                      board_limit=BOARD_LIMIT, recent=recent, recent_days=RECENT_DAYS,
                      queue_cards=queue_cards,
                      queue_more=len(unassigned) > LIMIT, limit=LIMIT, **extras)

    return page(request, viewer, build)


# -- task actions ---------------------------------------------------------------------------


def _act(request: Request, user: Principal, task_id: int, verb: str, mode: str,
         message: str, **params: Any) -> Response:
    ctx = context(request)
    with ctx.db.connect() as conn:
        task = access.visible_task(conn, user, task_id)
    if verb == "claim":
        access.may_claim_task(user, task)
    else:
        access.may_work_task(user, task, verb)
    task_queue.act(ctx.db, task_id, verb, ctx.clock, user.email, **params)
    if not is_htmx(request):
        return back(request)
    return _card(request, user, task_id, mode, message=message)


def _mode(request: Request) -> str:
    return "queue" if request.query_params.get("mode") == "queue" else "mine"


@router.post("/tasks/{task_id}/done", response_class=HTMLResponse)
async def done(request: Request, viewer: Viewer, task_id: TaskId) -> Response:
    """Complete a task with its outcome (and the note and fields its step requires)."""
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def work(user: Principal) -> Response:
        fields = {k.removeprefix(FIELD_PREFIX): v.strip() for k, v in form.items()
                  if k.startswith(FIELD_PREFIX) and isinstance(v, str) and v.strip()}
        body = DoneIn(outcome=text("outcome") or None, note=text("note") or None,
                      fields=fields)
        return _act(request, user, task_id, "done", _mode(request),
                    f"Done: {body.outcome or 'completed'}.", outcome=body.outcome,
                    note=body.note, fields=body.fields)

    failed = _failed_card(request, viewer, task_id, _mode(request), "done", form)
    return await action(request, viewer, work, failed)


@router.post("/tasks/{task_id}/snooze", response_class=HTMLResponse)
async def snooze(request: Request, viewer: Viewer, task_id: TaskId) -> Response:
    """Put a task aside until a date (within its step's limit), with a reason."""
    form = await request.form()

    def work(user: Principal) -> Response:
        body = SnoozeIn(until=form.get("until") or None,
                        reason=form.get("reason") or "")
        return _act(request, user, task_id, "snooze", _mode(request),
                    f"Snoozed until {body.until.isoformat()}.", until=body.until,
                    reason=body.reason)

    failed = _failed_card(request, viewer, task_id, _mode(request), "snooze", form)
    return await action(request, viewer, work, failed)


@router.post("/tasks/{task_id}/skip", response_class=HTMLResponse)
async def skip(request: Request, viewer: Viewer, task_id: TaskId) -> Response:
    """Skip a task, with a reason (the adherence report counts skips by reason)."""
    form = await request.form()

    def work(user: Principal) -> Response:
        body = SkipIn(reason=form.get("reason") or "")
        return _act(request, user, task_id, "skip", _mode(request), "Skipped.",
                    reason=body.reason)

    failed = _failed_card(request, viewer, task_id, _mode(request), "skip", form)
    return await action(request, viewer, work, failed)


@router.post("/tasks/{task_id}/assign", response_class=HTMLResponse)
async def assign(request: Request, viewer: Viewer, task_id: TaskId) -> Response:
    """Assign a task (from a department's queue) to a person."""
    form = await request.form()

    def work(user: Principal) -> Response:
        body = ReassignIn(to=form.get("to") or "")
        return _act(request, user, task_id, "reassign", "queue", f"Assigned to {body.to}.",
                    person=body.to)

    failed = _failed_card(request, viewer, task_id, "queue", "assign", form)
    return await action(request, viewer, work, failed)


@router.post("/tasks/{task_id}/claim", response_class=HTMLResponse)
async def claim(request: Request, viewer: Viewer, task_id: TaskId) -> Response:
    """Take a task from my department's queue."""
    form = await request.form()

    def work(user: Principal) -> Response:
        return _act(request, user, task_id, "claim", "mine", "Claimed: it is in your queue now.",
                    person=user.email)

    failed = _failed_card(request, viewer, task_id, "queue", "", form)
    return await action(request, viewer, work, failed)


# -- contacts ---------------------------------------------------------------------------------


@router.post("/accounts/{account_id}/contacts", response_class=HTMLResponse)
async def log_contact(request: Request, viewer: Viewer,
                      account_id: Annotated[str, Path(min_length=1, max_length=64)]) -> Response:
    """Log my contact with an account; it completes an open contact-frequency check."""
    form = await request.form()

    def work(user: Principal) -> Response:
        ctx = context(request)
        body = ContactIn(channel=form.get("channel") or "",
                         note=form.get("note") or "",
                         date=form.get("date") or None)
        with ctx.db.connect() as conn:
            access.may_log_contact(user, access.visible_account(conn, user, account_id))
        counts = task_queue.log_contact(ctx.db, account_id, body.channel, user.email,
                                  body.note, body.date, ctx.clock)
        if not is_htmx(request):
            return back(request, f"/accounts/{account_id}")
        day = (body.date or ctx.clock.now().date()).isoformat()
        done = counts.checks_completed
        more = (f"; it completed {done} contact check{'s' if done != 1 else ''}" if done else "")
        return render(request, "_flash.html", user,
                      message=f"Contact logged: {body.channel} on {day}{more}.")

    def failed(status: int, message: str) -> Response:
        return render(request, "_flash.html", viewer, status, error=message)

    return await action(request, viewer, work, failed)


# -- account plans ----------------------------------------------------------------------------


@router.post("/accounts/{account_id}/plan", response_class=HTMLResponse)
async def save_plan(request: Request, viewer: Viewer,
                    account_id: Annotated[str, Path(min_length=1, max_length=64)]) -> Response:
    """Save the account plan edited on the account page (the YAML of `kamflow plan edit`)."""
    form = await request.form()

    def work(user: Principal) -> Response:
        ctx = context(request)
        body = PlanIn(yaml=str(form.get("yaml") or ""))
        with ctx.db.connect() as conn:
            access.may_edit_plan(user, access.visible_account(conn, user, account_id))
        try:
            saved = plans.save(ctx.db, account_id, body.yaml, "plan.yaml", user.email,
                               ctx.clock)
        except PlaybookError as e:  # every problem, each naming its line and field
            raise ApiError(422, str(e)) from e
        if not is_htmx(request):
            return back(request, f"/accounts/{account_id}")
        year, revision = saved["fiscal_year"], saved["revision"]
        message = (f"The FY{year} plan is unchanged (revision {revision})." if saved["unchanged"]
                   else f"Saved the FY{year} plan as revision {revision}"
                   + (f": {len(saved['changes'])} field(s) changed." if revision > 1 else "."))
        return render(request, "_flash.html", user, message=message)

    def failed(status: int, message: str) -> Response:
        return render(request, "_flash.html", viewer, status, error=message)

    return await action(request, viewer, work, failed)
