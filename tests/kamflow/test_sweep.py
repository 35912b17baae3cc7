"""The sweep on a real store (SQLite and PostgreSQL): clear-cut accounts land where the
default rules say, `account show` explains why, reruns and races change nothing."""

from __future__ import annotations

import gc
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kamflow.engine.clock import FixedClock
from kamflow.store.tables import ACCOUNT, TRANSITION
from kamflow.sweep import run_sweep
from support import DB, PORTFOLIO, run_at_once, write_portfolio
from support.stores import Seed, Stores

AT = "2026-06-15"


def load(db: DB, folder: Path) -> None:
    for kind, path in write_portfolio(folder).items():
        r = db.cli("import", kind, str(path), "--at", "2026-01-01")
        assert r.code == 0, r.stderr


LOADED = Seed("sweep-loaded", load)


@pytest.fixture
def loaded(db: DB, stores: Stores) -> DB:
    """The portfolio imported: built once per session and kind, a copy for each test."""
    stores.restore(db, LOADED)
    return db


def states(db: DB) -> dict[str, str]:
    with db.engine.connect() as conn:
        return dict(conn.execute(select(ACCOUNT.c.id, ACCOUNT.c.state)).tuples().all())


def snapshot(db: DB) -> tuple[list[Any], list[Any]]:
    with db.engine.connect() as conn:
        accounts = conn.execute(select(ACCOUNT).order_by(ACCOUNT.c.id)).all()
        moves = conn.execute(select(TRANSITION).order_by(TRANSITION.c.id)).all()
    return [tuple(r) for r in accounts], [tuple(r) for r in moves]


def sweep_json(db: DB, at: str = AT) -> dict[str, Any]:
    r = db.cli("sweep", "--at", at, "--json")
    assert r.code == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_clear_cut_accounts_land_where_the_rules_say(loaded: DB) -> None:
    summary = sweep_json(loaded)
    assert summary["accounts"] == len(PORTFOLIO)
    assert states(loaded) == {
        "STEADY": "loyal", "DRIFT": "declining", "GONE": "lost", "NEWBIG": "high_potential",
        "NEWSMALL": "optimization", "UNHAPPY": "declining", "COLLAPSE": "recovery",
    }
    assert summary["transitions"] == {"declining->recovery": 1, "high_potential->declining": 1,
                                      "loyal->declining": 1, "loyal->lost": 1,
                                      "prospect->high_potential": 1, "prospect->optimization": 1}


def test_account_show_explains_the_transition(loaded: DB) -> None:
    sweep_json(loaded)
    r = loaded.cli("account", "show", "DRIFT", "--at", AT, "--json")
    assert r.code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["state"] == "declining"
    first, last = data["transitions"]
    assert (first["rule"], first["to"], first["actor"]) == ("imported", "loyal", "import")
    assert last["rule"] == "drifting_away"
    assert last["condition"] == ("revenue_trend <= -15% or days_since_contact > 120 "
                                 "or feedback_score <= 6")
    assert last["metrics"]["revenue_trend"] == pytest.approx(-0.3)
    assert last["playbook_version"] == data["playbook_version"]
    assert data["metrics"]["revenue_t12"] == pytest.approx(12 * 28_000)
    text = loaded.cli("account", "show", "DRIFT", "--at", AT)
    assert "drifting_away" in text.stdout and "revenue_trend=-0.3" in text.stdout


def test_a_second_sweep_at_the_same_moment_changes_nothing(loaded: DB) -> None:
    sweep_json(loaded)
    before = snapshot(loaded)
    again = sweep_json(loaded)
    assert again["transitions_total"] == 0 and again["reclassified"] == 0
    assert snapshot(loaded) == before


def test_the_next_day_moves_each_account_one_more_step_at_most(loaded: DB) -> None:
    sweep_json(loaded)
    nxt = sweep_json(loaded, "2026-06-16")
    # DRIFT is down 30%: declining -> (not yet -40%) stays; nothing else is due.
    assert nxt["transitions"] == {}
    assert states(loaded)["DRIFT"] == "declining"


