"""Daily sweeps on a copy of a store that bench/sweep_bench.py kept: what days cost once the
first sweep is long done, measured again and again on the same data.

Run from the project root (the store is copied, then migrated to the current head):

    .venv/bin/python bench/sweep_bench.py --accounts 1000000 --no-split --keep kept.db
    .venv/bin/python bench/daily_bench.py kept.db [--json out.json]

Three sweeps, a day apart, from four days after the bench's moment (its own daily sweeps
end on the third): a settled day with nothing new; a day after a contact for 1 % of the
accounts (every hundredth, from the sixth); the settled day after that. Each reports the
accounts read, CPU and wall seconds, and whether it kept the last sweep's portfolio figures.
Compare two commits by running each on the same kept store, alternately. `--profile DIR`
also writes each day's cProfile stats to DIR/day-N.prof (its times then include the
profiler's overhead: take the figures from a run without it).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import shutil
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

from sqlalchemy import Engine, select

from kamflow.engine.clock import FixedClock
from kamflow.store.changes import mark
from kamflow.store.db import db_for, migrate
from kamflow.store.tables import ACCOUNT, CONTACT
from kamflow.sweep import run_sweep

AT = datetime(2026, 11, 23, 3)  # bench/sweep_bench.py's DEFAULT_AT


def sweep(db: Engine, day: int, profile: Path | None = None) -> dict[str, Any]:
    prof = cProfile.Profile() if profile else None
    cpu, wall = process_time(), perf_counter()
    if prof is not None:
        prof.enable()
    s = run_sweep(db, FixedClock(AT + timedelta(days=day))).as_dict()
    if prof is not None and profile is not None:
        prof.disable()
        prof.dump_stats(profile / f"day-{day}.prof")
    return {"day": day, "accounts_read": s["accounts"], "cpu_seconds": round(process_time() - cpu, 2),
            "seconds": round(perf_counter() - wall, 2), "figures_kept": s.get("figures_kept"),
            "tasks_created": s["tasks_created"]}


def contacts(db: Engine, day: int) -> int:
    """A contact for 1 % of the accounts on `day`, marked as an import marks them."""
    on = (AT + timedelta(days=day)).date()
    with db.begin() as conn:
        owners = conn.execute(select(ACCOUNT.c.id, ACCOUNT.c.owner_email)
                              .order_by(ACCOUNT.c.id)).all()[5::100]
        conn.execute(CONTACT.insert(), [{"account_id": a, "date": on, "channel": "call",
                                         "person_email": o, "note": "", "nature": ""}
                                        for a, o in owners])
        mark(conn, [a for a, _ in owners])
    return len(owners)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("kept", type=Path, help="a SQLite store bench/sweep_bench.py --keep left")
    p.add_argument("--json", type=Path, help="write the figures to this file")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="write each day's cProfile stats to DIR/day-N.prof")
    args = p.parse_args(argv)
    if not args.kept.is_file():
        print(f"{args.kept}: no such file (make one with bench/sweep_bench.py --keep)",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="kamflow-daily-") as tmp:
        copy = Path(tmp) / "daily.db"
        shutil.copyfile(args.kept, copy)
        db = db_for(f"sqlite:///{copy}")
        migrate(db)
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        days = [sweep(db, 4, args.profile)]
        changed = contacts(db, 5)
        days += [{**sweep(db, 5, args.profile), "changed": changed}, sweep(db, 6, args.profile)]
        db.dispose()
    for d in days:
        print(f"day {d['day']}: {d['accounts_read']:>9,} accounts read, {d['cpu_seconds']:.2f} s CPU, "
              f"{d['seconds']:.2f} s wall, figures kept: {d['figures_kept']}, "
              f"{d['tasks_created']:,} tasks created")
    if args.json:
        args.json.write_text(json.dumps(days, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
