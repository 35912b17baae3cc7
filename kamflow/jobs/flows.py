"""The scheduled jobs as Prefect flows, for when one machine is not enough.

The only module that imports Prefect, and nothing imports it at start-up: the CLI does so
inside `kamflow prefect ...`. The flows are thin: the work is done by the same plain
functions the embedded scheduler calls, and tasks are coarse (a handful per run, never one
per account), because every task run costs a round trip to the Prefect API.

The sweep is spread over workers:

    prepare (one task) -> shards (one task each, retried) -> finish (one task)

`prepare` fixes the moment and cuts the accounts into chunks (ranges of account ids). Each
chunk goes to shard `crc32(first id) % shards`. A shard runs its chunks one transaction each,
and rebuilds the sweep's plan from the database URL and the moment, since it may run on
another machine. Because a rerun of a chunk changes nothing, a shard that dies half-way is
simply retried. The counters are merged in chunk order, so the flow returns what
`kamflow sweep --json` would have printed, and how many processes ran the shards.

The shards run in a pool of processes on PostgreSQL (threads of one process take turns at
the interpreter, and a sweep is Python work) and in threads on SQLite, whose single writer
makes them take turns anyway.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import asdict
from datetime import UTC, datetime
from time import perf_counter
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect import Flow, flow, serve, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.deployments.runner import RunnerDeployment
from prefect.futures import PrefectFuture, wait
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
from prefect.types.entrypoint import EntrypointType

from kamflow.clock import SystemClock, parse_at
from kamflow.engine.classify import PortfolioStats
from kamflow.engine.clock import FixedClock
from kamflow.jobs.registry import JOBS, JobUnavailable, configured_cron
from kamflow.sweep import CHUNK, Plan, SweepSummary, check_moment, finish, prepare, run_chunk

if TYPE_CHECKING:
    from sqlalchemy import Engine

# (position in the sweep, first account id, last account id, the ids due among them or None)
Chunk = tuple[int, str, str, list[str] | None]

# A fault drill: when this variable names a file that exists, the first shard to finish a
# chunk deletes the file and fails, once. Shows (and tests) that a retried shard changes
# nothing that was already done.
FAULT_FILE = "KAMFLOW_FLOWS_FAULT_FILE"
RETRIES, RETRY_DELAYS = 2, [2.0, 10.0]  # a shard that dies is tried twice more
# Shards of one run at once, per flow-run process: each holds a database connection, and the
# engine's pool has 5 + 10 overflow. More shards than this queue for a thread.
SHARD_THREADS = 8


# -- helpers (plain functions) ----------------------------------------------------------


def shard_of(lo: str, shards: int) -> int:
    """The shard a chunk belongs to: a stable hash of its first account id."""
    return zlib.crc32(lo.encode()) % shards


def split(bounds: Sequence[Sequence[Any]], shards: int) -> list[list[Chunk]]:
    """Numbered chunks grouped by shard; shards that got no chunk are left out."""
    groups: list[list[Chunk]] = [[] for _ in range(shards)]
    for i, (lo, hi, *rest) in enumerate(bounds):
        ids = rest[0] if rest else None
        groups[shard_of(lo, shards)].append((i, lo, hi, None if ids is None else list(ids)))
    return [g for g in groups if g]


def _url(database_url: str) -> str:
    """The store: the given URL, or this worker's KAMFLOW_DATABASE_URL when it is empty;
    checked to be migrated, so a worker set up wrongly fails at once and says why."""
    from kamflow.settings import Settings
    from kamflow.store.db import db_for, schema_is_current

    url = database_url or Settings().database_url
    db = db_for(url)
    if not schema_is_current(db):
        raise RuntimeError(f"the database at {db.url!r} is not initialised or not migrated: "
                           "run `kamflow init`")
    return url


def _db(database_url: str) -> Engine:
    from kamflow.store.db import db_for

    return db_for(_url(database_url))


def _moment(at: str | None) -> str:
    """The run's moment as an ISO string: `at`, else the time the run was scheduled for, so a
    late or retried run still works as of its slot."""
    if at is not None:
        return parse_at(at).now().isoformat()
    ctx = FlowRunContext.get()
    start = ctx.flow_run.expected_start_time if ctx and ctx.flow_run else None
    if start is None:
        return SystemClock().now().isoformat()
    return start.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def _clock(at: str) -> FixedClock:
    return FixedClock(datetime.fromisoformat(at))


def _plan(db: Engine, at: str, version: str, chunk: int, figures: str) -> Plan:
    """The plan `prepare` made, rebuilt here (preparing again changes nothing) with the
    portfolio figures it settled on: worked out again while other shards settle accounts,
    they could come out as the last sweep's."""
    plan, _ = prepare(db, _clock(at), chunk, figures=PortfolioStats(**json.loads(figures)))
    if plan.version != version:
        raise RuntimeError(f"the active playbook changed during the sweep at {at} "
                           f"({version} -> {plan.version}); run the sweep again")
    return plan


