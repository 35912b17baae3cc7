"""Prefect shards benchmark: the sharded sweep flow with its shards in one process, then two.

Run from the project root (PostgreSQL only: on SQLite the shards take turns at its single
writer, so more processes cannot help):

    .venv/bin/python bench/shards_bench.py --accounts 100000 [--processes 1 2] [--shards 4]
        [--repeat 1] [--json FILE]

One database is filled with bench/sweep_bench.py's portfolio, then copied for each run
(`CREATE DATABASE ... TEMPLATE`), so every run sweeps the same data from the same start. A
run is `kamflow.jobs.flows.sweep_flow` against a Prefect API this script starts (the
ephemeral server, started before the timing). Each run reports its wall seconds, the CPU
seconds of this process and of the shard processes it waited for, and the CPU the whole
machine spent (PostgreSQL's backends and the Prefect API included, other jobs too: the load
average before the run says how quiet the machine was).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sweep_bench import DEFAULT_AT, DEFAULT_PG, Target, prepare, save_json, server_version

from kamflow.store.db import dispose
from kamflow.sweep import CHUNK

SOURCE = "kamflow_shards_source"
RUN = "kamflow_shards_run"


def machine_cpu() -> float:
    """CPU seconds the machine has spent busy since boot (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """CPU seconds of this process and of the children it has waited for (the shard pool)."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def database_url(base: str, name: str) -> str:
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def admin_sql(base: str, *statements: str) -> None:
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for sql in statements:
                conn.execute(text(sql))
    finally:
        admin.dispose()


@contextmanager
def prefect_api(home: Path) -> Iterator[str]:
    """Prefect's ephemeral API in a subprocess, for this process and the shard processes."""
    os.environ.setdefault("PREFECT_HOME", str(home))  # a kept home skips its migrations
    os.environ.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                       "PREFECT_LOGGING_TO_API_ENABLED": "false",
                       "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"})
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start(timeout=120)
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        yield server.api_url
    finally:
        server.stop()


def one_run(base: str, at: str, shards: int, chunk: int, processes: int) -> dict[str, Any]:
    from kamflow.jobs.flows import sweep_flow

    admin_sql(base, f'DROP DATABASE IF EXISTS "{RUN}"',
              f'CREATE DATABASE "{RUN}" TEMPLATE "{SOURCE}"')
    url = database_url(base, RUN)
    load = os.getloadavg()[0]
    wall, cpu, busy = perf_counter(), own_cpu(), machine_cpu()
    summary = sweep_flow(url, at, shards, chunk, processes=processes)
    wall, cpu, busy = perf_counter() - wall, own_cpu() - cpu, machine_cpu() - busy
    dispose(url)
    admin_sql(base, f'DROP DATABASE "{RUN}"')
    return {"processes": processes, "shard_processes": summary["shard_processes"],
            "wall_seconds": round(wall, 2), "client_cpu_seconds": round(cpu, 2),
            "machine_cpu_seconds": round(busy, 2), "load_before": round(load, 2),
            "accounts": summary["accounts"], "transitions": summary["transitions_total"],
            "tasks_created": summary["tasks_created"]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    def log(msg: str) -> None:
        print(msg, flush=True)

    base = os.environ.get("KAMFLOW_TEST_POSTGRES_URL") or DEFAULT_PG
    at = datetime.fromisoformat(args.at)
    admin_sql(base, f'DROP DATABASE IF EXISTS "{RUN}"', f'DROP DATABASE IF EXISTS "{SOURCE}"',
              f'CREATE DATABASE "{SOURCE}"')
    source = database_url(base, SOURCE)
    result: dict[str, Any] = {"date": datetime.now().date().isoformat(), "cpus": os.cpu_count(),
                              "accounts": args.accounts, "shards": args.shards,
                              "chunk": args.chunk, "runs": []}
    try:
        with tempfile.TemporaryDirectory(prefix="kamflow-shards-") as tmp:
            log(f"filling {args.accounts:,} accounts ...")
            gen = prepare(Target("postgres", source, Path(tmp)), args, at, log)
            result["generation_seconds"] = round(gen["seconds"], 1)
            result["server"] = server_version(create_engine(source))
            dispose(source)
            with prefect_api(Path(tmp) / "prefect"):
                for i in range(args.repeat):
                    for processes in args.processes:
                        r = one_run(base, args.at, args.shards, args.chunk, processes)
                        r["round"] = i + 1
                        result["runs"].append(r)
                        log(f"round {i + 1}, {processes} process(es): {r['wall_seconds']} s wall, "
                            f"{r['client_cpu_seconds']} s CPU here and in the shards, "
                            f"{r['machine_cpu_seconds']} s CPU on the machine (load before "
                            f"{r['load_before']}), {r['shard_processes']} shard process(es), "
                            f"{r['accounts']:,} accounts, "
                            f"{r['tasks_created']:,} tasks")
    finally:
        admin_sql(base, f'DROP DATABASE IF EXISTS "{RUN}"', f'DROP DATABASE IF EXISTS "{SOURCE}"')
    return result


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--accounts", type=int, default=20_000)
    p.add_argument("--months", type=int, default=36)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--at", default=DEFAULT_AT, help="the sweep's moment (naive UTC, ISO)")
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--chunk", type=int, default=CHUNK, help="accounts per chunk")
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2],
                   help="the pool sizes to compare, run in this order each round")
    p.add_argument("--repeat", type=int, default=1, help="rounds of runs")
    p.add_argument("--json", type=Path, help="write all figures to this file")
    args = p.parse_args(argv)
    if min(args.accounts, args.shards, args.chunk, *args.processes) < 1:
        p.error("--accounts, --shards, --chunk and --processes must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    result = run(args)
    runs = result["runs"]
    for n in args.processes:
        walls = [r["wall_seconds"] for r in runs if r["processes"] == n]
        print(f"{n} process(es): wall {', '.join(map(str, walls))} s")
    save_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
