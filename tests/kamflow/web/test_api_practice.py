"""The API takes a quote's outcome and amount on an event and whom we met on a contact."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kamflow.store.tables import ACCOUNT_EVENT, CONTACT
from support.web import World

ANN = "ann@x.test"


def _post(world: World, path: str, body: dict[str, Any]) -> Any:
    return world.client.post(path, headers=world.as_(ANN), json=body)


def test_quote_outcome_and_amount(world: World) -> None:
    r = _post(world, "/api/accounts/NEWBIG/events",
              {"event": "quote_created", "ref": "Q-1", "amount": 12000})
    assert r.status_code == 201 and r.json()["tasks_created"] >= 1, r.text
    r = _post(world, "/api/accounts/NEWBIG/events",
              {"event": "quote_created", "ref": "Q-1", "outcome": "won"})
    assert r.status_code == 201 and r.json()["tasks_created"] == 0  # the same quote, decided
    assert r.json()["outcome"] == "won"
    with world.db.engine.connect() as conn:
        rows = conn.execute(select(ACCOUNT_EVENT.c.outcome, ACCOUNT_EVENT.c.amount).where(
            ACCOUNT_EVENT.c.account_id == "NEWBIG", ACCOUNT_EVENT.c.ref == "Q-1")).all()
    assert [tuple(r) for r in rows] == [("won", 12000)]
    for body, status, field in (
            ({"event": "quote_created", "outcome": "wonn"}, 422, "outcome"),
            ({"event": "quote_created", "amount": -1}, 422, "amount"),
            ({"event": "complaint", "amount": 5}, 409, "amount"),
            ({"event": "complaint", "outcome": "lost"}, 409, "outcome")):
        r = _post(world, "/api/accounts/NEWBIG/events", body)
        assert r.status_code == status and r.json()["field"] == field, (body, r.text)


def test_a_contact_names_whom_we_met(world: World) -> None:
    r = _post(world, "/api/accounts/STEADY/contacts",
              {"channel": "visit", "date": "2026-06-10", "customer_role": " Plant  Manager"})
    assert r.status_code == 201, r.text
    with world.db.engine.connect() as conn:
        role = conn.execute(select(CONTACT.c.customer_role).where(
            CONTACT.c.account_id == "STEADY", CONTACT.c.date.is_not(None),
            CONTACT.c.person_email == ANN).order_by(CONTACT.c.date.desc())).scalars().first()
    assert role == "plant manager"
