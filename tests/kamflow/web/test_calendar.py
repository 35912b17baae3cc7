"""The iCalendar feed: one VEVENT per open task on its due date, secret URL, rotation."""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace

from kamflow.web.calendar import escape, fold, render
from support.web import World


def feed_url(world: World, who: str) -> str:
    r = world.client.post("/api/me/calendar-token", headers=world.as_(who))
    assert r.status_code == 200
    url = str(r.json()["url"])
    assert url.startswith("http://testserver/cal/") and url.endswith(".ics")
    return url.removeprefix("http://testserver")


def unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def test_the_feed_has_one_event_per_open_task_on_its_due_date(world: World) -> None:
    url = feed_url(world, "ann@x.test")
    r = world.client.get(url)  # no login: the URL is the credential
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    assert all(len(line.encode()) <= 75 for line in r.text.split("\r\n"))
    lines = unfold(r.text)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2:] == ["END:VCALENDAR", ""]
    mine = world.client.get("/api/tasks?assignee=ann@x.test&raci=R&status=all",
                            headers=world.as_("ann@x.test")).json()
    open_ = [t for t in mine if t["status"] == "open"]
    uids = [line for line in lines if line.startswith("UID:")]
    assert sorted(uids) == sorted(f"UID:task-{t['id']}@kamflow" for t in open_)
    review = world.task("STEADY", "loyal.quarterly_plan_review")
    event = lines[lines.index(f"UID:task-{review}@kamflow") - 1:]
    event = event[:event.index("END:VEVENT") + 1]
    assert "DTSTART;VALUE=DATE:20260606" in event and "DTEND;VALUE=DATE:20260607" in event
    assert "DTSTAMP:20260615T090000Z" in event
    summary = next(line for line in event if line.startswith("SUMMARY:"))
    assert summary == "SUMMARY:Quarterly review of the account plan with the customer — " \
                      "Steady GmbH"
    # done tasks leave the feed; the UID of the others stays the same
    world.client.post(f"/api/tasks/{review}/done", headers=world.as_("ann@x.test"),
                      json={"outcome": "agreed"})
    again = unfold(world.client.get(url).text)
    assert f"UID:task-{review}@kamflow" not in again
    assert {u for u in uids if u != f"UID:task-{review}@kamflow"} == \
        {line for line in again if line.startswith("UID:")}


def test_rotation_makes_the_old_url_unknown(world: World) -> None:
    first = feed_url(world, "sam@x.test")
    assert world.client.get(first).status_code == 200
    second = feed_url(world, "sam@x.test")
    assert second != first
    r = world.client.get(first)
    assert r.status_code == 404 and r.json() == {"error": "unknown calendar", "field": None}
    assert world.client.get(second).status_code == 200
    assert world.client.get("/cal/made-up.ics").status_code == 404
    # another person's feed lists their own tasks only
    text = world.client.get(second).text
    senior = world.task("DRIFT", "declining.senior_visit")
    assert f"UID:task-{senior}@kamflow" in unfold(text)
    assert f"UID:task-{world.task('STEADY', 'loyal.quarterly_plan_review')}@kamflow" \
        not in unfold(text)


def test_a_deactivated_person_has_no_feed(world: World) -> None:
    url = feed_url(world, "bob@x.test")
    world.client.post("/api/people/bob@x.test/deactivate", json={"to": "ann@x.test"},
                      headers=world.as_("ada@x.test"))
    assert world.client.get(url).status_code == 404


def test_text_values_are_escaped_and_long_lines_folded() -> None:
    assert escape("a,b;c\\d\ne\r\nf\x07g") == "a\\,b\\;c\\\\d\\ne\\nfg"
    line = "SUMMARY:" + "é" * 100
    folded = fold(line)
    parts = folded.split("\r\n")
    assert all(len(p.encode()) <= 75 for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert "".join(p[1:] if i else p for i, p in enumerate(parts)) == line
    task = SimpleNamespace(id=7, title="Call; then, write\nback", due=date(2026, 2, 28),
                           account_id="A,1", account_name="Müller & Co", step="loyal.x",
                           status="open", escalation_level=1, updated_at=datetime(2026, 2, 1))
    text = render("Ann", [task], datetime(2026, 2, 2, 8, 30))
    lines = unfold(text)
    assert "SUMMARY:Call\\; then\\, write\\nback — Müller & Co (escalated)" in lines
    assert "DTSTART;VALUE=DATE:20260228" in lines and "DTEND;VALUE=DATE:20260301" in lines
    assert "X-WR-CALNAME:kamflow: tasks of Ann" in lines
    assert text.endswith("END:VCALENDAR\r\n") and "\n" not in text.replace("\r\n", "")
