"""Honest time: a sweep before the latest one is refused unless a replay is asked for, and
accounts whose state is newer than the sweep's moment are reported, not silently skipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from kamflow.store.tables import ACCOUNT, AUDIT_EVENT, TASK, TRANSITION
from support import DB, write_portfolio


def snapshot(db: DB) -> list[Any]:
    with db.engine.connect() as conn:
        return [conn.execute(select(t).order_by(*t.primary_key.columns)).all()
                for t in (ACCOUNT, TASK, TRANSITION, AUDIT_EVENT)]


def load(db: DB, tmp_path: Path, at: str) -> None:
    for kind, path in write_portfolio(tmp_path).items():
        r = db.cli("import", kind, str(path), "--at", at)
        assert r.code == 0, r.stderr


def test_a_sweep_before_the_latest_one_is_refused_and_changes_nothing(
        db: DB, tmp_path: Path) -> None:
    load(db, tmp_path, "2026-01-01")
    assert db.cli("sweep", "--at", "2026-06-15").code == 0
    before = snapshot(db)
    r = db.cli("sweep", "--at", "2026-06-01")
    assert r.code == 2
    assert "before the latest sweep (2026-06-15T00:00:00)" in r.stderr
    assert "--replay" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert snapshot(db) == before
    assert db.cli("sweep", "--at", "2026-06-15").code == 0  # the same moment again is fine
    replayed = db.cli("sweep", "--at", "2026-06-01", "--replay", "--json")
    assert replayed.code == 0, replayed.stderr


def test_accounts_whose_state_is_newer_than_the_sweep_are_counted_and_explained(
        db: DB, tmp_path: Path) -> None:
    load(db, tmp_path, "2026-06-30")  # the states are known since the import
    r = db.cli("sweep", "--at", "2026-06-01", "--json")
    assert r.code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["skipped_newer_state"] == 7 and summary["transitions_total"] == 0
    r = db.cli("sweep", "--at", "2026-06-02")
    assert r.code == 0
    assert "7 account(s) left alone: their state was set after 2026-06-02" in r.stdout
    later = json.loads(db.cli("sweep", "--at", "2026-07-01", "--json").stdout)
    assert later["skipped_newer_state"] == 0 and later["transitions_total"] > 0
