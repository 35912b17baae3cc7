"""Task generation, cancellation, contact-check completion, waking and escalation in the store.

Called by the sweep inside its per-chunk transaction, so tasks appear or
disappear together with the transitions that caused them. Everything is
set-based: one aggregate query per input, bulk inserts with ON CONFLICT DO
NOTHING on the occurrence key, bulk updates by id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Select, func, select, update

from kamflow.playbooks.loader import PlaybookSet
from kamflow.playbooks.schema import Every, NoContact, OnEvent
from kamflow.store import audit, changes, golive, outbox, parties, tally
from kamflow.store.bulk import insert_returning, literal_in, update_by_key
from kamflow.store.directory import Directory
from kamflow.store.scope import Scope, Unindexed
from kamflow.store.tables import ACCOUNT, ACCOUNT_EVENT, CONTACT, FEEDBACK, TASK
from kamflow.tasks.cadence import StepContext, next_start, occurrences
from kamflow.tasks.policy import (
    Holder,
    applicable_steps,
    counts_as_contact,
    step_id,
)
from kamflow.tasks.raci import Routing, Team, packed, route, team_reads
from kamflow.tasks.status import Status

HORIZON_DAYS = 14
# Accounts that share a state, a step and the dates a cadence reads share its occurrences:
# computed once per group (the first sweep after an import is one group per step), not once
# per account. Pure functions of hashable arguments, so a bounded cache is enough.
_occurrences = lru_cache(maxsize=1 << 16)(occurrences)
_next_start = lru_cache(maxsize=1 << 16)(next_start)
_DAY = timedelta(days=1)
BACKFILL_DAYS = 30
LIVE = (Status.OPEN.value, Status.SNOOZED.value)


@dataclass
class TaskCounts:
    created: int = 0
    cancelled: int = 0
    checks_completed: int = 0
    fallback_routed: int = 0
    woke: int = 0
    escalated: int = 0
    fallback_notes: list[str] = field(default_factory=list)
    missed: int = 0

    def add(self, other: TaskCounts) -> None:
        for name in ("created", "cancelled", "checks_completed", "fallback_routed", "woke",
                     "escalated", "missed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.fallback_notes.extend(other.fallback_notes[: max(0, 20 - len(self.fallback_notes))])


@dataclass
class Planned:
    """The task rows a chunk is to insert, worked out before any task row is written."""

    rows: list[dict[str, Any]]
    notes: dict[tuple[str, str, str], str]  # routing fallbacks by (account, step, period)
    contacts: dict[str, dict[str, date]]  # last contact per account and channel
    scope: Scope | None  # None: no accounts, nothing to write or complete


def generate(conn: Connection, book: PlaybookSet, version: str, holders: Sequence[Holder],
             at: datetime, directory: Directory, lo: str, hi: str,
             go_live: date | None = None, ids: Sequence[str] | None = None,
             wakes: dict[str, date] | None = None) -> TaskCounts:
    """Create the tasks whose occurrences have come due for these accounts (none for a
    period that began before go-live, see tasks.cadence). `ids`: only these accounts of
    lo..hi are read; `wakes` receives, per account, the day its next occurrence comes due."""
    return write(conn, book, version,
                 plan(conn, book, version, holders, at, directory, lo, hi, go_live, ids, wakes),
                 at, directory)


def write(conn: Connection, book: PlaybookSet, version: str, planned: Planned, at: datetime,
          directory: Directory) -> TaskCounts:
    """Insert what `plan` worked out, and complete the contact checks a contact answered."""
    counts = TaskCounts()
    if planned.scope is None:
        return counts
    counts.add(insert_tasks(conn, book, version, planned.rows, planned.notes, at, directory))
    counts.checks_completed = _complete_checks(conn, book, planned.contacts, planned.scope, at)
    return counts


def plan(conn: Connection, book: PlaybookSet, version: str, holders: Sequence[Holder],
         at: datetime, directory: Directory, lo: str, hi: str,
         go_live: date | None = None, ids: Sequence[str] | None = None,
         wakes: dict[str, date] | None = None) -> Planned:
    """The rows `generate` would insert: reads and Python only, so the sweep does it before
    the audit lock (kamflow.store.locking), and chunks of one sweep run this side by side.
    What it reads is either locked with the chunk's accounts (contacts, events) or written
    only by guarded statements that see the latest commit (a task done meanwhile)."""
    if not holders:
        return Planned([], {}, {}, None)
    today = at.date()
    scope = Scope(lo, hi, None if ids is None else tuple(ids))
    contacts = _last_contacts(conn, scope, today)
    done = _last_done(conn, scope)
    events = _events(conn, scope, at)
    have = _recent_keys(conn, scope, at)
    fiscal = book.organization.fiscal_year_start_month
    rows: list[dict[str, Any]] = []
    notes: dict[tuple[str, str, str], str] = {}
    # per step and team read: the routing, and the task columns it fills
    routes: dict[tuple[str, str | None, str | None], tuple[Routing, dict[str, Any]]] = {}
    reads: dict[str, tuple[bool, bool]] = {}
    for h in holders:
        team = Team(h.owner, h.sponsor, directory.people, directory.leads)
        entered = h.entered.date()
        for sid, step, when in applicable_steps(book, h):
            cad = step.cadence
            last_contact = None
            if isinstance(cad, NoContact):
                last_contact = max((d for ch, d in contacts.get(h.account_id, {}).items()
                                    if counts_as_contact(cad, ch)), default=None)
            ctx = StepContext(
                entered=entered, at=today, fiscal_start_month=fiscal,
                last_done=done.get((h.account_id, sid)) if isinstance(cad, Every) else None,
                last_contact=last_contact,
                events=tuple(events.get((h.account_id, cad.event), ())) if isinstance(cad, OnEvent)
                else (),
                go_live=go_live, imported=h.imported, at_go_live=step.at_go_live,
            )
            if wakes is not None:
                upcoming = _next_start(cad, step.deadline_days, ctx, HORIZON_DAYS, BACKFILL_DAYS)
                if upcoming is not None and upcoming < wakes.get(h.account_id, upcoming + _DAY):
                    wakes[h.account_id] = upcoming
            for occ in _occurrences(cad, step.deadline_days, ctx, HORIZON_DAYS, BACKFILL_DAYS):
                if (h.account_id, sid, occ.period) in have:
                    continue  # made by an earlier sweep: skip the routing and the write
                by_owner, by_sponsor = reads.get(sid) or reads.setdefault(sid, team_reads(step))
                key = (sid, h.owner if by_owner else None, h.sponsor if by_sponsor else None)
                r, columns = routes.get(key) or routes.setdefault(key,
                                                                  _routed(route(step, team)))
                if r.note:
                    notes[(h.account_id, sid, occ.period)] = f"{h.account_id} {sid}: {r.note}"
                rows.append({
                    "account_id": h.account_id, "step": sid, "period": occ.period,
                    "state": h.state, "playbook_version": version, "title": step.title,
                    "start": occ.start, "due": occ.due, "status": Status.OPEN.value,
                    **columns, "escalation_level": 0, "fields": {},
                    "created_at": at, "updated_at": at,
                    "why": {"rule": sid, "playbook_version": version, "cadence": cad.kind,
                            "occurrence": occ.why, "state": h.state, "state_since":
                            h.entered.isoformat(), "class": h.klass,
                            **({"go_live": go_live.isoformat()} if go_live else {}),
                            **({"state_imported": True} if h.imported else {}),
                            **({"when": when.text} if when is not None else {}),
                            **({"routing": r.note} if r.note else {})},
                })
    return Planned(rows, notes, contacts, scope)


def _routed(r: Routing) -> tuple[Routing, dict[str, Any]]:
    """A routing and the task columns it fills (the lists packed once, not once a task)."""
    return r, routing_columns(r)


def routing_columns(r: Routing) -> dict[str, Any]:
    """The task columns a routing fills."""
    return {"assignee": r.assignee, "queue": r.queue, "responsible_dept": r.responsible_dept,
            "accountable": r.accountable, "accountable_dept": r.accountable_dept,
            "co_responsible": packed(r.co_responsible), "consulted": packed(r.consulted),
            "informed": packed(r.informed)}


def insert_tasks(conn: Connection, book: PlaybookSet, version: str, rows: Sequence[dict[str, Any]],
                 notes: Mapping[tuple[str, str, str], str], at: datetime, directory: Directory
                 ) -> TaskCounts:
    """Insert task rows (ON CONFLICT DO NOTHING on the occurrence key) with their parties,
    notifications and audit events, for the rows that went in. `notes`: routing fallbacks
    by (account, step, period)."""
    counts = TaskCounts()
    key = ("account_id", "step", "period")
    made = insert_returning(conn, TASK, rows, key, ("id", *key))
    by_key = {(r["account_id"], r["step"], r["period"]): r for r in rows}
    went_in = [(m["id"], by_key[(m["account_id"], m["step"], m["period"])]) for m in made]
    parties.add(conn, went_in)  # the same rows, one per party (task_party)
    tally.added(conn, went_in)  # the boards' counts
    counts.created = len(made)
    outbox.on_tasks_created(conn, went_in, at, directory, book)  # same transaction
    for m in made:
        note = notes.get((m["account_id"], m["step"], m["period"]))
        if note:
            counts.fallback_routed += 1
            if len(counts.fallback_notes) < 20:
                counts.fallback_notes.append(note)
    if made:  # one chained event for the chunk: ids and a digest per row (audit verify)
        audit.append(conn, [audit.created_batch(at, "system", version, went_in)])
    return counts


def _recent_keys(conn: Connection, scope: Scope, at: datetime) -> set[tuple[str, str, str]]:
    """Occurrence keys that already exist and could be generated again: live tasks and those
    started recently. Only saves work; the unique key still guards against duplicates."""
    since = at.date() - timedelta(days=BACKFILL_DAYS + 400)
    q = (select(TASK.c.account_id, TASK.c.step, TASK.c.period)
         .where(scope.where(TASK.c.account_id))
         .where((TASK.c.status.in_(LIVE)) | (TASK.c.start >= since)))
    return {(r[0], r[1], r[2]) for r in conn.execute(q).all()}


def _last_contacts(conn: Connection, scope: Scope, today: date) -> dict[str, dict[str, date]]:
    q = (select(CONTACT.c.account_id, CONTACT.c.channel, func.max(CONTACT.c.date).label("last"))
         .where(scope.where(CONTACT.c.account_id), CONTACT.c.date <= today)
         .group_by(CONTACT.c.account_id, CONTACT.c.channel))
    out: dict[str, dict[str, date]] = defaultdict(dict)
    for r in conn.execute(q):
        out[r.account_id][r.channel] = _as_date(r.last)
    return out


def _last_done(conn: Connection, scope: Scope) -> dict[tuple[str, str], date]:
    q = (select(TASK.c.account_id, TASK.c.step, func.max(TASK.c.done_at).label("last"))
         .where(scope.where(TASK.c.account_id), TASK.c.status == Status.DONE.value)
         .group_by(TASK.c.account_id, TASK.c.step))
    return {(r.account_id, r.step): _as_datetime(r.last).date() for r in conn.execute(q)}


def _events(conn: Connection, scope: Scope, at: datetime
            ) -> dict[tuple[str, str], list[tuple[int, date]]]:
    since = at - timedelta(days=BACKFILL_DAYS + 366)
    q = (
        select(
            ACCOUNT_EVENT.c.id, ACCOUNT_EVENT.c.account_id, ACCOUNT_EVENT.c.event, ACCOUNT_EVENT.c.at
        )
        .where(
            scope.where(ACCOUNT_EVENT.c.account_id),
            ACCOUNT_EVENT.c.at >= since,
            ACCOUNT_EVENT.c.at <= at,
        )
        .order_by(ACCOUNT_EVENT.c.id)
    )
    out: dict[tuple[str, str], list[tuple[int, date]]] = defaultdict(list)
    for r in conn.execute(q):
        out[(r.account_id, r.event)].append((r.id, r.at.date()))
    return out


def _as_date(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _as_datetime(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def complete_checks_for(conn: Connection, book: PlaybookSet, account_ids: Iterable[str],
                        at: datetime) -> int:
    """After contacts arrive (CSV import): close the checks they satisfy, a range at a time."""
    ids = sorted(account_ids)
    done = 0
    for start in range(0, len(ids), 1000):
        scope = Scope(ids[start], ids[min(start + 999, len(ids) - 1)],
                      tuple(ids[start:start + 1000]))
        contacts = _last_contacts(conn, scope, at.date())
        done += _complete_checks(conn, book, contacts, scope, at)
    return done


def _complete_checks(conn: Connection, book: PlaybookSet,
                     contacts: Mapping[str, Mapping[str, date]], scope: Scope,
                     at: datetime) -> int:
    """Open contact-frequency checks are done once a qualifying contact was logged after them."""
    checks = {step_id(s, st): st.cadence for s, pb in book.states.items() for st in pb.steps
              if isinstance(st.cadence, NoContact)}
    if not checks:
        return 0
    done: list[dict[str, Any]] = []
    for r in conn.execute(open_checks(checks, scope)):
        cad = checks[r.step]
        assert isinstance(cad, NoContact)
        anchor = date.fromisoformat(r.period.split("@", 1)[1])
        seen = [(d, ch) for ch, d in contacts.get(r.account_id, {}).items()
                if counts_as_contact(cad, ch) and d > anchor]
        if seen:
            day, channel = max(seen)
            done.append({"id": r.id, "status": r.status, "evidence": {
                "contact_date": day.isoformat(), "channel": channel}})
    finish(conn, done, at, "system", Status.DONE, outcome="contact logged")
    return len(done)


def live_of(account_ids: Sequence[str]) -> Select[Any]:
    """The live tasks of these accounts (those that moved), found by an index on the account:
    literal ids (a prepared 1,000-parameter IN gets a slow generic plan on PostgreSQL), the
    status out of SQLite's reach (kamflow.store.scope.Unindexed)."""
    return (select(TASK.c.id, TASK.c.account_id, TASK.c.status, TASK.c.state)
            .where(TASK.c.account_id.in_(literal_in(account_ids)),
                   Unindexed(TASK.c.status).in_(LIVE)))


