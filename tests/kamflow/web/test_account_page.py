"""The account page all round, without a browser (TestClient, on both databases): metrics in
words, the revenue chart, the timeline; a move only along a declared transition and with a
reason (anything else refused, nothing changed); the plan form validated as the YAML is,
keeping what it does not edit, refusing a stale edit; the diff between revisions; and who
may use each of the page's routes (on SQLite: the policy's SQL is the API's, whose matrix
in test_authz runs on both)."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from kamflow import people, plans, views
from kamflow.playbooks.loader import bundled_dir, load_dir
from kamflow.playbooks.metrics import LABELS, METRICS, STEP_METRICS, Unit
from kamflow.store.tables import (
    ACCOUNT,
    ACCOUNT_PLAN,
    AUDIT_EVENT,
    PERSON,
    PLAN_ENTRY,
    TRANSITION,
)
from kamflow.web.pages_account import metric_text
from support.web import AT, PEOPLE, World, restore, snapshot

PASSWORD = "account-page-pw"
HTMX = {"HX-Request": "true"}
AM, BOB, MARK, MANAGER, ADMIN = ("ann@x.test", "bob@x.test", "mark@x.test", "mia@x.test",
                                 "ada@x.test")


def logged_in(world: World, email: str) -> tuple[TestClient, str]:
    """A client with a session made through the login form, and its CSRF token."""
    people.set_password(world.db.engine, email, PASSWORD, world.app.state.kamflow.clock)
    client = TestClient(world.app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    r = client.post("/login", data={"email": email, "password": PASSWORD,
                                    "csrf_token": token.group(1), "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return client, client.cookies["kamflow_csrf"]


def post(client: TestClient, path: str, data: dict[str, str], csrf: str | None,
         htmx: bool = True) -> Response:
    body = {**data, **({"csrf_token": csrf} if csrf else {})}
    return client.post(path, data=body, headers=HTMX if htmx else {}, follow_redirects=False)


def between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def test_every_metric_has_a_label_and_a_unit() -> None:
    assert set(LABELS) == set(METRICS) | set(STEP_METRICS)
    assert len({label.label for label in LABELS.values()}) == len(LABELS)
    shown = [metric_text(v, u) for v, u in ((1_234_567.0, Unit.MONEY), (-0.312, Unit.SHARE),
                                            (1, Unit.DAYS), (3.456, Unit.OUT_OF_5),
                                            (None, Unit.MONEY), (True, Unit.YES_NO))]
    assert shown == ["1.2M", "-31%", "1 day", "3.5 / 5", "—", "yes"]


def test_the_page_shows_figures_in_words_revenue_per_month_the_timeline_and_the_moves(
        world: World) -> None:
    ann, csrf = logged_in(world, AM)
    page = ann.get("/accounts/DRIFT").text
    detail = world.client.get("/api/accounts/DRIFT", headers=world.as_(AM)).json()
    figures = between(page, 'id="figures"', "</section>")
    for name, value in detail["metrics"].items():  # a label and a value in words for each
        cell = re.search(rf'data-metric="{name}">([^<]+)</span></th><td>([^<]*)</td>', figures)
        assert cell, name
        assert html.unescape(cell.group(1)) == LABELS[name].label
        assert cell.group(2) == metric_text(value, LABELS[name].unit)
    assert re.search(r">\s*revenue_t12\s*<", figures) is None  # the name is in the tooltip only
    assert 'title="revenue_t12: revenue of the 12 complete' in figures
    # FY2026 from January; on 2026-06-15 five months have revenue, a year before twelve.
    chart = between(page, 'id="revenue-chart"', "</figure>")
    assert chart.count('class="revenue"') == 5 and chart.count('class="previous"') == 12
    assert 'class="target"' not in chart and "No plan target for FY2026" in chart
    assert "2026-03: revenue 28k; the year before 40k" in chart  # the recent level, the old
    steady = ann.get("/accounts/STEADY").text  # a plan of 480k: 40k a month
    assert between(steady, 'id="revenue-chart"', "</figure>").count('class="target"') == 12
    assert "against a target of 200k" in steady  # January to May
    timeline = between(page, 'id="timeline"', "</ol>")
    assert "drifting_away" in timeline and "revenue_trend &lt;= -15%" in timeline
    assert "it saw" in timeline and LABELS["revenue_trend"].label in timeline
    offered = re.findall(r'<option value="([a-z_]+)">', between(page, 'id="move-state"',
                                                               "</select>"))
    life = load_dir(bundled_dir()).lifecycle
    assert detail["state"] == "declining"
    assert offered == sorted({t.dest for t in life.transitions if "declining" in t.source})
    before = snapshot(world.db)
    refused = [
        ({"state": "prospect", "reason": "we start over"}, csrf, 409,
         "no declared transition from declining to prospect"),
        ({"state": "recovery", "reason": "   "}, csrf, 422,
         "reason: a manual move needs a reason"),
        ({"state": "recovery"}, csrf, 422, "reason: a manual move needs a reason"),
        ({"state": "nowhere", "reason": "why not"}, csrf, 409, "unknown state 'nowhere'"),
        ({"state": "recovery", "reason": "lost the tender"}, None, 403, "CSRF"),
    ]
    for data, token, status, message in refused:
        r = post(ann, "/accounts/DRIFT/move", data, token)
        assert (r.status_code, message in html.unescape(r.text)) == (status, True), r.text
    assert snapshot(world.db) == before  # nothing changed
    r = post(ann, "/accounts/DRIFT/move", {"state": "recovery", "reason": "lost the tender"},
             csrf)
    assert (r.status_code, r.headers.get("HX-Refresh")) == (200, "true")
    moved = world.client.get("/api/accounts/DRIFT", headers=world.as_(AM)).json()
    last = moved["transitions"][-1]
    assert (moved["state"], last["rule"], last["reason"], last["actor"]) == (
        "recovery", "start_win_back", "lost the tender", AM)
    page = ann.get("/accounts/DRIFT").text
    assert "reason: lost the tender" in between(page, 'id="timeline"', "</li>")  # newest first


def _form(page: str) -> dict[str, str]:
    """What the page's plan form posts as it stands."""
    form = between(page, 'id="plan-form"', "</form>")
    values = dict(re.findall(r'<input type="(?:hidden|text|number|email|date)" name="([^"]+)"'
                             r'[^>]*?value="([^"]*)"', form))
    values |= dict(re.findall(r'<textarea name="([^"]+)"[^>]*>([^<]*)</textarea>', form))
    for name, options in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', options)
        values[name] = chosen.group(1) if chosen else ("expected" if "status" in name else "")
    return {name: html.unescape(value) for name, value in values.items()}


