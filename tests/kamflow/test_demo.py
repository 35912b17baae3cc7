"""The demo shows the work: owners in sales, sponsors in management, a history with losses in
every year and declines that began months ago, logins whose pages are full; and it refuses
to merge a second portfolio into a database that already holds one."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from kamflow import people
from kamflow.store.tables import ACCOUNT, PERSON
from support import DB


def test_the_demo_portfolio_and_its_logins(db: DB) -> None:
    r = db.cli("demo", "--accounts", "200", "--seed", "7", "--at", "2026-11-01")
    assert r.code == 0, r.stderr
    with db.engine.connect() as conn:
        depts = dict(conn.execute(select(PERSON.c.email, PERSON.c.department)).tuples().all())
        accounts = conn.execute(select(ACCOUNT)).all()
    assert all(depts[a.owner_email] == "sales" for a in accounts)
    assert all(a.sponsor_email and depts[a.sponsor_email] == "management" for a in accounts)
    assert not any(a.state_imported for a in accounts)  # the demo knows when each state began
    declined = [a for a in accounts if a.state == "declining"]
    assert declined and all((date(2026, 11, 1) - a.state_since.date()).days >= 45
                            for a in declined)
    assert any(a.state == "recovery" for a in accounts)

    again = db.cli("demo", "--accounts", "20", "--at", "2026-11-01")
    assert again.code == 2 and "already holds 200 accounts; use --add" in again.stderr
    assert db.cli("sweep", "--at", "2026-11-01").code == 0  # silent for a year: lost now
    with db.engine.connect() as conn:
        lost_years = {s.year for s in conn.execute(select(ACCOUNT.c.state_since).where(
            ACCOUNT.c.state == "lost")).scalars()}
    assert {2024, 2025, 2026} <= lost_years
    logins = {role: email for email, role, _ in people.set_demo_passwords(db.engine)}
    assert set(logins) == {"account_manager", "department_lead", "manager", "admin"}
    assert depts[logins["account_manager"]] == "sales"
    mine = people.queue_sizes(db.engine, logins["account_manager"], date(2026, 11, 1))
    assert mine["upcoming"] > 0
    assert people.queue_sizes(db.engine, logins["department_lead"], date(2026, 11, 1))[
        "board"] > 0
    assert db.cli("demo", "--accounts", "20", "--seed", "8", "--at", "2026-11-01",
                  "--add").code == 0
