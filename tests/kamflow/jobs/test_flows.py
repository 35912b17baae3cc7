"""The Prefect flows, run for real against one Prefect API for the whole session.

The key property: the sweep spread over shard tasks leaves the store exactly as the
embedded sweep does, on SQLite and on PostgreSQL, even when a shard dies half-way and is
retried, and a second run at the same moment changes nothing.

The Prefect API is the ephemeral server (a subprocess) with its home in .pytest_cache, so
later sessions reuse its database and skip the migrations: it starts in 6-11 s on the 2-core
CI machine, against ~21 s for `prefect_test_harness` (a fresh database every time) and ~20 s
for a first start here. Nothing here skips: if Prefect cannot start, the tests error with
the reason.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kamflow.engine.clock import FixedClock
from kamflow.store.tables import ACCOUNT, AUDIT_EVENT, OUTBOX, TASK, TRANSITION
from kamflow.sweep import SweepSummary, prepare, run_sweep
from support import DB, write_portfolio
from support.stores import Seed, Stores

pytestmark = pytest.mark.prefect

AT, LATER = "2026-06-15", "2026-07-20"
CHUNK = 40  # 307 accounts -> 8 chunks over up to 4 shards


@pytest.fixture(scope="session")
def prefect_api(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Prefect API for the session; its URL. Heartbeats off: each flow saves ~1 s."""
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    # one home per pytest-xdist worker: two API servers must not share one Prefect database
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    home = (Path(cache.mkdir(f"prefect-home{worker}")) if cache
            else tmp_path_factory.mktemp("prefect"))
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("PREFECT_API_URL", raising=False)  # never a real server from the caller's env
        mp.delenv("PREFECT_API_KEY", raising=False)
        env = {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}
        for key, value in env.items():
            mp.setenv(key, value)
        from prefect.server.api.server import SubprocessASGIServer
        from prefect.settings import (
            PREFECT_API_URL,
            PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
            PREFECT_HOME,
            PREFECT_SERVER_ANALYTICS_ENABLED,
            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
            temporary_settings,
        )

        with temporary_settings(updates={
                PREFECT_HOME: home, PREFECT_SERVER_ANALYTICS_ENABLED: False,
                PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 120,
                PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}, restore_defaults={PREFECT_API_URL}):
            server = SubprocessASGIServer()
            try:
                server.start(timeout=120)
            except Exception as e:  # say why, then error every test here
                pytest.fail(f"the Prefect API did not start (PREFECT_HOME={home}): {e!r}")
            try:
                with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
                    yield server.api_url
            finally:
                server.stop()


def load(db: DB, folder: Path, demo: bool = True) -> DB:
    """The clear-cut portfolio of tests/support (7 accounts), plus 300 demo accounts."""
    folder.mkdir(exist_ok=True)
    for kind, path in write_portfolio(folder).items():
        r = db.cli("import", kind, str(path), "--at", "2026-01-01")
        assert r.code == 0, r.stderr
    if demo:
        r = db.cli("demo", "--accounts", "300", "--seed", "3", "--at", "2026-06-01", "--add")
        assert r.code == 0, r.stderr
    return db


def _small(db: DB, folder: Path) -> None:
    load(db, folder, demo=False)


def _full(db: DB, folder: Path) -> None:
    load(db, folder)


# each loaded once per session and kind, and copied into both databases of a pair
SMALL = Seed("flows-7", _small)
FULL = Seed("flows-307", _full)


@pytest.fixture
def pair(db: DB, twin: DB, stores: Stores) -> tuple[DB, DB]:
    """Two identical databases of 307 accounts."""
    stores.restore(db, FULL)
    stores.restore(twin, FULL)
    return db, twin


@pytest.fixture
def small_pair(db: DB, twin: DB, stores: Stores) -> tuple[DB, DB]:
    """Two identical databases of 7 accounts (4 chunks of 2)."""
    stores.restore(db, SMALL)
    stores.restore(twin, SMALL)
    return db, twin


sqlite_only = pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)


