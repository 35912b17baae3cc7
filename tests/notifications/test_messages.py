"""Who is told what, from plain data."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from kamflow.notifications import messages
from kamflow.notifications.messages import StateChange, TaskInfo

PEOPLE = {"ann@x.test": (True, "sales"), "lea@x.test": (True, "sales"),
          "old@x.test": (False, "sales"), "sam@x.test": (True, "management"),
          "max@x.test": (True, "management")}
LEADS = {"sales": "lea@x.test", "finance": "fin@x.test"}
TASK = TaskInfo(7, "ACC-1", "Acme", "loyal.feedback_request", "Ask for feedback",
                date(2026, 6, 20), "loyal", "abc123", {"occurrence": "every 120 days",
                                                       "state": "loyal"}, "ann@x.test")


def test_queue_tasks_go_to_the_lead_or_without_one_to_the_members() -> None:
    assert messages.task_recipients("ann@x.test", None, PEOPLE, LEADS) == ["ann@x.test"]
    assert messages.task_recipients(None, "sales", PEOPLE, LEADS) == ["lea@x.test"]
    assert messages.task_recipients(None, "management", PEOPLE, LEADS) == ["max@x.test",
                                                                           "sam@x.test"]
    assert messages.party_recipients("old@x.test", PEOPLE, LEADS) == []
    assert messages.party_recipients("queue:finance", PEOPLE, LEADS) == ["fin@x.test"]


def test_informed_people_and_department_leads_once_each_and_not_the_assignee() -> None:
    got = messages.informed_recipients(["finance", "ann@x.test", "old@x.test", "sales",
                                        "management", "finance"], PEOPLE, LEADS,
                                       exclude=["ann@x.test"])
    assert got == ["fin@x.test", "lea@x.test"]  # management has no lead: nobody


def test_each_draft_has_a_unique_key_a_one_line_subject_and_its_why() -> None:
    long = replace(TASK, title="Plan\nwith a line break " + "x" * 400)
    d = messages.task_assigned(long, "ann@x.test")
    assert "\n" not in d.subject and len(d.subject) <= messages.SUBJECT_MAX
    assert d.dedupe_key == "task_assigned:7:ann@x.test"
    assert d.why == {"kind": "task_assigned", "rule": "loyal.feedback_request",
                     "playbook_version": "abc123", "task_id": 7, "account_id": "ACC-1",
                     "reason": "every 120 days; account in state loyal"}
    assert messages.escalated(TASK, "sam@x.test", 2, 9).dedupe_key == "escalated:7:2:sam@x.test"
    soon = messages.due_soon(TASK, "ann@x.test", date(2026, 6, 20))
    assert soon.subject.startswith("Due today:") and soon.context["days_left"] == 0
    moved = messages.state_changed(StateChange("ACC-1", "Acme", "loyal", "declining",
                                               "drifting_away", "abc123",
                                               datetime(2026, 6, 15)), "ann@x.test")
    assert moved.dedupe_key == "state_changed:ACC-1:2026-06-15T00:00:00:ann@x.test"
    assert moved.why["reason"] == "rule drifting_away"


def test_a_digest_sorts_tasks_into_overdue_today_and_the_week_and_skips_an_empty_one() -> None:
    far = replace(TASK, id=8, due=date(2026, 7, 30))
    assert messages.digest("ann@x.test", date(2026, 6, 20), "UTC", 8, [far]) is None
    d = messages.digest("ann@x.test", date(2026, 6, 19), "UTC", 8, [TASK, far])
    assert d is not None and d.context["week"][0]["id"] == 7
    assert (d.context["overdue"], d.context["today"]) == ([], [])
    assert d.dedupe_key == "digest:ann@x.test:2026-06-19"


def test_a_digest_lists_new_tasks_even_without_open_ones_and_counts_past_the_cap() -> None:
    far = replace(TASK, id=8, due=date(2026, 7, 30))
    done = replace(TASK, id=9, status="done")
    d = messages.digest("ann@x.test", date(2026, 6, 20), "UTC", 8, [done], new=[far, done])
    assert d is not None and [t["id"] for t in d.context["new"]] == [9, 8]  # by due date
    assert d.context["new"][0]["status"] == "done" and d.context["today"] == []  # done: not open
    assert d.subject.startswith("Your tasks on 2026-06-20: 2 new, 0 overdue")
    many = [replace(TASK, id=i) for i in range(messages.NEW_MAX + 5)]
    big = messages.digest("ann@x.test", date(2026, 6, 1), "UTC", 8, [], new=many)
    assert big is not None and len(big.context["new"]) == messages.NEW_MAX
    assert big.context["new_more"] == 5
    assert messages.digest("ann@x.test", date(2026, 6, 1), "UTC", 8, [], always=True) is not None
