"""Working tasks in the browser: the htmx actions of a task card, contacts and plans; My
queue, the department board and bulk actions are in pages_queue, pages_board and
pages_bulk, included here.

Each action posts a small form to a page endpoint here, which calls the same use cases as
the API (kamflow.queue.act / log_contact, after the same kamflow.access checks) and
answers with the task's card re-rendered, so the card updates in place. A refused action
(a required outcome missing, a snooze past the step's limit...) answers 409/422 with the
card showing the error and the form still open with what was typed; nothing changed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse

from kamflow import access, plans
from kamflow import queue as task_queue
from kamflow.errors import NotFound
from kamflow.people import Principal
from kamflow.playbooks.errors import PlaybookError
from kamflow.web import pages_board, pages_bulk, pages_queue, task_cards
from kamflow.web.deps import context
from kamflow.web.errors import ApiError
from kamflow.web.pagekit import Viewer, action, back, is_htmx, render
from kamflow.web.schemas.accounts import ContactIn, PlanIn
from kamflow.web.schemas.base import MAX_ID
from kamflow.web.schemas.tasks import DoneIn, ReassignIn, SkipIn, SnoozeIn

router = APIRouter()
router.include_router(pages_queue.router)
router.include_router(pages_board.router)
router.include_router(pages_bulk.router)
TaskId = Annotated[int, Path(ge=1, le=MAX_ID)]
FIELD_PREFIX = "field_"


def _card(request: Request, user: Principal, task_id: int, mode: str, status: int = 200,
          **extra: Any) -> HTMLResponse:
    ctx = context(request)
    today = ctx.clock.now().date()
    with ctx.db.connect() as conn:
        row = dict(access.visible_task(conn, user, task_id)._mapping)
        card = task_cards.cards(conn, [row], mode, user, today)[0]
        more = task_cards.extras(conn, [row], mode)
    return render(request, "_task.html", user, status, card=card, **more, **extra)


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
