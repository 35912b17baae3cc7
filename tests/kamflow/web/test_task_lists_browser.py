"""The department board and My queue in a real browser (headless Chromium, as in
test_pages_browser.py): a lead filters the board, ticks tasks and claims them in one
action with one confirmation; the board and My queue fit a 390 px wide phone.

The store is the small portfolio of support.web, plus 20 overdue tasks of a class A account
in the sales queue and one assigned to bob, so the claim has 20 to take and one to refuse.
Chromium and the server: tests/support/browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from kamflow.store.tables import ACCOUNT, AUDIT_EVENT, TASK
from support.browser import SHOTS, Live, fits, login, serving
from support.stores import Stores
from support.task_rows import add_tasks
from support.web import NOW, PORTFOLIO

LEAD = "lea@x.test"
QUEUED, CLAIMED = 20, "lea@x.test"


class Lists(Live):
    """The served app, with the 20 tasks in the sales queue and bob's one."""

    def __init__(self, live: Live, queued: list[int], bobs: int) -> None:
        super().__init__(live.url, live.db)
        self.queued, self.bobs = queued, bobs

    def rows(self, ids: list[int]) -> dict[int, Any]:
        with self.db.engine.connect() as conn:
            return {r.id: r for r in conn.execute(select(TASK).where(TASK.c.id.in_(ids)))}


@pytest.fixture(scope="module")
def live(stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lists]:
    with stores.database("sqlite", tmp_path_factory.mktemp("lists")) as db:
        stores.restore(db, PORTFOLIO)
        with db.engine.connect() as conn:
            top = conn.execute(select(ACCOUNT.c.id).where(ACCOUNT.c.klass == "A")
                               .order_by(ACCOUNT.c.id)).scalars().first()
        assert top is not None
        overdue = NOW.date() - timedelta(days=3)
        like = ("STEADY", "loyal.quarterly_plan_review")
        queued = add_tasks(db, QUEUED, like=like, account=top, due=overdue, tag="queued",
                           assignee=None, queue="sales")
        bobs = add_tasks(db, 1, like=like, account=top, due=overdue, tag="bobs",
                         assignee="bob@x.test", queue=None)[0]
        with serving(db, (LEAD,)) as served:
            yield Lists(served, queued, bobs)


def test_a_lead_filters_the_board_and_claims_twenty_tasks_in_one_action(
        page: Page, live: Lists) -> None:
    login(page, live, LEAD, "/board")
    filters = page.locator("form.task-filters")
    filters.locator("select[name=due]").select_option("overdue")
    filters.locator("select[name=class]").select_option("A")
    filters.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"due=overdue.*class=A"))
    listed = page.locator("li.task-row")
    expect(listed.first).to_be_visible()
    total = int(page.locator("#total").inner_text().replace(",", ""))
    assert total == listed.count() >= QUEUED + 1
    for tid in [*live.queued, live.bobs]:
        page.locator(f"#row-{tid} input[type=checkbox]").check()
    expect(page.locator("[data-selected]")).to_have_text(f"{QUEUED + 1} selected:")
    before = live.rows([live.bobs])[live.bobs]
    page.locator("#bulk").get_by_role("button", name="Claim", exact=True).click()
    confirm = page.locator("#bulk-confirm")  # the one confirmation
    expect(confirm).to_have_text(f"Yes, claim {QUEUED + 1} tasks")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "board-bulk-confirm.png"), full_page=True)
    assert live.rows(live.queued)[live.queued[0]].assignee is None  # nothing done yet
    confirm.click()
    expect(page.locator("#bulk-result")).to_have_text(f"Claimed {QUEUED} of {QUEUED + 1} tasks.")
    refused = page.locator(f".bulk-refused li[data-task='{live.bobs}']")
    expect(refused).to_contain_text("is not in the queue of your department (sales)")
    for tid in live.queued[:3]:  # the list reloaded in place: they are lea's now
        expect(page.locator(f"#row-{tid} .row-who")).to_have_text(CLAIMED)
    expect(page.locator(f"#row-{live.bobs} .row-who")).to_have_text("bob@x.test")
    page.screenshot(path=str(SHOTS / "board-bulk-claimed.png"), full_page=True)
    rows = live.rows([*live.queued, live.bobs])
    assert {(r.assignee, r.queue, r.status) for t, r in rows.items() if t != live.bobs} == {
        (CLAIMED, None, "open")}
    assert rows[live.bobs] == before
    with live.db.engine.connect() as conn:
        claimed = conn.execute(select(AUDIT_EVENT.c.entity_id).where(
            AUDIT_EVENT.c.action == "claimed", AUDIT_EVENT.c.actor == LEAD)).scalars().all()
    assert sorted(claimed) == sorted(str(t) for t in live.queued)

    fits(page)  # the same pages on a phone
    page.goto(live.url + "/board")
    expect(page.locator("li.task-row").first).to_be_visible()
    page.locator("#bulk details", has_text="Snooze").locator("summary").click()
    fits(page)
    page.screenshot(path=str(SHOTS / "board-390.png"))
    page.goto(live.url + "/")
    expect(page.locator("#overdue article.task").first).to_be_visible()
    fits(page)
    page.screenshot(path=str(SHOTS / "queue-390.png"))