def test_the_plan_form_validates_as_the_yaml_does_and_keeps_what_it_does_not_edit(
        world: World) -> None:
    ann, csrf = logged_in(world, AM)
    form = _form(ann.get("/accounts/DRIFT").text)
    assert form["fiscal_year"] == "2026" and form["base"] == "0"
    assert "relationships[1].name" in form and "target.by_month.2026-12" in form

    def problem(response: Response, name: str) -> str:
        """The problem shown beside a field: right after its input."""
        after = between(response.text, f'id="{name}"', "</div>")
        found = re.search(rf'id="{name}-error">([^<]+)<', after)
        return html.unescape(found.group(1)) if found else ""

    # Row 0 left blank: the problems of the document's first person are shown on row 1.
    person = {"name": "Jo Buyer", "role": "buyer", "influence": "7", "closeness": "2",
              "owner": "nobody@x.test"}
    typed = {**form, "target.revenue": "360000", "swot.strengths": "long relationship\n\nservice",
             **{f"relationships[1].{k}": v for k, v in person.items()}}
    yaml = ("fiscal_year: 2026\ntarget: {revenue: 360000}\nrelationships:\n  - {name: Jo Buyer, "
            "role: buyer, influence: 7, closeness: 2, owner: nobody@x.test}\n")
    steps = [  # what is typed -> the field whose problem is shown, as the YAML editor says it
        ({}, "relationships[0].influence", "f-relationships-1-influence"),
        ({"relationships[1].influence": "4"}, "relationships[0].owner", "f-relationships-1-owner"),
    ]
    for change, path, field in steps:
        typed |= change
        r = post(ann, "/accounts/DRIFT/plan/form", typed, csrf)
        assert r.status_code == 422 and "Not saved: 1 problem, shown beside" in r.text
        yaml = yaml.replace("influence: 7", f"influence: {typed['relationships[1].influence']}")
        said = html.unescape(post(ann, "/accounts/DRIFT/plan", {"yaml": yaml}, csrf).text)
        assert problem(r, field) and f"plan.yaml:4: {path}: {problem(r, field)}" in said
        assert 'value="Jo Buyer"' in r.text and "long relationship\n\nservice" in r.text
    r = post(ann, "/accounts/DRIFT/plan/form", typed | {"target.by_month.2026-01": "30000"}, csrf)
    assert problem(r, "f-target-revenue") == "" and re.search(
        r'id="f-target-error"[^>]*>by_month adds up to 30000, not the revenue target 360000<',
        r.text)
    assert world.client.get("/api/accounts/DRIFT/plan", headers=world.as_(AM)).status_code == 404
    r = post(ann, "/accounts/DRIFT/plan/form", typed | {"relationships[1].owner": AM}, csrf)
    assert r.status_code == 200 and "Saved the FY2026 plan as revision 1." in r.text
    doc = world.client.get("/api/accounts/DRIFT/plan", headers=world.as_(AM)).json()["document"]
    assert doc["swot"]["strengths"] == ["long relationship", "service"]
    assert doc["relationships"] == [{"name": "Jo Buyer", "title": "", "role": "buyer",
                                     "influence": 4, "closeness": 2, "owner": AM}]
    assert doc["target"] == {"revenue": 360000.0, "by_month": None, "by_product_line": None}
    exported = ann.get("/accounts/DRIFT/plan.yaml")
    shown = world.db.cli("plan", "show", "DRIFT", "--yaml", "--at", f"{AT}T09:00")
    assert exported.text == shown.stdout and "attachment" in exported.headers[
        "content-disposition"]
    # The YAML adds a section the form does not edit; the form keeps it.
    r = post(ann, "/accounts/DRIFT/plan", {"yaml": shown.stdout + "campaigns:\n  - {key: fair, "
                                           "start: 2026-09-01, end: 2026-09-03}\n"}, csrf)
    assert "revision 2" in r.text
    page = ann.get("/accounts/DRIFT").text
    assert "Kept as they are: campaigns" in page
    r = post(ann, "/accounts/DRIFT/plan/form", _form(page) | {"base": "1"}, csrf)  # stale
    assert r.status_code == 409 and r.headers["HX-Retarget"] == "#plan-form-result"
    assert "saved as revision 2 by ann@x.test" in r.text
    r = post(ann, "/accounts/DRIFT/plan/form", _form(page) | {"relationships[0].remove": "1"},
             csrf)
    assert "Saved the FY2026 plan as revision 3: 4 field(s) changed." in r.text
    doc = world.client.get("/api/accounts/DRIFT/plan", headers=world.as_(AM)).json()["document"]
    assert doc["relationships"] == [] and doc["campaigns"][0]["key"] == "fair"
    history = between(r.text, 'id="plan-history"', "</table>")
    assert re.findall(r'data-label="Revision">(\d+)<', history) == ["3", "2", "1"]
    diff = ann.get("/accounts/DRIFT/plan/diff?from=1&to=3&year=2026", headers=HTMX).text
    assert "<code>relationships[Jo Buyer].influence</code>" in diff
    assert "<code>campaigns[fair].start</code>" in diff
    api = world.client.get("/api/accounts/DRIFT/plan/diff?from=2&to=3", headers=world.as_(AM))
    assert {c["field"] for c in api.json()["changes"]} == {
        f"relationships[Jo Buyer].{k}" for k in ("closeness", "influence", "owner", "role")}
    r = ann.get("/accounts/DRIFT/plan/diff?from=1&to=9")
    assert r.status_code == 422 and "to: the FY2026 plan has no revision 9; it has 1, 2, 3" in r.text


