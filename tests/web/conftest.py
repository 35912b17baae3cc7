"""Fixtures of the web tests: `world`, the small portfolio of websupport behind the app at
NOW, with a bearer token for each person."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kamflow import people, security
from kamflow.engine.clock import FixedClock
from kamflow.web.app import create_app
from support import DB
from websupport import NOW, PEOPLE, World, build


@pytest.fixture(autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """argon2 with its production cost takes most of a second on a busy CI machine."""
    before = security.cost()
    security.set_cost(1, 64, 1)
    yield
    security.set_cost(*before)


@pytest.fixture
def world(db: DB, tmp_path: Path) -> Iterator[World]:
    build(db, tmp_path)
    clock = FixedClock(NOW)
    app = create_app(db.url, clock)
    w = World(db, app, TestClient(app))
    for email in PEOPLE:
        w.token_ids[email], w.tokens[email] = people.create_token(db.engine, email, "tests", clock)
    yield w
    w.client.close()


