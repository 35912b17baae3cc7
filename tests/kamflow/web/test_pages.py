"""The pages without a browser (TestClient, on both databases): the login form and its CSRF
token, redirects for the anonymous, each page for the roles it is for, the policy's 403/404
as pages, the htmx actions (CSRF, refusals that change nothing), the CSV export, and
everything served from /static so that the pages work offline."""

from __future__ import annotations

import csv
import html
import io
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from kamflow import people, views
from kamflow.store.tables import PERSON
from support.web import World

PASSWORD = "page-tests-pw"
HTMX = {"HX-Request": "true"}
AM, BOB, LEAD, MARK, MANAGER, ADMIN = ("ann@x.test", "bob@x.test", "lea@x.test", "mark@x.test",
                                       "mia@x.test", "ada@x.test")
PAGES = ["/", "/board", "/adherence", "/adherence.csv", "/portfolio", "/accounts/STEADY",
         "/playbooks"]


def token_in(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found, text[:500]
    return found.group(1)


def logged_in(world: World, email: str) -> tuple[TestClient, str]:
    """A client with a session made through the login form, and its CSRF token."""
    people.set_password(world.db.engine, email, PASSWORD, world.app.state.kamflow.clock)
    client = TestClient(world.app)
    form = client.get("/login")
    r = client.post("/login", data={"email": email, "password": PASSWORD,
                                    "csrf_token": token_in(form.text), "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    return client, client.cookies["kamflow_csrf"]


def post(client: TestClient, path: str, data: dict[str, str], csrf: str | None,
         htmx: bool = True) -> Response:
    body = {**data, **({"csrf_token": csrf} if csrf else {})}
    return client.post(path, data=body, headers=HTMX if htmx else {}, follow_redirects=False)


# -- logging in and out --------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_form(world: World) -> None:
    client = TestClient(world.app)
    for path in PAGES:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 302, path
        expected = "/login" if path == "/" else "/login?next=" + path.replace("/", "%2F")
        assert r.headers["location"] == expected, path
    tid = world.task("STEADY", "loyal.quarterly_plan_review")
    r = client.post(f"/tasks/{tid}/done", data={"outcome": "x"}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    r = client.post(f"/tasks/{tid}/done", data={"outcome": "x"}, headers=HTMX)
    assert (r.status_code, r.headers["HX-Redirect"]) == (401, "/login")
    assert world.row(tid)["status"] == "open"


def test_the_login_form_checks_its_token_the_password_and_the_rate_limit(world: World) -> None:
    people.set_password(world.db.engine, AM, PASSWORD, world.app.state.kamflow.clock)
    client = TestClient(world.app)
    form = client.get("/login?next=/board")
    assert form.status_code == 200 and 'name="next" value="/board"' in form.text
    token = token_in(form.text)
    assert client.cookies["kamflow_login"] == token
    r = client.post("/login", data={"email": AM, "password": PASSWORD})  # no token
    assert r.status_code == 403 and "The form had expired" in r.text
    r = client.post("/login", data={"email": AM, "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403 and "kamflow_session" not in client.cookies
    for _ in range(5):
        r = client.post("/login", data={"email": AM, "password": "wrong password",
                                        "csrf_token": token_in(client.get("/login").text)})
        assert r.status_code == 401 and "Wrong email or password." in r.text
        assert f'value="{AM}"' in r.text  # the email is kept in the form
    r = client.post("/login", data={"email": AM, "password": PASSWORD,
                                    "csrf_token": token_in(client.get("/login").text)})
    assert r.status_code == 429 and "Too many failed logins: try again in 1 second." in r.text
    assert int(r.headers["Retry-After"]) > 0


def test_log_in_goes_to_the_page_asked_for_but_never_off_site_and_log_out_ends_it(
        world: World) -> None:
    people.set_password(world.db.engine, LEAD, PASSWORD, world.app.state.kamflow.clock)
    for asked, lands in (("//evil.example/x", "/"), ("https://evil.example", "/"),
                         ("/board?department=sales", "/board?department=sales")):
        client = TestClient(world.app)
        token = token_in(client.get("/login").text)
        r = client.post("/login", data={"email": LEAD, "password": PASSWORD, "next": asked,
                                        "csrf_token": token}, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, lands)
    assert client.get("/login", follow_redirects=False).status_code == 303  # already in
    page = client.get("/")
    assert "Lea Lead" in page.text
    r = client.post("/logout", data={}, follow_redirects=False)
    assert r.status_code == 403  # no CSRF token
    r = client.post("/logout", data={"csrf_token": token_in(page.text)}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    assert "kamflow_session" not in client.cookies
    assert client.get("/", follow_redirects=False).status_code == 302


# -- who sees which page ---------------------------------------------------------------------


@pytest.mark.parametrize(("email", "expected"), [
    (AM, {"/": 200, "/board": 403, "/adherence": 403, "/adherence.csv": 403,
          "/portfolio": 403, "/accounts/STEADY": 200, "/accounts/GONE": 404,
          "/playbooks": 200}),
    (LEAD, {"/": 200, "/board": 200, "/board?department=marketing": 403,
            "/board?department=nowhere": 404, "/adherence": 200, "/adherence.csv": 200,
            "/adherence?department=marketing": 403, "/adherence.csv?department=quotes": 403,
            "/portfolio": 403,
            "/accounts/GONE": 200, "/playbooks": 200}),
    (MANAGER, {"/": 200, "/board": 200, "/board?department=marketing": 200,
               "/adherence": 200, "/adherence.csv": 200, "/portfolio": 200,
               "/accounts/GONE": 200, "/accounts/NOPE": 404, "/playbooks": 200}),
    (ADMIN, {"/board?department=quotes": 200, "/adherence": 200, "/portfolio": 200}),
])
def test_each_page_answers_as_the_policy_says(world: World, email: str,
                                              expected: dict[str, int]) -> None:
    client, _ = logged_in(world, email)
    for path, status in expected.items():
        r = client.get(path, follow_redirects=False)
        assert r.status_code == status, (email, path, r.text[:300])
        if status == 200 and not path.endswith(".csv"):
            assert r.headers["content-type"].startswith("text/html")
            assert '<script src="/static/htmx.min.js"' in r.text
        if status in (403, 404):
            assert f"{status} ·" in r.text  # an HTML error page, not JSON


def test_the_nav_shows_what_each_role_may_open(world: World) -> None:
    def links(email: str) -> list[str]:
        client, _ = logged_in(world, email)
        nav = client.get("/").text.split('<nav aria-label="main">')[1].split("</nav>")[0]
        return re.findall(r'href="([^"]+)"', nav)

    assert links(AM) == ["/", "/accounts", "/playbooks"]
    assert links(LEAD) == ["/", "/accounts", "/board", "/playbooks"]
    assert links(MANAGER) == ["/", "/accounts", "/board", "/adherence", "/portfolio",
                              "/playbooks"]
    assert links("ada@x.test") == ["/", "/accounts", "/board", "/adherence", "/portfolio",
                                   "/playbooks", "/admin/people"]


def test_my_queue_splits_by_due_date_and_shows_only_my_tasks(world: World) -> None:
    client, _ = logged_in(world, AM)
    page = client.get("/").text

    def section(key: str) -> str:
        return page.split(f'id="{key}"')[1].split('class="section"')[0]

    overdue = section("overdue")
    assert overdue.count('<article class="task') == 2
    assert "loyal.quarterly_plan_review" in overdue and "loyal.feedback_request" in overdue
    assert "loyal.monthly_target_tracking" in section("today")
    assert "declining.drift_analysis" in section("week")
    assert "GONE" not in page and "declining.senior_visit" not in page  # bob's; sam's


def test_the_board_lists_counts_and_claims_from_the_queue(world: World) -> None:
    client, csrf = logged_in(world, MARK)
    board = client.get("/board").text
    tid = world.task("STEADY", "loyal.new_solutions")
    assert "Marketing — department board" in board and 'id="class-counts"' in board
    row = board.split(f'id="row-{tid}"')[1].split("</li>")[0]
    assert "queue: marketing" in row and f'name="ids" value="{tid}" form="bulk"' in row
    queued = client.get("/board?holder=queue").text
    assert f'id="row-{tid}"' in queued and 'value="claim"' in queued
    lea, _ = logged_in(world, LEAD)  # the card of the marketing queue's task, in place
    r = post(client, f"/tasks/{tid}/claim?mode=queue", {}, csrf)
    assert r.status_code == 200 and "Claimed: it is in your queue now." in r.text
    assert (world.row(tid)["assignee"], world.row(tid)["queue"]) == (MARK, None)
    r = post(client, f"/tasks/{tid}/claim?mode=queue", {}, csrf)
    assert r.status_code == 403 and "not in the queue of your department" in r.text
    assert f'id="row-{tid}"' not in client.get("/board?holder=queue").text
    assert lea.get("/board?department=marketing").status_code == 403


def test_a_large_departments_board_asks_for_an_email_instead_of_listing_every_member(
        world: World) -> None:
    """A choice of every member twice over (filter and bulk assign) was 1.6 MB of the sales
    board with 14,000 people: beyond SUGGESTED members the board takes an email instead."""
    client, _ = logged_in(world, MARK)
    few = client.get("/board").text
    assert '<select name="holder">' in few and '<select name="to">' in few
    with world.db.engine.begin() as conn:
        conn.execute(PERSON.insert(), [
            {"email": f"mk{i:03d}@x.test", "name": f"Marketer {i:03d}", "department": "marketing",
             "role": "account_manager", "active": True} for i in range(views.SUGGESTED)])
    many = client.get("/board").text
    assert '<select name="holder">' not in many and '<select name="to">' not in many
    assert '<input name="holder"' in many and '<input type="email" name="to"' in many
    assert "Marketer 007" not in many and len(many) < len(few) + 5_000
    tid = world.task("STEADY", "loyal.new_solutions")
    assert f'id="row-{tid}"' in client.get("/board?holder=queue").text  # typed, still a filter
    assert 'value="queue"' in client.get("/board?holder=queue").text.split('name="holder"')[1][:80]


# -- actions -------------------------------------------------------------------------------------


def test_page_actions_need_the_csrf_token_and_change_nothing_without_it(world: World) -> None:
    client, csrf = logged_in(world, AM)
    tid = world.task("STEADY", "loyal.quarterly_plan_review")
    before = world.row(tid)
    for path, data in ((f"/tasks/{tid}/done", {"outcome": "agreed"}),
                       (f"/tasks/{tid}/snooze", {"until": "2026-06-20", "reason": "r"}),
                       (f"/tasks/{tid}/skip", {"reason": "r"}),
                       ("/accounts/STEADY/contacts", {"channel": "call"})):
        for token in (None, "not-the-token"):
            r = post(client, path, data, token)
            assert r.status_code == 403 and "CSRF" in r.text, path
    assert world.row(tid) == before
    r = post(client, f"/tasks/{tid}/done", {"outcome": "agreed"}, csrf)
    assert r.status_code == 200 and "Done: agreed." in r.text and f'id="task-{tid}"' in r.text
    assert world.row(tid)["status"] == "done" and world.row(tid)["done_by"] == AM


def test_a_refused_action_answers_the_card_with_the_error_and_changes_nothing(
        world: World) -> None:
    client, csrf = logged_in(world, AM)
    tid = world.task("STEADY", "loyal.quarterly_plan_review")
    before = world.row(tid)
    r = post(client, f"/tasks/{tid}/done?mode=mine", {"outcome": "", "note": "typed"}, csrf)
    assert r.status_code == 409
    assert "outcome: step quarterly_plan_review requires an outcome" in r.text
    assert "<details open>" in r.text and ">typed</textarea>" in r.text  # the form stays open
    feedback = world.task("STEADY", "loyal.feedback_request")
    r = post(client, f"/tasks/{feedback}/done", {"outcome": "asked"}, csrf)
    assert r.status_code == 409 and "fields: step requires asked=..." in r.text
    r = post(client, f"/tasks/{tid}/snooze", {"until": "2027-01-01", "reason": "later"}, csrf)
    assert r.status_code == 409 and "until: the step allows snoozing at most" in r.text
    r = post(client, f"/tasks/{tid}/snooze", {"until": "soon", "reason": "later"}, csrf)
    assert r.status_code == 422 and "until:" in r.text
    r = post(client, f"/tasks/{tid}/skip", {"reason": "  "}, csrf)
    assert r.status_code == 422 and "reason:" in r.text
    assert world.row(tid) == before and world.row(feedback)["status"] == "open"
    # a plain form post (no htmx) gets an error page; a good one goes back where it came from
    r = post(client, f"/tasks/{tid}/done", {"outcome": ""}, csrf, htmx=False)
    assert r.status_code == 409 and "409 · Refused" in r.text
    r = post(client, f"/tasks/{tid}/snooze?back=/%3Fx%3D1", {"until": "2026-06-20",
                                                            "reason": "holiday"}, csrf, htmx=False)
    assert (r.status_code, r.headers["location"]) == (303, "/?x=1")
    assert world.row(tid)["status"] == "snoozed"


def test_actions_follow_the_policy(world: World) -> None:
    client, csrf = logged_in(world, AM)
    bobs = world.task("GONE", "lost.record_loss")
    r = post(client, f"/tasks/{bobs}/done", {"outcome": "x"}, csrf)
    assert r.status_code == 404 and f"unknown task {bobs}" in r.text
    sams = world.task("DRIFT", "declining.senior_visit")  # ann is consulted: sees, may not work
    r = post(client, f"/tasks/{sams}/done", {"outcome": "x"}, csrf)
    assert r.status_code == 403 and "only the assignee" in r.text
    r = post(client, "/accounts/GONE/contacts", {"channel": "call"}, csrf)
    assert r.status_code == 404
    assert world.row(bobs)["status"] == "open" and world.row(sams)["status"] == "open"
    lead, lead_csrf = logged_in(world, LEAD)
    queued = world.task("STEADY", "loyal.new_solutions")  # marketing queue; sales is R
    r = post(lead, f"/tasks/{queued}/assign?mode=queue", {"to": BOB}, lead_csrf)
    assert r.status_code == 200 and f"Assigned to {BOB}." in r.text
    assert world.row(queued)["assignee"] == BOB


def test_logging_a_contact_completes_the_check_and_bad_input_is_refused(world: World) -> None:
    client, csrf = logged_in(world, AM)
    r = post(client, "/accounts/STEADY/contacts", {"channel": "visit", "note": "plant tour"},
             csrf)
    assert r.status_code == 200 and "Contact logged: visit on 2026-06-15" in r.text
    r = post(client, "/accounts/STEADY/contacts", {"channel": "pigeon"}, csrf)
    assert r.status_code == 409 and "channel: unknown channel 'pigeon'" in html.unescape(r.text)
    r = post(client, "/accounts/STEADY/contacts", {"channel": "call", "date": "2027-01-01"},
             csrf)
    assert r.status_code == 409 and "date: 2027-01-01 is in the future" in r.text
    page = client.get("/accounts/STEADY").text
    assert "plant tour" in page and "pigeon" not in page


# -- the other pages ---------------------------------------------------------------------


def test_adherence_page_and_its_csv_export(world: World) -> None:
    am, am_csrf = logged_in(world, AM)
    tid = world.task("STEADY", "loyal.monthly_target_tracking")
    assert post(am, f"/tasks/{tid}/done", {"outcome": "on target"}, am_csrf).status_code == 200
    client, _ = logged_in(world, MANAGER)
    page = client.get("/adherence?from=2026-05-01&to=2026-06-30&by=step").text
    assert 'id="done-on-time">1<' in page and "<svg" in page and "circle" in page
    assert 'href="/adherence.csv?from=2026-05-01&amp;to=2026-06-30&amp;by=step"' in page
    r = client.get("/adherence.csv?from=2026-05-01&to=2026-06-30&by=step")
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == (
        'attachment; filename="adherence-step-2026-05-01-2026-06-30.csv"')
    rows = list(csv.DictReader(io.StringIO(r.text)))
    by_step = {row["step"]: row for row in rows}
    assert by_step["loyal.monthly_target_tracking"]["done_on_time"] == "1"
    assert by_step["loyal.monthly_target_tracking"]["on_time_rate"] == "1.0000"
    assert rows[-1]["step"] == "(total)" and int(rows[-1]["due"]) == sum(
        int(row["due"]) for row in rows[:-1])
    api = client.get("/api/audit/adherence?from=2026-05-01&to=2026-06-30&by=step").json()
    assert [row["group"] for row in api["rows"]] == [row["step"] for row in rows]
    r = client.get("/adherence.csv?from=2026-05-01&to=2026-06-30&by=department")
    assert r.text.startswith("department,due,done_on_time")
    for bad in ("from=2026-07-01&to=2026-06-01", "by=colour", "from=yesterday"):
        r = client.get(f"/adherence?{bad}")
        assert r.status_code == 422 and "422 · Invalid input" in r.text, bad


def test_adherence_by_owner_and_a_lead_sees_their_own_department(world: World) -> None:
    client, _ = logged_in(world, MANAGER)
    q = "from=2026-01-01&to=2026-12-31"
    api = client.get(f"/api/audit/adherence?{q}&by=owner").json()["rows"]
    assert [r["group"] for r in api] == [AM, BOB, "(total)"]  # the accounts' owners
    table = client.get(f"/adherence?{q}&by=owner").text.split('id="adherence-table"')[1]
    assert f"<td>{AM}</td>" in table and f"<td>{BOB}</td>" in table
    rows = list(csv.DictReader(io.StringIO(client.get(f"/adherence.csv?{q}&by=owner").text)))
    assert [(r["owner"], int(r["due"])) for r in rows] == [(r["group"], r["due"]) for r in api]
    r = client.get(f"/adherence.csv?{q}&by=account&department=sales&letter=A")
    assert r.headers["content-disposition"] == (
        'attachment; filename="adherence-account-sales-A-2026-01-01-2026-12-31.csv"')
    assert client.get(f"/adherence?{q}&letter=X").status_code == 422

    lead, _ = logged_in(world, LEAD)  # lea leads sales
    page = lead.get(f"/adherence?{q}&by=department").text
    assert "Only the tasks whose RACI names Sales" in page
    options = page.split('id="department"')[1].split("</select>")[0]
    assert options.count("<option") == 1 and 'value="sales" selected' in options
    rows = list(csv.DictReader(io.StringIO(lead.get(f"/adherence.csv?{q}&by=department").text)))
    sales = client.get(f"/api/audit/adherence?{q}&by=department&department=sales").json()
    assert [(r["department"], int(r["due"])) for r in rows] == [
        (r["group"], r["due"]) for r in sales["rows"]] == [
        ("sales", sales["rows"][0]["due"]), ("(total)", sales["rows"][0]["due"])]


def test_portfolio_account_and_playbook_pages_show_their_figures(world: World) -> None:
    client, _ = logged_in(world, MANAGER)
    page = client.get("/portfolio").text
    assert page.count('class="point"') == 7  # one dot per account
    assert page.count('class="threshold"') == 5  # 2 potential, 2 contribution, the 40% line
    assert "top 1" in page and "UNHAPPY" in page.split('id="gaps"')[1].split("</tr>")[1]
    report = client.get("/api/reports/portfolio").json()  # the figures of kamflow.reports
    top_1 = report["concentration"]["top_1"]
    assert f"top 1 <strong>{top_1 * 100:.0f}%</strong>" in page
    keys = page.split('id="key-accounts"')[1].split("</table>")[0]
    assert [a["id"] for a in report["key_accounts"]["list"]] and all(
        a["id"] in keys for a in report["key_accounts"]["list"])
    losses = page.split('id="losses"')[1].split("</table>")[0]
    assert [y["year"] for y in client.get("/api/reports/losses").json()["years"]] == [
        int(y) for y in re.findall(r"<tr><td>(\d{4})</td>", losses)]
    effort = client.get("/api/reports/investment").json()["classes"]
    rows = page.split('id="investment"')[1].split("</table>")[0].split("</tr>")[1:-1]
    assert len(rows) == len(effort) and all(
        f"{c['tasks_done']}</td>" in row and c["verdict"] in row
        for c, row in zip(effort.values(), rows, strict=True))
    plans = page.split('id="plans"')[1].split("</section>")[0]
    assert "Account plans FY2026" in plans and "STEADY" in plans  # its plan, with a target
    assert "1 written" in plans
    account = client.get("/accounts/DRIFT").text
    assert "drifting_away" in account and "revenue_trend" in account
    assert "revenue_trend &lt;= -15%" in account  # the condition, escaped
    assert "No plan for this fiscal year" in account
    steady = client.get("/accounts/STEADY").text
    detail = client.get("/api/accounts/STEADY").json()
    retention = steady.split('id="retention"')[1].split("</table>")[0]
    assert retention.count("<tr>") == len(detail["retention"]) + 1  # the header row
    assert f"{detail['retention_score']:.0f} / 100" in steady
    plan = client.get("/api/accounts/STEADY/plan").json()
    assert f"Account plan FY{plan['fiscal_year']}" in steady
    assert f"{plan['attainment']['attainment'] * 100:.0f}" in steady.split('id="plan"')[1]
    playbooks = client.get("/playbooks").text
    assert playbooks.count('<g class="state"') == 7
    assert "stateDiagram-v2" in playbooks and 'class="grid raci-matrix"' in playbooks
    assert "each fiscal quarter, 45 days in" in playbooks  # loyal.quarterly_plan_review


def test_every_page_works_offline(world: World) -> None:
    r = TestClient(world.app).get("/static/htmx.min.js")
    assert r.status_code == 200 and r.text.startswith("/*! htmx 2.")
    assert "Zero-Clause BSD" in r.text[:400]
    assert TestClient(world.app).get("/static/kamflow.css").status_code == 200
    client, _ = logged_in(world, MANAGER)
    for path in ["/", "/board", "/adherence", "/portfolio", "/accounts/STEADY", "/playbooks",
                 "/login"]:
        page = client.get(path).text
        external: list[Any] = re.findall(r'(?:src|href)="(https?:)?//', page)
        assert external == [], path


def test_the_owner_writes_the_plan_on_the_account_page(world: World) -> None:
    ann, csrf = logged_in(world, AM)
    page = ann.get("/accounts/DRIFT").text
    form = page.split('id="plan-edit"')[1].split("</details>")[0]
    assert "relationships: []" in form  # no plan yet: the template to fill in
    bad = "fiscal_year: 2026\ntarget: {revenue: 100}\nrelationships:\n" \
          "  - {name: Jo, role: buyer, influence: 7, closeness: 2, owner: nobody@x.test}\n"
    r = post(ann, "/accounts/DRIFT/plan", {"yaml": bad}, csrf)
    assert r.status_code == 422
    assert "plan.yaml:4: relationships[0].influence: Input should be less than or equal " \
           "to 5" in r.text
    assert "No plan for this fiscal year" in ann.get("/accounts/DRIFT").text  # unchanged
    good = bad.replace("influence: 7", "influence: 3").replace("nobody@x.test", AM)
    assert post(ann, "/accounts/DRIFT/plan", {"yaml": good}, None).status_code == 403
    r = post(ann, "/accounts/DRIFT/plan", {"yaml": good}, csrf)
    assert r.status_code == 200 and "Saved the FY2026 plan as revision 1." in r.text
    page = ann.get("/accounts/DRIFT").text
    assert "Account plan FY2026" in page and "Jo" in page.split('id="plan-edit"')[1]
    # Mark (marketing lead) sees STEADY but may not edit its plan: no form for him.
    mark, _ = logged_in(world, MARK)
    steady = mark.get("/accounts/STEADY").text
    assert "Account plan FY2026" in steady and 'id="plan-edit"' not in steady
