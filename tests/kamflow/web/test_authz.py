"""THE AUTHORIZATION MATRIX: every role x every endpoint x own / other's object.

Expected answers follow kamflow.access: 404 for what the caller may not see, 403 for
what they see but may not do; "in" / "out" for whether a listing shows the object.
Every case runs on the same store; a case that changed it is undone before the next, and
a refused case must have changed nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from support.web import World, restore, snapshot

ROLES = {"account_manager": "ann@x.test", "department_lead": "mark@x.test",
         "manager": "mia@x.test", "admin": "ada@x.test"}
AM, LEAD, MGR, ADM = "account_manager", "department_lead", "manager", "admin"

# The objects: ann's account and bob's; and four tasks:
TASKS = {
    "ann's task": ("STEADY", "loyal.quarterly_plan_review"),  # assigned to ann
    "sam's task on ann's account": ("DRIFT", "declining.senior_visit"),  # assigned to sam
    "marketing queue task": ("STEADY", "loyal.new_solutions"),  # in the marketing queue
    "bob's task": ("GONE", "lost.record_loss"),  # assigned to bob, on bob's account
}
DONE = {  # what each task's step requires
    "ann's task": {"outcome": "agreed"},
    "sam's task on ann's account": {"outcome": "visited", "note": "plant tour"},
    "marketing queue task": {"outcome": "presented the new sensor line"},
    "bob's task": {"outcome": "recorded", "note": "price", "fields": {"loss_cause": "price"}},
}


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # {task} / {account} / {token} filled in per object
    objects: tuple[str, ...]  # () for endpoints without an object
    body: Any
    expect: dict[str, tuple[object, ...]]  # role -> one answer per object (or one)


def per_role(am: tuple[object, ...], lead: tuple[object, ...], mgr: tuple[object, ...],
             adm: tuple[object, ...]) -> dict[str, tuple[object, ...]]:
    return {AM: am, LEAD: lead, MGR: mgr, ADM: adm}


ACCOUNTS = ("STEADY", "GONE")  # ann's, bob's
TASK_OBJECTS = tuple(TASKS)
ALL = per_role((200,), (200,), (200,), (200,))
MANAGERS = per_role((403,), (403,), (200,), (200,))
ADMINS = per_role((403,), (403,), (403,), (200,))

MATRIX: list[Case] = [
    # accounts
    Case("LIST", "/api/accounts", ACCOUNTS, None,
         per_role(("in", "out"), ("in", "out"), ("in", "in"), ("in", "in"))),
    # the list searched, filtered, sorted, paged: never beyond what the caller sees
    Case("LIST", "/api/accounts?q=gone&sort=-potential&limit=1", ("GONE",), None,
         per_role(("out",), ("out",), ("in",), ("in",))),
    Case("LIST", "/api/accounts?owner=bob@x.test&sort=-score", ACCOUNTS, None,
         per_role(("out", "out"), ("out", "out"), ("out", "in"), ("out", "in"))),
    Case("LIST", "/api/accounts?overdue=true&sort=name&limit=500", ("STEADY",), None,
         per_role(("in",), ("in",), ("in",), ("in",))),
    Case("GET", "/accounts", (), None, ALL),
    Case("GET", "/accounts.csv?sort=-name&q=g", (), None, ALL),
    Case("GET", "/api/accounts/{account}", ACCOUNTS, None,
         per_role((200, 404), (200, 404), (200, 200), (200, 200))),
    Case("POST", "/api/accounts/{account}/move", ACCOUNTS,
         {"STEADY": {"state": "declining", "reason": "lost the tender"},
          "GONE": {"state": "recovery", "reason": "win them back"}},
         per_role((200, 404), (403, 404), (403, 403), (200, 200))),
    Case("POST", "/api/accounts/{account}/contacts", ACCOUNTS,
         {"channel": "visit", "note": "plant tour"},
         per_role((201, 404), (201, 404), (201, 201), (201, 201))),
    Case("POST", "/api/accounts/{account}/events", ACCOUNTS,
         {"event": "complaint", "ref": "C-1"},
         per_role((201, 404), (201, 404), (403, 403), (201, 201))),
    # account plans (only STEADY has one)
    Case("GET", "/api/accounts/{account}/plan", ACCOUNTS, None,
         per_role((200, 404), (200, 404), (200, 404), (200, 404))),
    Case("PUT", "/api/accounts/{account}/plan", ACCOUNTS,
         {"yaml": "fiscal_year: 2026\ntarget: {revenue: 500000}\n"},
         per_role((200, 404), (403, 404), (403, 403), (200, 200))),
    Case("GET", "/api/accounts/{account}/plan/diff?from=1&to=1", ACCOUNTS, None,
         per_role((200, 404), (200, 404), (200, 404), (200, 404))),
    # tasks
    Case("LIST", "/api/tasks?status=all", TASK_OBJECTS, None,
         per_role(("in", "in", "in", "out"), ("out", "out", "in", "out"),
                  ("in", "in", "in", "in"), ("in", "in", "in", "in"))),
    Case("GET", "/api/tasks/{task}", TASK_OBJECTS, None,
         per_role((200, 200, 200, 404), (404, 404, 200, 404),
                  (200, 200, 200, 200), (200, 200, 200, 200))),
    *[Case("POST", f"/api/tasks/{{task}}/{action}", TASK_OBJECTS, body,
           per_role((200, 403, 403, 404), (404, 404, 200, 404),
                    (403, 403, 403, 403), (200, 200, 200, 200)))
      for action, body in (("done", DONE),
                           ("snooze", {"until": "2026-06-16", "reason": "on holiday"}),
                           ("skip", {"reason": "covered in the annual review"}),
                           ("reassign", {"to": "quinn@x.test"}))],
    Case("POST", "/api/tasks/{task}/claim", TASK_OBJECTS, {},
         per_role((403, 403, 403, 404), (404, 404, 200, 404),
                  (403, 403, 403, 403), (403, 403, 403, 403))),
    # bulk: answers 200 with each task's own code, the single action's (one task a case)
    *[Case("BULK", "/api/tasks/bulk", TASK_OBJECTS, body,
           per_role((200, 403, 403, 404), (404, 404, 200, 404),
                    (403, 403, 403, 403), (200, 200, 200, 200)))
      for body in ({o: {"action": "done", **DONE[o]} for o in TASKS},
                   {"action": "snooze", "until": "2026-06-16", "reason": "on holiday"},
                   {"action": "skip", "reason": "covered in the annual review"},
                   {"action": "assign", "to": "quinn@x.test"})],
    Case("BULK", "/api/tasks/bulk", TASK_OBJECTS, {"action": "claim"},
         per_role((403, 403, 403, 404), (404, 404, 200, 404),
                  (403, 403, 403, 403), (403, 403, 403, 403))),
    # playbooks: everyone
    Case("GET", "/api/playbooks", (), None, ALL),
    Case("GET", "/api/playbooks/active", (), None, ALL),
    Case("GET", "/api/playbooks/diagram", (), None, ALL),
    # audit, portfolio, metrics: managers and admins
    # adherence: a department lead, their own department's (mark leads marketing)
    Case("GET", "/api/audit/adherence?from=2026-01-01&to=2026-12-31&by=department", (), None,
         per_role((403,), (200,), (200,), (200,))),
    Case("GET", "/api/audit/adherence?from=2026-01-01&to=2026-12-31&department=marketing", (),
         None, per_role((403,), (200,), (200,), (200,))),
    Case("GET", "/api/audit/adherence?from=2026-01-01&to=2026-12-31&department=sales&by=owner",
         (), None, MANAGERS),
    Case("GET", "/api/audit/events?entity=account&id=STEADY", (), None, MANAGERS),
    Case("GET", "/api/audit/verify", (), None, MANAGERS),
    Case("GET", "/api/portfolio", (), None, MANAGERS),
    Case("GET", "/api/reports/losses", (), None, MANAGERS),
    Case("GET", "/metrics", (), None, MANAGERS),
    # people: admins
    Case("GET", "/api/people", (), None, ADMINS),
    Case("POST", "/api/people", (),
         {"email": "new@x.test", "name": "New Person", "department": "sales",
          "role": "account_manager", "password": "a long password"},
         per_role((403,), (403,), (403,), (201,))),
    Case("POST", "/api/people/bob@x.test/deactivate", (), {"to": "ann@x.test"}, ADMINS),
    Case("POST", "/api/people/bob@x.test/password", (), {"password": "a long password"},
         ADMINS),
    # the caller's own things: everyone; other people's tokens: admins
    Case("GET", "/api/me", (), None, ALL),
    Case("POST", "/api/me/calendar-token", (), None, ALL),
    Case("GET", "/api/tokens", (), None, ALL),
    Case("POST", "/api/tokens", (), {"name": "script"}, per_role((201,), (201,), (201,), (201,))),
    Case("POST", "/api/tokens", (), {"name": "script", "email": "bob@x.test"},
         per_role((403,), (403,), (403,), (201,))),
    Case("DELETE", "/api/tokens/{token}", ("own token", "bob's token"), None,
         per_role((200, 404), (200, 404), (200, 404), (200, 200))),
    Case("GET", "/healthz", (), None, ALL),
]


def _fill(world: World, case: Case, who: str, obj: str | None) -> tuple[str, Any]:
    path, body = case.path, case.body
    if obj in TASKS:
        path = path.replace("{task}", str(world.task(*TASKS[obj])))
    elif obj in ACCOUNTS:
        path = path.replace("{account}", obj)
    elif obj is not None:
        owner = who if obj == "own token" else "bob@x.test"
        path = path.replace("{token}", str(world.token_ids[owner]))
    if isinstance(body, dict) and obj in body:
        body = body[obj]
    return path, body


def test_every_role_on_every_endpoint_and_object(world: World) -> None:
    base = snapshot(world.db)
    wrong: list[str] = []
    ran = 0
    for case in MATRIX:
        for role, who in ROLES.items():
            objects: tuple[str | None, ...] = case.objects or (None,)
            if case.method == "LIST":
                r = world.client.get(case.path, headers=world.as_(who))
                assert r.status_code == 200, (case.path, role, r.text)
                key = "id"
                listed = {str(x[key]) for x in r.json()}
                for obj, want in zip(objects, case.expect[role], strict=True):
                    ident = obj if obj in ACCOUNTS else str(world.task(*TASKS[str(obj)]))
                    got = "in" if ident in listed else "out"
                    ran += 1
                    if got != want:
                        wrong.append(f"{role:16} {case.path} {obj}: {got}, expected {want}")
                continue
            for obj, want in zip(objects, case.expect[role], strict=True):
                path, body = _fill(world, case, who, obj)
                if case.method == "BULK":  # the code the bulk answer gives the one task
                    body = {**body, "ids": [world.task(*TASKS[str(obj)])]}
                    r = world.client.post(path, headers=world.as_(who), json=body)
                    assert r.status_code == 200, (role, body, r.text)
                    (result,) = r.json()["results"]
                    code = result["code"]
                    assert result["ok"] == (code == 200) and bool(result["error"]) != (code == 200)
                else:
                    r = world.client.request(case.method, path, headers=world.as_(who),
                                             json=body if case.method != "GET" else None)
                    code = r.status_code
                    if code >= 400:
                        assert set(r.json()) == {"error", "field"}, r.text
                ran += 1
                if code != want:
                    wrong.append(f"{role:16} {case.method} {path} ({obj}): {code}, "
                                 f"expected {want}: {r.text[:160]}")
                if case.method == "GET":
                    continue
                if code < 300:
                    restore(world.db, base)
                else:
                    assert snapshot(world.db) == base, f"refused {role} {path} changed the store"
    assert not wrong, "\n" + "\n".join(wrong)
    assert ran == sum(len(c.objects or (None,)) for c in MATRIX) * len(ROLES)


def test_only_an_admin_may_change_things_at_another_moment(world: World) -> None:
    task = world.task("STEADY", "loyal.quarterly_plan_review")
    r = world.client.post(f"/api/tasks/{task}/skip?at=2026-06-20", headers=world.as_("ann@x.test"),
                          json={"reason": "later"})
    assert r.status_code == 403 and r.json()["error"].startswith("at: only an admin")
    r = world.client.get("/api/tasks?at=2026-07-01&status=overdue",
                         headers=world.as_("ann@x.test"))
    assert r.status_code == 200  # reading at another moment is fine
    r = world.client.post(f"/api/tasks/{task}/skip?at=2026-06-20", headers=world.as_("ada@x.test"),
                          json={"reason": "later"})
    assert r.status_code == 200 and r.json()["status"] == "skipped"


def test_a_department_lead_sees_the_accounts_of_the_tasks_their_department_is_on(
        world: World) -> None:
    r = world.client.get("/api/accounts", headers=world.as_("mark@x.test"))
    marketing_tasks = world.client.get("/api/tasks?department=marketing&status=all",
                                       headers=world.as_("ada@x.test")).json()
    assert {a["id"] for a in r.json()} == {t["account_id"] for t in marketing_tasks}
    r = world.client.get("/api/tasks?status=all&department=marketing&raci=C",
                         headers=world.as_("mark@x.test"))
    assert r.status_code == 200 and r.json()
    assert all("marketing" in t["consulted"] and t["roles"] == "C" for t in r.json())


def test_a_department_lead_sees_the_adherence_of_their_own_department_only(
        world: World) -> None:
    url = "/api/audit/adherence?from=2026-01-01&to=2026-12-31"

    def get(query: str, who: str) -> Any:
        r = world.client.get(url + query, headers=world.as_(who))
        assert r.status_code == 200, r.text
        return r.json()["rows"]

    everything = get("&by=department", "mia@x.test")
    marketing = next(r for r in everything if r["group"] == "marketing")
    assert 0 < marketing["due"] < everything[-1]["due"]
    own = {**marketing, "group": "(total)"}
    assert get("&by=department", "mark@x.test") == [marketing, own]
    assert get("&by=department&department=marketing", "mia@x.test") == [marketing, own]
    by_owner = get("&by=owner", "mark@x.test")  # any grouping, within marketing's tasks
    assert by_owner[-1] == own and sum(r["due"] for r in by_owner[:-1]) == marketing["due"]
    assert get("&by=letter&letter=R", "mark@x.test")[-1]["due"] <= marketing["due"]
    r = world.client.get(url + "&department=sales", headers=world.as_("mark@x.test"))
    assert r.status_code == 403 and r.json()["error"].startswith("you lead marketing")
    r = world.client.get(url + "&department=sales", headers=world.as_("lea@x.test"))
    assert r.status_code == 200  # lea leads sales
    r = world.client.get(url + "&department=sails", headers=world.as_("mia@x.test"))
    assert r.status_code == 422 and r.json()["field"] == "department"
