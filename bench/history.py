"""Grow a kept SQLite store to N task rows with done history, for the pages at that scale.

A store that has run for years holds mostly done tasks: the goal "every page p95 at
10,000,000 task rows" is about such a store, which a first sweep (about 3 task rows an
account) does not make. Run from the project root:

    .venv/bin/python bench/sweep_bench.py --accounts 1000000 --no-split --keep kept.db
    .venv/bin/python bench/history.py kept.db --tasks 10000000
    .venv/bin/python bench/web_bench.py --url sqlite:///kept.db

Each round copies the tasks the sweeps made (ids 1..M, in id order, the last round only as
many as it needs) as the same occurrences one year earlier per round: done two days
before their due date by whoever held them, with their task_party rows no longer live and
a year earlier; the period gets a suffix (`~1`, `~2`, ...) so the occurrence key stays
unique. Then the planner statistics are gathered as a sweep gathers them. The rows are
written in SQL, not by kamflow: `kamflow audit verify` names them as rows no event covers,
and the boards' counts (live tasks only) are unchanged.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from time import perf_counter, process_time

from kamflow.store.db import db_for, migrate
from kamflow.store.stats import analyze

YEAR = 365
# task columns given a new value in a copy; the rest are copied as they are
COPIED = {
    "id": "id + :shift",
    "period": "period || '~' || :round",
    "start": "date(start, :back)",
    "due": "date(due, :back)",
    "status": "'done'",
    "escalation_level": "0",
    "escalated_at": "NULL",
    "snoozed_until": "NULL",
    "reason": "NULL",
    "done_at": "datetime(due, :back, '-2 days') || '.000000'",
    "done_by": "coalesce(assignee, accountable)",
    "created_at": "datetime(created_at, :back) || '.000000'",
    "updated_at": "datetime(due, :back, '-2 days') || '.000000'",
}


def grow(path: Path, tasks: int, log: Callable[[str], None] = print) -> dict[str, float]:
    """Copy task rows (and their parties) back in time until the store holds `tasks`."""
    cpu, wall = process_time(), perf_counter()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -1000000")  # 1 GB of page cache: the indexes' pages
    columns = [r[1] for r in con.execute("PRAGMA table_info(task)")]
    made = con.execute("SELECT max(id) FROM task").fetchone()[0] or 0
    have = con.execute("SELECT count(*) FROM task").fetchone()[0]
    if not made:
        raise SystemExit(f"{path}: no tasks to copy (run bench/sweep_bench.py --keep first)")
    log(f"{path}: {have:,} task rows, ids up to {made:,}; growing to {tasks:,}")
    select = ", ".join(COPIED.get(c, c) for c in columns)
    round_ = 0
    while have < tasks:
        round_ += 1
        upto = min(made, tasks - have)
        params = {"shift": round_ * made, "round": round_, "back": f"-{round_ * YEAR} days",
                  "upto": upto}
        started = perf_counter()
        con.execute("BEGIN")
        con.execute(f"INSERT INTO task ({', '.join(columns)}) SELECT {select} FROM task "
                    "WHERE id <= :upto ORDER BY id", params)
        con.execute("INSERT INTO task_party (task_id, letter, kind, party, live, due) "
                    "SELECT task_id + :shift, letter, kind, party, 0, date(due, :back) "
                    "FROM task_party WHERE task_id <= :upto ORDER BY task_id", params)
        con.execute("COMMIT")
        have += upto
        log(f"  round {round_}: {upto:,} tasks a year further back ({perf_counter() - started:.0f} s); "
            f"{have:,} task rows")
    con.close()
    log("statistics ...")
    db = db_for(f"sqlite:///{path}")
    with db.begin() as conn:
        analyze(conn)
    db.dispose()
    return {"cpu_seconds": round(process_time() - cpu, 1),
            "seconds": round(perf_counter() - wall, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("kept", type=Path, help="a SQLite store bench/sweep_bench.py --keep left")
    p.add_argument("--tasks", type=int, default=10_000_000, help="task rows to reach")
    args = p.parse_args(argv)
    if not args.kept.is_file():
        print(f"{args.kept}: no such file (make one with bench/sweep_bench.py --keep)",
              file=sys.stderr)
        return 2
    migrate(db_for(f"sqlite:///{args.kept}"))  # to the current head, as web_bench does
    took = grow(args.kept, args.tasks)
    print(f"done: {took['seconds']:.0f} s wall, {took['cpu_seconds']:.0f} s CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
