"""/api/tasks: the queue and board queries, one task, and the guarded actions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from kamflow import access, bulk_actions, queue
from kamflow.web.deps import ActingMoment, Moment, User, WebContext, context
from kamflow.web.pagekit import field_message
from kamflow.web.schemas.base import MAX_ID, Clean
from kamflow.web.schemas.tasks import (
    BulkIn,
    BulkOut,
    ClaimIn,
    DoneIn,
    ReassignIn,
    SkipIn,
    SnoozeIn,
    TaskDetail,
    TaskOut,
)

router = APIRouter(prefix="/tasks", tags=["tasks"])
Ctx = Annotated[WebContext, Depends(context)]
TaskId = Annotated[int, Path(ge=1, le=MAX_ID)]
PARTIES = ("co_responsible", "consulted", "informed")
Status = Literal["open", "overdue", "due-today", "upcoming", "done", "snoozed", "skipped",
                 "missed", "cancelled", "all"]
assert set(Status.__args__) == set(queue.STATUSES)  # type: ignore[attr-defined]
Sort = Literal["due", "-due"]
assert set(Sort.__args__) == set(queue.SORTS)  # type: ignore[attr-defined]
MAX_LIMIT = 100_000


def task_json(row: Any) -> dict[str, Any]:
    """A task row as the API shows it: the ",a,b," party lists as lists."""
    data = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    for name in PARTIES:
        data[name] = [p for p in (data.get(name) or "").split(",") if p]
    return data


PAGE_HEADERS = {
    "X-Total-Count": {"description": "How many tasks the filters keep (every page).",
                      "schema": {"type": "integer"}},
    "X-Next-Cursor": {"description": "The `cursor` of the next page; absent on the last.",
                      "schema": {"type": "string"}},
    "Link": {"description": '`<next page URL>; rel="next"`; absent on the last page.',
             "schema": {"type": "string"}},
}


@router.get("", response_model=list[TaskOut], responses={200: {"headers": PAGE_HEADERS}})
def list_tasks(
    ctx: Ctx, user: User, clock: Moment, request: Request, response: Response,
    assignee: Annotated[str | None, Query(max_length=254, description="A person's queue: "
                                          "the tasks where they are R, A, C or I"),
                        Clean] = None,
    department: Annotated[str | None, Query(max_length=64, description="A department's board"),
                          Clean] = None,
    raci: Annotated[Literal["R", "A", "C", "I"] | None,
                    Query(description="Only where the person or department is R, A, C or I")
                    ] = None,
    status: Annotated[Status, Query(description="open covers snoozed too; overdue, due-today "
                                                "and upcoming are open tasks by due date")
                      ] = "open",
    account: Annotated[str | None, Query(max_length=64), Clean] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT, description=(
        "Tasks per page (keyset paging; see X-Next-Cursor). Without it and without a cursor, "
        "every task the filters keep"))] = None,
    step: Annotated[str | None, Query(max_length=130, description="A playbook step, "
                                      "state.key (e.g. loyal.quarterly_plan_review)"),
                    Clean] = None,
    klass: Annotated[Literal["A", "B", "C", "D", "-"] | None, Query(
        alias="class", description="The account's class; - for one not classified yet")] = None,
    key: Annotated[bool | None, Query(description="Only key accounts (true) or only the "
                                                  "others (false)")] = None,
    state: Annotated[str | None, Query(max_length=64, description="The lifecycle state "
                                       "whose playbook made the task"), Clean] = None,
    holder: Annotated[str | None, Query(max_length=254, description=(
        "Who holds the task now: a person's email (its assignee), or queue:<department> "
        "for a department's unclaimed queue")), Clean] = None,
    sort: Annotated[Sort, Query(description="due (soonest first) or -due (latest first); "
                                            "ties by id")] = "due",
    cursor: Annotated[str | None, Query(max_length=2000, description=(
        "X-Next-Cursor of the previous page."))] = None,
) -> list[dict[str, Any]]:
    """The tasks the caller may see, filtered like `kamflow tasks`: a page at a time with
    `limit` (keyset order: a task is listed once across pages while tasks are added);
    X-Total-Count counts them all."""
    person, queue_of = _holder(holder)
    f = queue.TaskFilter(clock.now().date(), assignee, department, raci, status, account, step,
                         state, klass, key, person, queue_of,
                         scope=access.list_scope(user, assignee, department))
    after = queue.key_of(cursor, sort) if cursor else None
    size = limit or (queue.PAGE if cursor else None)
    with ctx.db.connect() as conn:
        page = queue.task_page(conn, f, sort, after, size)
    response.headers["X-Total-Count"] = str(page.total)
    if page.next_key is not None:
        following = queue.cursor_of(sort, page.next_key)
        response.headers["X-Next-Cursor"] = following
        url = request.url.include_query_params(cursor=following, limit=size)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return [task_json(r) for r in page.rows]


def _holder(holder: str | None) -> tuple[str | None, str | None]:
    """holder= as (assignee, queue)."""
    if not holder:
        return None, None
    if holder.startswith("queue:"):
        return None, holder.removeprefix("queue:") or None
    return holder, None


@router.post("/bulk", response_model=BulkOut)
def bulk(ctx: Ctx, user: User, body: BulkIn, clock: ActingMoment) -> dict[str, Any]:
    """One action on many tasks (claim, assign, snooze, done, skip) in one transaction, an
    audit event per task changed. Each task is checked as its single action checks it; a
    refused one is left as it was and answers the single action's code and reason, and does
    not stop the others."""
    done = bulk_actions.run(ctx.db, user, body.action, body.ids, clock, to=body.to,
                            until=body.until, reason=body.reason, outcome=body.outcome,
                            note=body.note, fields=body.fields)
    return {"action": done.action, "changed": len(done.changed), "refused": len(done.refused),
            "results": [{"id": o.task_id, "ok": o.ok, "status": o.status, "code": o.code,
                         "error": field_message(o.error)} for o in done.outcomes]}


@router.get("/{task_id}", response_model=TaskDetail)
def show_task(ctx: Ctx, user: User, task_id: TaskId) -> dict[str, Any]:
    with ctx.db.connect() as conn:
        return task_json(access.visible_task(conn, user, task_id))


def _act(ctx: WebContext, user: User, task_id: int, action: str, clock: ActingMoment,
         **params: Any) -> dict[str, Any]:
    with ctx.db.connect() as conn:
        task = access.visible_task(conn, user, task_id)
    if action == "claim":
        access.may_claim_task(user, task)
    else:
        access.may_work_task(user, task, action)
    queue.act(ctx.db, task_id, action, clock, user.email, **params)
    with ctx.db.connect() as conn:
        return task_json(access.task_row(conn, task_id))


@router.post("/{task_id}/done", response_model=TaskDetail)
def done(ctx: Ctx, user: User, task_id: TaskId, body: DoneIn, clock: ActingMoment
         ) -> dict[str, Any]:
    """Complete the task with what its step requires (outcome, note, fields)."""
    return _act(ctx, user, task_id, "done", clock, outcome=body.outcome, note=body.note,
                fields={k.strip(): v.strip() for k, v in body.fields.items()})


@router.post("/{task_id}/snooze", response_model=TaskDetail)
def snooze(ctx: Ctx, user: User, task_id: TaskId, body: SnoozeIn, clock: ActingMoment
           ) -> dict[str, Any]:
    """Put the task aside until a date, within its step's snooze limit."""
    return _act(ctx, user, task_id, "snooze", clock, until=body.until, reason=body.reason)


@router.post("/{task_id}/skip", response_model=TaskDetail)
def skip(ctx: Ctx, user: User, task_id: TaskId, body: SkipIn, clock: ActingMoment
         ) -> dict[str, Any]:
    return _act(ctx, user, task_id, "skip", clock, reason=body.reason)


@router.post("/{task_id}/reassign", response_model=TaskDetail)
def reassign(ctx: Ctx, user: User, task_id: TaskId, body: ReassignIn, clock: ActingMoment
             ) -> dict[str, Any]:
    return _act(ctx, user, task_id, "reassign", clock, person=body.to)


@router.post("/{task_id}/claim", response_model=TaskDetail)
def claim(ctx: Ctx, user: User, task_id: TaskId, clock: ActingMoment,
          body: Annotated[ClaimIn | None, Body()] = None) -> dict[str, Any]:
    """Take the task from your department's queue."""
    return _act(ctx, user, task_id, "claim", clock, person=user.email)
