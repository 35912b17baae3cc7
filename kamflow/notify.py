"""The notification jobs: deliver the outbox, queue the daily digests, queue due-soon
reminders. Plain functions of a database and a clock, for the scheduler or the CLI.

Rows are rendered here, at delivery: the claim's transaction renders each row that has no
text yet (kamflow.store.compose) and stores the text with the claim, so a row is rendered
once and a retry sends the same text. A digest carries the person's notices (new tasks,
kamflow.store.notices), attached to it in the transaction that queues it.

Delivery never loses or doubles a message:
- a deliverer first *claims* rows in a short transaction (SELECT ... FOR UPDATE SKIP
  LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite, and on both a guarded
  `UPDATE ... SET status='sending' WHERE status IN (pending, sending) AND next_attempt_at
  <= now`), so two deliverers never hold the same row;
- it sends outside any transaction, then marks each row `sent` with a guard on its
  claim, or puts it back to `pending` with an exponential backoff (1 min, 2, 4, ... at
  most 6 h) and the error, or to `failed` after `max_attempts`;
- a claim is a lease: a deliverer that dies after claiming leaves its rows `sending`
  until the lease ends, then they are claimed again. A message handed over just before
  such a crash may then go out twice; emails carry a Message-ID and webhooks an
  Idempotency-Key derived from the row's dedupe key so that receivers can drop the copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Engine, and_, func, select, update

from kamflow.engine.clock import Clock
from kamflow.notifications import messages
from kamflow.notifications.channels import (
    Channel,
    EmailChannel,
    LogChannel,
    Message,
    SendError,
    Unreachable,
    WebhookChannel,
)
from kamflow.store import compose, notices, outbox
from kamflow.store.directory import Directory
from kamflow.store.outbox import Item
from kamflow.store.tables import NOTIFICATION_PREF, OUTBOX, TASK

if TYPE_CHECKING:
    from kamflow.settings import Settings

BASE_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(hours=6)
LEASE = timedelta(minutes=10)  # a claim older than this is taken as abandoned
ERROR_MAX = 2000


@dataclass
class DeliveryResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0  # failed this time, will be tried again later
    failed: int = 0  # gave up after max_attempts
    errors: list[str] = field(default_factory=list)  # the first few, for the operator

    def as_dict(self) -> dict[str, Any]:
        return {"claimed": self.claimed, "sent": self.sent, "retried": self.retried,
                "failed": self.failed, "errors": self.errors}


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 1 min · 2^(attempts-1), at most 6 h."""
    delay: timedelta = BASE_DELAY * 2 ** min(max(attempts - 1, 0), 20)
    return min(delay, MAX_DELAY)


def default_channels(settings: Settings | None = None) -> dict[str, Channel]:
    from kamflow.settings import Settings

    s = settings or Settings()
    password = s.smtp_password.get_secret_value() if s.smtp_password else None
    return {"email": EmailChannel(s.smtp_host, s.smtp_port, s.smtp_starttls, s.smtp_user,
                                  password, s.smtp_from),
            "webhook": WebhookChannel(),
            "log": LogChannel(s.log_channel_path)}


# -- delivery ------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A claimed row with its text (rendered now or before), or why it has none."""

    id: int
    kind: str
    recipient: str
    channel: str
    subject: str
    body_txt: str
    body_html: str
    payload: dict[str, Any]
    dedupe_key: str
    attempts: int
    error: str | None = None


def _claimed(r: Any, texts: Mapping[int, compose.Text], errors: Mapping[int, str]) -> Claimed:
    got = Claimed(r.id, r.kind, r.recipient, r.channel, r.subject or "", r.body_txt or "",
                  r.body_html or "", dict(r.payload or {}), r.dedupe_key, r.attempts,
                  errors.get(r.id))
    text = texts.get(r.id)
    return got if text is None else replace(got, subject=text.subject, body_txt=text.txt,
                                            body_html=text.html, payload=text.payload)