def state(db: DB) -> dict[str, list[tuple[Any, ...]]]:
    """What a sweep decides, without ids or the order rows went in."""
    with db.engine.connect() as conn:
        moves = conn.execute(
            select(
                TRANSITION.c.account_id,
                TRANSITION.c.from_state,
                TRANSITION.c.to_state,
                TRANSITION.c.rule,
                TRANSITION.c.metrics,
                TRANSITION.c.at,
                TRANSITION.c.actor,
            )
        ).all()
        tasks = conn.execute(
            select(
                TASK.c.account_id,
                TASK.c.step,
                TASK.c.period,
                TASK.c.assignee,
                TASK.c.queue,
                TASK.c.due,
                TASK.c.status,
                TASK.c.escalation_level,
            )
        ).all()
        accounts = conn.execute(
            select(
                ACCOUNT.c.id,
                ACCOUNT.c.state,
                ACCOUNT.c.state_since,
                ACCOUNT.c.klass,
                ACCOUNT.c.key_account,
                ACCOUNT.c.segment,
                ACCOUNT.c.portrait_fit,
                ACCOUNT.c.baseline_revenue,
            )
        ).all()
        events = conn.execute(
            select(AUDIT_EVENT.c.action, func.count()).group_by(AUDIT_EVENT.c.action)
        ).all()
        outbox = conn.execute(
            select(OUTBOX.c.kind, OUTBOX.c.recipient, OUTBOX.c.channel, OUTBOX.c.status)
        ).all()
    return {
        "transitions": sorted((a, f, t, r, json.dumps(m, sort_keys=True), str(at), who)
                              for a, f, t, r, m, at, who in moves),
        "tasks": sorted(tuple(map(str, row)) for row in tasks),
        "accounts": sorted(tuple(map(str, row)) for row in accounts),
        "audit": sorted(tuple(row) for row in events),
        "outbox": sorted(tuple(row) for row in outbox),
    }


def without_seconds(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k != "seconds"}


def embedded(db: DB, at: str, chunk: int = CHUNK) -> dict[str, Any]:
    from kamflow.clock import parse_at

    return without_seconds(run_sweep(db.engine, parse_at(at), chunk=chunk).as_dict())


def sharded(db: DB, at: str, shards: int = 4, chunk: int = CHUNK,
            processes: int | None = None) -> dict[str, Any]:
    """The flow's summary, less its time and how many processes ran the shards."""
    return without_seconds(sharded_in(db, at, shards, chunk, processes)[0])


def sharded_in(db: DB, at: str, shards: int = 4, chunk: int = CHUNK,
               processes: int | None = None) -> tuple[dict[str, Any], int]:
    """The flow's summary and how many processes ran its shards."""
    from kamflow.jobs.flows import sweep_flow

    summary = sweep_flow(db.url, at, shards, chunk, processes=processes)
    return summary, summary.pop("shard_processes")


# -- plain functions: no Prefect API needed -----------------------------------------------


def test_chunks_go_to_shards_by_a_stable_hash_of_their_first_id() -> None:
    from kamflow.jobs.flows import shard_of, split

    bounds = [(f"ACC-{i:06d}", f"ACC-{i + 39:06d}") for i in range(0, 400, 40)]
    groups = split(bounds, 4)
    assert sorted(c for g in groups for c in g) == [(i, lo, hi, None) for i, (lo, hi) in
                                                    enumerate(bounds)]
    assert all(len({shard_of(lo, 4) for _, lo, _, _ in g}) == 1 for g in groups)
    assert split(bounds, 4) == groups and len(groups) > 1
    assert split(bounds, 1) == [[(i, lo, hi, None) for i, (lo, hi) in enumerate(bounds)]]
    sparse = [(lo, hi, [lo, hi]) for lo, hi in bounds]  # a daily sweep's chunks carry their ids
    assert [c[3] for g in split(sparse, 4) for c in g] == [[lo, hi] for g in groups
                                                           for _, lo, hi, _ in g]


