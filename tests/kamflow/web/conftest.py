"""The browser tests' fixtures (support.browser): the system chromium for Playwright."""

from __future__ import annotations

from typing import Any

import pytest

from support.browser import launch_args


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's, pointed at the system chromium (no `playwright install`)."""
    return launch_args(browser_type_launch_args)


@pytest.fixture(scope="session")
def base_url() -> str | None:
    """Overrides pytest-base-url's fixture, which pytest 9 warns about (warnings are errors
    here); the tests give full URLs."""
    return None
