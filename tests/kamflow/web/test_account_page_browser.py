"""The account page all round in a real browser (headless Chromium, as test_pages_browser):
an account manager reads the account, writes its plan in the form, sees a problem beside
its field, fixes it and saves; the plan round-trips to the YAML the CLI shows (the download
is that same YAML: test_account_page); a move offers only the declared transitions; and at
390 px the page does not scroll sideways.

Its own server (a thread running uvicorn on a SQLite store with the PORTFOLIO seed, a
FixedClock at NOW), so the moves and plans made here touch no other test's data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from kamflow.playbooks.metrics import LABELS
from support import DB
from support.browser import PASSWORD, SHOTS, serving
from support.stores import Stores
from support.web import AT, PORTFOLIO

AM = "ann@x.test"


@pytest.fixture(scope="module")
def live(stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, DB]]:
    with stores.database("sqlite", tmp_path_factory.mktemp("account-browser")) as db:
        stores.restore(db, PORTFOLIO)
        with serving(db, (AM,)) as site:
            yield site.url, db


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide at 390 px"


def test_an_account_manager_works_an_account_and_its_plan_form_in_the_browser(
        page: Page, live: tuple[str, DB]) -> None:
    url, db = live
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(url + "/accounts/DRIFT")
    page.get_by_label("Email").fill(AM)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # Figures in words, the metric's name in the tooltip; revenue per month; the timeline.
    figure = page.locator('#figures [data-metric="revenue_t12"]')
    expect(figure).to_have_text(LABELS["revenue_t12"].label)
    expect(figure).to_have_attribute("title", re.compile(r"^revenue_t12: "))
    expect(page.locator("#revenue-chart svg rect.revenue")).to_have_count(5)
    expect(page.locator("#revenue-chart svg rect.previous")).to_have_count(12)
    expect(page.locator("#timeline li").first).to_contain_text("drifting_away")

    # The plan form: a problem beside its field, the rest as typed; fixed, then saved.
    person = page.locator("#person-0")
    person.get_by_label("Name").fill("Jo Buyer")
    person.get_by_label("Buying role").select_option("buyer")
    person.get_by_label("Influence").fill("6")
    person.get_by_label("Attitude to us").fill("4")
    person.get_by_label("Our contact").fill(AM)
    page.locator("#plan-swot").get_by_label("Strengths").fill("ten years of service")
    page.locator("#plan-target").get_by_label("For the whole year").fill("400000")
    page.get_by_role("button", name="Save the plan").click()
    influence = page.locator("#person-0").get_by_label("Influence")
    error = page.locator("#f-relationships-0-influence-error")
    expect(error).to_have_text("Input should be less than or equal to 5")
    expect(influence).to_have_attribute("aria-describedby", "f-relationships-0-influence-error")
    expect(influence).to_have_value("6")
    expect(page.locator("#plan-swot").get_by_label("Strengths")).to_have_value(
        "ten years of service")
    field, below = influence.bounding_box(), error.bounding_box()
    assert field and below and 0 <= below["y"] - (field["y"] + field["height"]) < 24
    assert abs(below["x"] - field["x"]) < 4  # right under it, in its column
    influence.fill("4")
    page.get_by_role("button", name="Save the plan").click()
    expect(page.locator("#plan-form-saved")).to_have_text("Saved the FY2026 plan as revision 1.")
    expect(page.locator("#plan h2")).to_contain_text("Account plan FY2026")

    # The saved plan is the YAML the CLI shows, in the editor and as a download.
    shown = db.cli("plan", "show", "DRIFT", "--yaml", "--at", f"{AT}T09:00")
    assert shown.code == 0 and "name: Jo Buyer" in shown.stdout and "influence: 4" in shown.stdout
    page.locator("#plan-edit summary").click()
    expect(page.locator("#plan-edit textarea")).to_have_value(shown.stdout)
    expect(page.locator("#plan-download")).to_have_attribute("href",
                                                             "/accounts/DRIFT/plan.yaml?year=2026")
    assert page.evaluate("""() => {
        const box = (s) => document.querySelector(s).getBoundingClientRect();
        return box('#plan-edit textarea').right <= box('#plan').right; }""")

    # A move: only the declared destinations, with a reason; the timeline tells it.
    page.locator("#move summary").click()
    offered = page.locator("#move-state option").evaluate_all("os => os.map(o => o.value)")
    assert offered == ["lost", "loyal", "recovery"]  # from declining (lifecycle.yaml)
    page.locator("#move-state").select_option("recovery")
    page.locator("#move-reason").fill("lost the tender to a competitor")
    page.get_by_role("button", name="Move the account").click()
    expect(page.locator("#timeline li").first).to_contain_text(
        "reason: lost the tender to a competitor")
    expect(page.locator(".account-head .lede strong")).to_have_text("recovery")

    # A phone: nothing scrolls sideways, with the move and the YAML open too.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    _no_sideways_scroll(page)
    page.locator("#move summary").click()
    page.locator("#plan-edit summary").click()
    _no_sideways_scroll(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "account-390.png"))
