"""Logging in: sessions, cookies, CSRF, the rate limit, tokens, passwords; and the CLI's side."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from kamflow import people
from kamflow.cli import app as cli
from kamflow.store.tables import API_TOKEN, AUDIT_EVENT
from kamflow.web.app import create_app
from support import MovingClock
from support.web import NOW, World

PASSWORD = "correct horse battery"


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock(NOW)


@pytest.fixture
def web(world: World, clock: MovingClock) -> TestClient:
    """A client of an app whose clock the test moves; ann and ada have a password."""
    for email in ("ann@x.test", "ada@x.test"):
        people.set_password(world.db.engine, email, PASSWORD, clock)
    return TestClient(create_app(world.db.url, clock))


def login(client: TestClient, email: str = "ann@x.test", password: str = PASSWORD) -> str:
    r = client.post("/api/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["csrf_token"])


def test_login_sets_a_signed_http_only_session_and_a_readable_csrf_cookie(web: TestClient
                                                                         ) -> None:
    r = web.post("/api/login", json={"email": " Ann@X.test ", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert (body["email"], body["role"], body["via"]) == ("ann@x.test", "account_manager",
                                                          "session")
    cookies = {c.split("=", 1)[0]: c for c in r.headers.get_list("set-cookie")}
    session, csrf = cookies["kamflow_session"], cookies["kamflow_csrf"]
    assert "HttpOnly" in session and "SameSite=lax" in session and "Path=/" in session
    assert "HttpOnly" not in csrf and "SameSite=lax" in csrf
    assert "Secure" not in session  # http://127.0.0.1 by default
    assert web.cookies["kamflow_csrf"] == body["csrf_token"]
    me = web.get("/api/me")
    assert me.status_code == 200 and me.json()["email"] == "ann@x.test"


def test_cookies_are_secure_when_configured(world: World, clock: MovingClock,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    people.set_password(world.db.engine, "ann@x.test", PASSWORD, clock)
    monkeypatch.setenv("KAMFLOW_COOKIE_SECURE", "true")
    client = TestClient(create_app(world.db.url, clock), base_url="https://testserver")
    r = client.post("/api/login", json={"email": "ann@x.test", "password": PASSWORD})
    assert all("Secure" in c for c in r.headers.get_list("set-cookie"))


def test_a_change_by_cookie_needs_the_csrf_token_and_a_token_request_does_not(
        web: TestClient, world: World) -> None:
    csrf = login(web)
    contact = {"channel": "call", "note": "follow-up"}
    r = web.post("/api/accounts/STEADY/contacts", json=contact)
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    r = web.post("/api/accounts/STEADY/contacts", json=contact,
                 headers={"X-CSRF-Token": "x" + csrf})
    assert r.status_code == 403
    r = web.post("/api/accounts/STEADY/contacts", json=contact, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    assert web.get("/api/accounts/STEADY").status_code == 200  # reading needs none
    # another person's token from their own session does not fit this session
    other = TestClient(web.app)
    other_csrf = login(other, "ada@x.test")
    r = web.post("/api/accounts/STEADY/contacts", json=contact,
                 headers={"X-CSRF-Token": other_csrf})
    assert r.status_code == 403
    # a bearer token needs no CSRF token
    bare = TestClient(web.app)
    r = bare.post("/api/accounts/STEADY/contacts", json=contact, headers=world.as_("ann@x.test"))
    assert r.status_code == 201


def test_a_form_post_may_carry_the_csrf_token_as_a_field(web: TestClient) -> None:
    csrf = login(web)
    assert web.post("/api/logout", data={"csrf_token": "wrong"}).status_code == 403
    assert web.get("/api/me").status_code == 200
    r = web.post("/api/logout", data={"csrf_token": csrf})
    assert r.status_code == 204
    assert "kamflow_session" not in web.cookies
    assert web.get("/api/me").status_code == 401


def test_five_failures_per_email_and_address_then_a_growing_delay_not_a_lock_out(
        world: World, web: TestClient, clock: MovingClock) -> None:
    for _ in range(5):
        r = web.post("/api/login", json={"email": "ann@x.test", "password": "wrong password"})
        assert r.status_code == 401
        assert r.json() == {"error": "wrong email or password", "field": None}
    r = web.post("/api/login", json={"email": "ann@x.test", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) == 1
    # the same email from another address, another email from this one: not limited
    elsewhere = TestClient(web.app, client=("203.0.113.9", 50000))
    assert elsewhere.post("/api/login", json={"email": "ann@x.test", "password": PASSWORD}
                          ).status_code == 200
    assert web.post("/api/login", json={"email": "ada@x.test", "password": PASSWORD}
                    ).status_code == 200
    # each further failure doubles the wait: 1 s, 2 s, 4 s
    for wait in (1, 2):
        clock.at += timedelta(seconds=wait)
        assert web.post("/api/login", json={"email": "ann@x.test", "password": "wrong"}
                        ).status_code == 401
    r = web.post("/api/login", json={"email": "ann@x.test", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) == 4
    clock.at += timedelta(seconds=4)  # the owner is slowed down, never locked out
    assert web.post("/api/login", json={"email": "ann@x.test", "password": PASSWORD}
                    ).status_code == 200


def test_unknown_people_and_people_without_a_password_get_the_same_answer(
        web: TestClient) -> None:
    for email in ("nobody@x.test", "bob@x.test"):  # bob has no password
        r = web.post("/api/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 401 and r.json()["error"] == "wrong email or password"


def test_a_session_ends_after_its_hours_with_a_new_password_or_a_forged_cookie(
        world: World, web: TestClient, clock: MovingClock) -> None:
    login(web)
    clock.at += timedelta(hours=11, minutes=59)
    assert web.get("/api/me").status_code == 200
    clock.at += timedelta(minutes=2)
    assert web.get("/api/me").status_code == 401
    login(web)
    people.set_password(world.db.engine, "ann@x.test", "another long password", clock)
    assert web.get("/api/me").status_code == 401
    login(web, password="another long password")
    body, _, mac = web.cookies["kamflow_session"].partition(".")
    assert TestClient(web.app, cookies={"kamflow_session": f"{body}.{mac}"}
                      ).get("/api/me").status_code == 200
    forged = TestClient(web.app, cookies={"kamflow_session": f"{body}.{mac[::-1]}"})
    r = forged.get("/api/me")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"


def test_tokens_are_shown_once_kept_hashed_and_401_once_revoked(world: World) -> None:
    c = world.client
    r = c.post("/api/tokens", json={"name": "erp sync"}, headers=world.as_("ann@x.test"))
    assert r.status_code == 201
    made = r.json()
    secret = made["token"]
    assert secret.startswith("kft_") and made["email"] == "ann@x.test"
    with world.db.engine.connect() as conn:
        stored = conn.execute(
            select(API_TOKEN.c.token_hash).where(API_TOKEN.c.id == made["id"])
        ).scalar()
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert c.get("/api/me", headers=bearer).json()["via"] == "token"
    assert all("token" not in t for t in c.get("/api/tokens", headers=bearer).json())
    r = c.delete(f"/api/tokens/{made['id']}", headers=world.as_("ann@x.test"))
    assert r.status_code == 200 and r.json()["revoked_at"] == NOW.isoformat() + "Z"
    r = c.get("/api/me", headers=bearer)
    assert r.status_code == 401 and r.json()["field"] is None
    assert c.get("/api/me", headers={"Authorization": "Bearer kft_made-up"}).status_code == 401
    assert c.get("/api/me", headers={"Authorization": "Basic YTpi"}).status_code == 401
    assert c.get("/api/me").status_code == 401
    # ann cannot see or revoke bob's tokens; ada (admin) lists everyone's
    assert {t["email"] for t in c.get("/api/tokens", headers=world.as_("ann@x.test")).json()} \
        == {"ann@x.test"}
    assert len({t["email"] for t in c.get("/api/tokens", headers=world.as_("ada@x.test")).json()}
               ) == 8


def test_a_deactivated_person_loses_access(world: World) -> None:
    r = world.client.post("/api/people/bob@x.test/deactivate", json={"to": "ann@x.test"},
                          headers=world.as_("ada@x.test"))
    assert r.status_code == 200 and r.json()["accounts"] == 1
    assert world.client.get("/api/me", headers=world.as_("bob@x.test")).status_code == 401


def test_changing_your_own_password(web: TestClient) -> None:
    csrf = login(web)
    h = {"X-CSRF-Token": csrf}
    r = web.post("/api/me/password", json={"current": "wrong one", "password": "a new password"},
                 headers=h)
    assert r.status_code == 422 and r.json()["field"] == "current"
    r = web.post("/api/me/password", json={"current": PASSWORD, "password": "short"}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "password"
    r = web.post("/api/me/password", json={"current": PASSWORD, "password": "a new password"},
                 headers=h)
    assert r.status_code == 204
    assert web.get("/api/me").status_code == 401  # the old session ended with the old password
    login(web, password="a new password")


def test_demo_passwords_one_person_of_each_role(world: World, web: TestClient) -> None:
    logins = people.set_demo_passwords(world.db.engine)
    assert logins == [("ann@x.test", "account_manager", "kamflow-demo"),
                      ("lea@x.test", "department_lead", "kamflow-demo"),
                      ("sam@x.test", "manager", "kamflow-demo"),  # sponsors the accounts
                      ("ada@x.test", "admin", "kamflow-demo")]
    for email, role, password in logins:
        assert web.post("/api/login", json={"email": email, "password": password}
                        ).json()["role"] == role


def cli_run(world: World, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args), input=stdin,
                           env={"KAMFLOW_DATABASE_URL": world.db.url, "COLUMNS": "200"})
    return r.exit_code, r.stdout, r.stderr


def test_cli_sets_passwords_and_makes_and_revokes_tokens(world: World, web: TestClient) -> None:
    code, out, err = cli_run(world, "people", "password", "BOB@x.test", "--password-stdin",
                             stdin="a password for bob\n")
    assert code == 0, err
    assert web.post("/api/login", json={"email": "bob@x.test", "password": "a password for bob"}
                    ).status_code == 200
    code, _, err = cli_run(world, "people", "password", "bob@x.test", "--password-stdin",
                           stdin="short\n")
    assert code == 2 and "password: at least 10 characters" in err
    code, _, err = cli_run(world, "people", "password", "nobody@x.test", "--password-stdin",
                           stdin="long enough password\n")
    assert code == 2 and "unknown person 'nobody@x.test'" in err
    code, out, err = cli_run(world, "people", "password", "bob@x.test",
                             stdin="typed twice here\ntyped twice here\n")
    assert code == 0, err

    code, out, err = cli_run(world, "token", "create", "bob@x.test", "--name", "erp", "--json")
    assert code == 0, err
    made = json.loads(out)
    bearer = {"Authorization": f"Bearer {made['token']}"}
    assert world.client.get("/api/me", headers=bearer).json()["email"] == "bob@x.test"
    code, out, _ = cli_run(world, "token", "list", "bob@x.test", "--json")
    assert [t["name"] for t in json.loads(out)] == ["tests", "erp"]
    code, out, err = cli_run(world, "token", "revoke", str(made["id"]))
    assert code == 0 and f"token {made['id']} of bob@x.test revoked" in out
    assert world.client.get("/api/me", headers=bearer).status_code == 401
    code, _, err = cli_run(world, "token", "revoke", "9999")
    assert code == 2 and "unknown token 9999" in err
    code, out, err = cli_run(world, "token", "create", "bob@x.test", "--name", "plain")
    assert code == 0 and out.strip().splitlines()[-1].startswith("kft_")
    with world.db.engine.connect() as conn:
        actions = conn.execute(
            select(AUDIT_EVENT.c.entity, AUDIT_EVENT.c.action)
            .where(AUDIT_EVENT.c.actor == "operator")
            .order_by(AUDIT_EVENT.c.id)
        ).all()
    assert ("person", "password_set") in actions and ("token", "revoked") in actions
