"""/api/accounts: the list (searched, filtered, sorted, paged), one account's "why", a manual
move, contacts and events."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from kamflow import access, account_list, accounts, queue
from kamflow.account_list import SORTS
from kamflow.web.deps import ActingMoment, Moment, User, WebContext, context
from kamflow.web.schemas.accounts import (
    AccountDetail,
    AccountOut,
    ContactIn,
    ContactOut,
    EventIn,
    EventOut,
    MovedOut,
    MoveIn,
)
from kamflow.web.schemas.base import Clean

router = APIRouter(prefix="/accounts", tags=["accounts"])
Ctx = Annotated[WebContext, Depends(context)]
AccountId = Annotated[str, Path(min_length=1, max_length=64), Clean]


PAGE_HEADERS = {
    "X-Total-Count": {"description": "How many accounts the filters keep (every page).",
                      "schema": {"type": "integer"}},
    "X-Next-Cursor": {"description": "The `cursor` of the next page; absent on the last.",
                      "schema": {"type": "string"}},
    "Link": {"description": '`<next page URL>; rel="next"`; absent on the last page.',
             "schema": {"type": "string"}},
}


@router.get("", response_model=list[AccountOut], response_model_by_alias=True,
            responses={200: {"headers": PAGE_HEADERS}})
def list_accounts(
    ctx: Ctx, user: User, request: Request, response: Response, clock: Moment,
    q: Annotated[str | None, Query(max_length=200, description=(
        "An account id (exactly, in any case) or the start of a name (any case)."
    )), Clean] = None,
    klass: Annotated[Literal["A", "B", "C", "D"] | None, Query(alias="class")] = None,
    state: Annotated[str | None, Query(max_length=64), Clean] = None,
    owner: Annotated[str | None, Query(max_length=254), Clean] = None,
    key: Annotated[bool, Query(description="Only key accounts.")] = False,
    score_min: Annotated[float | None, Query(ge=0, le=100, description=(
        "Retention score band, lowest (0-100); accounts without a score are left out."))] = None,
    score_max: Annotated[float | None, Query(ge=0, le=100, description=(
        "Retention score band, highest (0-100)."))] = None,
    overdue: Annotated[bool, Query(description="Only accounts with an open task past its due "
                                               "date.")] = False,
    sort: Annotated[str, Query(max_length=20, json_schema_extra={"enum": list(SORTS)},
                               description=("name, id, score (retention) or potential; a "
                                            "leading - sorts descending. An account manager's "
                                            "own accounts come first."))] = "id",
    limit: Annotated[int, Query(ge=1, le=account_list.MAX_LIMIT)] = account_list.DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2000, description=(
        "X-Next-Cursor of the previous page."))] = None,
) -> list[dict[str, object]]:
    """Accounts the caller may see, with class and state as of the last sweep: a page at a
    time, in keyset order (a row is listed once across pages while rows are added);
    X-Total-Count counts them all."""
    asked = account_list.Asked(q=q, state=state, klass=klass, key_only=key, owner=owner,
                               score_min=score_min, score_max=score_max, overdue=overdue,
                               sort=sort, limit=limit, cursor=cursor)
    with ctx.db.connect() as conn:
        listed = account_list.list_page(conn, asked, clock.now().date(),
                                        scope=access.account_scope(user), viewer=user)
    response.headers["X-Total-Count"] = str(listed.total)
    if listed.next_cursor is not None:
        following = request.url.include_query_params(cursor=listed.next_cursor)
        response.headers["X-Next-Cursor"] = listed.next_cursor
        response.headers["Link"] = f'<{following}>; rel="next"'
    return listed.rows


@router.get("/{account_id}", response_model=AccountDetail)
def show_account(ctx: Ctx, user: User, account_id: AccountId, clock: Moment) -> dict[str, object]:
    """Metrics, class, state and every transition with the rule and values that fired it."""
    with ctx.db.connect() as conn:
        access.visible_account(conn, user, account_id)
        return accounts.show(conn, account_id, clock.now())


@router.post("/{account_id}/move", response_model=MovedOut)
def move_account(ctx: Ctx, user: User, account_id: AccountId, body: MoveIn,
                 clock: ActingMoment) -> dict[str, object]:
    """Move the account along a transition the lifecycle declares, with a reason."""
    with ctx.db.connect() as conn:
        access.may_move_account(user, access.visible_account(conn, user, account_id))
    moved = accounts.move(ctx.db, account_id, body.state, body.reason, user.email, clock)
    return {"account_id": moved.account_id, "from": moved.source, "to": moved.dest,
            "rule": moved.rule, "at": moved.at}


@router.post("/{account_id}/contacts", response_model=ContactOut, status_code=201)
def log_contact(ctx: Ctx, user: User, account_id: AccountId, body: ContactIn,
                clock: ActingMoment) -> dict[str, object]:
    """Log the caller's contact with the account; it completes an open contact check."""
    with ctx.db.connect() as conn:
        access.may_log_contact(user, access.visible_account(conn, user, account_id))
    counts = queue.log_contact(ctx.db, account_id, body.channel, user.email, body.note,
                                 body.date, clock, customer_role=body.customer_role or "")
    return {"account_id": account_id, "channel": body.channel,
            "date": body.date or clock.now().date(), "checks_completed": counts.checks_completed}


@router.post("/{account_id}/events", response_model=EventOut, status_code=201)
def post_event(ctx: Ctx, user: User, account_id: AccountId, body: EventIn,
               clock: ActingMoment) -> dict[str, object]:
    """Report an event (quote_created, order_placed, ...); the steps it triggers become tasks."""
    with ctx.db.connect() as conn:
        access.may_post_event(user, access.visible_account(conn, user, account_id))
    counts = queue.post_event(ctx.db, account_id, body.event, body.ref, user.email, clock,
                              outcome=body.outcome, amount=body.amount)
    return {"account_id": account_id, "event": body.event, "ref": body.ref,
            "tasks_created": counts.created, "outcome": body.outcome, "amount": body.amount}
