"""Two processes released at the same instant by a multiprocessing barrier, for the race
tests (tests/kamflow/test_races.py). Processes, not threads: each has its own interpreter,
engine and connections, as two schedulers, a CLI run and the web app would.

`Pair` spawns two workers once; `pair.run(job_a, job_b)` hands each one job, both wait at
the barrier, run, and report ("ok", summary) or ("error", "Type: message").
"""

from __future__ import annotations

import multiprocessing as mp
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

Job = tuple[str, str, Any]  # (name, moment ISO, argument)


def _run(db: Any, job: Job) -> Any:
    from kamflow import importer, notify, queue, sweep
    from kamflow.engine.clock import FixedClock
    from kamflow.notifications.channels import LogChannel

    name, at_iso, arg = job
    clock = FixedClock(datetime.fromisoformat(at_iso))
    if name == "sweep":  # replay: a racing sweep may have recorded this moment already
        import inspect

        kw = {"replay": True} if "replay" in inspect.signature(sweep.run_sweep).parameters else {}
        return sweep.run_sweep(db, clock, **kw).as_dict()["tasks_created"]
    if name == "escalation":
        return sweep.escalate(db, clock).escalated
    if name == "deliver":
        channel = LogChannel(Path(arg))
        return notify.deliver(db, clock, {"email": channel, "webhook": channel,
                                          "log": channel}).sent
    if name == "snooze":
        until = clock.now().date() + timedelta(days=4)
        return queue.act(db, int(arg), "snooze", clock, until=until, reason="race").status
    if name == "import":
        return importer.import_csv(db, "contacts", Path(arg), clock).rows
    raise ValueError(name)


def _worker(url: str, barrier: Any, jobs: Any, results: Any) -> None:
    from kamflow.store.db import db_for

    db = db_for(url)
    while True:
        job = jobs.get()
        if job is None:
            return
        try:
            barrier.wait(timeout=120)
            results.put(("ok", _run(db, job)))
        except BaseException as e:  # reported to the test, which fails on it
            results.put(("error", f"{job[0]}: {type(e).__name__}: {e}"))


class Pair:
    def __init__(self, url: str) -> None:
        ctx = mp.get_context("spawn")
        self.barrier = ctx.Barrier(2)
        self.jobs = [ctx.Queue(), ctx.Queue()]
        self.results = [ctx.Queue(), ctx.Queue()]
        self.procs = [ctx.Process(target=_worker, args=(url, self.barrier, q, r), daemon=True)
                      for q, r in zip(self.jobs, self.results, strict=True)]
        for p in self.procs:
            p.start()
        self.pairs = 0

    def run(self, a: Job, b: Job) -> list[tuple[str, Any]]:
        self.jobs[0].put(a)
        self.jobs[1].put(b)
        out = [r.get(timeout=300) for r in self.results]
        self.pairs += 1
        return out

    def close(self) -> None:
        for q in self.jobs:
            q.put(None)
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()


def moment(start: date, i: int, step_days: int = 3) -> str:
    return datetime.combine(start + timedelta(days=i * step_days),
                            datetime.min.time()).replace(hour=6).isoformat()
