"""My queue: the tasks assigned to me and my department's unclaimed queue.

Unfiltered, it is an overview: exact counts of my tasks overdue, due today, this week,
later and snoozed, the first few of each, and the first few of the department's queue, each
with a link to the whole list. Filtered (kamflow.web.task_lists), or with ?view=queue, it
is one list of cards, 50 a page. Every card keeps its in-place actions
(kamflow.web.pages_work); ticked cards take a bulk action (kamflow.web.pages_bulk).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from kamflow import access
from kamflow import queue as task_queue
from kamflow.access import ADMIN, LEAD
from kamflow.people import Principal
from kamflow.web import task_cards, task_lists
from kamflow.web.deps import context
from kamflow.web.pagekit import Viewer, field_message, page, render

if TYPE_CHECKING:
    from sqlalchemy import Connection

router = APIRouter()
SECTION = 10  # cards per section of the overview
QUEUE_PREVIEW = 5  # cards of the department's queue on the overview
# the overview's sections: (id, title, due=)
SECTIONS = (("overdue", "Overdue", "overdue"), ("today", "Due today", "due-today"),
            ("week", "This week", "week"), ("later", "Later", "later"),
            ("snoozed", "Snoozed", "snoozed"))
MINE = ("snooze", "done", "skip")
QUEUED = ("claim", "assign")


@router.get("/", response_class=HTMLResponse)
def queue(request: Request, viewer: Viewer) -> Response:
    """The tasks assigned to me, by due date; my department's queue, to claim."""

    def build(user: Principal) -> Response:
        ctx = context(request)
        today = ctx.clock.now().date()
        a = task_lists.asked(request.query_params)
        view = "queue" if request.query_params.get("view") == "queue" else "mine"
        mine: dict[str, Any] = {"person": user.email, "raci": "R",
                                "scope": access.list_scope(user, user.email, None)}
        queued: dict[str, Any] = {"queue": user.department, "scope": access.task_scope(user)}
        values: dict[str, Any] = {}
        with ctx.db.connect() as conn:
            if view == "mine" and not a.filtered:
                values = _overview(conn, user, today, mine, queued)
            else:
                values = _list(conn, user, today, a, view, mine if view == "mine" else queued)
            values.update(task_lists.choices(conn))
        extra = {"view": "queue"} if view == "queue" else {}
        return render(request, "queue.html", user, 422 if values.get("error") else 200,
                      a=a, view=view, due_labels=task_lists.DUE, sorts=task_lists.SORTS,
                      classes=task_lists.CLASSES,
                      link=lambda **c: "/?" + task_lists.query(a.but(**c), **extra),
                      **values)

    return page(request, viewer, build)


def _overview(conn: Connection, user: Principal, today: date, mine: dict[str, Any],
              queued: dict[str, Any]) -> dict[str, Any]:
    counts = task_lists.counts(conn, task_queue.TaskFilter(today, **mine), task_lists.Asked())
    sections = []
    everything: list[dict[str, Any]] = []
    for key, title, due in SECTIONS:
        f = task_lists.to_filter(task_lists.Asked(due=due), user, today, **mine)
        rows = task_queue.task_page(conn, f, limit=SECTION, total=False).rows
        everything += rows
        sections.append((key, title, due, rows, counts.due[due]))
    cards = {t["id"]: c for t, c in zip(everything, task_cards.cards(
        conn, everything, "mine", user, today), strict=True)}
    in_queue = task_queue.task_page(conn, task_queue.TaskFilter(today, **queued),
                                    limit=QUEUE_PREVIEW)
    queue_cards = task_cards.cards(conn, in_queue.rows, "queue", user, today)
    shown = [(key, title, due, [cards[t["id"]] for t in rows], n)
             for key, title, due, rows, n in sections]
    return {"sections": shown, "counts": counts, "queue_cards": queue_cards,
            "queue_total": in_queue.total, "section_size": SECTION,
            "actions": MINE + (("claim",) if queue_cards else ()),
            **task_cards.extras(conn, in_queue.rows, "queue")}


def _list(conn: Connection, user: Principal, today: date, a: task_lists.Asked, view: str,
          base: dict[str, Any]) -> dict[str, Any]:
    try:
        f = task_lists.to_filter(a.but(holder="", raci=""), user, today, **base)
        listed = task_queue.task_page(conn, f, a.sort, task_lists.after(a), total=False)
        counts = task_lists.counts(conn, f, a)
    except ValueError as e:
        return {"error": field_message(str(e)), "cards": [], "counts": None, "shown": None,
                "actions": ()}
    listed = task_queue.Page(listed.rows, counts.total, listed.next_key)
    mode = "queue" if view == "queue" else "mine"
    extra = {"view": "queue"} if view == "queue" else {}
    return {"cards": task_cards.cards(conn, listed.rows, mode, user, today), "counts": counts,
            "shown": task_lists.shown(a, listed, **extra), "error": "",
            "actions": (QUEUED if user.role in (LEAD, ADMIN) else ("claim",))
            if view == "queue" else MINE,
            **task_cards.extras(conn, listed.rows, mode)}
