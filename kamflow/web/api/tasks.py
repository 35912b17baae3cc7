"""/api/tasks: the queue and board queries, one task, and the guarded actions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query

from kamflow import access, queue
from kamflow.web.deps import ActingMoment, Moment, User, WebContext, context
from kamflow.web.schemas.base import MAX_ID, Clean
from kamflow.web.schemas.tasks import ClaimIn, DoneIn, ReassignIn, SkipIn, SnoozeIn, TaskDetail, TaskOut

router = APIRouter(prefix="/tasks", tags=["tasks"])
Ctx = Annotated[WebContext, Depends(context)]
TaskId = Annotated[int, Path(ge=1, le=MAX_ID)]
PARTIES = ("co_responsible", "consulted", "informed")
Status = Literal["open", "overdue", "due-today", "upcoming", "done", "snoozed", "skipped",
                 "missed", "cancelled", "all"]
assert set(Status.__args__) == set(queue.STATUSES)  # type: ignore[attr-defined]


def task_json(row: Any) -> dict[str, Any]:
    """A task row as the API shows it: the ",a,b," party lists as lists."""
    data = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    for name in PARTIES:
        data[name] = [p for p in (data.get(name) or "").split(",") if p]
    return data


@router.get("", response_model=list[TaskOut])
def list_tasks(
    ctx: Ctx, user: User, clock: Moment,
    assignee: Annotated[str | None, Query(max_length=254, description="A person's queue"),
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
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    step: Annotated[str | None, Query(max_length=130, description="A playbook step, "
                                      "state.key (e.g. loyal.quarterly_plan_review)"),
                    Clean] = None,
) -> list[dict[str, Any]]:
    """The tasks the caller may see, filtered like `kamflow tasks`."""
    with ctx.db.connect() as conn:
        rows = queue.list_tasks(conn, clock.now().date(), assignee, department, raci, status,
                                  account, limit, step=step,
                                  scope=access.list_scope(user, assignee, department))
    return [task_json(r) for r in rows]


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
