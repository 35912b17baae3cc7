"""The accounts list in a real browser (headless Chromium, as in test_pages_browser.py): an
account manager, on a phone-sized screen, finds an account by name and opens its page.

Without chromium this skips with the reason, unless KAMFLOW_REQUIRE_BROWSER=1 (CI), where
it fails. The screenshot is saved under test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from support.browser import PASSWORD, SHOTS, serving
from support.stores import Stores
from support.web import PORTFOLIO

AM = "ann@x.test"


@pytest.fixture(scope="module")
def live(stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn on 127.0.0.1 serving the web portfolio (SQLite) at NOW; its base URL."""
    with stores.database("sqlite", tmp_path_factory.mktemp("accounts-browser")) as db:
        stores.restore(db, PORTFOLIO)
        with serving(db, (AM,)) as site:
            yield site.url


def test_an_account_manager_finds_an_account_by_name_on_a_phone_and_opens_it(
        page: Page, live: str) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live + "/accounts")
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("Email").fill(AM)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Accounts")
    expect(page.locator("#account-list tbody tr")).to_have_count(6)  # ann's own, not bob's
    page.get_by_label("Search").fill("dri")
    page.get_by_label("Search").press("Enter")
    expect(page).to_have_url(re.compile(r"/accounts\?q=dri"))
    rows = page.locator("#account-list tbody tr")
    expect(rows).to_have_count(1)
    expect(page.locator("#account-count")).to_have_text(re.compile(r"^1 account\b"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "accounts-phone.png"), full_page=True)
    rows.get_by_role("link", name="Drift GmbH").click()
    expect(page).to_have_url(live + "/accounts/DRIFT")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Drift GmbH")
