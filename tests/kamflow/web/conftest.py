"""The web tests' own fixture: cheap password hashes. (`world`, the app on the small
portfolio of support.web, is in tests/kamflow/conftest.py, for `kamflow serve` too.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kamflow import security


@pytest.fixture(autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """argon2 with its production cost takes most of a second on a busy CI machine."""
    before = security.cost()
    security.set_cost(1, 64, 1)
    yield
    security.set_cost(*before)
