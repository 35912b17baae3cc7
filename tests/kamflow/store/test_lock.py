"""Two real `kamflow scheduler` processes against one database (SQLite: the lock file;
PostgreSQL: the advisory lock, in a fresh schema): one is active, the other waits; when
the active one is killed with SIGKILL the standby takes over; SIGTERM stops it cleanly
and frees the lock. Waits poll with a timeout; no duration is asserted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from kamflow.jobs.registry import JOBS
from kamflow.store.lock import holder
from kamflow.store.tables import JOB_RUN
from support import DB

SCRIPT = Path(sys.executable).parent / "kamflow"
KAMFLOW = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "kamflow.cli"]
TIMEOUT = 45.0


def wait_for(what: str, check: Callable[[], Any], procs: dict[int, Path]) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    logs = "\n".join(f"--- pid {pid}\n{path.read_text()}" for pid, path in procs.items())
    raise AssertionError(f"timed out waiting until {what}\n{logs}")


@contextmanager
def schedulers(db: DB, tmp_path: Path, n: int) -> Iterator[dict[int, subprocess.Popen[bytes]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAMFLOW_")}
    env.update({"KAMFLOW_DATABASE_URL": db.url, "KAMFLOW_SCHEDULER_TICK_SECONDS": "0.5",
                "KAMFLOW_SCHEDULER_STANDBY_SECONDS": "0.3"})
    env.update({f"KAMFLOW_SCHEDULE_{name.upper()}": "* * * * *" for name in JOBS})
    procs: dict[int, subprocess.Popen[bytes]] = {}
    try:
        for i in range(n):
            with (tmp_path / f"scheduler-{i}.log").open("wb") as log:
                p = subprocess.Popen([*KAMFLOW, "scheduler"], cwd=tmp_path, env=env, stdout=log,
                                     stderr=subprocess.STDOUT)
            (tmp_path / f"scheduler-{i}.log").rename(tmp_path / f"{p.pid}.log")
            procs[p.pid] = p
        yield procs
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)


def holder_pid(db: DB) -> int | None:
    found = holder(db.engine)
    return found["pid"] if found else None


def runs(db: DB) -> list[tuple[str, Any, str, int]]:
    with db.engine.connect() as conn:
        return list(conn.execute(
            select(JOB_RUN.c.job, JOB_RUN.c.scheduled_for, JOB_RUN.c.outcome, JOB_RUN.c.pid)).tuples())


def test_one_scheduler_is_active_and_the_standby_takes_over_when_it_dies(db: DB,
                                                                         tmp_path: Path) -> None:
    available = {name for name, spec in JOBS.items() if spec.available()}
    with schedulers(db, tmp_path, 2) as procs:
        logs = {pid: tmp_path / f"{pid}.log" for pid in procs}
        first = wait_for("a scheduler holds the lock", lambda: holder_pid(db) in procs and
                         holder_pid(db), logs)
        (second,) = set(procs) - {first}
        wait_for("the active scheduler ran every job",
                 lambda: {job for job, _, outcome, _ in runs(db) if outcome == "ok"} == available,
                 logs)
        wait_for("the other one waits as a standby", lambda: "standby:" in logs[second].read_text(),
                 logs)
        assert "active:" not in logs[second].read_text()
        assert {pid for *_, pid in runs(db)} == {first}  # the standby ran nothing

        procs[first].kill()  # SIGKILL: no chance to release anything
        procs[first].wait(timeout=30)
        wait_for("the standby holds the lock", lambda: holder_pid(db) == second, logs)
        # It logs after marking the dead one's runs, a moment after the lock is taken.
        wait_for("the standby says it is active",
                 lambda: "active: holding the scheduler lock" in logs[second].read_text(), logs)

        procs[second].send_signal(signal.SIGTERM)
        assert procs[second].wait(timeout=30) == 0, logs[second].read_text()
        assert "scheduler stopped" in logs[second].read_text()
    status = db.cli("status", "--json")
    assert status.code == 0 and '"holder": null' in status.stdout  # SIGTERM released the lock
    rows = [(job, at) for job, at, *_ in runs(db)]
    assert len(rows) == len(set(rows))
