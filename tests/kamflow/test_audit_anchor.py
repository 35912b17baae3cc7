"""The head of the audit chain is anchored by signed checkpoints (SQLite and PostgreSQL):
`kamflow audit verify` names truncation, appended forgeries and edits re-hashed to the
end, which the hash chain alone lets through; without a key it says the head is not
anchored."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from kamflow.store import audit
from kamflow.store.tables import AUDIT_EVENT
from kamflow.tasks.chain import link
from support import DB

T0 = datetime(2026, 3, 1, 8, 0)
KEY = "an audit key kept outside the database"


def ev(i: int) -> dict[str, Any]:
    return {"at": T0 + timedelta(hours=i), "actor": "system", "entity": "task",
            "entity_id": str(1000 + i), "action": "escalated", "before": {"level": 0},
            "after": {"level": 1, "n": i}}


@pytest.fixture
def keyed(db: DB, monkeypatch: pytest.MonkeyPatch) -> DB:
    """12 events in four transactions, signed with KEY."""
    monkeypatch.setenv("KAMFLOW_AUDIT_KEY", KEY)
    for start in range(0, 12, 3):
        with db.engine.begin() as conn:
            audit.append(conn, [ev(i) for i in range(start, start + 3)])
    return db


def verify(db: DB) -> tuple[int, dict[str, Any], str]:
    r = db.cli("audit", "verify", "--json")
    text = db.cli("audit", "verify")
    return r.code, json.loads(r.stdout), text.stdout


def rows(db: DB) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(AUDIT_EVENT).order_by(AUDIT_EVENT.c.id))
                .mappings()]


def test_an_untouched_trail_is_intact_and_anchored(keyed: DB) -> None:
    code, body, text = verify(keyed)
    assert code == 0 and body["intact"] and body["anchored"] and body["events"] == 12
    assert body["checkpoint_event"] == rows(keyed)[-1]["id"]
    assert "head anchored" in text


def test_deleting_the_last_events_is_truncation(keyed: DB) -> None:
    last = rows(keyed)[-2:]
    with keyed.engine.begin() as conn:
        conn.execute(delete(AUDIT_EVENT).where(AUDIT_EVENT.c.id.in_([r["id"] for r in last])))
    code, body, text = verify(keyed)
    assert code == 1 and not body["intact"]
    assert any(p.startswith("truncated") for p in body["head_problems"]), body
    assert "truncated" in text


def test_an_event_appended_with_a_correct_hash_is_a_forgery(keyed: DB) -> None:
    head = rows(keyed)[-1]
    forged = link([ev(99)], head["hash"])[0]
    with keyed.engine.begin() as conn:  # raw SQL: no audit lock, no key
        conn.execute(AUDIT_EVENT.insert().values(
            {c: forged[c] for c in ("at", "actor", "entity", "entity_id", "action", "before",
                                    "after", "prev_hash", "hash")}))
    code, body, _ = verify(keyed)
    assert code == 1 and body["broken_at"] is None  # the chain alone sees nothing
    assert any(p.startswith("appended") for p in body["head_problems"]), body


def test_an_edit_re_hashed_to_the_end_is_named(keyed: DB) -> None:
    events = rows(keyed)
    events[4]["after"] = {"level": 1, "n": 400}  # the edit
    relinked = link(events[4:], events[3]["hash"])
    with keyed.engine.begin() as conn:
        for old, new in zip(events[4:], relinked, strict=True):
            conn.execute(update(AUDIT_EVENT).where(AUDIT_EVENT.c.id == old["id"]).values(
                after=new["after"], prev_hash=new["prev_hash"], hash=new["hash"]))
    code, body, _ = verify(keyed)
    assert code == 1 and body["broken_at"] is None
    assert any(p.startswith("re-hashed") for p in body["head_problems"]), body


def test_a_middle_event_deleted_and_the_rest_re_hashed_changes_the_count(keyed: DB) -> None:
    events = rows(keyed)
    with keyed.engine.begin() as conn:
        conn.execute(delete(AUDIT_EVENT).where(AUDIT_EVENT.c.id == events[5]["id"]))
        relinked = link(events[6:], events[4]["hash"])
        for old, new in zip(events[6:], relinked, strict=True):
            conn.execute(update(AUDIT_EVENT).where(AUDIT_EVENT.c.id == old["id"]).values(
                prev_hash=new["prev_hash"], hash=new["hash"]))
    code, body, _ = verify(keyed)
    assert code == 1 and body["broken_at"] is None and body["head_problems"], body


def test_a_checkpoint_signed_with_another_key_is_named(keyed: DB,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAMFLOW_AUDIT_KEY", "a guessed key")
    with keyed.engine.begin() as conn:
        audit.append(conn, [ev(50)])
    monkeypatch.setenv("KAMFLOW_AUDIT_KEY", KEY)
    code, body, _ = verify(keyed)
    assert code == 1 and any("wrong signature" in p for p in body["head_problems"])


def test_truncating_events_and_checkpoints_is_caught_by_the_anchor_file(
        keyed: DB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kamflow.adherence import export_anchor
    from kamflow.store.tables import AUDIT_CHECKPOINT

    anchor_file = tmp_path / "anchor.jsonl"
    monkeypatch.setenv("KAMFLOW_AUDIT_ANCHOR_FILE", str(anchor_file))
    assert export_anchor(keyed.engine)
    assert verify(keyed)[0] == 0
    last = rows(keyed)[-3]["id"]
    with keyed.engine.begin() as conn:  # cut the last transaction off, checkpoint and all
        conn.execute(delete(AUDIT_EVENT).where(AUDIT_EVENT.c.id >= last))
        newest = conn.execute(select(func.max(AUDIT_CHECKPOINT.c.id))).scalar_one()
        conn.execute(delete(AUDIT_CHECKPOINT).where(AUDIT_CHECKPOINT.c.id == newest))
    code, body, _ = verify(keyed)
    assert code == 1 and any("anchor.jsonl" in p for p in body["head_problems"]), body


def test_without_a_key_verify_says_the_head_is_not_anchored(
        db: DB, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAMFLOW_AUDIT_KEY", raising=False)
    with db.engine.begin() as conn:
        audit.append(conn, [ev(i) for i in range(3)])
    code, body, text = verify(db)
    assert code == 0 and body["anchored"] is False
    assert "head not anchored: set KAMFLOW_AUDIT_KEY" in text


def test_events_written_before_the_key_was_set_are_covered_by_the_first_checkpoint(
        db: DB, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAMFLOW_AUDIT_KEY", raising=False)
    with db.engine.begin() as conn:
        audit.append(conn, [ev(i) for i in range(3)])
    monkeypatch.setenv("KAMFLOW_AUDIT_KEY", KEY)
    code, body, _ = verify(db)
    assert code == 1 and "no checkpoint" in body["head_problems"][0]
    with db.engine.begin() as conn:
        audit.append(conn, [ev(3)])
    code, body, _ = verify(db)
    assert code == 0 and body["events"] == 4
