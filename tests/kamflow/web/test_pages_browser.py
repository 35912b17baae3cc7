"""The pages in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright) against uvicorn serving the app on 127.0.0.1.

The server runs in a thread on a SQLite store holding the small portfolio of support.web
(the PORTFOLIO seed), swept at NOW, with a FixedClock at NOW. Tests share it and run in file
order; each works on tasks the others do not touch. Without chromium these tests skip with the
reason, unless KAMFLOW_REQUIRE_BROWSER=1 (CI), where they fail. A screenshot of every page
is saved under test-artifacts/screenshots/.

`playwright install` is never needed (tests/support/browser.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from support.browser import PASSWORD, SHOTS, Live, login, serving, shot
from support.stores import Stores
from support.web import PORTFOLIO

AM, LEAD, MANAGER = "ann@x.test", "lea@x.test", "mia@x.test"


@pytest.fixture(scope="module")
def live(stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with stores.database("sqlite", tmp_path_factory.mktemp("browser")) as db:
        stores.restore(db, PORTFOLIO)
        with serving(db, (AM, LEAD, MANAGER)) as live:
            yield live


def card(page: Page, task_id: int) -> Any:
    return page.locator(f"#task-{task_id}")


def form(page: Page, task_id: int, verb: str) -> Any:
    return card(page, task_id).locator(f"form[hx-post^='/tasks/{task_id}/{verb}']")


def test_login_errors_then_my_queue_completes_a_task_seen_by_the_board_and_adherence(
        page: Page, live: Live) -> None:
    page.goto(live.url + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("Email").fill(AM)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_have_text("Wrong email or password.")
    shot(page, "login")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="My queue")).to_be_visible()
    expect(page.locator("#overdue article.task")).to_have_count(2)
    shot(page, "queue")

    tid = live.task("STEADY", "loyal.monthly_target_tracking")  # due today
    task = card(page, tid)
    expect(task).to_be_visible()
    task.get_by_text("Complete", exact=True).click()
    form(page, tid, "done").get_by_label("Outcome").fill("on target, 102%")
    task.get_by_role("button", name="Complete task").click()
    expect(card(page, tid)).to_contain_text("Done: on target, 102%.")
    expect(card(page, tid).locator(".badge.ok")).to_have_text("done")
    shot(page, "queue-after-complete")
    row = live.row(tid)
    assert row.status == "done" and row.outcome == "on target, 102%" and row.done_by == AM

    page.context.clear_cookies()
    login(page, live, LEAD, "/board")
    expect(page.get_by_role("heading", name=re.compile("department board"))).to_be_visible()
    done = page.locator(f'#recent tr[data-task="{tid}"]')
    expect(done).to_contain_text("on target, 102%")
    expect(done.locator(".badge.ok")).to_have_text("on time")
    expect(page.locator(f'#class-A tr[data-task="{tid}"]')).to_have_count(0)  # no longer open
    shot(page, "board")

    page.context.clear_cookies()
    login(page, live, MANAGER, "/adherence")
    expect(page.locator("#done-on-time")).to_have_text("1")
    row_of_step = page.locator("#adherence-table tbody tr", has_text="loyal.monthly_target_tracking")
    expect(row_of_step).to_contain_text("100%")
    expect(page.locator("#trend svg circle.point")).not_to_have_count(0)
    shot(page, "adherence")
    with page.expect_download() as download:
        page.locator("#export-csv").click()
    text = Path(download.value.path()).read_text()
    assert text.startswith("step,due,done_on_time") and "loyal.monthly_target_tracking,1,1," in text


def test_a_required_outcome_is_refused_inline_and_nothing_changes(page: Page, live: Live) -> None:
    login(page, live, AM)
    tid = live.task("STEADY", "loyal.quarterly_plan_review")  # requires an outcome
    before = live.row(tid)
    task = card(page, tid)
    task.get_by_text("Complete", exact=True).click()
    form(page, tid, "done").get_by_label("Note").fill("talked it through")
    task.get_by_role("button", name="Complete task").click()
    error = card(page, tid).locator(".flash.error")
    expect(error).to_contain_text("outcome: step quarterly_plan_review requires an outcome")
    expect(form(page, tid, "done").get_by_label("Note")).to_have_value("talked it through")
    shot(page, "queue-refused")
    after = live.row(tid)
    assert (after.status, after.outcome, after.updated_at) == ("open", None, before.updated_at)


def test_snooze_from_the_queue(page: Page, live: Live) -> None:
    login(page, live, AM)
    tid = live.task("DRIFT", "declining.drift_analysis")  # due 2026-06-22
    task = card(page, tid)
    task.get_by_text("Snooze", exact=True).click()
    form(page, tid, "snooze").get_by_label("Until").fill("2026-06-26")
    form(page, tid, "snooze").get_by_label("Reason").fill("customer on holiday")
    task.get_by_role("button", name="Snooze task").click()
    expect(card(page, tid).locator(".badge.snooze")).to_have_text("snoozed until 2026-06-26")
    row = live.row(tid)
    assert (row.status, row.snoozed_until.isoformat(), row.reason) == (
        "snoozed", "2026-06-26", "customer on holiday")
    page.reload()
    expect(page.locator(f"#snoozed #task-{tid}")).to_be_visible()


def test_portfolio_and_playbooks_render_their_svgs(page: Page, live: Live) -> None:
    login(page, live, MANAGER, "/portfolio")
    expect(page.locator("#matrix svg circle.point")).to_have_count(7)
    expect(page.locator("#matrix svg line.threshold")).to_have_count(5)
    expect(page.locator("#states svg rect.bar")).to_have_count(7)
    expect(page.locator("#gaps tbody tr").first).to_contain_text("UNHAPPY")
    shot(page, "portfolio")
    page.locator("#matrix").screenshot(path=str(SHOTS / "portfolio-matrix.png"))
    page.get_by_role("link", name="Playbooks").click()
    expect(page.locator("#lifecycle svg g.state")).to_have_count(7)
    expect(page.locator("#lifecycle svg path.transition")).not_to_have_count(0)
    expect(page.locator("#lifecycle svg")).to_contain_text("drifting_away")
    expect(page.locator("#mermaid")).to_contain_text("stateDiagram-v2")
    expect(page.locator("#state-loyal table.raci-matrix")).to_be_visible()
    shot(page, "playbooks")
    page.locator("#lifecycle").screenshot(path=str(SHOTS / "playbooks-diagram.png"))


def test_an_account_page_shows_why_and_another_managers_account_is_hidden(
        page: Page, live: Live) -> None:
    login(page, live, AM, "/accounts/DRIFT")
    expect(page.locator("#timeline")).to_contain_text("drifting_away")
    expect(page.locator("#timeline")).to_contain_text("revenue_trend")
    shot(page, "account")
    response = page.goto(live.url + "/accounts/GONE")  # bob's
    assert response is not None and response.status == 404
    expect(page.locator("main")).to_contain_text("unknown account 'GONE'")
    shot(page, "account-hidden")


def test_the_owner_writes_an_account_plan_in_the_page_and_errors_name_the_line(
        page: Page, live: Live) -> None:
    login(page, live, AM, "/accounts/DRIFT")
    page.locator("#plan-edit summary").click()  # the YAML editor, beside the plan form
    editor = page.locator("#plan-edit textarea")
    expect(editor).to_have_value(re.compile(r"relationships: \[\]"))  # the template to fill in
    editor.fill("fiscal_year: 2026\ntarget: {revenue: 400000}\nrelationships:\n"
                "  - {name: Jo Buyer, role: buyer, influence: 6, closeness: 4, owner: ann@x.test}\n")
    page.get_by_role("button", name="Save the YAML").click()
    error = page.locator("#plan-result .flash.error")
    expect(error).to_contain_text("plan.yaml:4: relationships[0].influence")
    expect(editor).to_have_value(re.compile("influence: 6"))  # what was typed stays, to fix
    editor.fill(editor.input_value().replace("influence: 6", "influence: 4"))
    page.get_by_role("button", name="Save the YAML").click()
    expect(page.locator("#plan-result .flash.ok")).to_contain_text(
        "Saved the FY2026 plan as revision 1.")
    page.reload()
    expect(page.locator("#plan h2")).to_contain_text("Account plan FY2026")
    expect(page.locator("#retention")).to_contain_text("Relationship closeness")
    shot(page, "account-plan")


def test_an_overdue_task_is_snoozed_from_the_queue_within_what_is_offered(
        page: Page, live: Live) -> None:
    login(page, live, AM)
    tid = live.task("STEADY", "loyal.feedback_request")  # due 2026-05-30: overdue on 06-15
    task = card(page, tid)
    expect(page.locator(f"#overdue #task-{tid}")).to_be_visible()
    task.get_by_text("Snooze", exact=True).click()
    until = form(page, tid, "snooze").get_by_label("Until")
    # the limit counts from today for an overdue task: 14 days past 2026-06-15
    expect(until).to_have_attribute("min", "2026-06-16")
    expect(until).to_have_attribute("max", "2026-06-29")
    until.fill("2026-06-29")
    form(page, tid, "snooze").get_by_label("Reason").fill("buyer back from leave on the 29th")
    task.get_by_role("button", name="Snooze task").click()
    expect(card(page, tid).locator(".badge.snooze")).to_have_text("snoozed until 2026-06-29")
    shot(page, "queue-snoozed-overdue")
    row = live.row(tid)
    assert (row.status, row.snoozed_until.isoformat(), row.reason) == (
        "snoozed", "2026-06-29", "buyer back from leave on the 29th")