def test_two_sweeps_at_once_move_each_account_once(loaded: DB) -> None:
    clock = FixedClock(datetime(2026, 6, 15))
    assert run_at_once(lambda: run_sweep(loaded.engine, clock, chunk=2)) == []
    with loaded.engine.connect() as conn:
        n = conn.execute(
            select(func.count()).select_from(TRANSITION).where(TRANSITION.c.actor == "system")
        ).scalar()
    assert n == 6


def test_a_crash_mid_sweep_is_finished_by_the_rerun(loaded: DB, db_url: str) -> None:
    clock = FixedClock(datetime(2026, 6, 15))

    class Crash(Exception):
        pass

    def crash_after_first_chunk(_n: int) -> None:
        raise Crash

    with pytest.raises(Crash):
        run_sweep(loaded.engine, clock, progress=crash_after_first_chunk, chunk=2)
    partial = states(loaded)
    assert sum(s != PORTFOLIO[a][0] for a, s in partial.items()) < 6  # only the first chunk
    run_sweep(loaded.engine, clock, chunk=2)
    assert states(loaded)["COLLAPSE"] == "recovery"
    with loaded.engine.connect() as conn:
        n = conn.execute(
            select(func.count()).select_from(TRANSITION).where(TRANSITION.c.actor == "system")
        ).scalar()
    assert n == 6


def test_manual_move_along_a_declared_transition(loaded: DB) -> None:
    sweep_json(loaded)
    r = loaded.cli("account", "move", "DRIFT", "recovery", "--reason", "lost the tender",
                   "--by", "sam@x.test", "--at", "2026-06-20")
    assert r.code == 0, r.stderr
    data = json.loads(loaded.cli("account", "show", "DRIFT", "--json", "--at", "2026-06-20").stdout)
    last = data["transitions"][-1]
    assert (last["rule"], last["actor"], last["reason"]) == ("start_win_back", "sam@x.test",
                                                             "lost the tender")
    assert data["baseline_revenue"] == pytest.approx(12 * 40_000)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["account", "move", "STEADY", "prospect", "--reason", "x", "--at", AT],
         "no declared transition from loyal to prospect"),
        (["account", "move", "STEADY", "declining", "--reason", " ", "--at", AT],
         "--reason: a manual move needs a reason"),
        (["account", "move", "NOPE", "declining", "--reason", "x"], "unknown account 'NOPE'"),
        (["account", "move", "STEADY", "declining", "--reason", "x", "--by", "who@x.test"],
         "--by: unknown person 'who@x.test'"),
        (["account", "move", "STEADY", "sideways", "--reason", "x"], "unknown state 'sideways'"),
        (["account", "show", "NOPE"], "unknown account 'NOPE'"),
        (["sweep", "--at", "yesterday"], "--at: 'yesterday' is not an ISO date"),
        (["accounts", "--class", "E"], "--class: unknown class 'E'; known: A, B, C, D"),
    ],
)
def test_bad_requests_are_one_clear_line_and_change_nothing(loaded: DB, args: list[str],
                                                            message: str) -> None:
    before = snapshot(loaded)
    r = loaded.cli(*args)
    assert r.code == 2
    assert message in r.stderr
    assert "nothing was changed" in r.stderr
    assert snapshot(loaded) == before


def test_listing_filters_and_json(loaded: DB) -> None:
    sweep_json(loaded)
    rows = json.loads(loaded.cli("accounts", "--state", "declining", "--json").stdout)
    assert sorted(r["id"] for r in rows) == ["DRIFT", "UNHAPPY"]
    rows = json.loads(loaded.cli("accounts", "--class", "D", "--json").stdout)
    assert [r["id"] for r in rows] == ["NEWSMALL"]
    table = loaded.cli("accounts").stdout
    assert "STEADY" in table and "7 account(s)" in table