def open_checks(steps: Iterable[str], scope: Scope) -> Select[Any]:
    """The live contact checks of a chunk's accounts, found by an index on the account."""
    return (select(TASK.c.id, TASK.c.account_id, TASK.c.step, TASK.c.period, TASK.c.status)
            .where(scope.where(TASK.c.account_id), Unindexed(TASK.c.status).in_(LIVE),
                   TASK.c.step.in_(sorted(steps))))


def finish(conn: Connection, rows: Sequence[Mapping[str, Any]], at: datetime, actor: str,
           status: Status, outcome: str | None = None, reason: str | None = None) -> None:
    """Close tasks in bulk (done, cancelled or missed), with one audit event each."""
    if not rows:
        return
    params = []
    for r in rows:
        values: dict[str, Any] = {"id": r["id"], "_status": r["status"], "status": status.value,
                                  "updated_at": at}
        if status is Status.DONE:
            values.update(done_at=at, done_by=actor, outcome=outcome, evidence=r.get("evidence"))
        else:
            values.update(reason=r.get("reason", reason))
            if status is Status.MISSED:
                values.update(evidence=r.get("evidence"))
        params.append(values)
    with tally.kept(conn, [r["id"] for r in rows]):  # the boards' counts
        update_by_key(conn, TASK, params, "id", guard=["status"])
        parties.relive(conn, [r["id"] for r in rows])  # closed: off the queues' lookups
    if status is Status.DONE:  # a completion anchors the next occurrence of its step
        changes.mark_tasks(conn, [r["id"] for r in rows])
    audit.append(conn, [
        {"at": at, "actor": actor, "entity": "task", "entity_id": str(r["id"]),
         "action": status.value, "before": {"status": r["status"]},
         "after": {"status": status.value,
                   **({"evidence": r["evidence"]} if r.get("evidence") else {}),
                   **({"reason": r.get("reason", reason)} if status is not Status.DONE else {})}}
        for r in rows
    ])


