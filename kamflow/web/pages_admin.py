"""The admin pages: people (add, change role or department, deactivate after a preview of
the hand-over) and API tokens (create, the secret shown once; revoke). Playbook versions
are kamflow.web.pages_admin_playbooks, which uses the helpers here.

Every page and action is for admins only (403 for anyone else, as the API's /api/people).
The forms post with htmx and get the whole page back, of which `main` is swapped in: with
the result, or refused with the error naming the field and the form as it was typed,
nothing changed. Each action is one use case (kamflow.people, kamflow.admin), audited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from kamflow import access, admin, people
from kamflow.access import ADMIN, Forbidden
from kamflow.errors import NotFound, Refused
from kamflow.people import ROLES, Principal
from kamflow.web.deps import context
from kamflow.web.pagekit import Viewer, action, error_page, field_message, page, render
from kamflow.web.schemas.base import MAX_ID
from kamflow.web.schemas.people import PersonIn, TokenIn

router = APIRouter(prefix="/admin")
EmailPath = Annotated[str, Path(max_length=254)]
TokenId = Annotated[int, Path(ge=1, le=MAX_ID)]
TO_PERSON, TO_DEPARTMENT = "person:", "department:"


def admin_only(user: Principal) -> None:
    """The policy's admin check (kamflow.access), for every admin page and action."""
    try:
        access.may_manage_people(user)
    except Forbidden:
        raise Forbidden("the admin pages are for admins") from None


def texts(form: Any, *secret: str) -> dict[str, str]:
    """The form's text fields, to show again after a refusal (not the secret ones)."""
    return {k: v for k, v in form.items()
            if isinstance(v, str) and k != "csrf_token" and k not in secret}


def on_refusal(request: Request, viewer: Principal | None,
               show: Callable[[Principal, int, str], Response]) -> Callable[[int, str], Response]:
    """What a refused action answers: for an admin, `show(admin, status, message)` (the page
    with the error at its form); for anyone else, an error page."""

    def failed(status: int, message: str) -> Response:
        if viewer is None or viewer.role != ADMIN:
            return error_page(request, viewer, status, message)
        try:
            return show(viewer, status, message)
        except NotFound:  # the page itself is gone (an unknown person)
            return error_page(request, viewer, status, message)

    return failed


def admin_page(request: Request, viewer: Principal | None,
               show: Callable[[Request, Principal], Response]) -> Response:
    """A page only an administrator may see, built by `show`."""

    def build(user: Principal) -> Response:
        admin_only(user)
        return show(request, user)

    return page(request, viewer, build)


def moved(response: Response, url: str) -> Response:
    """htmx shows this URL: the answer is that page (after a deactivation, an activation)."""
    response.headers["HX-Push-Url"] = url
    return response


@router.get("", response_class=HTMLResponse)
def home(request: Request, viewer: Viewer) -> Response:
    def build(user: Principal) -> Response:
        admin_only(user)
        return RedirectResponse("/admin/people", status_code=302)

    return page(request, viewer, build)


# -- people -------------------------------------------------------------------------------


def people_page(request: Request, user: Principal, status: int = 200,
                **values: Any) -> HTMLResponse:
    ctx = context(request)
    return render(request, "admin_people.html", user, status, tab="people",
                  people=people.directory(ctx.db), departments=admin.departments(ctx.db),
                  roles=ROLES, **values)


@router.get("/people", response_class=HTMLResponse)
def people_list(request: Request, viewer: Viewer) -> Response:
    """Everyone, with their accounts and open tasks; the form to add a person."""
    return admin_page(request, viewer, people_page)


@router.post("/people", response_class=HTMLResponse)
async def add_person(request: Request, viewer: Viewer) -> Response:
    form = await request.form()
    typed = texts(form, "password")

    def work(user: Principal) -> Response:
        admin_only(user)
        body = PersonIn(email=typed.get("email", ""), name=typed.get("name", ""),
                        department=typed.get("department", ""), role=typed.get("role", ""),
                        password=str(form.get("password") or "") or None)
        ctx = context(request)
        people.create_person(ctx.db, body.email, body.name, body.department, body.role,
                             body.password, ctx.clock, user.email)
        return people_page(request, user, message=f"Added {body.name} ({body.email}).")

    return await action(request, viewer, work, on_refusal(
        request, viewer, lambda user, status, message: people_page(
            request, user, status, error=message, values=typed)))


def _target(to: str | None) -> tuple[str | None, str | None]:
    """The hand-over target of the form (`person:EMAIL` or `department:KEY`)."""
    if not to:
        return None, None
    if to.startswith(TO_PERSON):
        return to.removeprefix(TO_PERSON), None
    if to.startswith(TO_DEPARTMENT):
        return None, to.removeprefix(TO_DEPARTMENT)
    raise ValueError("to: choose a person or a department to hand over to")


