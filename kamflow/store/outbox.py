"""The transactional outbox: notifications are written, already rendered, in the same
transaction as the change that causes them, so a rolled-back change leaves no message
behind and a committed one never loses its message.

Each row has a `dedupe_key` (`task_assigned:<task>`, `escalated:<task>:<level>`,
`digest:<email>:<local date>`, ...), unique in the table; rows go in with
`INSERT ... ON CONFLICT DO NOTHING`, so a rerun or a racing sweep adds nothing.
Opt-outs and the preferred channel are applied here, at enqueue time.

The hooks (`on_tasks_created`, `on_escalated`, `on_sweep_moves`, `on_manual_move`) are
called by kamflow.store.task_writes, kamflow.sweep and kamflow.accounts inside their transactions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from kamflow.notifications import messages
from kamflow.notifications.messages import Draft, StateChange, TaskInfo
from kamflow.notifications.render import Renderer
from kamflow.store.bulk import insert_new
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


@lru_cache(maxsize=8)
def _renderer_for(folder: str) -> Renderer:
    return Renderer(Path(folder) if folder else None)


def renderer() -> Renderer:
    """The renderer for the configured KAMFLOW_TEMPLATE_DIR (searched before the bundled)."""
    from kamflow.settings import Settings

    folder = Settings().template_dir
    return _renderer_for(str(folder) if folder else "")


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


def enqueue(conn: Connection, drafts: Sequence[Draft], at: datetime,
            skip_known: bool = False) -> int:
    """Render and insert drafts for active people who did not opt out of their kind;
    a draft whose key is already in the outbox is skipped. Returns the rows added."""
    if not drafts:
        return 0
    first: dict[str, Draft] = {}
    for d in drafts:
        first.setdefault(d.dedupe_key, d)
    unique = list(first.values())
    if skip_known:
        known = known_keys(conn, (d.dedupe_key for d in unique))
        unique = [d for d in unique if d.dedupe_key not in known]
    people = recipients(conn, {d.recipient for d in unique})
    render = renderer()
    templates: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    for d in unique:
        who = people.get(d.recipient)
        if who is None or not who.active or d.kind in who.prefs.opted_out:
            continue
        name = templates.get(d.template_name)
        if name is None:
            name = templates[d.template_name] = (
                d.template_name if render.has(d.template_name) else d.kind)
        body = render.render(name, d.render_context(who.name))
        rows.append({"kind": d.kind, "recipient": d.recipient, "channel": who.prefs.channel,
                     "subject": d.subject, "body_txt": body.txt, "body_html": body.html,
                     "payload": d.why, "dedupe_key": d.dedupe_key, "created_at": at,
                     "status": "pending", "attempts": 0, "next_attempt_at": at})
    return len(insert_new(conn, OUTBOX, rows, ["dedupe_key"], returning="id"))


# -- reading tasks and accounts for the drafts -------------------------------------


def account_names(conn: Connection, ids: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for batch in _chunks(ids):
        out.update((r.id, r.name) for r in conn.execute(
            select(ACCOUNT.c.id, ACCOUNT.c.name).where(ACCOUNT.c.id.in_(batch))))
    return out


def task_info(row: Any) -> TaskInfo:
    return TaskInfo(row.id, row.account_id, row.name, row.step, row.title, row.due, row.state,
                    row.playbook_version, row.why or {}, row.assignee, row.queue)


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
)


def tasks_by_id(conn: Connection, ids: Iterable[int]) -> dict[int, TaskInfo]:
    out: dict[int, TaskInfo] = {}
    for batch in _chunks(ids):
        q = (select(*TASK_COLUMNS).select_from(TASK.join(ACCOUNT, ACCOUNT.c.id == TASK.c.account_id))
             .where(TASK.c.id.in_(batch)))
        out.update((r.id, task_info(r)) for r in conn.execute(q))
    return out


# -- hooks called inside the transactions that cause notifications ----------------


def on_tasks_created(conn: Connection, made: Sequence[Mapping[str, Any]],
                     rows: Sequence[Mapping[str, Any]], at: datetime, directory: Directory,
                     book: PlaybookSet) -> int:
    """Tasks that were actually inserted: tell the assignee (or the queue's lead) and the
    Informed parties (people, and the leads of informed departments), once per task."""
    if not made:
        return 0
    by_key = {(r["account_id"], r["step"], r["period"]): r for r in rows}
    names = account_names(conn, (m["account_id"] for m in made))
    template = {f"{state}.{s.key}": s.notify for state, pb in book.states.items()
                for s in pb.steps}
    drafts: list[Draft] = []
    for m in made:
        r = by_key[(m["account_id"], m["step"], m["period"])]
        task = TaskInfo(m["id"], m["account_id"], names.get(m["account_id"], m["account_id"]),
                        m["step"], r["title"], m["due"], r["state"], r["playbook_version"],
                        r["why"], m["assignee"], m["queue"])
        to = messages.task_recipients(m["assignee"], m["queue"], directory.people,
                                      directory.leads)
        drafts.extend(messages.task_assigned(task, e, template.get(m["step"], "")) for e in to)
        drafts.extend(messages.informed(task, e) for e in messages.informed_recipients(
            unpacked(r["informed"]), directory.people, directory.leads, exclude=to))
    return enqueue(conn, drafts, at)


def on_escalated(conn: Connection, events: Sequence[Mapping[str, Any]], at: datetime,
                 directory: Directory) -> int:
    """Escalation audit events (task id, level, target): tell each level's target once."""
    if not events:
        return 0
    tasks = tasks_by_id(conn, (int(e["entity_id"]) for e in events))
    drafts: list[Draft] = []
    for e in events:
        task = tasks.get(int(e["entity_id"]))
        if task is None:
            continue
        drafts.extend(messages.escalated(task, to, e["after"]["level"], e["after"]["days_late"])
                      for to in messages.party_recipients(e["after"]["to"], directory.people,
                                                          directory.leads))
    return enqueue(conn, drafts, at)


def on_reassigned(conn: Connection, task_id: int, person: str, at: datetime) -> int:
    """A task given to someone by hand: tell them (once per task and person)."""
    task = tasks_by_id(conn, [task_id]).get(task_id)
    return enqueue(conn, [messages.task_assigned(task, person)], at) if task else 0


def _state_drafts(conn: Connection, changes: Sequence[tuple[StateChange, Sequence[str | None]]],
                  at: datetime) -> int:
    names = account_names(conn, (c.account_id for c, _ in changes))
    drafts: list[Draft] = []
    for change, people in changes:
        named = StateChange(change.account_id, names.get(change.account_id, change.account_id),
                            change.source, change.dest, change.rule, change.playbook_version,
                            change.at, change.metrics, change.actor, change.reason)
        for email in dict.fromkeys(p for p in people if p and p != change.actor):
            drafts.append(messages.state_changed(named, email))
    return enqueue(conn, drafts, at)


def on_sweep_moves(conn: Connection, done: Sequence[tuple[Assessment, Stored]],
                   went_in: set[Any], at: datetime, version: str) -> int:
    """Key accounts (before or after this sweep's classification) that moved: tell the
    owner and the sponsor."""
    changes = []
    for a, stored in done:
        d = a.decision
        if d is None or a.facts.account_id not in went_in:
            continue
        if a.classified.key_account or stored.key_account:
            changes.append((StateChange(a.facts.account_id, "", d.source, d.dest, d.rule,
                                        version, at, _plain(d.seen)),
                            (stored.owner, stored.sponsor)))
    return _state_drafts(conn, changes, at) if changes else 0


def on_manual_move(conn: Connection, account_id: str, source: str, dest: str, rule: str,
                   version: str, at: datetime, actor: str, reason: str) -> int:
    """A person moved an account: if it is a key account, tell its owner and sponsor
    (not the person who moved it)."""
    row = conn.execute(select(ACCOUNT.c.key_account, ACCOUNT.c.owner_email, ACCOUNT.c.sponsor_email)
                       .where(ACCOUNT.c.id == account_id)).first()
    if row is None or not row.key_account:
        return 0
    change = StateChange(account_id, "", source, dest, rule, version, at, {}, actor, reason)
    return _state_drafts(conn, [(change, (row.owner_email, row.sponsor_email))], at)


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
