"""The admin pages without a browser (TestClient, on SQLite and PostgreSQL): only admins
open them or act there (403 pages for everyone else, nothing changed), every action needs
the CSRF token, is audited, and bad input is refused naming the field with nothing changed.
People (add, change, deactivate after the preview), API tokens (the secret shown once,
revoked) and playbook versions (upload a zip or a folder's files, the CLI's errors, the
diff, activate; back to a version loaded before)."""

from __future__ import annotations

import html
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from kamflow.playbooks.loader import bundled_dir
from kamflow.store.tables import AUDIT_EVENT, PERSON
from support.web import World, snapshot
from tests.kamflow.web.test_pages import logged_in, post

AM, BOB, LEAD, MANAGER, ADMIN = ("ann@x.test", "bob@x.test", "lea@x.test", "mia@x.test",
                                 "ada@x.test")


def audit(world: World, action: str) -> list[Any]:
    with world.db.engine.connect() as conn:
        return conn.execute(select(AUDIT_EVENT).where(AUDIT_EVENT.c.action == action)
                            .order_by(AUDIT_EVENT.c.id)).all()


def unchanged(world: World, before: dict[str, list[dict[str, Any]]]) -> None:
    after = snapshot(world.db)
    assert [t for t in before if before[t] != after[t]] == []


def text(r: Response) -> str:
    return html.unescape(r.text)


def active_version(client: TestClient) -> str:
    return str(client.get("/api/playbooks").json()["active"])


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)  # the policy, not the store
def test_only_admins_open_the_admin_pages_or_act_there(world: World) -> None:
    admin, _ = logged_in(world, ADMIN)
    version = active_version(admin)
    token = world.token_ids[BOB]
    pages = ["/admin", "/admin/people", f"/admin/people/{BOB}",
             f"/admin/people/{BOB}?to=person:{AM}", "/admin/tokens", "/admin/playbooks",
             f"/admin/playbooks/{version}"]
    actions = [("/admin/people", {"email": "new@x.test", "name": "New", "department": "sales",
                                  "role": "admin", "password": "a long password"}),
               (f"/admin/people/{BOB}", {"role": "admin", "department": "sales"}),
               (f"/admin/people/{BOB}/deactivate", {"to": f"person:{AM}"}),
               ("/admin/tokens", {"name": "mine now", "email": BOB}),
               (f"/admin/tokens/{token}/revoke", {}),
               ("/admin/playbooks", {}),
               ("/admin/playbooks/activate", {"version": version, "base": version})]
    others = {who: logged_in(world, who) for who in (AM, LEAD, MANAGER)}
    before = snapshot(world.db)
    anonymous = TestClient(world.app)
    for path in pages:
        r = anonymous.get(path, follow_redirects=False)
        assert r.status_code == 302 and r.headers["location"].startswith("/login"), path
    for path, data in actions:
        assert post(anonymous, path, data, None, htmx=False).headers["location"] == "/login"
    for who, (client, csrf) in others.items():
        assert 'href="/admin/people"' not in client.get("/").text  # no Admin link
        for path in pages:
            r = client.get(path, follow_redirects=False)
            assert r.status_code == 403 and "403 ·" in r.text, (who, path)
        for path, data in actions:  # htmx, and a plain form post from one of them
            r = post(client, path, data, csrf, htmx=who != AM)
            assert r.status_code == 403 and "the admin pages are for admins" in r.text, (
                who, path)
    for path, data in actions:  # an admin without the CSRF token
        r = post(admin, path, data, None)
        assert r.status_code == 403 and "CSRF" in r.text, path
    unchanged(world, before)
    for path in pages:
        r = admin.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        assert '<a href="/admin/people" aria-current="page">Admin</a>' in r.text


def test_people_are_added_and_changed_and_bad_input_names_the_field(world: World) -> None:
    admin, csrf = logged_in(world, ADMIN)
    good = {"email": "Nia@X.test", "name": "Nia New", "department": "quotes",
            "role": "account_manager", "password": "a long password"}
    before = snapshot(world.db)
    for change, status, said in (({"email": "nia"}, 422, "email: String should match"),
                                 ({"password": "short"}, 422, "password: String should have"),
                                 ({"department": "nowhere"}, 422,
                                  "department: unknown department 'nowhere'"),
                                 ({"role": "boss"}, 422, "role: Input should be"),
                                 ({"email": BOB}, 409, f"'{BOB}' already exists")):
        r = post(admin, "/admin/people", {**good, **change}, csrf)
        assert r.status_code == status and said in text(r), (change, text(r)[:2000])
        assert 'value="Nia New"' in r.text and "a long password" not in r.text  # kept, but
    unchanged(world, before)  # not the password; and nothing changed
    r = post(admin, "/admin/people", good, csrf)
    assert r.status_code == 200 and "Added Nia New (nia@x.test)." in r.text
    assert 'data-email="nia@x.test"' in r.text
    assert [e.actor for e in audit(world, "created") if e.entity_id == "nia@x.test"] == [ADMIN]

    r = post(admin, f"/admin/people/{BOB}", {"role": "department_lead",
                                             "department": "nowhere"}, csrf)
    assert r.status_code == 422 and "department: unknown department 'nowhere'" in text(r)
    r = post(admin, f"/admin/people/{ADMIN}", {"role": "manager", "department": "sales"}, csrf)
    assert r.status_code == 409 and "role: you cannot change your own role" in text(r)
    r = post(admin, f"/admin/people/{BOB}", {"role": "department_lead",
                                             "department": "marketing"}, csrf)
    assert r.status_code == 200 and ("Saved: role account_manager → department_lead; "
                                     "department sales → marketing.") in text(r)
    with world.db.engine.connect() as conn:
        bob = conn.execute(select(PERSON).where(PERSON.c.email == BOB)).one()
    assert (bob.role, bob.department) == ("department_lead", "marketing")
    [changed] = audit(world, "changed")
    assert (changed.actor, changed.entity_id, changed.before, changed.after) == (
        ADMIN, BOB, {"role": "account_manager", "department": "sales"},
        {"role": "department_lead", "department": "marketing"})
    r = post(admin, f"/admin/people/{BOB}", {"role": "department_lead",
                                             "department": "marketing"}, csrf)
    assert "Nothing changed." in r.text and len(audit(world, "changed")) == 1


