"""What the pages are built from, used as a pages router would: a form login, a page that
knows who is there, a form post carrying its CSRF field, a role-only page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.testclient import TestClient

from kamflow import people
from kamflow.people import Principal
from kamflow.web.deps import (
    User,
    context,
    csrf_field,
    optional_user,
    require_role,
    start_session,
)
from support.web import World

pages = APIRouter(prefix="/reuse", include_in_schema=False)  # clear of the real pages


@pages.get("/hello", response_class=HTMLResponse)
def hello(user: Annotated[Principal | None, Depends(optional_user)]) -> str:
    if user is None:
        return "<a href=/reuse/login>log in</a>"
    return f"<p>{user.name}</p><form method=post action=/reuse/note>{csrf_field(user)}</form>"


@pages.post("/login")
def login_form(request: Request, email: Annotated[str, Form()],
               password: Annotated[str, Form()]) -> RedirectResponse:
    ctx = context(request)
    user = people.login(ctx.db, email, password, "127.0.0.1", ctx.clock)
    response = RedirectResponse("/reuse/hello", status_code=303)
    start_session(response, ctx, user)
    return response


@pages.post("/note", response_class=HTMLResponse)
def note(user: User, text: Annotated[str, Form()]) -> str:
    return f"noted by {user.email}: {text}"


@pages.get("/board", response_class=HTMLResponse, dependencies=[require_role("manager", "admin")])
def board() -> str:
    return "the board"


def test_a_pages_router_reuses_the_app_factory_login_and_csrf(world: World) -> None:
    people.set_password(world.db.engine, "ann@x.test", "ann's password", world.app.state.kamflow
                      .clock)
    world.app.include_router(pages)
    client = TestClient(world.app)
    assert "log in" in client.get("/reuse/hello").text
    r = client.post("/reuse/login", data={"email": "ann@x.test", "password": "wrong password"})
    assert r.status_code == 401
    r = client.post("/reuse/login", data={"email": "ann@x.test", "password": "ann's password"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/reuse/hello"
    page = client.get("/reuse/hello").text
    assert "<p>Ann Am</p>" in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert token == client.cookies["kamflow_csrf"]
    assert client.post("/reuse/note", data={"text": "hi"}).status_code == 403
    r = client.post("/reuse/note", data={"text": "hi", "csrf_token": token})
    assert r.status_code == 200 and r.text == "noted by ann@x.test: hi"
    assert client.get("/reuse/board").status_code == 403
    assert client.get("/reuse/board", headers=world.as_("mia@x.test")).text == "the board"
    assert client.get("/api/openapi.json").json()["paths"].get("/reuse/hello") is None
