"""The login throttle on a real store (SQLite and PostgreSQL): tries are counted in the
same locked step that checks the limit, the owner is slowed down and never locked out,
and guesses spread over many emails or many addresses are limited too."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from kamflow import people
from support import DB, MovingClock

NOW = datetime(2026, 6, 15, 9, 0)
PASSWORD = "correct horse battery"
ADMIN = "ada@x.test"


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock(NOW)


@pytest.fixture
def admin(db: DB, clock: MovingClock) -> DB:
    people.create_person(db.engine, ADMIN, "Ada Admin", "management", "admin", PASSWORD, clock)
    return db


def attempt(db: DB, clock: MovingClock, email: str = ADMIN, password: str = "wrong password",
            ip: str = "198.51.100.7") -> str:
    """"ok", "failed" (the password was checked) or "limited" (it was not)."""
    try:
        people.login(db.engine, email, password, ip, clock)
    except people.LoginFailed:
        return "failed"
    except people.RateLimited:
        return "limited"
    return "ok"


def test_thirty_parallel_wrong_logins_get_exactly_five_password_checks(admin: DB,
                                                                       clock: MovingClock) -> None:
    barrier = threading.Barrier(30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def go() -> None:
        barrier.wait()
        got = attempt(admin, clock)
        with lock:
            outcomes.append(got)

    threads = [threading.Thread(target=go) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("failed") == people.LOGIN_FAILURES  # a check only for the reserved
    assert outcomes.count("limited") == 30 - people.LOGIN_FAILURES


def test_five_bad_tries_slow_the_admin_down_but_never_lock_them_out(admin: DB,
                                                                   clock: MovingClock) -> None:
    for _ in range(5):
        assert attempt(admin, clock) == "failed"
    assert attempt(admin, clock, password=PASSWORD) == "limited"
    waits = []
    for _ in range(4):  # the attacker keeps going: each allowed failure doubles the wait
        while attempt(admin, clock) == "limited":
            clock.at += timedelta(seconds=1)
        waits.append(clock.at)
    gaps = [(b - a).total_seconds() for a, b in zip(waits, waits[1:], strict=False)]
    assert gaps == [2, 4, 8]
    clock.at += timedelta(seconds=16)
    assert attempt(admin, clock, password=PASSWORD) == "ok"  # 16 s, not 15 minutes
    # and the owner from another address was never slowed by this address's failures
    assert attempt(admin, clock, password=PASSWORD, ip="203.0.113.9") == "ok"


def test_guesses_spread_over_many_emails_from_one_address_are_limited(admin: DB,
                                                                      clock: MovingClock) -> None:
    for i in range(people.ADDRESS_FAILURES):
        assert attempt(admin, clock, email=f"guess{i}@x.test") == "failed"
    assert attempt(admin, clock, email="another@x.test") == "limited"
    assert attempt(admin, clock, email=ADMIN, password=PASSWORD) == "limited"
    assert attempt(admin, clock, password=PASSWORD, ip="203.0.113.9") == "ok"  # elsewhere


def test_guesses_spread_over_many_addresses_are_limited_per_email(admin: DB,
                                                                  clock: MovingClock) -> None:
    for i in range(people.EMAIL_FAILURES):
        assert attempt(admin, clock, ip=f"10.0.{i // 250}.{i % 250}") == "failed"
    assert attempt(admin, clock, ip="10.9.9.9") == "limited"
    clock.at += timedelta(seconds=1)
    assert attempt(admin, clock, password=PASSWORD, ip="10.9.9.9") == "ok"


def test_guesses_spread_over_many_emails_and_addresses_meet_the_global_limit(
        admin: DB, clock: MovingClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(people, "GLOBAL_FAILURES", 30)  # the real one is 1000
    for i in range(30):
        assert attempt(admin, clock, email=f"g{i}@x.test", ip=f"10.1.0.{i}") == "failed"
    assert attempt(admin, clock, email="g99@x.test", ip="10.2.0.1") == "limited"


def test_a_right_password_gives_the_reservation_back(admin: DB, clock: MovingClock) -> None:
    for _ in range(20):
        assert attempt(admin, clock, password=PASSWORD) == "ok"
    for _ in range(5):  # the successes did not eat into the limits
        assert attempt(admin, clock) == "failed"
    assert attempt(admin, clock) == "limited"
    clock.at += people.LOGIN_WINDOW + timedelta(seconds=1)  # quiet for a window: forgotten
    assert attempt(admin, clock) == "failed"
