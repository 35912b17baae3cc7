"""FastAPI dependencies for every route, the API's and the pages': reuse these.

- `context(request) -> WebContext`: the database, the clock and the settings of this app
  (`create_app` puts one on `app.state.kamflow`).
- `current_user` -> `Principal` (or the alias `User = Annotated[Principal,
  Depends(current_user)]`): the caller, from `Authorization: Bearer kft_...` or from the
  session cookie. Raises 401 when there is none. For a cookie-authenticated request that
  changes something (not GET/HEAD/OPTIONS) it also checks the CSRF token: 403 without it.
- `optional_user` -> `Principal | None`: the same without the 401 (pages that redirect to a
  login form). It does not check CSRF: use `current_user` (or `require_csrf`) on anything
  that changes state. `require_role("manager", "admin")`: a dependency for role-only pages.
- Logging in from a form: `principal = kamflow.people.login(ctx.db, email, password,
  client_ip, ctx.clock)` raises `auth.LoginFailed` (401) or `auth.RateLimited` (429); then
  `start_session(response, ctx, principal)` sets the cookies on the response you return
  (a RedirectResponse, say). `end_session(response, ctx)` clears them.
- `csrf_token(principal)` -> the session's CSRF token, to send back as `X-CSRF-Token: <token>`
  (htmx: `hx-headers='{"X-CSRF-Token": "..."}'` on `<body>`) or as a `csrf_token` form field;
  `csrf_field(principal)` -> that hidden `<input>` as HTML (mark it safe in Jinja2).
- `moment` -> `Clock`: `?at=` (ISO date or datetime, UTC, like the CLI's --at) or the app's
  clock; `acting_moment` is the same for changes, where only an admin may give `?at=`.

Cookies: `kamflow_session` (signed, HttpOnly, SameSite=Lax, Secure when
KAMFLOW_COOKIE_SECURE=true) holds the email, the issue time, a digest of the password hash
(a new password ends old sessions), the CSRF token and the secret of a server-side session
row (kamflow.people.open_session): logout, a new password and deactivation revoke that row,
so a replayed cookie is refused at once; `kamflow_csrf` (readable by scripts)
holds the same CSRF token: a double submit, bound to the signed session.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from kamflow import access, people, security
from kamflow.clock import parse_at
from kamflow.engine.clock import Clock
from kamflow.people import Principal
from kamflow.settings import Settings
from kamflow.web.errors import ApiError
from kamflow.web.schemas.base import EARLIEST, LATEST

if TYPE_CHECKING:
    from sqlalchemy import Engine

SESSION_COOKIE = "kamflow_session"
CSRF_COOKIE = "kamflow_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class WebContext:
    db: Engine
    clock: Clock
    settings: Settings
    _key: bytes | None = field(default=None, repr=False)

    def session_key(self) -> bytes:
        if self._key is None:
            configured = self.settings.secret_key
            self._key = people.session_key(
                self.db, configured.get_secret_value() if configured else None, self.clock)
        return self._key

    @property
    def session_seconds(self) -> float:
        return self.settings.session_hours * 3600

    @property
    def session_age(self) -> timedelta:
        return timedelta(seconds=self.session_seconds)


def context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.kamflow
    return ctx


def get_db(request: Request) -> Engine:
    return context(request).db


# Declared so the OpenAPI document shows both ways to authenticate.
_bearer = HTTPBearer(auto_error=False, description="An API token: `kamflow token create`.")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                       description="The session cookie set by POST /api/login.")


def _identify(ctx: WebContext, bearer: HTTPAuthorizationCredentials | None,
              header: str | None, cookie: str | None) -> Principal | None:
    """Blocking: reads the store."""
    if header is not None:  # a token was offered: it decides, the cookie is not looked at
        if bearer is None:
            return None
        with ctx.db.connect() as conn:
            return people.principal_for_token(conn, bearer.credentials)
    if not cookie:
        return None
    session = security.read_session(ctx.session_key(), cookie, ctx.clock.now(),
                                    ctx.session_seconds)
    if session is None:
        return None
    with ctx.db.connect() as conn:
        row = people.person(conn, session.email)
        if row is None or not people.session_is_live(conn, session.sid, row.email, ctx.clock,
                                                     ctx.session_age):
            return None
    if not security.same(security.fingerprint(row.password_hash), session.password):
        return None
    return Principal(row.email, row.name, row.role, row.department, via="session",
                     csrf=session.csrf, session=security.digest(session.sid))


async def optional_user(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Principal | None:
    return await run_in_threadpool(_identify, context(request), bearer,
                                   request.headers.get("authorization"), cookie)


async def _csrf_offered(request: Request) -> str | None:
    offered = request.headers.get(CSRF_HEADER)
    if offered is None:
        kind = request.headers.get("content-type", "")
        if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            offered = value if isinstance(value, str) else None
    return offered


async def require_csrf(request: Request, user: Principal) -> None:
    """403 unless a session request that changes something carries its CSRF token."""
    if user.via != "session" or request.method in SAFE_METHODS:
        return
    offered = await _csrf_offered(request)
    if not offered or user.csrf is None or not security.same(offered, user.csrf):
        raise ApiError(403, f"missing or wrong CSRF token: send the {CSRF_HEADER} header "
                            f"or a {CSRF_FIELD} form field (the {CSRF_COOKIE} cookie)")


async def current_user(
    request: Request, user: Annotated[Principal | None, Depends(optional_user)],
) -> Principal:
    if user is None:
        raise ApiError(401, "log in first (POST /api/login) or send Authorization: Bearer "
                            "<token>", headers={"WWW-Authenticate": "Bearer"})
    await require_csrf(request, user)
    return user


User = Annotated[Principal, Depends(current_user)]


def require_role(*roles: str) -> Any:
    """A dependency: the caller, when their role is one of `roles`; else 403."""

    def check(user: User) -> Principal:
        if user.role not in roles:
            raise access.Forbidden(f"this is for: {', '.join(roles)}")
        return user

    return Depends(check)


# -- sessions and CSRF -------------------------------------------------------------------


def start_session(response: Response, ctx: WebContext, principal: Principal) -> str:
    """Set the session and CSRF cookies for a person who just logged in; return the CSRF
    token."""
    with ctx.db.connect() as conn:
        row = people.person(conn, principal.email)
    csrf = security.new_secret()
    sid = people.open_session(ctx.db, principal.email, ctx.clock, ctx.session_age)
    session = security.Session(principal.email, csrf,
                               security.fingerprint(row.password_hash if row else None),
                               ctx.clock.now(), sid)
    common = {"max_age": int(ctx.session_seconds), "path": "/", "samesite": "lax",
              "secure": ctx.settings.cookie_secure}
    response.set_cookie(SESSION_COOKIE, security.sign_session(ctx.session_key(), session),
                        httponly=True, **common)  # type: ignore[arg-type]
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, **common)  # type: ignore[arg-type]
    return csrf


def end_session(response: Response, ctx: WebContext,
                principal: Principal | None = None) -> None:
    """Clear the cookies; with the session's principal, also end the session in the store
    (blocking: call it in a thread pool from async code), so a copy of the cookie is dead."""
    if principal is not None and principal.session is not None:
        people.close_session(ctx.db, principal.session, ctx.clock)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", samesite="lax", secure=ctx.settings.cookie_secure)


def csrf_token(principal: Principal | None) -> str:
    """The CSRF token of a session principal ("" for tokens or nobody)."""
    return principal.csrf or "" if principal is not None else ""


def csrf_field(principal: Principal | None) -> str:
    """`<input type="hidden" name="csrf_token" value="...">` for a form."""
    return (f'<input type="hidden" name="{CSRF_FIELD}" '
            f'value="{html.escape(csrf_token(principal), quote=True)}">')


# -- the moment --------------------------------------------------------------------------

AT_HELP = ("Act or look at this moment: an ISO date or datetime (UTC), like the CLI's --at. "
           "Default: now.")
# What parse_at accepts, as the document says it: an ISO date, or a date and time with an
# optional UTC offset, in the years 1971-2998 (an offset cannot push it out of range).
AT_PATTERN = (r"^(19(7[1-9]|[89][0-9])|2([0-8][0-9][0-9]|9([0-8][0-9]|9[0-8])))-"
              r"((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
              r"|02-(0[1-9]|1[0-9]|2[0-9]))"
              r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
              r"(Z|[+-]([01][0-9]|1[0-4]):[0-5][0-9])?)?$")
At = Annotated[str | None, Query(max_length=40, pattern=AT_PATTERN, description=AT_HELP)]


def parse_moment(at: str | None, default: Clock) -> Clock:
    if at is None:
        return default
    try:
        clock = parse_at(at)
    except (ValueError, OverflowError):  # year 1 at UTC+1 does not fit in a datetime
        raise ApiError(422, f"at: '{at}' is not an ISO date or datetime (2026-03-31)",
                       "at") from None
    day = clock.now().date()
    if not EARLIEST <= day <= LATEST:
        raise ApiError(422, f"at: {day.isoformat()} is outside {EARLIEST.isoformat()} to "
                            f"{LATEST.isoformat()}", "at")
    return clock


def moment(request: Request, at: At = None) -> Clock:
    return parse_moment(at, context(request).clock)


def acting_moment(request: Request, user: User, at: At = None) -> Clock:
    if at is not None:
        access.may_act_at_another_moment(user)
    return parse_moment(at, context(request).clock)


Moment = Annotated[Clock, Depends(moment)]
ActingMoment = Annotated[Clock, Depends(acting_moment)]