def test_preparing_again_gives_the_same_plan_and_summaries_merge_back(db: DB,
                                                                     tmp_path: Path) -> None:
    a = load(db, tmp_path, demo=False)
    clock = FixedClock(datetime(2026, 6, 15))
    first, _ = prepare(a.engine, clock, 2)
    again, _ = prepare(a.engine, clock, 2)
    assert again == first and len(first.bounds) == 4
    done = run_sweep(a.engine, clock, chunk=2)
    merged = SweepSummary(done.at, done.playbook_version)
    merged.absorb(done.as_dict())
    merged.seconds = done.seconds
    assert merged.as_dict() == done.as_dict() and done.transitions


# -- the flows ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_the_sharded_sweep_leaves_the_store_as_the_embedded_sweep_does(
        pair: tuple[DB, DB]) -> None:
    from kamflow.jobs.flows import split
    from kamflow.store.facts import chunk_bounds

    a, b = pair
    with a.engine.connect() as conn:
        groups = len(split(list(chunk_bounds(conn, CHUNK)), 4))
    assert groups >= 2  # really several shards
    # By default the shards run in threads on SQLite and in a process per core on
    # PostgreSQL; the second sweep asks for two processes on either.
    by_default = 1 if a.engine.dialect.name == "sqlite" else min(os.cpu_count() or 1, groups)
    for at, processes, ran_in in ((AT, None, by_default), (LATER, 2, 2)):
        summary, in_processes = sharded_in(a, at, processes=processes)
        flow_summary, plain_summary = without_seconds(summary), embedded(b, at)
        assert in_processes == ran_in
        assert flow_summary == plain_summary
        assert flow_summary["transitions_total"] and flow_summary["tasks_created"]
        assert state(a) == state(b)


