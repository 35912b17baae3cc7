"""The REST API route by route: what each answers, and what bad input gets (422 naming the
field, 404 for unknown ids, 409 for refused actions), always as JSON {"error", "field"}."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from kamflow.store.tables import CONTACT, PERSON
from support.web import World

ANN, ADA = "ann@x.test", "ada@x.test"


def call(world: World, method: str, path: str, who: str = ADA, **kw: Any) -> Any:
    headers = {**world.as_(who), **kw.pop("headers", {})}
    return world.client.request(method, path, headers=headers, **kw)


def error(r: Any, status: int, field: str | None = None) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "field"} and body["field"] == field, body
    return str(body["error"])


# -- accounts -----------------------------------------------------------------------------


def test_accounts_list_with_filters(world: World) -> None:
    rows = call(world, "GET", "/api/accounts").json()
    assert [a["id"] for a in rows] == sorted(a["id"] for a in rows) and len(rows) == 7
    assert set(rows[0]) == {"id", "name", "owner_email", "state", "state_since", "class",
                            "segment", "key_account", "portrait_fit", "potential",
                            "retention_score"}
    by_state = call(world, "GET", "/api/accounts?state=declining").json()
    assert {a["id"] for a in by_state} == {"DRIFT", "UNHAPPY"}
    assert {a["id"] for a in call(world, "GET", "/api/accounts?owner=bob@x.test").json()} \
        == {"GONE"}
    assert all(a["class"] == "C" for a in call(world, "GET", "/api/accounts?class=C").json())
    assert all(a["key_account"] for a in call(world, "GET", "/api/accounts?key=true").json())
    assert len(call(world, "GET", "/api/accounts?limit=2").json()) == 2
    error(call(world, "GET", "/api/accounts?class=E"), 422, "class")
    error(call(world, "GET", "/api/accounts?limit=0"), 422, "limit")


def test_account_show_explains_why(world: World) -> None:
    r = call(world, "GET", "/api/accounts/DRIFT?at=2026-06-15")
    assert r.status_code == 200
    data = r.json()
    assert data["state"] == "declining" and data["class"] in "ABCD"
    assert data["as_of"] == "2026-06-15T00:00:00"
    last = data["transitions"][-1]
    assert (last["from"], last["to"], last["rule"]) == ("loyal", "declining", "drifting_away")
    assert last["metrics"]["revenue_trend"] < -0.15
    assert "revenue_trend" in data["metrics"]
    assert error(call(world, "GET", "/api/accounts/NOPE"), 404) == "unknown account 'NOPE'"
    error(call(world, "GET", "/api/accounts/DRIFT?at=2026-13-01"), 422, "at")
    error(call(world, "GET", "/api/accounts/DRIFT?at=1900-01-01"), 422, "at")
    error(call(world, "GET", "/api/accounts/DRIFT?at=0001-01-01T00:00%2B01:00"), 422, "at")


def test_moving_an_account(world: World) -> None:
    r = call(world, "POST", "/api/accounts/DRIFT/move", ANN,
             json={"state": "recovery", "reason": "tender lost"})
    assert r.status_code == 200
    assert r.json() == {"account_id": "DRIFT", "from": "declining", "to": "recovery",
                        "rule": "start_win_back", "at": "2026-06-15T09:00:00Z"}
    assert call(world, "GET", "/api/accounts/DRIFT").json()["transitions"][-1]["actor"] == ANN
    msg = error(call(world, "POST", "/api/accounts/STEADY/move", ANN,
                     json={"state": "prospect", "reason": "x"}), 409, "state")
    assert msg.startswith("no declared transition from loyal to prospect")
    error(call(world, "POST", "/api/accounts/STEADY/move", ANN,
               json={"state": "declining", "reason": "   "}), 422, "reason")
    error(call(world, "POST", "/api/accounts/STEADY/move", ANN, json={"state": "declining"}),
          422, "reason")
    error(call(world, "POST", "/api/accounts/STEADY/move", ANN,
               json={"state": "declining", "reason": "x", "by": "bob@x.test"}), 422, "by")
    error(call(world, "POST", "/api/accounts/STEADY/move", ANN, content=b"{not json",
               headers={**world.as_(ANN), "content-type": "application/json"}), 422, "body")
    error(call(world, "POST", "/api/accounts/NOPE/move", json={"state": "lost", "reason": "x"}),
          404)
    assert "unknown state" in error(call(world, "POST", "/api/accounts/STEADY/move",
                                         json={"state": "gone", "reason": "x"}), 409)


def test_contacts_and_events(world: World) -> None:
    r = call(world, "POST", "/api/accounts/STEADY/contacts", ANN,
             json={"channel": "visit", "note": "plant tour", "date": "2026-06-10"})
    assert r.status_code == 201
    assert r.json() == {"account_id": "STEADY", "channel": "visit", "date": "2026-06-10",
                        "checks_completed": 0}
    with world.db.engine.connect() as conn:
        row = conn.execute(select(CONTACT.c.person_email, CONTACT.c.note).where(
            CONTACT.c.account_id == "STEADY", CONTACT.c.date == date(2026, 6, 10))).one()
    assert tuple(row) == (ANN, "plant tour")
    assert "unknown channel 'pigeon'; known: call, email" in error(
        call(world, "POST", "/api/accounts/STEADY/contacts", ANN, json={"channel": "pigeon"}),
        409, "channel")
    error(call(world, "POST", "/api/accounts/STEADY/contacts", ANN,
               json={"channel": "visit", "date": "2026-07-01"}), 409, "date")
    error(call(world, "POST", "/api/accounts/STEADY/contacts", ANN,
               json={"channel": "visit", "date": "not a date"}), 422, "date")
    error(call(world, "POST", "/api/accounts/STEADY/contacts", ANN,
               json={"channel": "visit", "note": "nul \x00 byte"}), 422, "note")
    r = call(world, "POST", "/api/accounts/NEWBIG/events", ANN,
             json={"event": "quote_created", "ref": "Q-2026-117"})
    assert r.status_code == 201 and r.json()["tasks_created"] >= 1
    error(call(world, "POST", "/api/accounts/NEWBIG/events", ANN,
               json={"event": "complaint", "ref": "x" * 201}), 422, "ref")
    assert "unknown event" in error(call(world, "POST", "/api/accounts/UNHAPPY/events", ANN,
                                         json={"event": "party"}), 409)
    error(call(world, "POST", "/api/accounts/NOPE/events", json={"event": "complaint"}), 404)


# -- tasks --------------------------------------------------------------------------------


def test_task_queues_like_the_cli(world: World) -> None:
    mine = call(world, "GET", "/api/tasks?assignee=sam@x.test&raci=R").json()
    assert {t["step"] for t in mine} == {"declining.senior_visit"}
    assert all(t["roles"].startswith("R") for t in mine)
    overdue = call(world, "GET", "/api/tasks?status=overdue").json()
    assert {t["step"] for t in overdue} == {"loyal.feedback_request",
                                            "loyal.quarterly_plan_review"}
    later = call(world, "GET", "/api/tasks?status=overdue&at=2026-12-31").json()
    assert len(later) > len(overdue)
    informed = call(world, "GET", "/api/tasks?department=finance&raci=I").json()
    assert informed and all("finance" in t["informed"] for t in informed)
    assert isinstance(informed[0]["consulted"], list)
    assert len(call(world, "GET", "/api/tasks?status=all&limit=3").json()) == 3
    assert {t["account_id"] for t in call(world, "GET", "/api/tasks?account=GONE").json()} \
        == {"GONE"}
    assert "should be 'open'" in error(call(world, "GET", "/api/tasks?status=late"), 422,
                                       "status")
    error(call(world, "GET", "/api/tasks?raci=X"), 422, "raci")


def test_one_task_and_its_actions(world: World) -> None:
    review = world.task("STEADY", "loyal.quarterly_plan_review")
    r = call(world, "GET", f"/api/tasks/{review}", ANN)
    assert r.status_code == 200
    data = r.json()
    assert data["why"]["rule"] == "loyal.quarterly_plan_review" and data["fields"] == {}
    assert data["informed"] == ["finance"] and data["status"] == "open"
    assert error(call(world, "GET", "/api/tasks/99999"), 404) == "unknown task 99999"
    error(call(world, "GET", "/api/tasks/abc"), 422, "task_id")
    error(call(world, "GET", "/api/tasks/0"), 422, "task_id")
    error(call(world, "GET", f"/api/tasks/{2**40}"), 422, "task_id")

    r = call(world, "POST", f"/api/tasks/{review}/snooze", ANN,
             json={"until": "2026-06-19", "reason": "customer on holiday"})
    assert r.status_code == 200 and r.json()["status"] == "snoozed"
    assert r.json()["snoozed_until"] == "2026-06-19"
    msg = error(call(world, "POST", f"/api/tasks/{review}/snooze", ANN,
                     json={"until": "2026-09-01", "reason": "later"}), 409, "until")
    assert msg.startswith("until: the step allows snoozing at most")
    error(call(world, "POST", f"/api/tasks/{review}/snooze", ANN, json={"reason": "x"}),
          422, "until")
    msg = error(call(world, "POST", f"/api/tasks/{review}/done", ANN, json={}), 409, "outcome")
    assert msg == "outcome: step quarterly_plan_review requires an outcome"
    r = call(world, "POST", f"/api/tasks/{review}/done", ANN,
             json={"outcome": "plan agreed", "note": "targets +8%"})
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["done_by"], r.json()["note"]) == ("done", ANN,
                                                                         "targets +8%")
    assert "is done" in error(call(world, "POST", f"/api/tasks/{review}/skip", ANN,
                                   json={"reason": "x"}), 409)

    feedback = world.task("STEADY", "loyal.feedback_request")
    msg = error(call(world, "POST", f"/api/tasks/{feedback}/done", ANN,
                     json={"outcome": "asked"}), 409, "fields")
    assert msg == "fields: step requires asked=..."
    r = call(world, "POST", f"/api/tasks/{feedback}/done", ANN,
             json={"outcome": "asked", "fields": {"asked": "Eva Buyer"}})
    assert r.status_code == 200 and r.json()["fields"] == {"asked": "Eva Buyer"}

    plan = world.task("NEWBIG", "high_potential.account_plan")
    assert "not an active person" in error(
        call(world, "POST", f"/api/tasks/{plan}/reassign", json={"to": "nobody@x.test"}), 409)
    error(call(world, "POST", f"/api/tasks/{plan}/reassign", json={"to": "not an email"}),
          422, "to")
    r = call(world, "POST", f"/api/tasks/{plan}/reassign", ANN, json={"to": "Quinn@X.test"})
    assert r.status_code == 200 and r.json()["assignee"] == "quinn@x.test"

    queued = world.task("STEADY", "loyal.new_solutions")
    r = call(world, "POST", f"/api/tasks/{queued}/claim", "mark@x.test")
    assert r.status_code == 200
    assert (r.json()["assignee"], r.json()["queue"]) == ("mark@x.test", None)
    skip = call(world, "POST", f"/api/tasks/{queued}/skip", "mark@x.test",
                json={"reason": "covered in the annual review"})
    assert skip.json()["status"] == "skipped" and skip.json()["reason"] == \
        "covered in the annual review"


# -- playbooks, audit, portfolio ----------------------------------------------------------


def test_playbooks(world: World) -> None:
    r = call(world, "GET", "/api/playbooks", ANN).json()
    assert r["active"] and r["versions"][0]["version"] == r["active"]
    assert r["versions"][0]["active"] is True
    book = call(world, "GET", "/api/playbooks/active", ANN).json()
    assert book["initial"] == "prospect" and book["version"] == r["active"]
    loyal = next(s for s in book["states"] if s["key"] == "loyal")
    review = next(s for s in loyal["steps"] if s["key"] == "quarterly_plan_review")
    assert review["cadence"] == {"kind": "quarterly", "offset_days": 45}
    assert review["raci"] == {"R": ["owner"], "A": ["sponsor"], "C": [], "I": ["finance"]}
    assert any(t["rule"] == "start_win_back" and t["manual"] for t in book["transitions"])
    d = call(world, "GET", "/api/playbooks/diagram", ANN)
    assert d.headers["content-type"].startswith("text/plain")
    assert d.text.startswith("stateDiagram-v2\n") and "loyal --> declining" in d.text


def test_audit(world: World) -> None:
    review = world.task("STEADY", "loyal.quarterly_plan_review")
    call(world, "POST", f"/api/tasks/{review}/skip", ANN, json={"reason": "covered"})
    r = call(world, "GET", "/api/audit/adherence?from=2026-01-01&to=2026-12-31&by=department"
                           "&at=2026-06-15")
    assert r.status_code == 200
    data = r.json()
    assert (data["from"], data["to"], data["as_of"], data["by"]) == (
        "2026-01-01", "2026-12-31", "2026-06-15", "department")
    total = data["rows"][-1]
    assert total["group"] == "(total)" and total["skipped"] == 1
    assert total["skip_reasons"] == {"covered": 1}
    error(call(world, "GET", "/api/audit/adherence?from=2026-02-01&to=2026-01-01"), 422, "to")
    error(call(world, "GET", "/api/audit/adherence?from=2026-01-01"), 422, "to")
    error(call(world, "GET", "/api/audit/adherence?from=2026-01-01&to=2026-02-01&by=x"),
          422, "by")
    events = call(world, "GET", f"/api/audit/events?entity=task&id={review}").json()
    assert events[0]["action"] == "skipped" and events[0]["actor"] == ANN
    assert events[0]["after"]["reason"] == "covered"
    assert len(call(world, "GET", "/api/audit/events?limit=3").json()) == 3
    verify = call(world, "GET", "/api/audit/verify").json()
    assert verify["intact"] is True and verify["events"] > 20 and verify["broken_at"] is None


def test_portfolio(world: World) -> None:
    data = call(world, "GET", "/api/portfolio?at=2026-06-15").json()
    assert data["accounts"] == 7 and data["as_of"] == "2026-06-15T00:00:00"
    assert sum(c["accounts"] for c in data["classes"].values()) == 7
    assert "loyal" in data["states"]


def test_reports(world: World) -> None:
    summary = call(world, "GET", "/api/portfolio?at=2026-06-15").json()
    data = call(world, "GET", "/api/reports/portfolio?at=2026-06-15").json()
    assert (data["report"], data["accounts"]) == ("portfolio", 7)
    assert data["revenue_t12"] == pytest.approx(summary["revenue_t12"])
    assert data["wallet_gap"] == pytest.approx(summary["wallet_gap"])
    assert data["key_accounts"]["accounts"] == summary["key_accounts"]
    assert data["top_gaps"][0]["id"] == "UNHAPPY"
    assert data == world.client.get("/api/reports/portfolio?at=2026-06-15",
                                    headers=world.as_("mia@x.test")).json()
    losses = call(world, "GET", "/api/reports/losses?at=2026-06-15").json()
    assert [y["year"] for y in losses["years"]] == [2024, 2025, 2026]
    effort = call(world, "GET", "/api/reports/investment?at=2026-06-15").json()
    assert sum(c["accounts"] for c in effort["classes"].values()) == 7
    assert "unknown report 'churn'" in error(call(world, "GET", "/api/reports/churn"), 404,
                                             "name")
    error(call(world, "GET", "/api/reports/portfolio?top=0"), 422, "top")
    error(call(world, "GET", "/api/reports/losses", ANN), 403)


# -- people -------------------------------------------------------------------------------


def test_people(world: World) -> None:
    people = call(world, "GET", "/api/people").json()
    assert len(people) == 8 and not any(p["can_log_in"] for p in people)
    new = {"email": "Nia@X.test", "name": "Nia New", "department": "service",
           "role": "department_lead", "password": "a long password"}
    r = call(world, "POST", "/api/people", json=new)
    assert r.status_code == 201
    assert r.json() == {"email": "nia@x.test", "name": "Nia New", "department": "service",
                        "role": "department_lead", "active": True, "can_log_in": True}
    assert "already exists" in error(call(world, "POST", "/api/people", json=new), 409)
    assert "unknown department 'space'" in error(
        call(world, "POST", "/api/people", json={**new, "email": "x@x.test",
                                                 "department": "space"}), 422, "department")
    error(call(world, "POST", "/api/people", json={**new, "email": "y@x.test", "role": "king"}),
          422, "role")
    error(call(world, "POST", "/api/people", json={**new, "email": "z@x.test",
                                                   "password": "short"}), 422, "password")
    error(call(world, "POST", "/api/people", json={**new, "email": "nope"}), 422, "email")
    r = world.client.post("/api/login", json={"email": "nia@x.test",
                                              "password": "a long password"})
    assert r.status_code == 200 and r.json()["role"] == "department_lead"

    r = call(world, "POST", "/api/people/bob@x.test/password", json={"password": "bob's secret!"})
    assert r.status_code == 200 and r.json()["can_log_in"] is True
    error(call(world, "POST", "/api/people/nobody@x.test/password",
               json={"password": "long enough!"}), 404)

    r = call(world, "POST", "/api/people/bob@x.test/deactivate", json={"to": ANN})
    assert r.status_code == 200
    assert r.json() == {"email": "bob@x.test", "accounts": 1, "sponsored": 0, "tasks": 1,
                        "accountable": 0}
    with world.db.engine.connect() as conn:
        assert (
            conn.execute(select(PERSON.c.active).where(PERSON.c.email == "bob@x.test")).scalar()
            is False
        )
    assert "already deactivated" in error(
        call(world, "POST", "/api/people/bob@x.test/deactivate", json={"to": ANN}), 409)
    assert "exactly one of" in error(
        call(world, "POST", "/api/people/quinn@x.test/deactivate", json={}), 409)
    assert "yourself" in error(call(world, "POST", "/api/people/ada@x.test/deactivate",
                                    json={"to": ANN}), 409)
    r = call(world, "POST", "/api/people/quinn@x.test/deactivate",
             json={"to_department": "sales"})
    assert r.status_code == 200
    error(call(world, "POST", "/api/people/nobody@x.test/deactivate", json={"to": ANN}), 404)


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/nothing"), ("GET", "/api/accounts/STEADY/nothing"), ("DELETE", "/api/people"),
])
def test_unknown_routes_are_json_too(world: World, method: str, path: str) -> None:
    r = call(world, method, path)
    assert r.status_code in (404, 405) and set(r.json()) == {"error", "field"}


def test_the_openapi_document_and_docs(world: World) -> None:
    doc = world.client.get("/api/openapi.json").json()
    assert doc["info"]["title"] == "kamflow"
    assert {"HTTPBearer", "APIKeyCookie"} <= set(doc["components"]["securitySchemes"])
    move = doc["paths"]["/api/accounts/{account_id}/move"]["post"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(move["responses"])
    assert world.client.get("/api/docs").status_code == 200


def test_an_account_plan_is_read_and_saved_as_yaml(world: World) -> None:
    ann = world.as_("ann@x.test")
    r = world.client.get("/api/accounts/STEADY/plan?year=2026", headers=ann)
    assert r.status_code == 200, r.text
    assert r.json()["document"]["target"]["revenue"] == 480000
    assert r.json()["revision"] == 1
    plan = ("fiscal_year: 2026\ntarget: {revenue: 600000}\nrelationships:\n"
            "  - {name: Jo, role: buyer, influence: 2, closeness: 9, owner: ann@x.test}\n")
    r = world.client.put("/api/accounts/STEADY/plan", headers=ann, json={"yaml": plan})
    assert r.status_code == 422
    assert r.json()["error"] == "plan.yaml:4: relationships[0].closeness: Input should be less " \
        "than or equal to 5"
    r = world.client.put("/api/accounts/STEADY/plan", headers=ann,
                         json={"yaml": plan.replace("closeness: 9", "closeness: 4")})
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["revision"] == 2 and {c["field"] for c in saved["changes"]} == {
        "target.revenue", "relationships[Jo].closeness", "relationships[Jo].influence",
        "relationships[Jo].owner", "relationships[Jo].role"}
    detail = world.client.get("/api/accounts/STEADY", headers=ann).json()
    assert detail["metrics"]["relationship_closeness"] == 4.0
    assert {f["factor"] for f in detail["retention"]} >= {"closeness", "wallet_share"}
    closeness = next(f for f in detail["retention"] if f["factor"] == "closeness")
    assert closeness["value"] == 4.0 and closeness["score"] == 7.5  # 1..5 onto 0..10
