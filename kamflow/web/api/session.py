"""Logging in and out, the caller (/api/me), their API tokens and calendar URL."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from kamflow import access, people
from kamflow.errors import NotFound
from kamflow.web.deps import (
    User,
    WebContext,
    context,
    end_session,
    optional_user,
    require_csrf,
    start_session,
)
from kamflow.web.errors import ApiError, ErrorOut
from kamflow.web.schemas.base import MAX_ID
from kamflow.web.schemas.people import (
    CalendarOut,
    LoginIn,
    MeOut,
    MyPasswordIn,
    TokenCreated,
    TokenIn,
    TokenOut,
)

router = APIRouter(tags=["session"])
Ctx = Annotated[WebContext, Depends(context)]
TokenId = Annotated[int, Path(ge=1, le=MAX_ID)]


def me_json(user: people.Principal) -> dict[str, Any]:
    return {"email": user.email, "name": user.name, "role": user.role,
            "department": user.department, "via": user.via, "csrf_token": user.csrf}


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login", response_model=MeOut,
             responses={429: {"model": ErrorOut, "description": "Too many failed logins"}})
def login(ctx: Ctx, request: Request, response: Response, body: LoginIn) -> dict[str, Any]:
    """Check email and password; set the session cookie and the CSRF cookie.
    Throttled: after 5 failures for one email from one address (20 for one email, 50 for
    one address, 1000 in all) within 15 minutes, each further try must wait 1 s, 2 s, 4 s...
    (429 with Retry-After); a right password still logs in once the wait is over."""
    user = people.login(ctx.db, body.email, body.password, client_ip(request), ctx.clock)
    csrf = start_session(response, ctx, user)
    return {**me_json(user), "csrf_token": csrf}


@router.post("/logout", status_code=204, response_class=Response)
async def logout(request: Request,
                 user: Annotated[people.Principal | None, Depends(optional_user)]) -> Response:
    """End the session (a copy of its cookie stops working too) and clear the cookies; with a
    valid session, the CSRF token is required."""
    if user is not None:
        await require_csrf(request, user)
    response = Response(status_code=204)
    await run_in_threadpool(end_session, response, context(request), user)
    return response


@router.get("/me", response_model=MeOut)
def me(user: User) -> dict[str, Any]:
    return me_json(user)


@router.post("/me/password", status_code=204, response_class=Response,
             responses={429: {"model": ErrorOut, "description": "Too many failed attempts"}})
def change_my_password(ctx: Ctx, request: Request, user: User, body: MyPasswordIn) -> Response:
    """Change your own password (give the current one). Log in again afterwards."""
    try:
        people.login(ctx.db, user.email, body.current, client_ip(request), ctx.clock)
    except people.LoginFailed:
        raise ApiError(422, "current: not your current password", "current") from None
    people.set_password(ctx.db, user.email, body.password, ctx.clock, user.email)
    return Response(status_code=204)


@router.post("/me/calendar-token", response_model=CalendarOut)
def rotate_calendar(ctx: Ctx, request: Request, user: User) -> dict[str, Any]:
    """A new secret URL for your calendar feed of open tasks; the old one stops working."""
    secret = people.rotate_calendar_token(ctx.db, user.email)
    return {"url": str(request.url_for("calendar_feed", token=secret))}


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(ctx: Ctx, user: User) -> list[dict[str, Any]]:
    """Your API tokens (an admin sees everyone's)."""
    with ctx.db.connect() as conn:
        return people.list_tokens(conn, None if user.role == access.ADMIN else user.email)


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(ctx: Ctx, user: User, body: TokenIn) -> dict[str, Any]:
    """A new API token for scripts (`Authorization: Bearer <token>`): shown once."""
    email = body.email or user.email
    access.may_act_for(user, email)
    token_id, secret = people.create_token(ctx.db, email, body.name, ctx.clock, user.email)
    with ctx.db.connect() as conn:
        return {**people.token_row(conn, token_id)._mapping, "token": secret}


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(ctx: Ctx, user: User, token_id: TokenId) -> dict[str, Any]:
    """Revoke a token of yours (an admin: anyone's). Revoking twice is not an error."""
    with ctx.db.connect() as conn:
        row = people.token_row(conn, token_id)
    if row is None or (user.role != access.ADMIN and row.email != user.email):
        raise NotFound(f"unknown token {token_id}")
    return dict(people.revoke_token(ctx.db, token_id, ctx.clock, user.email)._mapping)
