"""Bulk actions from a list page: the ticked tasks, one action, one confirmation.

The list's bulk form posts the ids and the action here; the answer is a confirmation that
names the action and how many tasks (htmx swaps it in above the list; without JavaScript it
is a page). Confirming posts the same again with confirm=yes: kamflow.bulk_actions runs it
in one transaction, and the answer says how many were changed and, task by task, why the
others were refused. htmx then reloads the list in place (the `tasks-changed` event).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from kamflow import access, bulk_actions
from kamflow import queue as task_queue
from kamflow.people import Principal
from kamflow.web.deps import context
from kamflow.web.errors import ApiError
from kamflow.web.pagekit import Viewer, action, field_message, is_htmx, render
from kamflow.web.schemas.tasks import BulkIn

router = APIRouter()
VERBS = {"claim": ("Claim", "Claimed"), "assign": ("Assign", "Assigned"),
         "snooze": ("Snooze", "Snoozed"), "done": ("Complete", "Completed"),
         "skip": ("Skip", "Skipped")}
NAMED = 10  # tasks named in the confirmation (then "and N more")


def _asked(form: Any) -> BulkIn:
    """The form as the API's body: the action's own reason field (snooze_reason,
    skip_reason) or `reason`; ValidationError / ApiError naming the field."""
    verb = str(form.get("action") or "")

    def text(name: str) -> str | None:
        value = form.get(name)
        return value.strip() or None if isinstance(value, str) else None

    ids: list[int] = []
    for raw in form.getlist("ids"):
        if not (isinstance(raw, str) and raw.isdigit()):
            raise ApiError(422, f"ids: '{raw}' is not a task id", "ids")
        ids.append(int(raw))
    if not ids:
        raise ApiError(422, "ids: tick at least one task", "ids")
    data: dict[str, Any] = {"action": verb, "ids": list(dict.fromkeys(ids)),
                            "reason": text(f"{verb}_reason") or text("reason")}
    for name in ("to", "until", "outcome", "note"):
        data[name] = text(name)
    return BulkIn(**data)


@router.post("/tasks/bulk", response_class=HTMLResponse)
async def bulk(request: Request, viewer: Viewer) -> Response:
    """Confirm, then run, one action on the ticked tasks."""
    form = await request.form()

    def work(user: Principal) -> Response:
        ctx = context(request)
        body = _asked(form)
        params = {"to": body.to, "until": body.until, "reason": body.reason,
                  "outcome": body.outcome, "note": body.note}
        bulk_actions.check(body.action, body.ids, **params)
        verb, past = VERBS[body.action]
        with ctx.db.connect() as conn:
            named = {t["id"]: t for t in task_queue.tasks_by_id(
                conn, body.ids, access.task_scope(user))}
        page = "_bulk.html" if is_htmx(request) else "bulk.html"
        if form.get("confirm") != "yes":
            shown = [named[i] for i in body.ids if i in named][:NAMED]
            return render(request, page, user, stage="confirm", body=body, verb=verb,
                          named=shown, more=len(body.ids) - len(shown))
        done = bulk_actions.run(ctx.db, user, body.action, body.ids, ctx.clock, **params)
        refused = [{"id": o.task_id, "error": field_message(o.error),
                    "title": named.get(o.task_id, {}).get("title", "")}
                   for o in done.refused]
        response = render(request, page, user, stage="done", body=body, verb=verb,
                          past=past, changed=len(done.changed), refused=refused)
        response.headers["HX-Trigger"] = "tasks-changed"
        return response

    def failed(status: int, message: str) -> Response:
        return render(request, "_bulk.html", viewer, status, stage="error", error=message)

    return await action(request, viewer, work, failed)

