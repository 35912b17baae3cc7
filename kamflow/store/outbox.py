"""The transactional outbox: notifications are recorded in the same transaction as the change
that causes them, so a rolled-back change leaves no message behind and a committed one never
loses its message. Each fact is written once: a row holds what happened (`payload`: the task,
the level, the move), not its text; the deliverer renders it (kamflow.store.compose).

New tasks are the bulk: by default they are not messages at all but `notice` rows, one per
task and person (kamflow.store.notices), told in that person's next digest. Only a step with
`deliver: immediate`, or a person who opted out of digests, gets a message per new task.

Each outbox row has a `dedupe_key` (`task_assigned:<task>:<email>`,
`escalated:<task>:<level>:<email>`, `digest:<email>:<local date>`, ...), unique in the table;
rows go in with `INSERT ... ON CONFLICT DO NOTHING`, so a rerun or a racing sweep adds nothing.
Opt-outs and the preferred channel are applied here, when a row or notice is recorded.

The hooks (`on_tasks_created`, `on_escalated`, `on_sweep_moves`, `on_manual_move`,
`on_reassigned`) are called by kamflow.store.task_writes, kamflow.store.escalation,
kamflow.sweep, kamflow.accounts and kamflow.queue inside their transactions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from kamflow.notifications import messages
from kamflow.notifications.messages import StateChange, TaskInfo
from kamflow.store import notices
from kamflow.store.bulk import insert_returning
from kamflow.store.tables import ACCOUNT, NOTIFICATION_PREF, OUTBOX, PERSON, TASK
from kamflow.tasks.raci import unpacked

if TYPE_CHECKING:
    from kamflow.engine.assess import Assessment
    from kamflow.playbooks.loader import PlaybookSet
    from kamflow.store.directory import Directory
    from kamflow.store.facts import Stored

IN_CHUNK = 1000
STATUSES = ("pending", "sending", "sent", "failed")


@dataclass(frozen=True)
class Prefs:
    channel: str = "email"
    webhook_url: str | None = None
    digest_hour: int = 8
    timezone: str = "UTC"
    opted_out: tuple[str, ...] = ()


DEFAULT_PREFS = Prefs()


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    active: bool
    prefs: Prefs


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    items = sorted(set(values))
    for start in range(0, len(items), IN_CHUNK):
        yield items[start:start + IN_CHUNK]


def prefs_of(row: Any) -> Prefs:
    if row.channel is None:
        return DEFAULT_PREFS
    return Prefs(row.channel, row.webhook_url, row.digest_hour, row.timezone,
                 tuple(row.opted_out or ()))


def recipients(conn: Connection, emails: Iterable[str] | None = None) -> dict[str, Recipient]:
    """People with their preferences (defaults when they have none): these, or everyone."""
    q = select(
        PERSON.c.email,
        PERSON.c.name,
        PERSON.c.active,
        NOTIFICATION_PREF.c.channel,
        NOTIFICATION_PREF.c.webhook_url,
        NOTIFICATION_PREF.c.digest_hour,
        NOTIFICATION_PREF.c.timezone,
        NOTIFICATION_PREF.c.opted_out,
    ).select_from(PERSON.outerjoin(NOTIFICATION_PREF, NOTIFICATION_PREF.c.email == PERSON.c.email))
    batches = [None] if emails is None else list(_chunks(emails))
    out: dict[str, Recipient] = {}
    for batch in batches:
        for r in conn.execute(q if batch is None else q.where(PERSON.c.email.in_(batch))):
            out[r.email] = Recipient(r.email, r.name, bool(r.active), prefs_of(r))
    return out


def known_keys(conn: Connection, keys: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for batch in _chunks(keys):
        found.update(conn.execute(select(OUTBOX.c.dedupe_key).where(OUTBOX.c.dedupe_key.in_(batch)))
                     .scalars())
    return found


@dataclass(frozen=True)
class Item:
    """One notification to record: its kind, recipient, unique key and the facts it is
    rendered from at delivery (a task id, an escalation level, a move...)."""

    kind: str
    recipient: str
    dedupe_key: str
    facts: dict[str, Any]


def queue(conn: Connection, items: Sequence[Item], at: datetime,
          skip_known: bool = False) -> list[dict[str, Any]]:
    """Insert unrendered rows for active people who did not opt out of their kind; an item
    whose key is already in the outbox is skipped. Returns the rows added (id, recipient)."""
    if not items:
        return []
    first: dict[str, Item] = {}
    for d in items:
        first.setdefault(d.dedupe_key, d)
    unique = list(first.values())
    if skip_known:
        known = known_keys(conn, (d.dedupe_key for d in unique))
        unique = [d for d in unique if d.dedupe_key not in known]
    people = recipients(conn, {d.recipient for d in unique})
    rows: list[dict[str, Any]] = []
    for d in unique:
        who = people.get(d.recipient)
        if who is None or not who.active or d.kind in who.prefs.opted_out:
            continue
        rows.append({"kind": d.kind, "recipient": d.recipient, "channel": who.prefs.channel,
                     "subject": None, "body_txt": None, "body_html": None, "payload": d.facts,
                     "dedupe_key": d.dedupe_key, "created_at": at, "status": "pending",
                     "attempts": 0, "next_attempt_at": at})
    return insert_returning(conn, OUTBOX, rows, ["dedupe_key"], ["id", "recipient"])


# -- reading tasks and accounts for the messages ----------------------------------


def account_names(conn: Connection, ids: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for batch in _chunks(ids):
        out.update((r.id, r.name) for r in conn.execute(
            select(ACCOUNT.c.id, ACCOUNT.c.name).where(ACCOUNT.c.id.in_(batch))))
    return out


def task_info(row: Any) -> TaskInfo:
    return TaskInfo(row.id, row.account_id, row.name, row.step, row.title, row.due, row.state,
                    row.playbook_version, row.why or {}, row.assignee, row.queue, row.status)


TASK_COLUMNS = (
    TASK.c.id,
    TASK.c.account_id,
    ACCOUNT.c.name,
    TASK.c.step,
    TASK.c.title,
    TASK.c.due,
    TASK.c.state,
    TASK.c.playbook_version,
    TASK.c.why,
    TASK.c.assignee,
    TASK.c.queue,
    TASK.c.status,
)


def tasks_by_id(conn: Connection, ids: Iterable[int]) -> dict[int, TaskInfo]:
    out: dict[int, TaskInfo] = {}
    for batch in _chunks(ids):
        q = (select(*TASK_COLUMNS).select_from(TASK.join(ACCOUNT, ACCOUNT.c.id == TASK.c.account_id))
             .where(TASK.c.id.in_(batch)))
        out.update((r.id, task_info(r)) for r in conn.execute(q))
    return out


# -- hooks called inside the transactions that cause notifications ----------------


def on_tasks_created(conn: Connection, made: Sequence[tuple[int, Mapping[str, Any]]],
                     at: datetime, directory: Directory, book: PlaybookSet) -> int:
    """Tasks that were actually inserted, as (id, row): the assignee (or the queue's lead)
    and the Informed parties (people, and the leads of informed departments) are to be told,
    once per task and person. Set-based: one notice row per (task, person) in one bulk INSERT, nothing
    rendered; a message each only for `deliver: immediate` steps or digest opt-outs."""
    if not made:
        return 0
    steps = {f"{state}.{s.key}": s for state, pb in book.states.items() for s in pb.steps}
    wanted: list[tuple[str, str, int, str]] = []  # (kind, email, task id, step)
    told: dict[tuple[Any, ...], tuple[list[str], list[str]]] = {}  # tasks routed alike
    for task_id, m in made:
        routing = (m["assignee"], m["queue"], m["informed"])
        found = told.get(routing)
        if found is None:
            to = messages.task_recipients(m["assignee"], m["queue"], directory.people,
                                          directory.leads)
            found = told[routing] = (to, messages.informed_recipients(
                unpacked(m["informed"]), directory.people, directory.leads, exclude=to))
        wanted.extend(("task_assigned", e, task_id, m["step"]) for e in found[0])
        wanted.extend(("informed", e, task_id, m["step"]) for e in found[1])
    people = recipients(conn, {e for _, e, _, _ in wanted})
    notices_rows: list[dict[str, Any]] = []
    now: list[Item] = []
    for kind, email, task_id, step in wanted:
        who = people.get(email)
        if who is None or not who.active or kind in who.prefs.opted_out:
            continue
        spec = steps.get(step)
        if (spec is not None and spec.deliver == "immediate") or "digest" in who.prefs.opted_out:
            template = spec.notify if spec is not None and kind == "task_assigned" else ""
            now.append(Item(kind, email, f"{kind}:{task_id}:{email}",
                            {"task_id": task_id, **({"template": template} if template
                                                    and template != kind else {})}))
        else:
            notices_rows.append({"task_id": task_id, "recipient": email, "kind": kind,
                                 "created_at": at})
    return notices.add(conn, notices_rows) + len(queue(conn, now, at))


def on_escalated(conn: Connection, events: Sequence[Mapping[str, Any]], at: datetime,
                 directory: Directory) -> int:
    """Escalation audit events (task id, level, target): tell each level's target once, at
    once (escalations never wait for a digest)."""
    items = [Item("escalated", to, f"escalated:{e['entity_id']}:{e['after']['level']}:{to}",
                  {"task_id": int(e["entity_id"]), "level": e["after"]["level"],
                   "days_late": e["after"]["days_late"]})
             for e in events
             for to in messages.party_recipients(e["after"]["to"], directory.people,
                                                 directory.leads)]
    return len(queue(conn, items, at))


def on_reassigned(conn: Connection, task_id: int, person: str, at: datetime) -> int:
    """A task given to someone by hand: tell them at once (once per task and person)."""
    item = Item("task_assigned", person, f"task_assigned:{task_id}:{person}", {"task_id": task_id})
    return len(queue(conn, [item], at))


def _state_items(conn: Connection, changes: Sequence[tuple[StateChange, Sequence[str | None]]],
                 at: datetime) -> int:
    items: list[Item] = []
    for c, people in changes:
        facts = {"account_id": c.account_id, "source": c.source, "dest": c.dest, "rule": c.rule,
                 "playbook_version": c.playbook_version, "at": c.at.isoformat(),
                 "metrics": dict(c.metrics), "actor": c.actor, "reason": c.reason}
        items.extend(Item("state_changed", email,
                          f"state_changed:{c.account_id}:{c.at.isoformat()}:{email}", facts)
                     for email in dict.fromkeys(p for p in people if p and p != c.actor))
    return len(queue(conn, items, at))


def on_sweep_moves(conn: Connection, done: Sequence[tuple[Assessment, Stored]],
                   went_in: set[Any], at: datetime, version: str) -> int:
    """Key accounts (before or after this sweep's classification) that moved: tell the
    owner and the sponsor, at once."""
    changes = []
    for a, stored in done:
        d = a.decision
        if d is None or a.facts.account_id not in went_in:
            continue
        if a.classified.key_account or stored.key_account:
            changes.append((StateChange(a.facts.account_id, "", d.source, d.dest, d.rule,
                                        version, at, _plain(d.seen)),
                            (stored.owner, stored.sponsor)))
    return _state_items(conn, changes, at) if changes else 0


def on_manual_move(conn: Connection, account_id: str, source: str, dest: str, rule: str,
                   version: str, at: datetime, actor: str, reason: str) -> int:
    """A person moved an account: if it is a key account, tell its owner and sponsor
    (not the person who moved it)."""
    row = conn.execute(select(ACCOUNT.c.key_account, ACCOUNT.c.owner_email, ACCOUNT.c.sponsor_email)
                       .where(ACCOUNT.c.id == account_id)).first()
    if row is None or not row.key_account:
        return 0
    change = StateChange(account_id, "", source, dest, rule, version, at, {}, actor, reason)
    return _state_items(conn, [(change, (row.owner_email, row.sponsor_email))], at)


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}


# -- reading the outbox --------------------------------------------------------------


def list_outbox(conn: Connection, status: str | None = None, limit: int = 50,
                recipient: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    """The newest rows first, without their bodies."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"--status: '{status}' is not one of {', '.join(STATUSES)}")
    if kind is not None and kind not in messages.KINDS:
        raise ValueError(f"--kind: '{kind}' is not one of {', '.join(messages.KINDS)}")
    if limit < 1:
        raise ValueError(f"--limit: {limit} is not a positive number")
    q = (
        select(
            OUTBOX.c.id,
            OUTBOX.c.kind,
            OUTBOX.c.recipient,
            OUTBOX.c.channel,
            OUTBOX.c.subject,
            OUTBOX.c.status,
            OUTBOX.c.attempts,
            OUTBOX.c.created_at,
            OUTBOX.c.next_attempt_at,
            OUTBOX.c.sent_at,
            OUTBOX.c.last_error,
            OUTBOX.c.dedupe_key,
            OUTBOX.c.payload,
        )
        .order_by(OUTBOX.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        q = q.where(OUTBOX.c.status == status)
    if recipient is not None:
        q = q.where(OUTBOX.c.recipient == recipient)
    if kind is not None:
        q = q.where(OUTBOX.c.kind == kind)
    return [dict(r._mapping) for r in conn.execute(q)]