def test_playbook_commands(loaded: DB, tmp_path: Path) -> None:
    shown = loaded.cli("playbook", "show", "loyal")
    assert shown.code == 0 and "quarterly_plan_review" in shown.stdout
    data = json.loads(loaded.cli("playbook", "show", "loyal", "--json").stdout)
    assert data["steps"][0]["raci"] == {"owner": "R", "sponsor": "A", "finance": "C",
                                        "marketing": "C", "quality": "C", "delivery": "C",
                                        "production": "I"}
    diagram = loaded.cli("playbook", "diagram").stdout
    assert "declining --> recovery : steep_decline" in diagram
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "lifecycle.yaml").write_text("initial: x\n")
    r = loaded.cli("playbook", "load", str(bad))
    assert r.code == 2 and "organization.yaml: missing" in r.stderr


def test_editing_a_playbook_changes_the_rules(loaded: DB, tmp_path: Path) -> None:
    """Tighten the decline rule from -15% to -35%: DRIFT (-30%) now stays loyal."""
    from kamflow.playbooks.loader import bundled_dir

    folder = tmp_path / "mine"
    folder.mkdir()
    for p in bundled_dir().glob("*.yaml"):
        (folder / p.name).write_text(p.read_text().replace("revenue_trend <= -15%",
                                                           "revenue_trend <= -35%"))
    r = loaded.cli("playbook", "load", str(folder))
    assert r.code == 0 and "is now active" in r.stdout
    summary = sweep_json(loaded)
    assert states(loaded)["DRIFT"] == "loyal"
    data = json.loads(loaded.cli("account", "show", "UNHAPPY", "--json", "--at", AT).stdout)
    assert data["transitions"][-1]["playbook_version"] == summary["playbook_version"]


def test_commands_on_an_empty_database_say_to_init(tmp_path: Path) -> None:
    from kamflow.store.db import db_for, dispose
    from support import DB as Db

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    r = Db(url, db_for(url)).cli("sweep")
    dispose(url)
    assert r.code == 1 and "run `kamflow init`" in r.stderr


@pytest.mark.slow
def test_demo_portfolio_covers_every_class_and_state(db: DB) -> None:
    r = db.cli("demo", "--accounts", "400", "--seed", "7", "--at", "2026-11-01")
    assert r.code == 0, r.stderr
    sweep_json(db, "2026-11-01")
    with db.engine.connect() as conn:
        got_states = set(conn.execute(select(ACCOUNT.c.state).distinct()).scalars())
        got_classes = set(conn.execute(select(ACCOUNT.c.klass).distinct()).scalars())
    assert got_states == {"prospect", "high_potential", "loyal", "declining", "recovery", "lost",
                          "optimization"}
    assert got_classes == {"A", "B", "C", "D"}
    summary = json.loads(db.cli("portfolio", "--at", "2026-11-01", "--json").stdout)
    assert summary["accounts"] == 400
    assert sum(c["accounts"] for c in summary["classes"].values()) == 400


def test_a_chunk_runs_with_the_cycle_collector_paused_and_resumes_it(loaded: DB) -> None:
    """Counted, not timed: with the collector set to run every 50 allocations, none of its
    runs falls inside a chunk (each would scan the chunk's rows again and free nothing); it
    runs before and after, and a caller who had it off finds it off."""
    inside: list[int] = []
    outside: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase != "start":
            return
        frame = sys._getframe(1)
        names = set()
        while frame is not None:
            names.add(frame.f_code.co_name)
            frame = frame.f_back  # type: ignore[assignment]
        (inside if names & {"run_chunk", "_run_chunk"} else outside).append(info["generation"])

    threshold = gc.get_threshold()
    gc.set_threshold(50)
    gc.callbacks.append(seen)
    try:
        summary = run_sweep(loaded.engine, FixedClock(datetime.fromisoformat(AT)))
        assert summary.accounts > 0 and summary.tasks.created > 0
        assert gc.isenabled()
        assert inside == [] and outside  # it ran, but never in a chunk
        gc.disable()
        run_sweep(loaded.engine, FixedClock(datetime.fromisoformat(AT)), full=True)
        assert not gc.isenabled()
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*threshold)
        gc.enable()
