"""Server-side sessions (SQLite and PostgreSQL): logout, a new password, deactivation and
token revocation end access at once, also for a copy of the cookie made before."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from kamflow import people, queue, security
from kamflow.web.app import create_app
from support import DB, MovingClock

NOW = datetime(2026, 6, 15, 9, 0)
PASSWORD = "correct horse battery"
ANN, ADA = "ann@x.test", "ada@x.test"


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock(NOW)


@pytest.fixture
def app_db(db: DB, clock: MovingClock) -> DB:
    people.create_person(db.engine, ANN, "Ann Am", "sales", "account_manager", PASSWORD, clock)
    people.create_person(db.engine, ADA, "Ada Admin", "management", "admin", PASSWORD, clock)
    return db


def logged_in(db: DB, clock: MovingClock, email: str = ANN) -> tuple[TestClient, str, str]:
    """A client with a session; the session cookie and the CSRF token."""
    client = TestClient(create_app(db.url, clock))
    r = client.post("/api/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return client, client.cookies["kamflow_session"], str(r.json()["csrf_token"])


def replay(db: DB, clock: MovingClock, cookie: str) -> int:
    """GET /api/me from a fresh client holding only a copy of the cookie."""
    other = TestClient(create_app(db.url, clock))
    other.cookies.set("kamflow_session", cookie)
    return other.get("/api/me").status_code


def test_a_cookie_replayed_after_logout_is_refused(app_db: DB, clock: MovingClock) -> None:
    client, cookie, csrf = logged_in(app_db, clock)
    assert replay(app_db, clock, cookie) == 200
    assert client.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert replay(app_db, clock, cookie) == 401


def test_the_logout_page_ends_the_session_too(app_db: DB, clock: MovingClock) -> None:
    client, cookie, csrf = logged_in(app_db, clock)
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert replay(app_db, clock, cookie) == 401


def test_logout_ends_one_session_and_leaves_the_others(app_db: DB, clock: MovingClock) -> None:
    first, cookie1, csrf1 = logged_in(app_db, clock)
    _, cookie2, _ = logged_in(app_db, clock)
    first.post("/api/logout", headers={"X-CSRF-Token": csrf1})
    assert (replay(app_db, clock, cookie1), replay(app_db, clock, cookie2)) == (401, 200)


def test_a_new_password_ends_every_session_at_once(app_db: DB, clock: MovingClock) -> None:
    _, cookie1, _ = logged_in(app_db, clock)
    _, cookie2, _ = logged_in(app_db, clock)
    people.set_password(app_db.engine, ANN, "another long password", clock)
    assert (replay(app_db, clock, cookie1), replay(app_db, clock, cookie2)) == (401, 401)


def test_deactivation_ends_the_session_and_reactivation_does_not_revive_it(
        app_db: DB, clock: MovingClock) -> None:
    _, cookie, _ = logged_in(app_db, clock)
    queue.deactivate(app_db.engine, ANN, ADA, None, ADA, clock)
    assert replay(app_db, clock, cookie) == 401
    from sqlalchemy import update

    from kamflow.store.tables import PERSON

    with app_db.engine.begin() as conn:  # an admin turns the person back on by hand
        conn.execute(update(PERSON).where(PERSON.c.email == ANN).values(active=True))
    assert replay(app_db, clock, cookie) == 401  # the old session stays ended


def test_a_revoked_token_ends_access_at_once(app_db: DB, clock: MovingClock) -> None:
    token_id, secret = people.create_token(app_db.engine, ANN, "script", clock)
    client = TestClient(create_app(app_db.url, clock))
    auth = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/me", headers=auth).status_code == 200
    people.revoke_token(app_db.engine, token_id, clock)
    assert client.get("/api/me", headers=auth).status_code == 401


def test_a_cookie_signed_without_a_server_side_session_is_refused(app_db: DB,
                                                                  clock: MovingClock) -> None:
    """A cookie that is signed correctly but names no session row (as the old, purely
    signed cookies did) gets nothing."""
    client, cookie, _ = logged_in(app_db, clock)
    ctx = client.app.state.kamflow  # type: ignore[attr-defined]
    with app_db.engine.connect() as conn:
        row = people.person(conn, ANN)
    forged = security.sign_session(ctx.session_key(), security.Session(
        ANN, "csrf", security.fingerprint(row.password_hash), clock.now()))
    assert replay(app_db, clock, forged) == 401