def _fingerprint(world: World) -> tuple[object, ...]:
    """What the page's actions change: states, transitions, plans and their entries."""
    with world.db.engine.connect() as conn:
        return (conn.execute(select(ACCOUNT.c.id, ACCOUNT.c.state).order_by(ACCOUNT.c.id)).all(),
                conn.execute(select(ACCOUNT_PLAN.c.account_id, ACCOUNT_PLAN.c.revision)
                             .order_by(ACCOUNT_PLAN.c.account_id)).all(),
                *(conn.execute(select(func.count()).select_from(t)).scalar()
                  for t in (TRANSITION, PLAN_ENTRY, AUDIT_EVENT)))


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)  # the API's matrix runs on both
def _offered(page: str) -> set[str]:
    """The emails the plan form's "our contact" suggests."""
    return set(re.findall(r'<option value="([^"]+)"></option>',
                          between(page, '<datalist id="plan-people">', "</datalist>")))


def test_the_plan_form_offers_everyone_in_a_small_company_and_the_accounts_team_in_a_large_one(
        world: World) -> None:
    """A list of every person would be most of the account page in a large company (900 KiB
    of 963 with 20,000 people): beyond SUGGESTED people it offers the owner, the sponsor,
    those the plan names already and each department's lead."""
    ann, _ = logged_in(world, AM)
    with world.db.engine.connect() as conn:
        owner, sponsor = conn.execute(select(ACCOUNT.c.owner_email, ACCOUNT.c.sponsor_email)
                                      .where(ACCOUNT.c.id == "DRIFT")).one()
    assert _offered(ann.get("/accounts/DRIFT").text) == set(PEOPLE)  # all active, all eight
    with world.db.engine.begin() as conn:
        conn.execute(PERSON.insert(), [
            {"email": f"rep{i:03d}@x.test", "name": f"Rep {i}", "department": "sales",
             "role": "account_manager", "active": True} for i in range(views.SUGGESTED)])
    plans.save(world.db.engine, "DRIFT", "fiscal_year: 2026\nrelationships:\n  - {name: Jo "
               "Buyer, role: buyer, influence: 4, closeness: 2, owner: rep007@x.test}\n",
               "plan.yaml", AM, world.app.state.kamflow.clock)
    page = ann.get("/accounts/DRIFT").text
    leads = {e for e, (_, _, role) in PEOPLE.items() if role == "department_lead"}
    assert _offered(page) == {owner, *([sponsor] if sponsor else []), "rep007@x.test", *leads}