def _claim(db: Engine, now: datetime, batch: int) -> list[tuple[Claimed, str | None]]:
    due = and_(OUTBOX.c.status.in_(("pending", "sending")), OUTBOX.c.next_attempt_at <= now)
    with db.begin() as conn:
        ids = (
            conn.execute(
                select(OUTBOX.c.id)
                .where(due)
                .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
            .scalars()
            .all()
        )
        if not ids:
            return []
        # The guard repeats `due`: a row another deliverer claimed meanwhile is left alone.
        claimed = conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(ids), due)
            .values(status="sending", attempts=OUTBOX.c.attempts + 1, next_attempt_at=now + LEASE)
            .returning(
                OUTBOX.c.id,
                OUTBOX.c.kind,
                OUTBOX.c.recipient,
                OUTBOX.c.channel,
                OUTBOX.c.subject,
                OUTBOX.c.body_txt,
                OUTBOX.c.body_html,
                OUTBOX.c.payload,
                OUTBOX.c.dedupe_key,
                OUTBOX.c.attempts,
            )
        ).all()
        urls = _webhook_urls(conn, {r.recipient for r in claimed if r.channel == "webhook"})
        texts, errors = compose.render(conn, claimed)  # once: stored with the claim
    return [(_claimed(r, texts, errors), urls.get(r.recipient))
            for r in sorted(claimed, key=lambda r: r.id)]


def _webhook_urls(conn: Connection, emails: set[str]) -> dict[str, str]:
    if not emails:
        return {}
    q = select(NOTIFICATION_PREF.c.email, NOTIFICATION_PREF.c.webhook_url).where(
        NOTIFICATION_PREF.c.email.in_(sorted(emails))
    )
    return {r.email: r.webhook_url for r in conn.execute(q) if r.webhook_url}


def _settle(db: Engine, row: Any, values: Mapping[str, Any]) -> None:
    """Record the outcome of our own claim (same attempt number, still `sending`)."""
    with db.begin() as conn:
        conn.execute(update(OUTBOX).where(OUTBOX.c.id == row.id, OUTBOX.c.status == "sending",
                                     OUTBOX.c.attempts == row.attempts).values(**values))


def _send(row: Claimed, address: str | None, channels: Mapping[str, Channel]) -> None:
    channel = channels.get(row.channel)
    if channel is None:
        raise SendError(f"no '{row.channel}' channel is configured")
    channel.send(Message(row.kind, row.recipient, row.subject, row.body_txt, row.body_html,
                         row.dedupe_key, dict(row.payload or {}), address))


def deliver(db: Engine, clock: Clock, channels: Mapping[str, Channel] | None = None,
            batch: int = 100, max_attempts: int = 8) -> DeliveryResult:
    """Send every pending row that is due, `batch` rows per claim, until none is left.

    When a server cannot be reached (an SMTP server, one webhook URL), the rest of its rows
    in this run are not tried: they count the attempt and wait out the same backoff."""
    now = clock.now()
    chans = channels if channels is not None else default_channels()
    result = DeliveryResult()
    down: dict[tuple[str, str | None], str] = {}  # (channel, address) -> why, in this run
    try:
        while True:
            claimed = _claim(db, now, batch)
            result.claimed += len(claimed)
            for row, address in claimed:
                server = (row.channel, address if row.channel == "webhook" else None)
                try:
                    if row.error is not None:
                        raise SendError(row.error)
                    if server in down:
                        raise SendError(f"not tried: {down[server]}")
                    _send(row, address, chans)
                except Exception as e:  # any channel error: retry later, never lose the row
                    error = (str(e) if server in down or row.error is not None
                             else f"{type(e).__name__}: {e}")
                    if isinstance(e, Unreachable):
                        down[server] = error
                    _failed(db, row, error[:ERROR_MAX], now, max_attempts, result)
                else:
                    result.sent += 1
                    _settle(db, row, {"status": "sent", "sent_at": now})
            if len(claimed) < batch:
                break
    finally:
        for channel in chans.values():
            channel.close()
    return result


