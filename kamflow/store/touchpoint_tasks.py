"""Touchpoint plans enforced with tasks, like the contact-frequency checks.

An account plan's touchpoint (who of ours meets which customer role, every N days) comes due
every_days after its anchor: the last qualifying contact (kamflow.store.touchpoints.last_met,
playbooks.touchpoints.meets), else the plan's first save; never before go-live. The sweep
then makes one task per touchpoint and anchor (step `<state>.touchpoint`, period
`tp:<ours>:<role>@<anchor>`), and a qualifying contact after the anchor completes it, in the
sweep and right after the contact is logged or imported. Same plan as the report behind
`kamflow plan touchpoints` (kamflow.touchpoints): the latest plan up to the current fiscal year.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, select

from kamflow.engine.metrics import fiscal_year_start
from kamflow.playbooks.loader import PlaybookSet
from kamflow.playbooks.touchpoints import (
    DEADLINE_DAYS,
    STEP_KEY,
    Touchpoint,
    due,
    meets,
    period,
    step,
    title,
)
from kamflow.store import touchpoints as plans
from kamflow.store.directory import Directory
from kamflow.store.scope import Scope, Unindexed
from kamflow.store.tables import ACCOUNT, TASK
from kamflow.store.task_writes import LIVE, TaskCounts, finish, insert_tasks, routing_columns
from kamflow.tasks.policy import Holder
from kamflow.tasks.raci import Team, route
from kamflow.tasks.status import Status

Met = list[tuple[str, str, str | None, date]]  # (customer role, person, department, last day)


def sweep(conn: Connection, book: PlaybookSet, version: str, holders: Sequence[Holder],
          at: datetime, directory: Directory, scope: Scope, go_live: date | None,
          counts: TaskCounts) -> dict[str, date]:
    """For a sweep chunk: complete the touchpoint tasks a qualifying contact answered, make a
    task of each touchpoint that came due (counted into `counts`), and return per account the
    day its next touchpoint falls due (its wake-up: nothing else tells the daily sweep)."""
    counts.checks_completed += complete(conn, scope, at)
    today = at.date()
    year = fiscal_year_start(date(today.year, today.month, 1),
                             book.organization.fiscal_year_start_month).year
    by_id = {h.account_id: h for h in holders}
    planned = [p for p in plans.planned(conn, year, scope=scope) if p.account_id in by_id]
    met = plans.last_met(conn, [p.account_id for p in planned], today)
    have = _have(conn, scope, today)
    rows: list[dict[str, Any]] = []
    notes: dict[tuple[str, str, str], str] = {}
    wakes: dict[str, date] = {}
    for p in planned:
        h = by_id[p.account_id]
        team = Team(h.owner, h.sponsor, directory.people, directory.leads)
        for item in p.touchpoints:
            t = Touchpoint.model_validate(item)
            last = _last(t, met.get(p.account_id, []), h.owner, h.sponsor)
            anchor, start = last or p.planned_on, due(t, last, p.planned_on)
            moved = go_live is not None and start < go_live
            if go_live is not None and moved:
                start = go_live  # owed before go-live: due from go-live
            if start > today:
                wakes[p.account_id] = min(start, wakes.get(p.account_id, start))
                continue
            sid, key = f"{h.state}.{STEP_KEY}", period(t, anchor)
            if (p.account_id, sid, key) in have:
                continue  # made by an earlier sweep
            r = route(step(t), team)
            if r.note:
                notes[(p.account_id, sid, key)] = f"{p.account_id} {sid}: {r.note}"
            since = "last qualifying contact" if last else "plan first saved"
            rows.append({
                "account_id": p.account_id, "step": sid, "period": key, "state": h.state,
                "playbook_version": version, "title": title(t), "start": start,
                "due": start + timedelta(days=DEADLINE_DAYS),
                "status": Status.OPEN.value, **routing_columns(r), "escalation_level": 0,
                "fields": {}, "created_at": at, "updated_at": at,
                "why": {"rule": STEP_KEY, "playbook_version": version, "cadence": STEP_KEY,
                        "plan": {"account": p.account_id, "fiscal_year": p.fiscal_year,
                                 "revision": p.revision},
                        "touchpoint": t.model_dump(mode="json"), "anchor": anchor.isoformat(),
                        "days": t.every_days,
                        "occurrence": f"{t.ours} has not met the {t.theirs} for "
                                      f"{t.every_days} days since {since} {anchor}",
                        "state": h.state,
                        **({"go_live": go_live.isoformat()} if moved and go_live else {}),
                        **({"routing": r.note} if r.note else {})},
            })
    counts.add(insert_tasks(conn, book, version, rows, notes, at, directory))
    return wakes


def _last(t: Touchpoint, met: Met, owner: str, sponsor: str | None) -> date | None:
    """The last day a contact met this touchpoint (its customer role, by our side)."""
    return max((day for role, person, dept, day in met
                if role == t.theirs and meets(t, person, dept, owner, sponsor)), default=None)


def _have(conn: Connection, scope: Scope, today: date) -> set[tuple[str, str, str]]:
    """Touchpoint tasks that exist and could be wanted again (live or recent): only saves the
    routing; the occurrence key still guards against duplicates."""
    q = (select(TASK.c.account_id, TASK.c.step, TASK.c.period)
         .where(scope.where(TASK.c.account_id), TASK.c.step.like(f"%.{STEP_KEY}"),
                TASK.c.status.in_(LIVE) | (TASK.c.start >= today - timedelta(days=400))))
    return {(a, s, p) for a, s, p in conn.execute(q).tuples()}


def complete(conn: Connection, scope: Scope, at: datetime) -> int:
    """Open touchpoint tasks are done once a qualifying contact was logged after their anchor
    (evidence: its date, person and customer role)."""
    tasks = [r for r in conn.execute(live_touchpoints(scope))
             if isinstance(r.why, dict) and "touchpoint" in r.why]
    if not tasks:
        return 0
    met = plans.last_met(conn, sorted({r.account_id for r in tasks}), at.date())
    done: list[dict[str, Any]] = []
    for r in tasks:
        t = Touchpoint.model_validate(r.why["touchpoint"])
        anchor = date.fromisoformat(r.why["anchor"])
        seen = [(day, person) for role, person, dept, day in met.get(r.account_id, [])
                if role == t.theirs and day > anchor
                and meets(t, person, dept, r.owner_email, r.sponsor_email)]
        if seen:
            day, person = max(seen)
            done.append({"id": r.id, "status": r.status, "evidence": {
                "contact_date": day.isoformat(), "person": person, "customer_role": t.theirs}})
    finish(conn, done, at, "system", Status.DONE, outcome="touchpoint met")
    return len(done)


def live_touchpoints(scope: Scope) -> Select[Any]:
    """The open and snoozed touchpoint tasks of a chunk's accounts, with their owner and
    sponsor: looked up by account. SQLite's sampled statistics would walk every live task
    of the store by the status index (0.21 s against 0.012 s for 1,700 accounts of 100,000)."""
    return (select(TASK.c.id, TASK.c.account_id, TASK.c.status, TASK.c.why,
                   ACCOUNT.c.owner_email, ACCOUNT.c.sponsor_email)
            .join(ACCOUNT, ACCOUNT.c.id == TASK.c.account_id)
            .where(scope.where(TASK.c.account_id), Unindexed(TASK.c.status).in_(LIVE),
                   TASK.c.step.like(f"%.{STEP_KEY}")))


def complete_for(conn: Connection, account_ids: Iterable[str], at: datetime) -> int:
    """After contacts arrive (logged or imported): close the touchpoint tasks they answer."""
    ids = sorted(set(account_ids))
    done = 0
    for start in range(0, len(ids), 1000):
        part = ids[start:start + 1000]
        done += complete(conn, Scope(part[0], part[-1], tuple(part)), at)
    return done