def _fault_drill() -> None:
    path = os.environ.get(FAULT_FILE)
    if not path:
        return
    try:
        os.remove(path)
    except FileNotFoundError:
        return
    raise RuntimeError(f"fault drill: {FAULT_FILE}={path} (fails once)")


# -- the sweep --------------------------------------------------------------------------


@task(name="sweep-prepare", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS,
      cache_policy=NO_CACHE)
def prepare_sweep(database_url: str, at: str, chunk: int, full: bool = False) -> dict[str, Any]:
    """Retire steps a new playbook dropped; return the playbook version and the chunks."""
    plan, summary = prepare(_db(database_url), _clock(at), chunk, full)
    return {"version": plan.version,
            "bounds": [[lo, hi, None if ids is None else list(ids)] for lo, hi, ids in plan.bounds],
            "figures": json.dumps(asdict(plan.stats)),  # text: a cutoff may be infinite
            "summary": summary.as_dict()}


@task(name="sweep-shard", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS,
      cache_policy=NO_CACHE)
def sweep_shard(database_url: str, at: str, version: str, chunk: int, figures: str,
                chunks: list[Chunk]) -> list[dict[str, Any]]:
    """Sweep some chunks, one transaction each; return each chunk's counters."""
    db = _db(database_url)
    plan = _plan(db, at, version, chunk, figures)
    parts = []
    for i, lo, hi, ids in chunks:
        part = SweepSummary(plan.at, plan.version)
        run_chunk(db, plan, lo, hi, part, None if ids is None else tuple(ids))
        parts.append({"chunk": i, "pid": os.getpid(), **part.as_dict()})
        _fault_drill()
    return parts


@task(name="sweep-finish", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS,
      cache_policy=NO_CACHE)
def finish_sweep(database_url: str, at: str, version: str, chunk: int, figures: str,
                 pairs_moved: int) -> dict[str, Any]:
    """Wake snoozed tasks and escalate overdue ones, after every shard is done."""
    db = _db(database_url)
    plan = _plan(db, at, version, chunk, figures)
    part = SweepSummary(plan.at, plan.version)
    finish(db, plan, part, exact=pairs_moved == 0)  # the shards' count
    return part.as_dict()


def _results(futures: list[PrefectFuture[list[dict[str, Any]]]]) -> list[list[dict[str, Any]]]:
    wait(futures)
    return [f.result() for f in futures]


def processes_for(db: Engine, shards: int, processes: int | None) -> int:
    """How many worker processes run the shards: as asked, else one per core on PostgreSQL
    (the shards' Python work then runs side by side) and none on SQLite, whose single writer
    makes them take turns anyway. Never more than there are shards."""
    if processes is None:
        processes = 0 if db.dialect.name == "sqlite" else os.cpu_count() or 1
    if processes < 0:
        raise ValueError("processes must be 0 (threads) or more")
    return min(processes, shards)


@flow(name="kamflow-sweep",  # prefect 3.8 types task_runner too narrowly for its own runner
      task_runner=ThreadPoolTaskRunner(max_workers=SHARD_THREADS))  # type: ignore[arg-type]
def sweep_flow(database_url: str = "", at: str | None = None, shards: int = 4,
               chunk: int = CHUNK, full: bool = False,
               processes: int | None = None) -> dict[str, Any]:
    """The sweep, its chunks spread over `shards` tasks. Returns `SweepSummary.as_dict()`
    and how many processes ran the shards (`shard_processes`).

    Args:
        database_url: the store; empty means the worker's KAMFLOW_DATABASE_URL.
        at: ISO date or datetime (UTC); default: the time the run was scheduled for.
        shards: how many shard tasks the chunks are spread over (at most).
        chunk: accounts per chunk (one transaction each).
        full: read every account, not only those new data marked and those due to wake.
        processes: run the shards in a pool of this many processes (0: threads of the flow
            run's process); default one per core on PostgreSQL, threads on SQLite.
    """
    if shards < 1 or chunk < 1:
        raise ValueError("shards and chunk must be at least 1")
    started = perf_counter()
    moment = _moment(at)
    db = _db(database_url)
    pool = processes_for(db, shards, processes)
    check_moment(db, datetime.fromisoformat(moment))  # no sweeping backwards
    head = prepare_sweep(database_url, moment, chunk, full)
    groups = split(head["bounds"], shards)
    calls = [{"database_url": database_url, "at": moment, "version": head["version"],
              "chunk": chunk, "figures": head["figures"], "chunks": group} for group in groups]
    if pool and len(groups) > 1:  # a process costs an interpreter's start-up: not for one
        with ProcessPoolTaskRunner(max_workers=min(pool, len(groups))) as runner:
            shard_parts = _results([runner.submit(sweep_shard, c) for c in calls])
    else:
        shard_parts = _results([sweep_shard.submit(**c) for c in calls])
    parts = sorted((p for ps in shard_parts for p in ps), key=lambda p: int(p["chunk"]))
    tail = finish_sweep(database_url, moment, head["version"], chunk, head["figures"],
                        sum(p["pairs_moved"] for p in parts))
    summary = SweepSummary(datetime.fromisoformat(moment), head["version"])
    for part in (head["summary"], *parts, tail):
        summary.absorb(part)
    summary.seconds = perf_counter() - started
    return {**summary.as_dict(), "shard_processes": len({p["pid"] for p in parts})}


