"""The web pages: server-rendered Jinja2 with htmx for the actions, no front-end build.

`router` holds every page; `static_files()` serves kamflow/web/static (the vendored
htmx.min.js and the stylesheet) under /static, so every page works offline.

| page | for | module |
|---|---|---|
| /login, /logout | everyone | here |
| / (my queue: counts, sections, the queue tab) | everyone with tasks | kamflow.web.pages_queue |
| task and contact actions (htmx cards) | everyone with tasks | kamflow.web.pages_work |
| /tasks/bulk (confirm, then one transaction) | everyone with tasks | kamflow.web.pages_bulk |
| /board?department= (RACI by account class; the queue) | leads, managers | kamflow.web.pages_board |
| /adherence, /adherence.csv | managers, admins | kamflow.web.pages_insight |
| /portfolio | managers, admins | kamflow.web.pages_insight |
| /accounts, /accounts.csv (search, filters, pages) | everyone | kamflow.web.pages_account_list |
| /accounts/{id}, its move and plan form | who sees it (kamflow.access) | kamflow.web.pages_account |
| /playbooks | everyone | kamflow.web.pages_insight |
| /admin/people, /admin/tokens (people, API tokens) | admins | kamflow.web.pages_admin |
| /admin/playbooks (upload, compare, activate a version) | admins | kamflow.web.pages_admin_playbooks |

Pages use the API's dependencies (kamflow.web.deps) and policy, and call the same use
cases. Routes are left out of the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from kamflow import people, security
from kamflow.web import (
    pages_account,
    pages_account_list,
    pages_admin,
    pages_admin_playbooks,
    pages_insight,
    pages_work,
)
from kamflow.web.deps import context, end_session, require_csrf, start_session
from kamflow.web.errors import ApiError
from kamflow.web.pagekit import STATIC, Viewer, error_page, render, safe_next

router = APIRouter(include_in_schema=False)
LOGIN_COOKIE = "kamflow_login"  # the login form's CSRF token (double submit)


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC)


def _login_form(request: Request, status: int = 200, error: str = "", email: str = "",
                next_: str = "/") -> HTMLResponse:
    token = security.new_secret()
    response = render(request, "login.html", None, status, error=error, email=email,
                      next=safe_next(next_), login_token=token)
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/login", httponly=True,
                        samesite="strict", secure=context(request).settings.cookie_secure)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, viewer: Viewer, next: str = "/") -> Response:
    if viewer is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_form(request, next_=next)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, email: Annotated[str, Form(max_length=254)] = "",
                password: Annotated[str, Form(max_length=256)] = "",
                csrf_token: Annotated[str, Form(max_length=200)] = "",
                next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not csrf_token or not security.same(csrf_token, expected):
        return _login_form(request, 403, "The form had expired: please log in again.", email,
                           next)
    ctx = context(request)
    ip = request.client.host if request.client else "unknown"
    try:
        user = await run_in_threadpool(people.login, ctx.db, email, password, ip, ctx.clock)
    except people.RateLimited as e:
        n = e.retry_after if e.retry_after < 120 else round(e.retry_after / 60)
        wait = f"{n} {'second' if e.retry_after < 120 else 'minute'}{'' if n == 1 else 's'}"
        limited = _login_form(request, 429, f"Too many failed logins: try again in {wait}.",
                              email, next)
        limited.headers["Retry-After"] = str(e.retry_after)
        return limited
    except people.LoginFailed:
        return _login_form(request, 401, "Wrong email or password.", email, next)
    response = RedirectResponse(safe_next(next), status_code=303)
    await run_in_threadpool(start_session, response, ctx, user)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, viewer: Viewer) -> Response:
    if viewer is not None:
        try:
            await require_csrf(request, viewer)
        except ApiError as e:
            return error_page(request, viewer, 403, e.message)
    response = RedirectResponse("/login", status_code=303)
    await run_in_threadpool(end_session, response, context(request), viewer)
    return response


router.include_router(pages_work.router)
router.include_router(pages_insight.router)
router.include_router(pages_account_list.router)
router.include_router(pages_admin.router)
router.include_router(pages_admin_playbooks.router)
router.include_router(pages_account.router)
