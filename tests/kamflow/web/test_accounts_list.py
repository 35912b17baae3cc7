"""The accounts list (GET /api/accounts, the /accounts page, /accounts.csv), on SQLite and
PostgreSQL: every row once across pages while rows are added, X-Total-Count as the database
counts it, each filter against the rows it should keep, an account manager's own accounts
first, bad input named; who sees what on the page and in the CSV, which is formula-safe."""

from __future__ import annotations

import base64
import csv
import io
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, insert, select, update

from kamflow.store import parties, tally
from kamflow.store.tables import ACCOUNT, TASK
from support.web import NOW, World

ANN, BOB, MARK, MIA, ADA = "ann@x.test", "bob@x.test", "mark@x.test", "mia@x.test", "ada@x.test"
AT = datetime(2026, 1, 1)


def _add(world: World, *rows: tuple[str, str, float | int | None, float]) -> None:
    """Accounts (id, name, retention score, potential), owned by ann."""
    with world.db.engine.begin() as conn:
        conn.execute(insert(ACCOUNT), [
            {"id": i, "name": n, "retention_score": s, "potential": p, "owner_email": ANN,
             "state": "loyal", "state_since": AT, "created_at": AT, "criteria": {}}
            for i, n, s, p in rows])


def _count(world: World, *where: Any) -> int:
    with world.db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ACCOUNT).where(*where))
                   .scalar_one())


def _get(world: World, path: str, who: str = MIA, **params: Any) -> Any:
    r = world.client.get(path, params=params, headers=world.as_(who))
    assert r.status_code == 200, r.text
    return r


def _all_pages(world: World, who: str, added: list[int], **params: Any) -> list[str]:
    """Every page, following Link; after each page two accounts are added, one that sorts
    before the page read and one after (`added`: how many so far)."""
    seen: list[str] = []
    url: str | None = "/api/accounts"
    first = True
    while url is not None:
        r = world.client.get(url, params=params if first else None, headers=world.as_(who))
        first = False
        assert r.status_code == 200, r.text
        assert int(r.headers["X-Total-Count"]) == _count(world)
        seen += [a["id"] for a in r.json()]
        link = r.headers.get("Link")
        assert (link is None) == ("X-Next-Cursor" not in r.headers)
        url = link[1:link.index(">")] if link else None
        n = added[0]
        added[0] += 1
        _add(world, (f"ADDED{n}A", f"aaa new {n}", n % 100, 10.0 ** 9),
             (f"ADDED{n}Z", f"zzz new {n}", 100.0 - n % 100, 1.0))
    return seen


def test_paging_lists_every_row_once_while_rows_are_added(world: World) -> None:
    _add(world, *[(f"P{i:02d}", f"Page {i % 7} GmbH", None if i % 5 == 0 else float(i % 9 * 10),
                   float(i % 4 * 1000)) for i in range(13)])  # ties in every sort key
    added = [0]
    for sort in ("name", "-score"):
        before = {a["id"] for a in _get(world, "/api/accounts", limit=500).json()}
        seen = _all_pages(world, MIA, added, sort=sort, limit=5)
        assert len(seen) == len(set(seen)), sort
        assert before <= set(seen), sort  # every row there at the start, exactly once


def test_the_order_and_the_total_follow_the_filters(world: World) -> None:
    _add(world, ("LOW", "Lowscore AG", 12.5, 10.0), ("HIGH", "Highscore AG", 88.0, 5.0),
         ("MID", "=cmd|' /C calc'!A0", 55.0, 7.0))
    with world.db.engine.begin() as conn:
        was = conn.execute(select(ACCOUNT.c.klass, ACCOUNT.c.key_account)
                           .where(ACCOUNT.c.id == "GONE")).one()
        conn.execute(update(ACCOUNT).where(ACCOUNT.c.id == "GONE").values(key_account=True))
        tally.reclassified(conn, {"GONE": (was.klass, was.key_account)})  # as a sweep does
    today = NOW.date()
    overdue = exists().where(TASK.c.account_id == ACCOUNT.c.id, TASK.c.status == "open",
                             TASK.c.due < today)
    cases: list[tuple[dict[str, Any], Any]] = [
        ({}, None),
        ({"q": "steady"}, ACCOUNT.c.id == "STEADY"),  # an id in small letters
        ({"q": "sT"}, func.lower(ACCOUNT.c.name).like("st%")),  # a name's start, any case
        ({"q": "GmbH"}, ACCOUNT.c.id == "nothing"),  # not a word inside a name
        ({"state": "loyal"}, ACCOUNT.c.state == "loyal"),
        ({"class": "C"}, ACCOUNT.c.klass == "C"),
        ({"key": "true"}, ACCOUNT.c.key_account.is_(True)),
        ({"owner": BOB}, ACCOUNT.c.owner_email == BOB),
        ({"score_min": 50}, ACCOUNT.c.retention_score >= 50),
        ({"score_max": 50}, ACCOUNT.c.retention_score <= 50),
        ({"score_min": 12.5, "score_max": 55}, ACCOUNT.c.retention_score.between(12.5, 55)),
        ({"overdue": "true"}, overdue),
        ({"overdue": "true", "state": "loyal"}, and_(overdue, ACCOUNT.c.state == "loyal")),
    ]
    assert _count(world, overdue) > 0
    for params, where in cases:
        r = _get(world, "/api/accounts", **params, limit=500)
        want = _count(world, *([] if where is None else [where]))
        assert int(r.headers["X-Total-Count"]) == want == len(r.json()), params
    rows = _get(world, "/api/accounts", sort="-potential").json()
    assert [a["potential"] for a in rows] == sorted((a["potential"] for a in rows), reverse=True)
    rows = _get(world, "/api/accounts", sort="name").json()
    assert [a["name"].lower() for a in rows] == sorted(a["name"].lower() for a in rows)
    rows = _get(world, "/api/accounts", sort="score", score_min=0).json()
    scores = [a["retention_score"] for a in rows]  # the sweep's scores and the three added
    assert scores == sorted(scores) and len(rows) == _count(world, ACCOUNT.c.retention_score >= 0)
    assert [a["id"] for a in rows if a["id"] in ("LOW", "MID", "HIGH")] == ["LOW", "MID", "HIGH"]