def cancel_for_moves(conn: Connection, moves: Iterable[tuple[str, str, str]], at: datetime,
                     actor: str = "system") -> int:
    """Cancel open tasks of accounts that left a state: (account, from, to) each."""
    moves = list(moves)
    if not moves:
        return 0
    why = {a: f"account left {src} for {dst} on {at.date().isoformat()}" for a, src, dst in moves}
    old = {a: src for a, src, _ in moves}
    rows: list[dict[str, Any]] = []
    ids = sorted(why)
    for start in range(0, len(ids), 1000):
        rows.extend({"id": r.id, "status": r.status, "reason": why[r.account_id]}
                    for r in conn.execute(live_of(ids[start:start + 1000]))
                    if r.state == old[r.account_id])
    finish(conn, rows, at, actor, Status.CANCELLED)
    return len(rows)


def link_feedback(conn: Connection, lo: str, hi: str, ids: Sequence[str] | None = None) -> None:
    """A feedback score answers the latest feedback request done on or before its date."""
    latest = (select(func.max(TASK.c.id))
              .where(TASK.c.account_id == FEEDBACK.c.account_id, TASK.c.step.like("%.feedback_request"),
                     TASK.c.status == Status.DONE.value, func.date(TASK.c.done_at) <= FEEDBACK.c.date)
              .scalar_subquery())
    conn.execute(
        update(FEEDBACK)
        .where(FEEDBACK.c.task_id.is_(None),
               Scope(lo, hi, None if ids is None else tuple(ids)).where(FEEDBACK.c.account_id),
               latest.is_not(None))
        .values(task_id=latest)
    )