def counts(page: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'id="n-(\w+)">(\d+)<', page)}


def test_a_deactivation_hands_over_what_its_preview_showed(world: World) -> None:
    admin, csrf = logged_in(world, ADMIN)
    page = admin.get(f"/admin/people/{BOB}").text
    assert 'id="deactivate"' not in page  # no button before a target is chosen
    shown = counts(page)
    assert shown["accounts"] == 1 and shown["tasks"] > 0  # GONE and its tasks
    before = snapshot(world.db)
    for to, status, said in ((f"person:{BOB}", 409, f"to: '{BOB}' is not another active"),
                             ("department:nowhere", 422,
                              "to_department: unknown department 'nowhere'"),
                             ("department:quotes", 409, "to_department: quotes has no active "
                                                        "lead")):
        r = admin.get(f"/admin/people/{BOB}", params={"to": to})
        assert r.status_code == status and said in text(r), text(r)[:3000]
        r = post(admin, f"/admin/people/{BOB}/deactivate", {"to": to}, csrf)
        assert r.status_code == status and said in text(r)
    r = post(admin, f"/admin/people/{BOB}/deactivate", {}, csrf)
    assert r.status_code == 422 and "to: choose a person or a department" in r.text
    r = post(admin, f"/admin/people/{ADMIN}/deactivate", {"to": f"person:{AM}"}, csrf)
    assert r.status_code == 409 and "you cannot deactivate yourself" in r.text
    r = post(admin, "/admin/people/nobody@x.test/deactivate", {"to": f"person:{AM}"}, csrf)
    assert r.status_code == 404 and "unknown person 'nobody@x.test'" in text(r)
    unchanged(world, before)

    preview = admin.get(f"/admin/people/{BOB}", params={"to": f"person:{AM}"}).text
    assert counts(preview) == shown and f"to <strong>{AM}</strong>" in preview
    assert 'id="deactivate"' in preview
    r = post(admin, f"/admin/people/{BOB}/deactivate", {"to": f"person:{AM}"}, csrf)
    assert r.status_code == 200 and r.headers["HX-Push-Url"] == "/admin/people"
    assert (f"{BOB} is deactivated: {shown['accounts']} account(s), {shown['sponsored']} "
            f"sponsorship(s), {shown['tasks']} open task(s) and {shown['accountable']} "
            f"Accountable task(s) handed to {AM}.") in r.text
    [event] = audit(world, "deactivated")
    assert (event.actor, event.entity_id, event.after["handed_to"]) == (ADMIN, BOB, AM)
    assert world.client.get("/api/me", headers=world.as_(BOB)).status_code == 401
    page = admin.get(f"/admin/people/{BOB}").text
    assert "deactivated" in page and 'id="handover"' not in page


