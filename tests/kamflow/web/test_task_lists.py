"""The task lists that scale (both databases): the board's and the API's counts are the
database's, exact and uncapped; keyset pages list each task once while tasks are added;
filters narrow; a bulk action from a page is confirmed once, then done."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from kamflow import people
from kamflow.store.tables import ACCOUNT, TASK
from support.task_rows import add_tasks
from support.web import NOW, World

PASSWORD = "task-list-pw"
MARK, LEA = "mark@x.test", "lea@x.test"
TODAY = NOW.date()
LIKE = ("STEADY", "loyal.new_solutions")


def logged_in(world: World, email: str) -> tuple[TestClient, str]:
    people.set_password(world.db.engine, email, PASSWORD, world.app.state.kamflow.clock)
    client = TestClient(world.app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    r = client.post("/login", data={"email": email, "password": PASSWORD, "next": "/",
                                    "csrf_token": token.group(1)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client, client.cookies["kamflow_csrf"]


def expected(world: World, dept: str) -> Counter[tuple[str, str]]:
    """(class, bucket) of every open task the department is R, A, C or I for, read from the
    task columns, not from task_party."""
    with world.db.engine.connect() as conn:
        klass = dict(conn.execute(select(ACCOUNT.c.id, ACCOUNT.c.klass)).all())
        tasks = conn.execute(select(TASK).where(TASK.c.status.in_(("open", "snoozed")))).all()
    out: Counter[tuple[str, str]] = Counter()
    for t in tasks:
        lists = (t.co_responsible, t.consulted, t.informed)
        if dept not in (t.responsible_dept, t.accountable_dept) and not any(
                f",{dept}," in x for x in lists):
            continue
        bucket = ("snoozed" if t.status == "snoozed" else "overdue" if t.due < TODAY
                  else "due-today" if t.due == TODAY else "upcoming")
        out[(klass[t.account_id] or "-", bucket)] += 1
    return out


def chips(page: str, kind: str) -> dict[str, int]:
    block = page.split(f'id="{kind}-counts"')[1].split("</div>")[0]
    return {k: int(n.replace(",", "")) for k, n in re.findall(
        rf'data-{kind}="([^"]+)">(?:<span[^>]*>[^<]*</span> )?<strong>([\d,]+)</strong>', block)}


def test_the_board_and_the_api_count_every_task_exactly(world: World) -> None:
    """620 more open marketing tasks: beyond a page and beyond the 500 the board once read."""
    add_tasks(world.db, 540, like=LIKE, due=TODAY - timedelta(days=2), tag="late",
              responsible_dept="marketing")
    add_tasks(world.db, 80, like=LIKE, due=TODAY + timedelta(days=3), tag="soon",
              responsible_dept="marketing", status="snoozed", snoozed_until=TODAY)
    want = expected(world, "marketing")
    client, _ = logged_in(world, MARK)
    page = client.get("/board").text
    total = sum(want.values())
    assert total > 620 and re.search(rf'id="total">{total:,}<', page)
    by_due = chips(page, "due")
    assert by_due == {"open": total, **{b: sum(n for (_, x), n in want.items() if x == b)
                                        for b in ("overdue", "due-today", "upcoming",
                                                  "snoozed")}}
    assert chips(page, "class") == {k: sum(n for (c, _), n in want.items() if c == k)
                                    for k in ("A", "B", "C", "D", "-")}
    assert page.count('<li class="task-row') == 50 and 'id="next-page"' in page
    klass = max(want, key=lambda k: want[k])[0]
    page = client.get(f"/board?due=overdue&class={klass}").text
    assert re.search(rf'id="total">{want[(klass, "overdue")]:,}<', page)
    r = client.get("/api/tasks?department=marketing&limit=5", headers=world.as_(MARK))
    assert r.status_code == 200 and len(r.json()) == 5
    assert int(r.headers["X-Total-Count"]) == total


def test_pages_list_each_task_once_while_tasks_are_added(world: World) -> None:
    add_tasks(world.db, 60, like=LIKE, due=TODAY, tag="first", responsible_dept="marketing")
    with world.db.engine.connect() as conn:
        before = set(conn.execute(select(TASK.c.id)).scalars())
    seen: list[int] = []
    url: str | None = "/api/tasks?status=all&limit=7"
    pages = 0
    while url:
        r = world.client.get(url, headers=world.as_("ada@x.test"))
        assert r.status_code == 200, r.text
        ids = [t["id"] for t in r.json()]
        seen += ids
        dues = [(t["due"], t["id"]) for t in r.json()]
        assert dues == sorted(dues)
        pages += 1
        if pages in (2, 5):  # tasks added behind the cursor and ahead of it
            add_tasks(world.db, 3, like=LIKE, due=TODAY - timedelta(days=400), tag=f"old{pages}")
            add_tasks(world.db, 3, like=LIKE, due=TODAY + timedelta(days=400), tag=f"new{pages}")
        link = r.headers.get("Link")
        assert (link is None) == ("X-Next-Cursor" not in r.headers)
        url = link.split(">")[0].removeprefix("<").split("testserver")[-1] if link else None
    assert len(seen) == len(set(seen)) and before <= set(seen)
    assert len(set(seen) - before) == 6  # the ones ahead of the cursor, each once

    client, _ = logged_in(world, MARK)  # the board's pages too, latest due first
    rows: list[int] = []
    page_url: str | None = "/board?sort=-due"
    while page_url:
        page = client.get(page_url).text
        rows += [int(i) for i in re.findall(r'id="row-(\d+)"', page)]
        nxt = re.search(r'id="next-page" rel="next" href="([^"]+)"', page)
        page_url = nxt.group(1).replace("&amp;", "&") if nxt else None
    total = int(re.search(r'id="total">([\d,]+)<', page).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert len(rows) == len(set(rows)) == total


def test_a_cursor_from_elsewhere_is_refused_naming_it(world: World) -> None:
    r = world.client.get("/api/tasks?status=all&limit=2", headers=world.as_("ada@x.test"))
    cursor = r.headers["X-Next-Cursor"]
    for query in (f"cursor={cursor}&sort=-due", "cursor=bm9wZQ", "cursor=%00"):
        r = world.client.get(f"/api/tasks?status=all&{query}", headers=world.as_("ada@x.test"))
        assert r.status_code == 422 and r.json()["field"] == "cursor", (query, r.text)
    client, _ = logged_in(world, MARK)
    r = client.get("/board?cursor=bm9wZQ")
    assert r.status_code == 422 and "cursor: not a cursor of this list" in r.text


def test_filters_narrow_the_board_and_my_queue(world: World) -> None:
    client, _ = logged_in(world, LEA)
    everything = set(re.findall(r'id="row-(\d+)"', client.get("/board").text))

    def rows(query: str) -> set[str]:
        r = client.get(f"/board?{query}")
        assert r.status_code == 200, (query, r.text[:300])
        return set(re.findall(r'id="row-(\d+)"', r.text))

    with world.db.engine.connect() as conn:
        tasks: dict[str, Any] = {str(t.id): t for t in conn.execute(select(TASK))}
    for query, keep in (
            ("state=declining", lambda t: t.state == "declining"),
            ("step=loyal.quarterly_plan_review", lambda t: t.step == "loyal.quarterly_plan_review"),
            ("holder=ann@x.test", lambda t: t.assignee == "ann@x.test"),
            ("holder=queue", lambda t: t.queue == "sales"),
            ("due=upcoming", lambda t: t.status == "open" and t.due > TODAY),
            ("raci=A", lambda t: t.accountable_dept == "sales")):
        got = rows(query)
        assert got == {i for i in everything if keep(tasks[i])}, query
    assert rows("key=1") < everything
    r = client.get("/board?state=declned")
    assert r.status_code == 422 and "state: unknown state &#39;declned&#39;" in r.text
    ann, _ = logged_in(world, "ann@x.test")
    page = ann.get("/?due=overdue").text
    cards = set(re.findall(r'<article class="task[^"]*" id="task-(\d+)"', page))
    assert len(cards) == 2 and all(tasks[i].due < TODAY for i in cards)
    mark, _ = logged_in(world, MARK)  # the marketing queue, within what mark may see
    page = mark.get("/?view=queue&class=A").text
    queued = set(re.findall(r'<article class="task[^"]*" id="task-(\d+)"', page))
    assert queued == {str(world.task(*LIKE))} and 'value="claim"' in page


def test_a_bulk_action_from_a_page_is_confirmed_once_then_done(world: World) -> None:
    client, csrf = logged_in(world, LEA)
    ids = [world.task("STEADY", "loyal.quarterly_plan_review"),
           world.task("DRIFT", "declining.drift_analysis")]
    before = [world.row(t) for t in ids]
    form: dict[str, Any] = {"ids": [str(t) for t in ids], "action": "skip", "csrf_token": csrf}
    htmx = {"HX-Request": "true"}
    r = client.post("/tasks/bulk?back=/board", data=form, headers=htmx)
    assert r.status_code == 422 and "reason: skip needs a reason" in r.text
    form["skip_reason"] = "covered at the annual review"
    r = client.post("/tasks/bulk?back=/board", data=form, headers=htmx)
    assert r.status_code == 200 and 'id="bulk-confirm"' in r.text and "Skip 2 tasks" in r.text
    assert [world.row(t) for t in ids] == before  # not yet
    r = client.post("/tasks/bulk?back=/board", data={**form, "confirm": "yes"}, headers=htmx)
    assert r.status_code == 200 and "Skipped 2 of 2 tasks." in r.text
    assert r.headers["HX-Trigger"] == "tasks-changed"
    assert [world.row(t)["status"] for t in ids] == ["skipped", "skipped"]
    r = client.post("/tasks/bulk?back=/board", data={**form, "confirm": "yes"})  # no htmx
    assert r.status_code == 200 and "<h1>Bulk action</h1>" in r.text
    assert "2 refused, left as they were" in r.text and 'href="/board"' in r.text
    r = client.post("/tasks/bulk", data={**form, "csrf_token": "forged"}, headers=htmx)
    assert r.status_code == 403