@pytest.mark.usefixtures("prefect_api")
def test_a_shard_that_fails_half_way_is_retried_to_the_same_result(
        small_pair: tuple[DB, DB], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kamflow.jobs.flows import FAULT_FILE

    a, b = small_pair
    fault = tmp_path / "fail-once"
    fault.write_text("")
    monkeypatch.setenv(FAULT_FILE, str(fault))
    summary = sharded(a, AT, shards=2, chunk=2)
    assert not fault.exists()  # a shard failed after committing a chunk, and was retried
    plain = embedded(b, AT, chunk=2)
    assert state(a) == state(b)
    # The retry assesses the committed chunk again but finds nothing left to do there, so
    # the summary counts what the successful attempts did.
    assert summary["accounts"] == plain["accounts"] == 7
    assert summary["transitions_total"] < plain["transitions_total"]


@sqlite_only
@pytest.mark.usefixtures("prefect_api")
def test_a_second_run_at_the_same_moment_changes_nothing(small_pair: tuple[DB, DB]) -> None:
    a, _ = small_pair
    first = sharded(a, AT, shards=3, chunk=2)
    before = state(a)
    second = sharded(a, AT, shards=3, chunk=2)
    assert state(a) == before
    assert first["transitions_total"] == 6
    assert (second["transitions_total"], second["tasks_created"], second["tasks_cancelled"],
            second["reclassified"]) == (0, 0, 0, 0)
    # The second run reads none: the accounts that moved were judged in their new state
    # (no rule out of it holds yet), and nothing marked any of the seven since.
    assert first["accounts"] == 7 and second["accounts"] == 0


@sqlite_only
@pytest.mark.usefixtures("prefect_api")
def test_the_other_jobs_are_thin_flows_over_the_plain_jobs(small_pair: tuple[DB, DB],
                                                           twin: DB) -> None:
    from kamflow.clock import parse_at
    from kamflow.jobs.flows import FLOWS
    from kamflow.jobs.registry import JOBS, JobUnavailable

    a, b = small_pair
    for db in small_pair:
        embedded(db, AT)
    for name in ("escalation", "digests", "deliver"):
        spec = JOBS[name]
        if not spec.available():
            with pytest.raises(JobUnavailable):
                FLOWS[name](a.url, LATER)
            continue
        if name == "deliver":  # would send the queued mail: compare on nothing to send
            for db in small_pair:
                with db.engine.begin() as conn:
                    conn.execute(OUTBOX.delete())
        assert FLOWS[name](a.url, LATER) == spec.func(b.url, parse_at(LATER)), name
        assert state(a) == state(b), name


@sqlite_only
@pytest.mark.usefixtures("prefect_api")
def test_cli_run_prints_the_sweep_summary(db: DB, tmp_path: Path) -> None:
    r = db.cli("prefect", "run", "sweep", "--at", AT)
    assert r.code == 0 and json.loads(r.stdout)["accounts"] == 0, r.stderr  # nothing to shard
    load(db, tmp_path, demo=False)
    r = db.cli("prefect", "run", "sweep", "--at", AT, "--chunk", "2", "--shards", "2",
               "--processes", "2")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["transitions_total"] == 6
    assert json.loads(r.stdout)["shard_processes"] == 2
    bad = db.cli("prefect", "run", "sweep", "--at", "2026-13-01")
    assert bad.code == 2 and "--at" in bad.stderr


@pytest.mark.usefixtures("prefect_api")
def test_deploy_creates_a_deployment_per_job_on_the_embedded_schedules(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.client.orchestration import get_client
    from typer.testing import CliRunner

    from kamflow.cli import app
    from kamflow.jobs.flows import schedules

    monkeypatch.setenv("KAMFLOW_SCHEDULE_ESCALATION", "30 * * * *")
    pool = "kamflow-test"
    r = CliRunner().invoke(app, ["prefect", "deploy", "--work-pool", pool, "--shards", "3",
                                 "--processes", "2", "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["job"]: row for row in json.loads(r.stdout)}
    assert set(rows) == set(schedules()) >= {"sweep", "escalation"}
    assert rows["escalation"]["cron"] == "30 * * * *"
    with get_client(sync_client=True) as client:
        for job, row in rows.items():
            d = client.read_deployment(uuid.UUID(row["id"]))
            assert d.work_pool_name == pool and d.entrypoint == f"kamflow.jobs.flows.{job}_flow"
            assert [s.schedule.cron for s in d.schedules] == [row["cron"]]  # type: ignore[union-attr]
            assert d.parameters["database_url"] == ""
            assert d.global_concurrency_limit is not None  # runs of a job never overlap
            assert d.global_concurrency_limit.limit == 1
        sweep = client.read_deployment(uuid.UUID(rows["sweep"]["id"])).parameters
        assert (sweep["shards"], sweep["processes"]) == (3, 2)
    # `off` switches a job off for the embedded scheduler only: here it keeps its default.
    monkeypatch.setenv("KAMFLOW_SCHEDULE_SWEEP", "off")
    r = CliRunner().invoke(app, ["prefect", "deploy", "--work-pool", pool, "--job", "sweep",
                                 "--json"])
    assert r.exit_code == 0, r.output
    assert [(row["job"], row["cron"]) for row in json.loads(r.stdout)] == [("sweep", "0 5 * * *")]
    r = CliRunner().invoke(app, ["prefect", "deploy", "--job", "sweeep"])
    assert r.exit_code == 2 and "--job: sweeep cannot be deployed" in r.stderr


@sqlite_only
def test_serve_runs_the_jobs_from_this_process_on_this_machines_database(
        prefect_api: str, small_pair: tuple[DB, DB]) -> None:
    """`kamflow prefect serve` in its own process, as on a worker machine: a run of its sweep
    deployment uses that machine's KAMFLOW_DATABASE_URL (the deployment stores none)."""
    import signal
    import subprocess
    import sys
    import threading

    from prefect.deployments import run_deployment

    a, b = small_pair
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "KAMFLOW_DATABASE_URL": a.url,
           "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "kamflow.cli", "prefect", "serve",
                             "--shards", "2", "--job", "sweep", "--job", "escalation"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "being served" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(60), "".join(lines)
        run = run_deployment("kamflow-sweep/sweep", parameters={"at": AT, "chunk": 2},
                             timeout=60, poll_interval=1)
        assert run.state is not None and run.state.is_completed(), "".join(lines)
        assert run.parameters == {"database_url": "", "shards": 2, "at": AT, "chunk": 2}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        reader.join(timeout=5)
        assert proc.stdout is not None
        proc.stdout.close()
    assert "Pausing all deployments" in "".join(lines)  # stopped cleanly
    embedded(b, AT, chunk=2)
    assert state(a) == state(b)
