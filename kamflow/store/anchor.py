"""Anchoring the head of the audit chain: signed checkpoints.

The hash chain (kamflow.tasks.chain) shows that history was not edited in place, but
anyone who can write to the database can cut its end off, append well-formed events or
edit one and re-hash everything after it. So every append (audit.append, under the
audit lock, in the same transaction) also writes a checkpoint: "the trail ends at event
E, whose hash is H, after N events", signed with HMAC-SHA256 under a key that is not in
the database (KAMFLOW_AUDIT_KEY, or the file named by KAMFLOW_AUDIT_KEY_FILE).
Checkpoints chain too (each signs the previous one's MAC).

`check` then names: a checkpoint whose signature is wrong (forged or edited), a head
event that is gone (truncation) or whose hash changed (an edit re-hashed after it), a
count that changed (events deleted or inserted and re-hashed), and events after the
last checkpoint (appended without the key: forged). Someone who deletes the newest
events *and* the newest checkpoints leaves a shorter valid chain in the database; the
operator who wants that caught too names an append-only file (KAMFLOW_AUDIT_ANCHOR_FILE)
that `export` appends the newest checkpoint to after each sweep, and `check` compares.

Without a key nothing is signed and `check` says so ("head not anchored").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from kamflow.store.tables import AUDIT_CHECKPOINT, AUDIT_EVENT

KEY_ENV = "KAMFLOW_AUDIT_KEY"
KEY_FILE_ENV = "KAMFLOW_AUDIT_KEY_FILE"
ANCHOR_FILE_ENV = "KAMFLOW_AUDIT_ANCHOR_FILE"
NOT_ANCHORED = f"head not anchored: set {KEY_ENV} (or {KEY_FILE_ENV})"


def key() -> bytes | None:
    """The checkpoint key from the environment, or None when none is configured."""
    value = os.environ.get(KEY_ENV)
    if value:
        return value.encode("utf-8")
    path = os.environ.get(KEY_FILE_ENV)
    if path:
        data = Path(path).read_bytes().strip()
        if data:
            return data
    return None


def anchor_file() -> Path | None:
    path = os.environ.get(ANCHOR_FILE_ENV)
    return Path(path) if path else None


def sign(secret: bytes, event_id: int, events: int, head: str, prev_mac: str,
         at: datetime) -> str:
    body = f"{event_id}|{events}|{head}|{prev_mac}|{at.isoformat()}".encode()
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def checkpoint(conn: Connection, at: datetime, secret: bytes | None = None) -> None:
    """Sign the current head; call with the audit lock held (audit.append does)."""
    secret = secret if secret is not None else key()
    if secret is None:
        return
    head = conn.execute(select(AUDIT_EVENT.c.id, AUDIT_EVENT.c.hash)
                        .order_by(AUDIT_EVENT.c.id.desc()).limit(1)).first()
    if head is None:
        return
    prev = conn.execute(select(AUDIT_CHECKPOINT).order_by(AUDIT_CHECKPOINT.c.id.desc())
                        .limit(1)).first()
    if prev is None:
        count = conn.execute(select(func.count()).select_from(AUDIT_EVENT)).scalar_one()
    else:
        count = prev.events + conn.execute(select(func.count()).where(
            AUDIT_EVENT.c.id > prev.event_id)).scalar_one()
    prev_mac = prev.mac if prev is not None else ""
    conn.execute(AUDIT_CHECKPOINT.insert().values(
        at=at, event_id=head.id, events=count, head=head.hash, prev_mac=prev_mac,
        mac=sign(secret, head.id, count, head.hash, prev_mac, at)))


@dataclass
class AnchorReport:
    anchored: bool
    problems: list[str] = field(default_factory=list)
    checkpoint_event: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _checkpoints_ok(conn: Connection, secret: bytes, report: AnchorReport) -> Any:
    """Check every checkpoint's MAC and link; the last good one (or None)."""
    last: Any = None
    for cp in conn.execute(select(AUDIT_CHECKPOINT).order_by(AUDIT_CHECKPOINT.c.id)):
        expected = sign(secret, cp.event_id, cp.events, cp.head, cp.prev_mac, cp.at)
        if not hmac.compare_digest(expected, cp.mac):
            report.problems.append(f"checkpoint {cp.id}: wrong signature (forged or edited, "
                                   "or signed with another key)")
            return last
        if cp.prev_mac != (last.mac if last is not None else ""):
            report.problems.append(f"checkpoint {cp.id}: does not follow checkpoint "
                                   f"{last.id if last is not None else '(none)'} (one deleted)")
            return last
        last = cp
    return last


def check(conn: Connection) -> AnchorReport:
    """Does the trail's head still match its newest signed checkpoint?"""
    secret = key()
    if secret is None:
        return AnchorReport(anchored=False)
    report = AnchorReport(anchored=True)
    cp = _checkpoints_ok(conn, secret, report)
    total = conn.execute(select(func.count()).select_from(AUDIT_EVENT)).scalar_one()
    if cp is None:
        if total and not report.problems:
            report.problems.append(f"no checkpoint: {total} events were never anchored "
                                   "(appended without the key, or the checkpoints deleted)")
        return report
    report.checkpoint_event = cp.event_id
    head = conn.execute(select(AUDIT_EVENT.c.hash).where(AUDIT_EVENT.c.id == cp.event_id)
                        ).first()
    if head is None:
        report.problems.append(f"truncated: event {cp.event_id}, the head signed by checkpoint "
                               f"{cp.id}, is gone")
    elif head.hash != cp.head:
        report.problems.append(f"re-hashed: event {cp.event_id} no longer has the hash checkpoint "
                               f"{cp.id} signed (an earlier event was edited or removed and "
                               "the chain re-hashed)")
    upto = conn.execute(select(func.count()).where(AUDIT_EVENT.c.id <= cp.event_id)).scalar_one()
    if head is not None and upto != cp.events:
        report.problems.append(f"count changed: {upto} events up to event {cp.event_id}, "
                               f"checkpoint {cp.id} signed {cp.events} (events deleted or "
                               "inserted and the chain re-hashed)")
    after = conn.execute(select(func.count(), func.min(AUDIT_EVENT.c.id)).where(
        AUDIT_EVENT.c.id > cp.event_id)).one()
    if after[0]:
        report.problems.append(f"appended: {after[0]} event(s) from event {after[1]} on come after "
                               f"the last checkpoint (written without the key: forged)")
    _check_file(conn, report)
    return report


def _check_file(conn: Connection, report: AnchorReport) -> None:
    path = anchor_file()
    if path is None or not path.exists():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        return
    try:
        last = json.loads(lines[-1])
        mac = str(last["mac"])
        event_id = int(last["event_id"])
    except (ValueError, KeyError, TypeError):
        report.problems.append(f"{path}:{len(lines)}: not a checkpoint line")
        return
    found = conn.execute(select(AUDIT_CHECKPOINT.c.id).where(AUDIT_CHECKPOINT.c.mac == mac)).first()
    if found is None:
        report.problems.append(f"truncated: the checkpoint of event {event_id} in {path} is no "
                               "longer in the database")


def newest(conn: Connection) -> dict[str, Any] | None:
    """The newest checkpoint as a line for the anchor file."""
    cp = conn.execute(select(AUDIT_CHECKPOINT).order_by(AUDIT_CHECKPOINT.c.id.desc()).limit(1)
                      ).first()
    if cp is None:
        return None
    return {"event_id": cp.event_id, "events": cp.events, "head": cp.head, "mac": cp.mac,
            "at": cp.at.isoformat()}
