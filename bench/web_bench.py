"""Page benchmark: p50/p95 of the My queue and department board pages with N accounts loaded.

Run from the project root:

    .venv/bin/python bench/web_bench.py --accounts 100000 [--db sqlite|postgres]
        [--requests 50] [--seed 1] [--json FILE]

It builds the synthetic portfolio of bench/sweep_bench.py (same generator, same seed), runs
one sweep so the playbooks' tasks exist, then serves the app with uvicorn on 127.0.0.1 (in a
thread, FixedClock at the sweep's moment) and times full page loads over HTTP with one
keep-alive client, logged in through the login form:

- queue: `GET /` as the account manager with the most open tasks (the worst queue);
- board: `GET /board` as the lead of the department with the most open R/A/C/I tasks.

Each page is fetched 3 times to warm up, then `--requests` times; the figures are the
median and 95th percentile of the wall time per request, in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from time import perf_counter
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select
from sweep_bench import DEFAULT_AT, database, prepare, server_version, table_counts

from kamflow import people, security
from kamflow.engine.clock import FixedClock
from kamflow.store.db import db_for
from kamflow.store.tables import PERSON, TASK
from kamflow.sweep import run_sweep
from kamflow.web.app import create_app

PASSWORD = "web-bench-password"


def pick_people(db: Any) -> tuple[str, int, list[tuple[str, str, int]]]:
    """The account manager with the most open tasks and their count; (department, its lead,
    open tasks naming it) for the departments with the most and the fewest."""
    with db.connect() as conn:
        live = TASK.c.status.in_(("open", "snoozed"))
        per_person = Counter(dict(conn.execute(
            select(TASK.c.assignee, func.count()).where(live, TASK.c.assignee.is_not(None))
            .group_by(TASK.c.assignee)).all()))
        managers = set(conn.execute(select(PERSON.c.email).where(PERSON.c.role == "account_manager"))
                       .scalars())
        am, am_tasks = next((e, n) for e, n in per_person.most_common() if e in managers)
        depts: Counter[str] = Counter()
        for row in conn.execute(
            select(
                TASK.c.responsible_dept,
                TASK.c.accountable_dept,
                TASK.c.consulted,
                TASK.c.informed,
                TASK.c.co_responsible,
            ).where(live)
        ):
            named = {row.responsible_dept, row.accountable_dept}
            for parties in (row.consulted, row.informed, row.co_responsible):
                named.update(p for p in parties.split(",") if p and "@" not in p)
            depts.update(named)
        leads = dict(conn.execute(select(PERSON.c.department, PERSON.c.email)
                                  .where(PERSON.c.role == "department_lead")).all())
        ranked = [(d, leads[d], n) for d, n in depts.most_common() if d in leads]
    return am, am_tasks, [ranked[0], ranked[-1]] if len(ranked) > 1 else ranked


def serve(url: str, at: datetime) -> tuple[uvicorn.Server, threading.Thread, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    app = create_app(url, FixedClock(at))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def logged_in(base: str, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=120)
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token, form[:300]
    r = client.post("/login", data={"email": email, "password": PASSWORD,
                                    "csrf_token": token.group(1)})
    if r.status_code != 303:
        raise RuntimeError(f"login as {email} failed: {r.status_code}")
    return client


def time_page(client: httpx.Client, path: str, requests: int) -> dict[str, Any]:
    for _ in range(3):
        client.get(path).raise_for_status()
    times: list[float] = []
    size = 0
    for _ in range(requests):
        t0 = perf_counter()
        r = client.get(path)
        times.append((perf_counter() - t0) * 1000)
        r.raise_for_status()
        size = len(r.content)
    times.sort()
    p95 = times[min(len(times) - 1, max(0, round(0.95 * len(times)) - 1))]
    return {"path": path, "requests": requests, "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(p95, 1), "max_ms": round(times[-1], 1), "bytes": size}


def run(args: argparse.Namespace) -> dict[str, Any]:
    def log(msg: str) -> None:
        print(msg, flush=True)

    at = datetime.fromisoformat(args.at)
    result: dict[str, Any] = {"date": datetime.now().date().isoformat(), "db": args.db,
                              "accounts": args.accounts, "seed": args.seed,
                              "at": at.isoformat(), "requests": args.requests,
                              "python": platform.python_version(),
                              "cpus": os.cpu_count()}
    security.set_cost(1, 64, 1)  # the logins are not what is measured
    with tempfile.TemporaryDirectory(prefix="kamflow-web-bench-") as tmp, \
            database(args.db, Path(tmp)) as target:
        db = db_for(target.url)
        result["server"] = server_version(db)
        log(f"kamflow web bench: {args.accounts:,} accounts, {result['server']}")
        t0 = perf_counter()
        prepare(target, args, at, log)
        log(f"generated in {perf_counter() - t0:.1f} s; sweeping ...")
        t0 = perf_counter()
        summary = run_sweep(db, FixedClock(at))
        log(f"sweep: {perf_counter() - t0:.1f} s, {summary.as_dict().get('tasks_created')} "
            "tasks created")
        with db.connect() as conn:
            tasks = int(conn.execute(select(func.count()).select_from(TASK)).scalar_one())
        result["rows"] = {**table_counts(db), "task": tasks}
        am, am_tasks, boards = pick_people(db)
        for email in [am] + [lead for _, lead, _ in boards]:
            people.set_password(db, email, PASSWORD, FixedClock(at))
        result["queue_owner"] = {"email": am, "open_tasks": am_tasks}
        log(f"queue: {am} with {am_tasks} open tasks; boards: "
            + ", ".join(f"{d} ({n:,} open tasks name it)" for d, _, n in boards))
        server, thread, base = serve(target.url, at)
        try:
            client = logged_in(base, am)
            result["queue"] = time_page(client, "/", args.requests)
            client.close()
            result["boards"] = []
            for dept, lead, n in boards:
                client = logged_in(base, lead)
                figures = time_page(client, f"/board?department={dept}", args.requests)
                result["boards"].append({"department": dept, "lead": lead, "open_tasks": n,
                                         **figures})
                client.close()
        finally:
            server.should_exit = True
            thread.join(10)
    return result


def summary_block(r: dict[str, Any]) -> str:
    q = r["queue"]
    lines = [
        "=" * 72,
        f"kamflow web bench {r['date']}: {r['accounts']:,} accounts, {r['server']}, "
        f"{r['cpus']} CPUs, Python {r['python']}; {r['requests']} requests per page",
        f"  tasks in the store: {r['rows']['task']:,}",
        "",
        "| page | data | p50 ms | p95 ms | size |",
        "|---|---|---|---|---|",
        f"| My queue `GET /` | {r['queue_owner']['open_tasks']} open tasks | {q['p50_ms']} | "
        f"{q['p95_ms']} | {q['bytes'] // 1024} KiB |",
    ]
    for b in r["boards"]:
        lines.append(f"| board `GET /board?department={b['department']}` | {b['open_tasks']:,} "
                     f"open tasks name it | {b['p50_ms']} | {b['p95_ms']} | "
                     f"{b['bytes'] // 1024} KiB |")
    return "\n".join([*lines, "=" * 72])


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--accounts", type=int, default=20_000)
    p.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--months", type=int, default=36)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--at", default=DEFAULT_AT, help="the sweep's moment (naive UTC, ISO)")
    p.add_argument("--requests", type=int, default=50, help="timed requests per page")
    p.add_argument("--json", type=Path, help="write all figures to this file")
    args = p.parse_args(argv)
    if args.accounts < 1 or args.requests < 1:
        p.error("--accounts and --requests must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    result = run(args)
    print(summary_block(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
