"""The task status machine, pure: which action moves which status where, what each action
needs from its caller (an outcome, a reason, a snooze within the step's limit), and who may
take a task (an active person; a claim only by a member of the queue's department)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from kamflow.playbooks.schema import Step
from kamflow.tasks.status import LIVE, Request, Status, TaskRefused, TaskView, check

TODAY = date(2026, 6, 15)
DUE = date(2026, 6, 20)
OPEN, DONE, SNOOZED, SKIPPED, CANCELLED = "open", "done", "snoozed", "skipped", "cancelled"


def step(**kw: Any) -> Step:
    """A step whose completion needs an outcome (the default), snoozable 14 days past due."""
    return Step(key="review", title="Review", cadence={"kind": "once"}, deadline_days=7,
                raci={"owner": "R", "sponsor": "A"}, escalation={"after_days": 3, "then_days": 7},
                **kw)


def task(status: str = OPEN, assignee: str | None = "ann@x.test", queue: str | None = None,
         due: date = DUE) -> TaskView:
    return TaskView(id=7, status=status, due=due, assignee=assignee, queue=queue)


def req(action: str, **kw: Any) -> Request:
    return Request(action=action, today=TODAY, **kw)


# A request that meets every precondition, per action: only the status decides.
COMPLETE = {
    "done": {"outcome": "agreed"},
    "snooze": {"until": DUE + timedelta(days=3), "reason": "on holiday"},
    "skip": {"reason": "not needed this year"},
    "cancel": {"reason": "account sold"},
    "wake": {},
    "reassign": {"person": "bob@x.test", "person_active": True, "person_department": "sales"},
    "claim": {"person": "bob@x.test", "person_active": True, "person_department": "marketing"},
}
# status -> action -> the status after it (None: refused), as the module's docstring says
MACHINE: dict[str, dict[str, str | None]] = {
    OPEN: {"done": DONE, "snooze": SNOOZED, "skip": SKIPPED, "cancel": CANCELLED, "wake": None,
           "reassign": OPEN, "claim": OPEN},
    SNOOZED: {"done": DONE, "snooze": SNOOZED, "skip": SKIPPED, "cancel": CANCELLED,
              "wake": OPEN, "reassign": SNOOZED, "claim": SNOOZED},
    DONE: dict.fromkeys(COMPLETE),
    SKIPPED: dict.fromkeys(COMPLETE),
    CANCELLED: dict.fromkeys(COMPLETE),
}


@pytest.mark.parametrize(("status", "action"),
                         [(s, a) for s, actions in MACHINE.items() for a in actions])
def test_each_action_moves_only_a_live_task_where_the_machine_says(status: str,
                                                                   action: str) -> None:
    # a queued task so that claim has something to take
    t = task(status, assignee=None, queue="marketing")
    expected = MACHINE[status][action]
    if expected is None:
        with pytest.raises(TaskRefused, match=f"task 7 is {status}; '{action}' needs a task"):
            check(t, step(), req(action, **COMPLETE[action]))
    else:
        assert check(t, step(), req(action, **COMPLETE[action])) == Status(expected)


def test_the_live_statuses_are_open_and_snoozed() -> None:
    assert set(LIVE) == {Status.OPEN, Status.SNOOZED}
    with pytest.raises(TaskRefused, match="needs a task that is snoozed$"):
        check(task(OPEN), step(), req("wake"))
    with pytest.raises(TaskRefused, match="needs a task that is open or snoozed$"):
        check(task(DONE), step(), req("cancel", reason="x"))


def test_an_unknown_action_is_refused() -> None:
    with pytest.raises(TaskRefused, match="unknown action 'reopen'"):
        check(task(DONE), step(), req("reopen"))


# -- done: what the step requires ----------------------------------------------------------


@pytest.mark.parametrize("outcome", [None, "", "   "])
def test_done_needs_the_outcome_the_step_requires(outcome: str | None) -> None:
    with pytest.raises(TaskRefused, match="--outcome: step review requires an outcome"):
        check(task(), step(), req("done", outcome=outcome))


def test_done_needs_no_outcome_when_the_step_does_not_ask_or_is_gone() -> None:
    assert check(task(), step(requires={"outcome": False}), req("done")) == Status.DONE
    assert check(task(), None, req("done")) == Status.DONE  # the step left the playbook


def test_done_needs_a_note_and_every_field_the_step_requires() -> None:
    needs = step(requires={"outcome": True, "note": True, "fields": ["loss_cause", "competitor"]})
    with pytest.raises(TaskRefused, match="--note: step review requires a note"):
        check(task(), needs, req("done", outcome="lost", note=" "))
    with pytest.raises(TaskRefused,
                       match=r"--field: step requires loss_cause=\.\.\., competitor=\.\.\.$"):
        check(task(), needs, req("done", outcome="lost", note="price"))
    with pytest.raises(TaskRefused, match=r"requires competitor=\.\.\.$"):
        check(task(), needs, req("done", outcome="lost", note="price",
                                 fields={"loss_cause": "price", "competitor": "  "}))
    assert check(task(), needs, req("done", outcome="lost", note="price",
                                     fields={"loss_cause": "price", "competitor": "Acme"})
                 ) == Status.DONE


# -- snooze, skip, cancel: a reason, and a snooze within the step's limit ---------------------


@pytest.mark.parametrize("action", ["snooze", "skip", "cancel"])
@pytest.mark.parametrize("reason", [None, "", "  "])
def test_snooze_skip_and_cancel_need_a_reason(action: str, reason: str | None) -> None:
    with pytest.raises(TaskRefused, match=f"--reason: '{action}' needs a reason"):
        check(task(), step(), req(action, reason=reason, until=DUE))


@pytest.mark.parametrize("until", [None, TODAY, TODAY - timedelta(days=1)])
def test_a_snooze_must_end_after_today(until: date | None) -> None:
    with pytest.raises(TaskRefused, match="--until: a snooze must end after today"):
        check(task(), step(), req("snooze", reason="busy", until=until))


def test_a_snooze_ends_at_most_max_snooze_days_past_the_due_date() -> None:
    limit = DUE + timedelta(days=14)
    assert check(task(), step(), req("snooze", reason="busy", until=limit)) == Status.SNOOZED
    with pytest.raises(TaskRefused, match="at most 14 days past the due date \\(2026-06-20\\), so "
                                          "until 2026-07-04 at the latest"):
        check(task(), step(), req("snooze", reason="busy", until=limit + timedelta(days=1)))
    short = step(max_snooze_days=2)
    assert check(task(), short, req("snooze", reason="busy", until=DUE + timedelta(days=2))
                 ) == Status.SNOOZED
    with pytest.raises(TaskRefused, match="at most 2 days"):
        check(task(), short, req("snooze", reason="busy", until=DUE + timedelta(days=3)))


def test_a_task_whose_step_is_gone_snoozes_up_to_its_due_date_only() -> None:
    assert check(task(), None, req("snooze", reason="busy", until=DUE)) == Status.SNOOZED
    with pytest.raises(TaskRefused, match="at most 0 days"):
        check(task(), None, req("snooze", reason="busy", until=DUE + timedelta(days=1)))


# -- who may act: reassign and claim ---------------------------------------------------------


def test_reassign_needs_an_active_person_other_than_the_assignee() -> None:
    with pytest.raises(TaskRefused, match="a person is required"):
        check(task(), step(), req("reassign"))
    with pytest.raises(TaskRefused, match="'old@x.test' is not an active person"):
        check(task(), step(), req("reassign", person="old@x.test", person_active=False))
    with pytest.raises(TaskRefused, match="task 7 is already assigned to ann@x.test"):
        check(task(), step(), req("reassign", person="ann@x.test", person_active=True))
    assert check(task(), step(), req("reassign", person="bob@x.test", person_active=True)
                 ) == Status.OPEN
    # a queued task can be given to a person, too
    assert check(task(assignee=None, queue="marketing"), step(),
                 req("reassign", person="bob@x.test", person_active=True)) == Status.OPEN


def test_only_an_active_member_of_the_queues_department_may_claim() -> None:
    queued = task(assignee=None, queue="marketing")
    with pytest.raises(TaskRefused, match="a person is required"):
        check(queued, step(), req("claim"))
    with pytest.raises(TaskRefused, match="'mark@x.test' is not an active person"):
        check(queued, step(), req("claim", person="mark@x.test", person_active=False,
                                  person_department="marketing"))
    with pytest.raises(TaskRefused,
                       match="--by: ann@x.test is not a member of the marketing department"):
        check(queued, step(), req("claim", person="ann@x.test", person_active=True,
                                  person_department="sales"))
    assert check(queued, step(), req("claim", person="mark@x.test", person_active=True,
                                     person_department="marketing")) == Status.OPEN


def test_an_assigned_task_cannot_be_claimed() -> None:
    with pytest.raises(TaskRefused, match="task 7 is assigned to ann@x.test, not in a queue"):
        check(task(), step(), req("claim", person="bob@x.test", person_active=True,
                                  person_department="sales"))
