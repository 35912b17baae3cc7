"""`world`: the small portfolio of support.web behind the app at NOW, with a bearer token for
each person. Built once per session and kind (support/stores.py), restored for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kamflow import security
from kamflow.engine.clock import FixedClock
from kamflow.web.app import create_app
from support import DB
from support.stores import Stores
from support.web import NOW, WORLD, World


@pytest.fixture
def world(db: DB, stores: Stores) -> Iterator[World]:
    token_ids, tokens = stores.restore(db, WORLD)
    app = create_app(db.url, FixedClock(NOW))
    w = World(db, app, TestClient(app), dict(tokens), dict(token_ids))
    yield w
    w.client.close()


@pytest.fixture(autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """argon2 with its production cost takes most of a second on a busy CI machine."""
    before = security.cost()
    security.set_cost(1, 64, 1)
    yield
    security.set_cost(*before)
