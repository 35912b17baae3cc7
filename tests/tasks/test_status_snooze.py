"""Snoozing an overdue task: the limit counts from today, not from the past due date."""

from __future__ import annotations

from datetime import date

import pytest

from kamflow.playbooks.schema import Escalation, Step
from kamflow.tasks.status import Request, TaskRefused, TaskView, check, snooze_limit

STEP = Step(key="k", title="t", cadence={"kind": "once"}, deadline_days=7,  # type: ignore[arg-type]
            raci={"owner": "R", "sponsor": "A"},
            escalation=Escalation(after_days=1, then_days=1), max_snooze_days=14)
TODAY = date(2026, 6, 15)


def snooze(due: date, until: date) -> str:
    task = TaskView(1, "open", due, "ann@x.test", None)
    return check(task, STEP, Request("snooze", TODAY, until=until, reason="on holiday")).value


def test_an_overdue_task_can_be_snoozed_up_to_today_plus_the_limit() -> None:
    due = date(2026, 5, 1)
    assert snooze_limit(due, TODAY, STEP) == date(2026, 6, 29)
    assert snooze(due, date(2026, 6, 29)) == "snoozed"
    with pytest.raises(TaskRefused, match=r"14 days past today \(2026-06-15\), as it is overdue, "
                       r"so until 2026-06-29 at the latest"):
        snooze(due, date(2026, 6, 30))


def test_a_task_not_yet_due_counts_from_its_due_date() -> None:
    due = date(2026, 6, 20)
    assert snooze_limit(due, TODAY, STEP) == date(2026, 7, 4)
    with pytest.raises(TaskRefused, match="past the due date"):
        snooze(due, date(2026, 7, 5))
