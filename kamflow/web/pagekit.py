"""What every page and page action shares: the templates, who is looking, the layout's
navigation, HTML error pages and the way an htmx action reports success or failure.

- A GET page takes `Viewer` (the person, or None) and returns `page(request, viewer, build)`:
  anonymous -> 302 to /login?next=...; the policy's NotFound -> a 404 page, Forbidden ->
  a 403 page, like the API's answers.
- A POST action returns `await action(request, viewer, work, failed)`: the CSRF token is
  checked (403 without it), `work(user)` runs in a thread and returns the fragment that
  replaces the element in place (htmx) or a 303 back to the page (a plain form post). A
  refused action changes nothing; htmx gets `failed(status, message)` (run in a thread)
  with 409/422/403/404, which it swaps in too (see the `htmx-config` meta tag in
  base.html); a plain form post gets an error page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from kamflow.access import ADMIN, LEAD, MANAGER, Forbidden
from kamflow.engine.errors import EngineError
from kamflow.errors import NotFound, Refused
from kamflow.people import Principal
from kamflow.tasks.status import TaskRefused
from kamflow.web import charts
from kamflow.web.deps import context, csrf_token, optional_user, require_csrf
from kamflow.web.errors import ApiError

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
STATIC = HERE / "static"
Viewer = Annotated[Principal | None, Depends(optional_user)]
ROLE_NAMES = {"account_manager": "account manager", LEAD: "department lead",
              MANAGER: "manager", ADMIN: "admin"}


def _day(value: object) -> str:
    if isinstance(value, datetime):
        value = value.date()
    return value.isoformat() if isinstance(value, date) else str(value or "")


TEMPLATES.env.filters.update(money=charts.money, pct=charts.percent, day=_day)
TEMPLATES.env.globals.update(role_names=ROLE_NAMES)


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def nav(user: Principal | None) -> list[tuple[str, str]]:
    """The layout's links for this person's role."""
    if user is None:
        return []
    links = [("/", "My queue")]
    if user.role in (LEAD, MANAGER, ADMIN):
        links.append(("/board", "Department board"))
    if user.role in (MANAGER, ADMIN):
        links += [("/adherence", "Adherence"), ("/portfolio", "Portfolio")]
    links.append(("/playbooks", "Playbooks"))
    return links


def render(request: Request, template: str, user: Principal | None, status: int = 200,
           **values: Any) -> HTMLResponse:
    ctx = context(request)
    if request.method == "GET":
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:  # a fragment answering an action: its forms go back where the page was
        here = safe_next(request.query_params.get("back"))
    base: dict[str, Any] = {"user": user, "csrf": csrf_token(user), "nav": nav(user),
            "path": request.url.path, "back_to": here, "today": ctx.clock.now().date(),
            "values": {}, "open": "", "message": "", "error": "", "members": {},
            "channels": []}
    return TEMPLATES.TemplateResponse(request, template, {**base, **values},
                                      status_code=status)


def safe_next(target: str | None) -> str:
    """A local path to go back to; anything else (another site, //host) -> "/"."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def to_login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = "/login" if here == "/" else f"/login?next={quote(here, safe='')}"
    return RedirectResponse(target, status_code=302)


def error_page(request: Request, user: Principal | None, status: int, message: str
               ) -> HTMLResponse:
    titles = {403: "Not allowed", 404: "Not found", 409: "Refused", 422: "Invalid input"}
    return render(request, "error.html", user, status, title=titles.get(status, "Error"),
                  message=message, code=status)


def page(request: Request, user: Principal | None,
         build: Callable[[Principal], Response]) -> Response:
    """A GET page (call it from a sync route: it reads the store)."""
    if user is None:
        return to_login(request)
    try:
        return build(user)
    except NotFound as e:
        return error_page(request, user, 404, field_message(str(e)))
    except Forbidden as e:
        return error_page(request, user, 403, str(e))
    except ApiError as e:
        return error_page(request, user, e.status, e.message)


_OPTION = re.compile(r"^--([a-z][a-z-]*): ")


def field_message(message: str) -> str:
    """The use cases speak CLI (`--outcome: ...`); a form names the field (`outcome: ...`)."""
    m = _OPTION.match(message)
    if not m:
        return message
    name = {"field": "fields"}.get(m.group(1), m.group(1).replace("-", "_"))
    return f"{name}: {message[m.end():]}"


def validation_message(e: ValidationError) -> str:
    first = e.errors()[0]
    where = ".".join(str(x) for x in first.get("loc", ())) or "input"
    return f"{where}: {str(first.get('msg', 'invalid')).removeprefix('Value error, ')}"


async def action(request: Request, user: Principal | None,
                 work: Callable[[Principal], Response],
                 failed: Callable[[int, str], Response]) -> Response:
    """A page action: check the session and its CSRF token, run `work` in a thread; turn a
    refusal into `failed(status, message)`."""
    if user is None:
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)
    try:
        await require_csrf(request, user)
        return await run_in_threadpool(work, user)
    except ApiError as e:
        status, message = e.status, e.message
    except NotFound as e:
        status, message = 404, field_message(str(e))
    except Forbidden as e:
        status, message = 403, str(e)
    except (TaskRefused, Refused, EngineError) as e:
        status, message = 409, field_message(str(e))
    except ValidationError as e:
        status, message = 422, validation_message(e)
    except ValueError as e:
        status, message = 422, field_message(str(e))
    if not is_htmx(request):
        return error_page(request, user, status, message)
    return await run_in_threadpool(failed, status, message)


def back(request: Request, fallback: str = "/") -> RedirectResponse:
    """After a plain (non-htmx) form post: back to the page it came from."""
    target = request.query_params.get("back") or fallback
    return RedirectResponse(safe_next(target), status_code=303)
