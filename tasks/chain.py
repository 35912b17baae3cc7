"""The audit trail's hash chain: every event carries the hash of the one before it.

`hash = sha256(prev_hash + canonical(event))`, starting from GENESIS. Editing an
event breaks its own hash; deleting or inserting one breaks the next event's
link. `verify` streams the events in id order and names the first that does not
fit. The chain is unkeyed: it shows that the stored history was not altered
after the fact, not who wrote it; someone who can write to the store and knows
this algorithm can still append well-formed events at the end.

`canonical` is what the hash covers, so it must give the same bytes for an
event before it is stored and as the store hands it back: keys sorted (JSONB
reorders them), dates as ISO strings, and integral floats written as integers
(JSONB keeps numbers as `numeric` and gives 1e16 back as 10000000000000000).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

GENESIS = ""
FIELDS = ("at", "actor", "entity", "entity_id", "action", "before", "after")


@dataclass(frozen=True, slots=True)
class ChainBreak:
    id: int
    reason: str

    def __str__(self) -> str:
        return f"event {self.id}: {self.reason}"


def jsonable(value: Any) -> Any:
    """A JSON-safe copy that a JSON or JSONB column gives back unchanged: dates and
    datetimes as ISO strings, tuples as lists, keys as strings, floats of 1e16 or more
    (all integral) as ints and -0.0 as 0.0 (JSONB keeps numbers as `numeric`), and
    non-finite floats, which JSON cannot hold, and unknown types as strings."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return _float(value)
    if kind is dict:
        return {k if type(k) is str else _key(k): jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [jsonable(v) for v in value]
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, Mapping):
        return {_key(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def _key(key: Any) -> str:
    return str(key.value) if isinstance(key, Enum) else str(key)


def _float(value: float) -> float | int | str:
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1e16:  # integral, and written 1e+16: JSONB would hand back an int
        return int(value)
    return value + 0.0  # -0.0 -> 0.0


def canonical(event: Mapping[str, Any]) -> bytes:
    """The bytes an event's hash covers: its content, never its id or hashes."""
    return _canonical(event, jsonable(event["before"]), jsonable(event["after"]))


def _canonical(event: Mapping[str, Any], before: Any, after: Any) -> bytes:
    at = event["at"]
    body = {
        "at": at.isoformat() if isinstance(at, datetime | date) else str(at),
        "actor": event["actor"],
        "entity": event["entity"],
        "entity_id": str(event["entity_id"]),
        "action": event["action"],
        "before": before,
        "after": after,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def chain_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    return _hash(prev_hash, canonical(event))


def _hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + body).hexdigest()


class ChainVerifier:
    """Checks events fed one at a time in id order; remembers only the last one."""

    def __init__(self) -> None:
        self.count = 0
        self.last_id: int | None = None
        self.last_hash = GENESIS

    def feed(self, row: Mapping[str, Any]) -> ChainBreak | None:
        """Check one event with its stored id, prev_hash and hash."""
        event_id = int(row["id"])
        self.count += 1
        if row["prev_hash"] != self.last_hash:
            if self.last_id is None:
                reason = ("previous event missing or inserted: prev_hash does not match the "
                          "start of the chain (the first event was deleted, or this one forged)")
            else:
                reason = ("previous event missing or inserted: prev_hash does not match "
                          f"event {self.last_id}")
            return ChainBreak(event_id, reason)
        if chain_hash(row["prev_hash"], row) != row["hash"]:
            return ChainBreak(event_id, "edited: content does not match its hash")
        self.last_id = event_id
        self.last_hash = row["hash"]
        return None


def verify(rows: Iterable[Mapping[str, Any]]) -> ChainBreak | None:
    """The first event, in id order, that breaks the chain; None when it is intact.
    Reads `rows` lazily and stops at the first break."""
    checker = ChainVerifier()
    for row in rows:
        found = checker.feed(row)
        if found is not None:
            return found
    return None


def link(events: Iterable[Mapping[str, Any]], prev_hash: str = GENESIS) -> list[dict[str, Any]]:
    """Chain events onto `prev_hash`: copies with naive-UTC `at`, JSON-safe before/after,
    prev_hash and hash, ready to store."""
    chained = []
    for event in events:
        row = dict(event)
        at = row["at"]
        if isinstance(at, datetime) and at.tzinfo is not None:
            row["at"] = at.astimezone(UTC).replace(tzinfo=None)  # the store keeps naive UTC
        row["before"] = before = jsonable(row.get("before"))
        row["after"] = after = jsonable(row.get("after"))
        row["entity_id"] = str(row["entity_id"])
        row["prev_hash"] = prev_hash
        row["hash"] = prev_hash = _hash(prev_hash, _canonical(row, before, after))
        chained.append(row)
    return chained


# -- task rows covered by one event ---------------------------------------------------
# A sweep chunk's new tasks are audited by one event (kamflow.store.audit.batch_event):
# their ids, as ranges, and a digest of each row's creation content in id order. The
# chain covers the event; the digests cover the rows, so `audit verify` can tell an
# edited, deleted or inserted task row from a history that kamflow wrote.

TASK_FIELDS = ("account_id", "step", "period", "state", "playbook_version", "title", "start",
               "created_at", "why")  # what a task is and why it exists: never updated
DIGEST_HEX = 16  # 64 bits a row: a forged row that keeps its digest costs ~2^64 tries


def task_digest(task_id: int, row: Mapping[str, Any]) -> str:
    """The digest of one task row's creation content (TASK_FIELDS) and its id."""
    body = {"id": int(task_id), **{f: jsonable(row[f]) for f in TASK_FIELDS}}
    data = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(data).hexdigest()[:DIGEST_HEX]


def id_ranges(ids: Iterable[int]) -> list[list[int]]:
    """Sorted ids as [first, last] runs: a chunk's ids are nearly contiguous."""
    out: list[list[int]] = []
    for i in sorted(ids):
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def range_ids(ranges: Iterable[Iterable[int]]) -> list[int]:
    """The ids that `id_ranges` packed, in order."""
    return [i for first, last in ranges for i in range(int(first), int(last) + 1)]


def batch_key(first: int, last: int) -> str:
    """An event's entity_id for the task rows first..last: zero-padded, so that the
    events covering an id are found by a range scan of the (entity, entity_id) index."""
    return f"{first:012d}-{last:012d}"
