"""Page benchmark: p50/p95 of the pages and the API lists with N accounts loaded.

Run from the project root:

    .venv/bin/python bench/web_bench.py --accounts 100000 [--db sqlite|postgres]
        [--requests 50] [--seed 1] [--json FILE]
    .venv/bin/python bench/web_bench.py --url sqlite:///big.db   # a database already swept

It builds the synthetic portfolio of bench/sweep_bench.py (same generator, same seed), runs
one sweep so the playbooks' tasks exist (or, with `--url`, takes a database that
bench/sweep_bench.py left with `--keep`, migrated to the current head), then serves the app
with uvicorn on 127.0.0.1 (in a thread, FixedClock at the sweep's moment) and times full
page loads over HTTP with one keep-alive client, logged in through the login form:

- queue: `GET /` as the account manager with the most open tasks (the worst queue);
- accounts: `GET /accounts` as that account manager and as a manager (every account), and
  a search by name;
- board: `GET /board` as the lead of the department with the most open R/A/C/I tasks, and
  of the one with the fewest;
- account: `GET /accounts/{id}` for the account manager's account with the most tasks;
- API: `GET /api/tasks?assignee=` first page of 50 for the account manager, and
  `GET /api/accounts?limit=50` as a manager.

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
from urllib.parse import quote

import httpx
import uvicorn
from sqlalchemy import func, select
from sweep_bench import DEFAULT_AT, database, prepare, server_version, table_counts

from kamflow import people, security
from kamflow.engine.clock import FixedClock
from kamflow.store.db import db_for, migrate
from kamflow.store.tables import ACCOUNT, PERSON, TASK
from kamflow.sweep import run_sweep
from kamflow.web.app import create_app

PASSWORD = "web-bench-password"
TIMEOUT = 120.0  # seconds a request may take before the page counts as not answering


def pick_extra(db: Any, am: str) -> tuple[str, str, str]:
    """A manager, the account manager's account with the most tasks, and its name."""
    with db.connect() as conn:
        manager = conn.execute(select(PERSON.c.email).where(PERSON.c.role == "manager")
                               .order_by(PERSON.c.email).limit(1)).scalar_one()
        account = conn.execute(
            select(TASK.c.account_id).where(TASK.c.assignee == am)
            .group_by(TASK.c.account_id).order_by(func.count().desc()).limit(1)).scalar_one()
        name = conn.execute(select(ACCOUNT.c.name).where(ACCOUNT.c.id == account)).scalar_one()
    return manager, account, str(name)


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
    client = httpx.Client(base_url=base, timeout=TIMEOUT)
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
    with tempfile.TemporaryDirectory(prefix="kamflow-web-bench-") as tmp:
        if args.url:
            _measure(args.url, args, at, result, log, ready=True)
        else:
            with database(args.db, Path(tmp)) as target:
                _measure(target.url, args, at, result, log, ready=False, target=target)
    return result


def _measure(url: str, args: argparse.Namespace, at: datetime, result: dict[str, Any],
             log: Any, ready: bool, target: Any = None) -> None:
    db = db_for(url)
    result["server"] = server_version(db)
    if ready:
        t0 = perf_counter()
        migrate(db)
        log(f"kamflow web bench on {url} ({result['server']}); migrated in "
            f"{perf_counter() - t0:.1f} s")
    else:
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
        result["accounts"] = int(conn.execute(select(func.count()).select_from(ACCOUNT))
                                 .scalar_one())
    result["rows"] = {**table_counts(db), "task": tasks}
    am, am_tasks, boards = pick_people(db)
    manager, account, prefix = pick_extra(db, am)
    for email in [am, manager] + [lead for _, lead, _ in boards]:
        people.set_password(db, email, PASSWORD, FixedClock(at))
    result["queue_owner"] = {"email": am, "open_tasks": am_tasks}
    log(f"queue: {am} with {am_tasks} open tasks; boards: "
        + ", ".join(f"{d} ({n:,} open tasks name it)" for d, _, n in boards))
    server, thread, base = serve(url, at)
    pages: list[dict[str, Any]] = []
    result["pages"] = pages

    def timed(who: str, label: str, path: str) -> None:
        client = logged_in(base, who)
        try:
            pages.append({"page": label, "as": who, **time_page(client, path, args.requests)})
            log(f"  {label}: p95 {pages[-1]['p95_ms']} ms")
        except httpx.TimeoutException:  # a figure too: the page does not answer in time
            pages.append({"page": label, "as": who, "path": path,
                          "error": f"no answer in {TIMEOUT:.0f} s"})
            log(f"  {label}: no answer in {TIMEOUT:.0f} s")
        finally:
            client.close()

    try:
        timed(am, "My queue", "/")
        timed(am, "accounts (own first)", "/accounts")
        timed(manager, "accounts (all)", "/accounts")
        timed(manager, "accounts, search by name", f"/accounts?q={quote(prefix)}")
        timed(am, "account page", f"/accounts/{account}")
        timed(am, "API tasks, first page", f"/api/tasks?assignee={am}&limit=50")
        timed(manager, "API accounts, first page", "/api/accounts?limit=50")
        for dept, lead, n in reversed(boards):  # the commonest last: it may not answer
            timed(lead, f"board {dept} ({n:,} open tasks name it)", f"/board?department={dept}")
    finally:
        server.should_exit = True
        thread.join(10)


def summary_block(r: dict[str, Any]) -> str:
    lines = [
        "=" * 72,
        f"kamflow web bench {r['date']}: {r['accounts']:,} accounts, {r['server']}, "
        f"{r['cpus']} CPUs, Python {r['python']}; {r['requests']} requests per page",
        f"  tasks in the store: {r['rows']['task']:,}; queue of {r['queue_owner']['email']}: "
        f"{r['queue_owner']['open_tasks']:,} open tasks",
        "",
        "| page | path | p50 ms | p95 ms | size |",
        "|---|---|---|---|---|",
    ]
    for p in r["pages"]:
        if "error" in p:
            lines.append(f"| {p['page']} | `{p['path']}` | {p['error']} | | |")
            continue
        lines.append(f"| {p['page']} | `{p['path']}` | {p['p50_ms']} | {p['p95_ms']} | "
                     f"{p['bytes'] // 1024} KiB |")
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
    p.add_argument("--url", help="time this database (already swept) instead of a new one")
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