# -- the other jobs ---------------------------------------------------------------------


@task(name="job", task_run_name="{name}", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS,
      cache_policy=NO_CACHE)
def run_job(name: str, database_url: str, at: str) -> dict[str, Any]:
    """One job, one task: it is a transaction or two, not worth splitting."""
    return JOBS[name].func(_url(database_url), _clock(at))


def _job(name: str, database_url: str, at: str | None) -> dict[str, Any]:
    spec = JOBS[name]
    if not spec.available():  # fail at once: retrying would not install it
        raise JobUnavailable(f"job {name!r} needs {spec.needs}, which is not installed")
    return run_job(name, database_url, _moment(at))


@flow(name="kamflow-escalation")
def escalation_flow(database_url: str = "", at: str | None = None) -> dict[str, Any]:
    """Wake snoozed tasks and escalate overdue ones (hourly, between sweeps)."""
    return _job("escalation", database_url, at)


@flow(name="kamflow-digests")
def digests_flow(database_url: str = "", at: str | None = None) -> dict[str, Any]:
    """Queue the digests that are due into the notification outbox."""
    return _job("digests", database_url, at)


@flow(name="kamflow-deliver")
def deliver_flow(database_url: str = "", at: str | None = None) -> dict[str, Any]:
    """Send what waits in the notification outbox."""
    return _job("deliver", database_url, at)


FLOWS: dict[str, Flow[..., Any]] = {"sweep": sweep_flow, "escalation": escalation_flow,
                                   "digests": digests_flow, "deliver": deliver_flow}


# -- deployments ------------------------------------------------------------------------


def schedules() -> dict[str, str]:
    """Job -> crontab line (UTC): KAMFLOW_SCHEDULE_<JOB> or the job's default, as for the
    embedded scheduler. `off` there means "not the embedded scheduler": such a job keeps its
    default schedule here. Jobs not available in this build are left out."""
    from kamflow.settings import Settings

    settings = Settings()
    return {name: configured_cron(settings, name) or spec.cron
            for name, spec in JOBS.items() if spec.available()}


def deployments(shards: int = 4, database_url: str = "", jobs: Sequence[str] = (),
                processes: int | None = None) -> list[tuple[RunnerDeployment, str]]:
    """One deployment per job (default: every job `schedules()` lists), with its cron line.

    They run from the installed package (a module-path entrypoint, no code storage), so any
    machine with kamflow installed can run them.
    """
    crons = schedules()
    unknown = [j for j in jobs if j not in crons]
    if unknown:
        raise ValueError(f"--job: {', '.join(unknown)} cannot be deployed (unknown or not "
                         f"available in this build); jobs: {', '.join(crons)}")
    out = []
    for name in jobs or crons:
        params: dict[str, Any] = {"database_url": database_url}
        if name == "sweep":
            params["shards"] = shards
            if processes is not None:
                params["processes"] = processes
        made = FLOWS[name].to_deployment(
            name=name, cron=crons[name], parameters=params, concurrency_limit=1,
            description=FLOWS[name].description, tags=["kamflow"],
            entrypoint_type=EntrypointType.MODULE_PATH)
        assert isinstance(made, RunnerDeployment)  # the synchronous form
        out.append((made, crons[name]))
    return out


def deploy_all(work_pool: str, shards: int = 4, database_url: str = "",
               jobs: Sequence[str] = (), processes: int | None = None) -> list[dict[str, str]]:
    """Create or update the deployments on the Prefect API, creating a process work pool
    with this name if there is none. Returns job, deployment name, cron and id of each."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    made = deployments(shards, database_url, jobs, processes)
    with get_client(sync_client=True) as client, suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name=work_pool, type="process"))
    out = []
    for d, cron in made:
        i = d.apply(work_pool_name=work_pool)
        assert isinstance(i, UUID)  # the synchronous form
        out.append({"job": d.name, "deployment": d.full_name, "cron": cron, "id": str(i)})
    return out


def serve_all(shards: int = 4, database_url: str = "", jobs: Sequence[str] = (),
              limit: int | None = None, processes: int | None = None) -> None:
    """Run the jobs' schedules from this process until stopped (one worker machine)."""
    serve(*(d for d, _ in deployments(shards, database_url, jobs, processes)), limit=limit)
