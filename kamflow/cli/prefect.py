"""`kamflow prefect ...`: the scheduled jobs on a Prefect server and its workers.

Wired into the main CLI by `_add_subcommands()` in kamflow.cli. Prefect (and kamflow.jobs.flows,
the only module that imports it) is imported inside the commands: importing Prefect costs
1.5-3 s, which `kamflow --help` must not pay.
"""

from __future__ import annotations

import typer

from kamflow.cli._common import clock_at, err, open_db, out, print_json, user_errors
from kamflow.cli.root import app

prefect_app = typer.Typer(help="Run the scheduled jobs on a Prefect server and its workers.",
                          no_args_is_help=True)
app.add_typer(prefect_app, name="prefect")

SHARDS_HELP = "How many shard tasks the sweep spreads its chunks over."
PROCESSES_HELP = ("Run the sweep's shards in this many processes (0: threads of the flow run). "
                  "Default: one per core on PostgreSQL, threads on SQLite.")
URL_HELP = ("Database URL to store in the deployments. Default: none, so each worker uses its "
            "own KAMFLOW_DATABASE_URL (keeps passwords out of the Prefect server).")
JOB_HELP = "Only this job (repeatable): sweep | escalation | digests | deliver. Default: all."
ONE_DRIVER = ("Prefect now drives these jobs: do not run them from `kamflow scheduler` as well "
              "(switch them off there with KAMFLOW_SCHEDULE_<JOB>=off)")


@prefect_app.command("deploy")
@user_errors
def deploy(
    work_pool: str = typer.Option("kamflow", help="Work pool (a process pool is created if "
                                  "there is none with this name)."),
    shards: int = typer.Option(4, min=1, help=SHARDS_HELP),
    processes: int | None = typer.Option(None, min=0, help=PROCESSES_HELP),
    database_url: str = typer.Option("", help=URL_HELP),
    job: list[str] = typer.Option([], help=JOB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Create or update one deployment per job on the Prefect API (PREFECT_API_URL).

    Schedules are the embedded scheduler's (UTC; KAMFLOW_SCHEDULE_<JOB> applies).
    """
    from kamflow.jobs.flows import deploy_all

    rows = deploy_all(work_pool, shards, database_url, job, processes)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        out.print(f"{r['deployment']:<28} {r['cron']:<14} work pool {work_pool}", highlight=False)
    out.print(f"start workers with `prefect worker start --pool {work_pool}` "
              "(or run `kamflow prefect serve` on one machine)", highlight=False)
    err.print(f"[yellow]note:[/yellow] {ONE_DRIVER}", highlight=False)


@prefect_app.command("serve")
@user_errors
def serve(
    shards: int = typer.Option(4, min=1, help=SHARDS_HELP),
    processes: int | None = typer.Option(None, min=0, help=PROCESSES_HELP),
    job: list[str] = typer.Option([], help=JOB_HELP),
    limit: int | None = typer.Option(None, min=1, help="At most this many runs at once."),
) -> None:
    """Run the jobs on their schedules from this process until stopped (SIGTERM).

    For a single worker machine, without a work pool. Runs use this machine's
    KAMFLOW_DATABASE_URL.
    """
    from kamflow.jobs.flows import serve_all

    open_db()  # not initialised: one line now, not a failed run every minute
    err.print(f"[yellow]note:[/yellow] {ONE_DRIVER}", highlight=False)
    serve_all(shards, "", job, limit, processes)


@prefect_app.command("run")
@user_errors
def run(
    job: str = typer.Argument(..., help="sweep | escalation | digests | deliver"),
    at: str | None = typer.Option(None, help="Moment to act at: ISO date or datetime (UTC). "
                                  "Default: now."),
    shards: int = typer.Option(4, min=1, help=SHARDS_HELP),
    chunk: int | None = typer.Option(None, min=1, help="Accounts per chunk (sweep only)."),
    processes: int | None = typer.Option(None, min=0, help=PROCESSES_HELP),
) -> None:
    """Run one job once, now, as a Prefect flow in this process; print its result as JSON."""
    from kamflow.jobs.flows import FLOWS, sweep_flow
    from kamflow.settings import Settings
    from kamflow.sweep import CHUNK

    if job not in FLOWS:
        raise ValueError(f"unknown job '{job}'; jobs: {', '.join(FLOWS)}")
    if at is not None:
        clock_at(at)  # a bad --at is one line, before Prefect starts
    open_db()  # not initialised: one line, before Prefect starts
    url = Settings().database_url
    if job == "sweep":
        print_json(sweep_flow(url, at, shards, chunk or CHUNK, processes=processes))
    else:
        print_json(FLOWS[job](url, at))
