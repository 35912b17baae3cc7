"""The admin pages in Chromium (the server and fixtures of test_pages_browser, on a store of
its own): an admin deactivates a person after seeing the hand-over preview; makes a token,
sees its secret once and revokes it; uploads a playbook folder with a typo and sees its
file:line error (nothing changed), then a good one, its diff against the active version,
and activates it. Every admin page fits a 390 px wide screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from kamflow.playbooks.loader import bundled_dir
from support.browser import Live, fits, login, serving, shot
from support.stores import Stores
from support.web import PORTFOLIO

ADMIN, AM, BOB = "ada@x.test", "ann@x.test", "bob@x.test"


@pytest.fixture(scope="module")
def site(stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with stores.database("sqlite", tmp_path_factory.mktemp("admin-browser")) as db:
        stores.restore(db, PORTFOLIO)
        with serving(db, (ADMIN, AM)) as live:
            yield live


def test_an_admin_deactivates_a_person_after_seeing_the_hand_over(page: Page,
                                                                  site: Live) -> None:
    login(page, site, ADMIN, "/admin/people")
    fits(page)
    page.locator(f'#people tr[data-email="{BOB}"] a').click()
    expect(page.get_by_role("heading", name=re.compile("Deactivate Bob Am"))).to_be_visible()
    expect(page.locator("#deactivate")).to_have_count(0)  # not before a target is chosen
    page.get_by_label("Hand over to").select_option(f"person:{AM}")
    page.get_by_role("button", name="Preview the hand-over").click()
    handover = page.locator("#handover")
    expect(handover).to_contain_text(f"account(s) they own, to {AM}")
    tasks = int(page.locator("#n-tasks").inner_text())
    assert tasks > 0 and page.locator("#n-accounts").inner_text() == "1"
    fits(page)
    shot(page, "admin-handover")
    page.get_by_role("button", name="Deactivate Bob Am and hand over").click()
    expect(page.locator("#admin-message")).to_contain_text(
        f"{BOB} is deactivated: 1 account(s), 0 sponsorship(s), {tasks} open task(s)")
    expect(page).to_have_url(re.compile(r"/admin/people$"))
    expect(page.locator(f'#people tr[data-email="{BOB}"]')).to_contain_text("deactivated")


def test_an_admin_makes_a_token_sees_it_once_and_revokes_it(page: Page, site: Live) -> None:
    login(page, site, ADMIN, "/admin/tokens")
    page.locator("#create-token summary").click()
    page.get_by_label("Name").fill("crm sync")
    page.get_by_label("Person").select_option(AM)
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#secret").inner_text()
    assert secret.startswith("kft_")
    fits(page)
    shot(page, "admin-token")
    api = page.request.get(site.url + "/api/me", headers={"Authorization": f"Bearer {secret}"})
    assert api.json()["email"] == AM
    page.reload()
    expect(page.locator("#tokens")).to_contain_text("crm sync")
    assert secret not in page.content()  # shown once
    page.locator("#tokens tr", has_text="crm sync").get_by_role("button", name="Revoke").click()
    expect(page.locator("#admin-message")).to_contain_text("'crm sync' of ann@x.test is revoked")
    expect(page.locator("#tokens tr", has_text="crm sync")).to_contain_text("revoked")
    api = page.request.get(site.url + "/api/me", headers={"Authorization": f"Bearer {secret}"})
    assert api.status == 401


def test_an_admin_uploads_a_playbook_folder_then_activates_the_fixed_one(
        page: Page, site: Live, tmp_path: Path) -> None:
    books = tmp_path / "mybooks"
    books.mkdir()
    for f in bundled_dir().glob("*.yaml"):
        (books / f.name).write_text(f.read_text())
    loyal = books / "loyal.yaml"
    good = loyal.read_text()
    loyal.write_text(good.replace("deadline_days: 30", "deadline_dayz: 30", 1))
    login(page, site, ADMIN, "/admin/playbooks")
    before = page.locator("#versions tbody tr").count()
    page.get_by_label("A folder").set_input_files(books)
    page.get_by_role("button", name="Validate and compare").click()
    expect(page.locator("#admin-error")).to_contain_text(
        "mybooks/loyal.yaml:13: steps[0].deadline_dayz: unknown key (a typo?)")
    expect(page.locator("#versions tbody tr")).to_have_count(before)  # nothing stored
    shot(page, "admin-playbook-error")

    loyal.write_text(good.replace("deadline_days: 30", "deadline_days: 20", 1))
    page.get_by_label("A folder").set_input_files(books)
    page.get_by_role("button", name="Validate and compare").click()
    steps = page.locator('#summary tr[data-what="steps"] td[data-label="Changed"]')
    expect(steps).to_contain_text("loyal.annual_account_plan")
    diff = page.locator('details[data-file="loyal.yaml"] pre.diff')
    expect(diff.locator(".del")).to_have_text(["-    deadline_days: 30"])
    expect(diff.locator(".add")).to_have_text(["+    deadline_days: 20"])
    fits(page)
    shot(page, "admin-playbook-diff")
    page.get_by_role("button", name=re.compile("Activate version")).click()
    expect(page.locator("#admin-message")).to_contain_text("is now active.")
    expect(page.locator("#versions tbody tr")).to_have_count(before + 1)
    expect(page.locator("#versions tbody tr").first).to_contain_text("upload mybooks by ada")
    expect(page.locator("#versions tbody tr").first.locator(".badge.ok")).to_have_text("active")
    fits(page)