def test_a_token_secret_is_shown_once_and_a_revoked_token_stops_working(world: World) -> None:
    admin, csrf = logged_in(world, ADMIN)
    before = snapshot(world.db)
    r = post(admin, "/admin/tokens", {"name": "", "email": AM}, csrf)
    assert r.status_code == 422 and "name: String should have at least 1" in r.text
    r = post(admin, "/admin/tokens", {"name": "sync", "email": "nobody@x.test"}, csrf)
    assert r.status_code == 404 and "unknown person 'nobody@x.test'" in text(r)
    unchanged(world, before)
    r = post(admin, "/admin/tokens", {"name": "crm sync", "email": AM}, csrf)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    found = re.search(r'<code id="secret">(kft_[^<]+)</code>', r.text)
    assert found, r.text[:3000]
    secret = found.group(1)
    me = admin.get("/api/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.json()["email"] == AM
    assert secret not in admin.get("/admin/tokens").text  # once
    token_id = int(re.findall(r"Token (\d+) 'crm sync'", text(r))[0])
    r = post(admin, f"/admin/tokens/{token_id}/revoke", {}, csrf)
    assert r.status_code == 200 and f"Token {token_id} 'crm sync' of {AM} is revoked." in text(r)
    assert admin.get("/api/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert [(e.action, e.actor) for e in audit(world, "created") + audit(world, "revoked")
            if e.entity == "token" and e.entity_id == str(token_id)] == [
        ("created", ADMIN), ("revoked", ADMIN)]
    r = post(admin, "/admin/tokens/999999/revoke", {}, csrf)
    assert r.status_code == 404 and "unknown token 999999" in r.text


def folder(tmp: Path, name: str, edit: tuple[str, str, str] | None = None) -> Path:
    """A copy of the bundled playbooks, with one text replaced in one file."""
    out = tmp / name
    out.mkdir()
    for f in bundled_dir().glob("*.yaml"):
        (out / f.name).write_text(f.read_text())
    if edit is not None:
        file, old, new = edit
        (out / file).write_text((out / file).read_text().replace(old, new, 1))
    return out


def zipped(path: Path) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as z:
        for f in sorted(path.glob("*.yaml")):
            z.write(f, f"{path.name}/{f.name}")
    return data.getvalue()


def upload(client: TestClient, csrf: str, files: list[tuple[str, Any]]) -> Response:
    return client.post("/admin/playbooks", data={"csrf_token": csrf}, files=files,
                       headers={"HX-Request": "true"})


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)  # the loader reads no store
def test_a_playbook_upload_with_a_typo_gets_the_errors_of_the_cli_and_changes_nothing(
        world: World, tmp_path: Path) -> None:
    admin, csrf = logged_in(world, ADMIN)
    typo = folder(tmp_path, "typo", ("loyal.yaml", "deadline_days", "deadline_dayz"))
    before = snapshot(world.db)
    r = upload(admin, csrf, [("zip", ("typo.zip", zipped(typo), "application/zip"))])
    cli = world.db.cli("playbook", "validate", str(typo))
    assert r.status_code == 422 and cli.code == 2
    problems = [line.replace(f"{tmp_path}/", "") for line in cli.stderr.splitlines()[:-1]]
    assert problems[0].startswith("typo/loyal.yaml:7: steps[0].deadline_days: required")
    assert "\n".join(problems) in text(r)  # every problem, as the CLI says it
    r = upload(admin, csrf, [("zip", ("notes.zip", b"not a zip", "application/zip"))])
    assert r.status_code == 422 and "zip: notes.zip cannot be read as a zip file" in r.text
    r = upload(admin, csrf, [])
    assert r.status_code == 422 and "files: choose a playbook folder" in r.text
    unchanged(world, before)


def test_a_playbook_folder_is_compared_with_the_active_version_and_activated(
        world: World, tmp_path: Path) -> None:
    admin, csrf = logged_in(world, ADMIN)
    old = active_version(admin)
    before = snapshot(world.db)
    good = folder(tmp_path, "mybooks", ("loyal.yaml", "deadline_days: 30", "deadline_days: 20"))
    r = upload(admin, csrf, [("files", (f"mybooks/{f.name}", f.read_bytes(), "text/yaml"))
                             for f in sorted(good.glob("*.yaml"))])
    assert r.status_code == 200, text(r)[:2000]
    page = text(r)
    steps = page.split('data-what="steps"')[1].split("</tr>")[0]
    assert "loyal.annual_account_plan" in steps.split('data-label="Changed"')[1]
    diff = page.split('data-file="loyal.yaml"')[1].split("</pre>")[0]
    assert '<span class="del">-    deadline_days: 30</span>' in diff
    assert '<span class="add">+    deadline_days: 20</span>' in diff
    unchanged(world, before)  # compared, not stored
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"',
                           r.text.split('id="activate"')[1]))
    form = {k: html.unescape(v) for k, v in form.items()}
    assert form["base"] == old and form["origin"] == "mybooks"
    stale = post(admin, "/admin/playbooks/activate", {**form, "base": "0" * 12}, csrf)
    assert stale.status_code == 409 and f"version: the active version is now {old}" in stale.text
    r = post(admin, "/admin/playbooks/activate", form, csrf)
    assert r.status_code == 200 and r.headers["HX-Push-Url"] == "/admin/playbooks"
    new = active_version(admin)
    assert new != old and f"Version {new} is now active." in r.text
    assert f"upload mybooks by {ADMIN}" in r.text
    [event] = audit(world, "activated")
    assert (event.actor, event.entity_id, event.before, event.after["new"]) == (
        ADMIN, new, {"version": old}, True)
    again = post(admin, "/admin/playbooks/activate", form, csrf)  # the same page, posted twice
    assert again.status_code == 409 and len(audit(world, "activated")) == 1

    review = admin.get(f"/admin/playbooks/{old}").text  # and back to the bundled version
    assert '<span class="add">+    deadline_days: 30</span>' in review
    r = post(admin, "/admin/playbooks/activate", {"version": old, "base": new}, csrf)
    assert r.status_code == 200 and active_version(admin) == old
    assert admin.get("/admin/playbooks/0123456789ab").status_code == 404
