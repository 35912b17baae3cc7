"""/api/accounts: the list, one account's "why", a manual move, contacts and events."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from kamflow import access, accounts, queue
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


@router.get("", response_model=list[AccountOut], response_model_by_alias=True)
def list_accounts(
    ctx: Ctx, user: User,
    klass: Annotated[Literal["A", "B", "C", "D"] | None, Query(alias="class")] = None,
    state: Annotated[str | None, Query(max_length=64), Clean] = None,
    owner: Annotated[str | None, Query(max_length=254), Clean] = None,
    key: Annotated[bool, Query(description="Only key accounts.")] = False,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> list[dict[str, object]]:
    """Accounts the caller may see, with class and state as of the last sweep."""
    with ctx.db.connect() as conn:
        return accounts.list_accounts(conn, klass, state, owner, key,
                                      scope=access.account_scope(user), limit=limit)


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