def refresh_account(conn: Connection, account_id: str, at: datetime) -> TaskCounts:
    """Run the task engine for one account now (after a move, an event or a contact)."""
    from kamflow.store.versions import active_book, active_version

    row = conn.execute(
        select(
            ACCOUNT.c.id,
            ACCOUNT.c.state,
            ACCOUNT.c.state_since,
            ACCOUNT.c.klass,
            ACCOUNT.c.owner_email,
            ACCOUNT.c.sponsor_email,
            ACCOUNT.c.key_account,
            ACCOUNT.c.portrait_fit,
            ACCOUNT.c.potential,
            ACCOUNT.c.segment,
            ACCOUNT.c.state_imported,
        ).where(ACCOUNT.c.id == account_id)
    ).first()
    if row is None:
        raise LookupError(f"unknown account '{account_id}'")
    holder = Holder(row.id, row.state, row.state_since, row.klass, row.owner_email,
                    row.sponsor_email, bool(row.key_account), row.portrait_fit,
                    float(row.potential or 0), row.segment, bool(row.state_imported))
    book = active_book(conn)
    changes.mark(conn, [account_id])  # its facts changed: the next sweep reads it
    return generate(conn, book, active_version(conn) or "", [holder], at,
                    Directory.load(conn), account_id, account_id, golive.go_live(conn, book))