def person_page(request: Request, user: Principal, email: str, to: str | None = None,
                status: int = 200, **values: Any) -> HTMLResponse:
    """One person: their role and department, and what deactivating them hands over (to
    `to`, once chosen: the preview, with the button that does it)."""
    ctx = context(request)
    everyone = people.directory(ctx.db)
    row = next((p for p in everyone if p["email"] == email), None)
    if row is None:
        raise NotFound(f"unknown person '{email}'")
    preview = None
    if row["active"]:
        try:
            preview = admin.handover(ctx.db, email, *_target(to))
        except (NotFound, Refused, ValueError) as e:
            status = max(status, 409 if isinstance(e, Refused) else 422)
            values.setdefault("error", field_message(str(e)))
            preview, to = admin.handover(ctx.db, email), None
    others = [p for p in everyone if p["active"] and p["email"] != email]
    return render(request, "admin_person.html", user, status, tab="people", person=row,
                  preview=preview, to=to or "", others=others,
                  departments=admin.departments(ctx.db), roles=ROLES,
                  is_me=email == user.email, **values)


@router.get("/people/{email}", response_class=HTMLResponse)
def person(request: Request, viewer: Viewer, email: EmailPath,
           to: Annotated[str | None, Query(max_length=300)] = None) -> Response:
    def build(user: Principal) -> Response:
        admin_only(user)
        return person_page(request, user, email, to)

    return page(request, viewer, build)


@router.post("/people/{email}", response_class=HTMLResponse)
async def change_person(request: Request, viewer: Viewer, email: EmailPath) -> Response:
    """A new role or department."""
    typed = texts(await request.form())

    def work(user: Principal) -> Response:
        admin_only(user)
        ctx = context(request)
        changed = admin.change_person(ctx.db, email, typed.get("role", ""),
                                      typed.get("department", ""), user.email, ctx.clock)
        said = "; ".join(f"{k} {a} → {b}" for k, (a, b) in changed.items())
        return person_page(request, user, email,
                           message=f"Saved: {said}." if said else "Nothing changed.")

    return await action(request, viewer, work, on_refusal(
        request, viewer, lambda user, status, message: person_page(
            request, user, email, status=status, error=message, values=typed)))


@router.post("/people/{email}/deactivate", response_class=HTMLResponse)
async def deactivate(request: Request, viewer: Viewer, email: EmailPath) -> Response:
    """Hand everything over as previewed and deactivate, in one transaction."""
    to = texts(await request.form()).get("to", "")

    def work(user: Principal) -> Response:
        admin_only(user)
        ctx = context(request)
        person, department = _target(to)
        if person is None and department is None:
            raise ValueError("to: choose a person or a department to hand over to")
        n = admin.deactivate(ctx.db, email, person, department, user.email, ctx.clock)
        said = (f"{email} is deactivated: {n['accounts']} account(s), {n['sponsored']} "
                f"sponsorship(s), {n['tasks']} open task(s) and {n['accountable']} "
                f"Accountable task(s) handed to {person or department}.")
        return moved(people_page(request, user, message=said), "/admin/people")

    return await action(request, viewer, work, on_refusal(
        request, viewer, lambda user, status, message: person_page(
            request, user, email, to, status, error=message)))


# -- API tokens ---------------------------------------------------------------------------


def tokens_page(request: Request, user: Principal, status: int = 200,
                **values: Any) -> HTMLResponse:
    ctx = context(request)
    with ctx.db.connect() as conn:
        tokens = people.list_tokens(conn)
        everyone = people.list_people(conn)
    tokens.sort(key=lambda t: (t["revoked_at"] is not None, -t["id"]))  # live, newest first
    response = render(request, "admin_tokens.html", user, status, tab="tokens", tokens=tokens,
                      names={p["email"]: p["name"] for p in everyone},
                      people=[p for p in everyone if p["active"]], **values)
    response.headers["Cache-Control"] = "no-store"  # a new secret is on it once
    return response


@router.get("/tokens", response_class=HTMLResponse)
def tokens(request: Request, viewer: Viewer) -> Response:
    """Every API token: whose, its name, when made and revoked; new ones for anyone."""
    return admin_page(request, viewer, tokens_page)


@router.post("/tokens", response_class=HTMLResponse)
async def create_token(request: Request, viewer: Viewer) -> Response:
    typed = texts(await request.form())

    def work(user: Principal) -> Response:
        admin_only(user)
        body = TokenIn(name=typed.get("name", ""), email=typed.get("email") or user.email)
        ctx = context(request)
        token_id, secret = people.create_token(ctx.db, body.email or user.email, body.name,
                                               ctx.clock, user.email)
        return tokens_page(request, user, secret=secret, secret_id=token_id,
                           message=f"Token {token_id} '{body.name}' for {body.email} made.")

    return await action(request, viewer, work, on_refusal(
        request, viewer, lambda user, status, message: tokens_page(
            request, user, status, error=message, values=typed)))


@router.post("/tokens/{token_id}/revoke", response_class=HTMLResponse)
async def revoke_token(request: Request, viewer: Viewer, token_id: TokenId) -> Response:
    def work(user: Principal) -> Response:
        admin_only(user)
        ctx = context(request)
        row = people.revoke_token(ctx.db, token_id, ctx.clock, user.email)
        return tokens_page(request, user,
                           message=f"Token {token_id} '{row.name}' of {row.email} is revoked.")

    return await action(request, viewer, work, on_refusal(
        request, viewer, lambda user, status, message: tokens_page(
            request, user, status, error=message)))