def test_an_account_manager_sees_their_own_accounts_first(world: World) -> None:
    with world.db.engine.begin() as conn:  # a task on bob's account, for ann to do
        moved = conn.execute(update(TASK).where(TASK.c.account_id == "GONE")
                             .values(assignee=ANN).returning(TASK.c.id)).scalars().all()
        parties.sync(conn, moved)
    rows = _get(world, "/api/accounts", ANN, sort="name").json()
    assert rows[-1]["id"] == "GONE" and len(rows) == 7  # "Gone" sorts before "Newbig"
    assert all(a["owner_email"] == ANN for a in rows[:-1])
    ids = [a["id"] for a in rows]
    paged: list[str] = []
    cursor = None
    for _ in range(4):
        r = _get(world, "/api/accounts", ANN, sort="name", limit=2,
                 **({"cursor": cursor} if cursor else {}))
        paged += [a["id"] for a in r.json()]
        cursor = r.headers.get("X-Next-Cursor")
    assert paged == ids and cursor is None
    assert [a["id"] for a in _get(world, "/api/accounts", MIA, sort="name").json()][0] \
        == "COLLAPSE"  # a manager's list is the plain sort


def test_bad_input_is_422_naming_the_field(world: World) -> None:
    def bad(field: str, **params: Any) -> str:
        r = world.client.get("/api/accounts", params=params, headers=world.as_(MIA))
        assert r.status_code == 422 and r.json()["field"] == field, r.text
        return str(r.json()["error"])

    assert "not one of name, -name" in bad("sort", sort="revenue")
    bad("cursor", cursor="not-a-cursor")
    bad("cursor", cursor=base64.urlsafe_b64encode(b'["name", [1, 2]]').decode())  # not its keys
    cursor = _get(world, "/api/accounts", sort="name", limit=1).headers["X-Next-Cursor"]
    assert "belongs to sort=name" in bad("cursor", sort="-name", cursor=cursor)
    assert "below score_min" in bad("score_max", score_min=60, score_max=40)
    bad("score_min", score_min=101)
    bad("limit", limit=501)
    assert "did you mean bob@x.test" in bad("owner", owner="bbo@x.test")


def test_the_page_and_the_csv_show_each_role_what_it_may_see(world: World) -> None:
    _add(world, ("EVIL", "=HYPERLINK(\"http://x\")", 40.0, 1.0))
    see_gone = {ANN: False, MARK: False, MIA: True, ADA: True}
    for who, gone in see_gone.items():
        html = _get(world, "/accounts", who).text
        assert ('data-account="STEADY"' in html, 'data-account="GONE"' in html) == (True, gone)
        found = _get(world, "/accounts", who, q="gone").text
        assert ('data-account="GONE"' in found) == gone, who
        r = _get(world, "/accounts.csv", who, sort="-name")
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(r.text)))
        ids = [row[0] for row in rows[1:]]
        assert rows[0][:2] == ["id", "name"] and ("GONE" in ids) == gone and "STEADY" in ids
        assert all(not c.startswith(("=", "+", "@")) for row in rows for c in row), rows
        if who == ANN:
            evil = next(row for row in rows if row[0] == "EVIL")
            assert evil[:2] == ["EVIL", "'=HYPERLINK(\"http://x\")"]
            assert len(ids) == _count(world, ACCOUNT.c.owner_email == ANN)
    r = world.client.get("/accounts.csv?score_min=x", headers=world.as_(MIA))
    assert r.status_code == 422 and "score_min" in r.text
    r = world.client.get("/accounts?sort=bogus", headers=world.as_(MIA))
    assert r.status_code == 422 and "sort: &#39;bogus&#39; is not one of" in r.text
    world.client.cookies.clear()
    for path in ("/accounts", "/accounts.csv"):
        r = world.client.get(path, follow_redirects=False)
        assert r.status_code == 302 and r.headers["location"].startswith("/login")