def _failed(db: Engine, row: Any, error: str, now: datetime, max_attempts: int,
            result: DeliveryResult) -> None:
    if len(result.errors) < 10:
        result.errors.append(f"{row.dedupe_key}: {error}")
    if row.attempts >= max_attempts:
        result.failed += 1
        _settle(db, row, {"status": "failed", "last_error": error})
    else:
        result.retried += 1
        _settle(db, row, {"status": "pending", "last_error": error,
                              "next_attempt_at": now + backoff(row.attempts)})


# -- digests and reminders ---------------------------------------------------------


def local_now(at: datetime, timezone: str) -> datetime:
    """The naive-UTC moment `at` on the wall clock of `timezone` (UTC if unknown)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return at.replace(tzinfo=UTC).astimezone(zone)


def _busy(conn: Connection, assignees: Sequence[str]) -> dict[str, date]:
    """Each person's earliest due date among their open tasks (none: not listed)."""
    out: dict[str, date] = {}
    for start in range(0, len(assignees), outbox.IN_CHUNK):
        q = (select(TASK.c.assignee, func.min(TASK.c.due))
             .where(TASK.c.assignee.in_(assignees[start:start + outbox.IN_CHUNK]),
                    TASK.c.status == "open").group_by(TASK.c.assignee))
        out.update((r[0], r[1]) for r in conn.execute(q))
    return out


def queue_digests(db: Engine, clock: Clock) -> int:
    """One digest per active person and local date, once their local time has passed their
    digest hour, when they have new tasks to hear of (notices no digest carries yet) or
    open tasks overdue, due today or due within the week. The digest takes over those
    notices in the same transaction; it is rendered when it is delivered."""
    at = clock.now()
    with db.begin() as conn:
        due: dict[str, tuple[date, outbox.Prefs]] = {}
        for email, who in outbox.recipients(conn).items():
            if not who.active or "digest" in who.prefs.opted_out:
                continue
            local = local_now(at, who.prefs.timezone)
            if local.hour >= who.prefs.digest_hour:
                due[email] = (local.date(), who.prefs)
        known = outbox.known_keys(conn, (f"digest:{e}:{d.isoformat()}" for e, (d, _) in due.items()))
        todo = {e: v for e, v in due.items() if f"digest:{e}:{v[0].isoformat()}" not in known}
        if not todo:
            return 0
        people = sorted(todo)
        busy, fresh = _busy(conn, people), notices.waiting(conn, people, at)
        items = [Item("digest", e, f"digest:{e}:{day.isoformat()}",
                      {"date": day.isoformat(), "timezone": p.timezone, "hour": p.digest_hour})
                 for e, (day, p) in sorted(todo.items())
                 if e in fresh or (e in busy and (busy[e] - day).days <= messages.WEEK_DAYS)]
        added = outbox.queue(conn, items, at)
        notices.attach(conn, added, at)
        return len(added)


def queue_due_soon(db: Engine, clock: Clock) -> int:
    """A reminder to the assignee (or the queue's lead) of each open task due within two
    days (UTC dates), once per task."""
    at = clock.now()
    today = at.date()
    with db.begin() as conn:
        q = select(TASK.c.id, TASK.c.assignee, TASK.c.queue).where(
            TASK.c.status == "open", TASK.c.due >= today,
            TASK.c.due <= today + timedelta(days=messages.DUE_SOON_DAYS))
        tasks = conn.execute(q).all()
        d = Directory.load(conn)
        items = [Item("due_soon", to, f"due_soon:{t.id}:{to}",
                      {"task_id": t.id, "today": today.isoformat()})
                 for t in tasks
                 for to in messages.task_recipients(t.assignee, t.queue, d.people, d.leads)]
        return len(outbox.queue(conn, items, at, skip_known=True))


def list_outbox(db: Engine, status: str | None = None, limit: int = 50, recipient: str | None = None,
           kind: str | None = None) -> list[dict[str, Any]]:
    """The newest notifications first, without their bodies."""
    with db.connect() as conn:
        return outbox.list_outbox(conn, status, limit, recipient, kind)
