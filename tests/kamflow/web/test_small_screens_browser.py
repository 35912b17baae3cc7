"""Every page at a phone's width (390 px) in Chromium, as each role that opens it: no
horizontal scrolling. Pages add their own checks in their own tests; this one walks them all,
so a new wide table anywhere fails here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from support.browser import PHONE, Live, fits, login, serving
from support.stores import Stores
from support.web import PORTFOLIO

AM, LEAD, ADMIN = "ann@x.test", "lea@x.test", "ada@x.test"
PAGES = {
    AM: ["/", "/accounts", "/accounts/STEADY", "/playbooks"],
    LEAD: ["/board?department=sales", "/adherence", "/accounts"],
    ADMIN: ["/portfolio", "/adherence", "/board?department=marketing", "/admin/people",
            "/admin/people/bob@x.test", "/admin/tokens", "/admin/playbooks"],
}


@pytest.fixture(scope="module")
def site(stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with stores.database("sqlite", tmp_path_factory.mktemp("phone")) as db:
        stores.restore(db, PORTFOLIO)
        with serving(db, PAGES) as live:
            yield live


def test_the_login_page_fits_a_phone(page: Page, site: Live) -> None:
    page.set_viewport_size(PHONE)
    page.goto(site.url + "/login")
    fits(page)


@pytest.mark.parametrize("who", list(PAGES))
def test_every_page_fits_a_phone(page: Page, site: Live, who: str) -> None:
    page.set_viewport_size(PHONE)
    login(page, site, who, PAGES[who][0])
    wide = []
    for path in PAGES[who]:
        response = page.goto(site.url + path)
        assert response is not None and response.status == 200, path
        try:
            fits(page)
        except AssertionError as e:
            wide.append(str(e))
    assert not wide, "\n".join(wide)
