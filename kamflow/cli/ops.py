"""`kamflow run JOB`, `kamflow scheduler`, `kamflow status`: running kamflow unattended."""

from __future__ import annotations

import typer

from kamflow.cli._common import (
    AT_HELP,
    JSON_HELP,
    clock_at,
    fail,
    open_db,
    out,
    print_json,
    user_errors,
)
from kamflow.cli.root import app
from kamflow.cli.sweep import sweep_lines


@app.command("run")
@user_errors
def run_cmd(
    name: str = typer.Argument(..., metavar="JOB", help="sweep | escalation | digests | deliver"),
    at: str | None = typer.Option(None, help=AT_HELP + " The run's scheduled moment."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Run one job now, for the moment --at, unless that moment already ran."""
    from kamflow.clock import SystemClock
    from kamflow.jobs.registry import JobUnavailable, job
    from kamflow.runs import execute

    spec = job(name)
    if not spec.available():
        raise JobUnavailable(f"job '{name}' cannot run: notifications are not available")
    db = open_db()
    moment = clock_at(at).now()
    result = execute(db, name, spec.func, moment, "manual", SystemClock().now())
    if as_json:
        print_json(result.as_dict())
    elif not result.ran:
        out.print(f"{name} for {moment.isoformat()} already ran ({result.outcome}); "
                  "nothing was done")
    elif result.outcome == "ok" and name == "sweep" and result.summary is not None:
        sweep_lines(result.summary)
    elif result.outcome == "ok":
        details = ", ".join(f"{k} {v}" for k, v in (result.summary or {}).items()
                            if k != "at" and isinstance(v, int | float | str))
        out.print(f"{name} for {moment.isoformat()}: ok in {result.seconds:.2f}s"
                  + (f" ({details})" if details else ""), highlight=False)
    if result.outcome == "error" and result.ran:
        fail(f"{name} for {moment.isoformat()} failed: {result.error} "
              "(recorded; see `kamflow status`)", 1)


@app.command("scheduler")
@user_errors
def scheduler_cmd() -> None:
    """Run the scheduler in the foreground until SIGTERM or Ctrl-C.

    Only one scheduler per database is active; another one started against the same
    database waits as a standby and takes over when the active one stops or dies.
    """
    import logging
    import signal
    import threading

    from kamflow.jobs.scheduler import Scheduler
    from kamflow.settings import Settings

    open_db()  # refuses an uninitialised database
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("kamflow").setLevel(logging.INFO)
    # A tick that outlasts the interval (a long sweep) makes APScheduler skip the next one,
    # which is what we want: the tick after it catches up.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    scheduler = Scheduler(Settings().database_url)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    scheduler.run(stop)


@app.command("status")
@user_errors
def status_cmd(
    at: str | None = typer.Option(None, help=AT_HELP + " Decides next runs and overdue tasks."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Each job's last and next run, the scheduler lock's holder, outbox depth, overdue tasks."""
    from rich.table import Table

    from kamflow.jobs.health import status

    data = status(open_db(), clock_at(at).now())
    if as_json:
        print_json(data)
        return
    who = data["scheduler"]["holder"]
    out.print("scheduler: " + (f"active on {who['host']} (pid {who['pid']}) since {who['since']}"
                               if who else "[yellow]none holds the lock[/yellow]"))
    table = Table("job", "schedule", "last run for", "outcome", "took", "next run for",
                  "failed / retries", title=f"jobs as of {data['at']}")
    for j in data["jobs"]:
        last = j["last"] or {}
        outcome = last.get("outcome", "never run")
        if last.get("error"):
            outcome += f": {last['error']}"
        if last.get("attempts", 1) > 1:
            outcome += f" (attempt {last['attempts']})"
        if last.get("retry_at"):
            outcome += f" [yellow](retry at {_short(last['retry_at'])})[/yellow]"
        missed = j["last_missed"]
        if missed:
            outcome += (f" [yellow](missed {missed['covers']} up to "
                        f"{_short(missed['scheduled_for'])})[/yellow]")
        took = f"{last['seconds']:.1f}s" if last.get("seconds") is not None else "-"
        nxt = j["next"] or ("unavailable" if not j["available"] else "-")
        table.add_row(j["job"], j["schedule"], _short(last.get("scheduled_for")), outcome, took,
                      _short(nxt), f"{j['failed']} / {j['retries']}"
                      + (f" ({j['retries_pending']} due)" if j["retries_pending"] else ""))
    out.print(table)
    box = data["outbox"]
    out.print(f"overdue tasks: {data['tasks_overdue']}; notification outbox: "
              + (f"{box['depth']} waiting" if box is not None else "not installed"))


def _short(moment: str | None) -> str:
    """2026-06-15T05:00:00 -> 2026-06-15 05:00 (anything else unchanged)."""
    if not moment or len(moment) < 16 or moment[10] != "T":
        return moment or "-"
    return f"{moment[:10]} {moment[11:16]}"