def test_who_may_use_the_account_page_routes(world: World) -> None:
    """Own (STEADY, ann's, with a plan) and other (GONE, bob's, none), as the API's policy:
    404 for an account the person does not see, 403 for one they see but may not change."""
    routes = {  # (method, path, body) -> expected (STEADY, GONE) per role
        ("GET", "/accounts/{a}", ""): {AM: (200, 404), MARK: (200, 404), MANAGER: (200, 200),
                                       ADMIN: (200, 200)},
        ("POST", "/accounts/{a}/move", "move"): {AM: (200, 404), MARK: (403, 404),
                                                 MANAGER: (403, 403), ADMIN: (200, 200)},
        ("POST", "/accounts/{a}/plan/form", "plan"): {AM: (200, 404), MARK: (403, 404),
                                                      MANAGER: (403, 403), ADMIN: (200, 200)},
        ("GET", "/accounts/{a}/plan/diff?from=1&to=1", ""): {
            AM: (200, 404), MARK: (200, 404), MANAGER: (200, 404), ADMIN: (200, 404)},
        ("GET", "/accounts/{a}/plan.yaml", ""): {
            AM: (200, 404), MARK: (200, 404), MANAGER: (200, 404), ADMIN: (200, 404)},
    }
    bodies = {"move": {"STEADY": {"state": "declining", "reason": "lost the tender"},
                       "GONE": {"state": "recovery", "reason": "win them back"}},
              "plan": {a: {"fiscal_year": "2026", "base": b, "target.revenue": "500000"}
                       for a, b in (("STEADY", "1"), ("GONE", "0"))}}
    wrong = []
    sessions = {who: logged_in(world, who) for who in (AM, MARK, MANAGER, ADMIN)}
    base, before = snapshot(world.db), _fingerprint(world)
    for who, (client, csrf) in sessions.items():
        for (method, path, body), expected in routes.items():
            for account, want in zip(("STEADY", "GONE"), expected[who], strict=True):
                url = path.replace("{a}", account)
                if method == "GET":
                    r = client.get(url, follow_redirects=False)
                else:
                    r = post(client, url, bodies[body][account], csrf)
                if r.status_code != want:
                    wrong.append(f"{who} {method} {url}: {r.status_code}, expected {want}")
                if method == "POST" and r.status_code < 300:
                    assert _fingerprint(world) != before, url
                    restore(world.db, base)
                else:
                    assert _fingerprint(world) == before, f"{who} {method} {url} changed it"
    assert not wrong, "\n".join(wrong)
