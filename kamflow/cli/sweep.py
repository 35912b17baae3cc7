"""`kamflow sweep` and `kamflow replay`: the scheduled pass, once or over a range of dates."""

from __future__ import annotations

from typing import Any

import typer

from kamflow.cli._common import (
    AT_HELP,
    JSON_HELP,
    clock_at,
    open_db,
    out,
    print_json,
    progress,
    progress_sized_later,
    user_errors,
)
from kamflow.cli.root import app


@app.command()
@user_errors
def sweep(
    at: str | None = typer.Option(None, help=AT_HELP),
    replay: bool = typer.Option(False, "--replay",
                                help="Allow a moment before the latest sweep (a replay)."),
    full: bool = typer.Option(False, "--full",
                              help="Read every account, not only those new data marked and "
                                   "those due to wake (the same result, at the cost of all)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Recompute metrics, classify, fire transitions, generate and escalate tasks.

    Reads the accounts that changed since the last sweep and those whose wake-up has come
    (a time-based rule, a task coming due, a new month); --full reads all.
    A moment before the latest sweep is refused unless --replay says it is meant."""
    from kamflow.sweep import run_sweep

    db = open_db()
    with progress_sized_later("sweeping", as_json) as (tick, size):
        summary = run_sweep(db, clock_at(at), tick, replay=replay, full=full, planned=size)
    if as_json:
        print_json(summary.as_dict())
        return
    sweep_lines(summary.as_dict())


def sweep_lines(d: dict[str, Any]) -> None:
    read = "every account" if d.get("full") else "changed or due"
    out.print(f"sweep at {d['at']} (playbook {d['playbook_version']}): {d['accounts']} accounts "
              f"read ({read}), "
              f"{d['reclassified']} reclassified, {d['transitions_total']} transitions in "
              f"{d['seconds']:.2f}s")
    for move, n in d["transitions"].items():
        out.print(f"  {move}: {n}")
    out.print(f"tasks: {d['tasks_created']} created, {d['tasks_cancelled']} cancelled, "
              f"{d['contact_checks_completed']} contact checks completed by a contact, "
              f"{d['tasks_woken']} woke from snooze, {d['tasks_escalated']} escalated, "
              f"{d['tasks_missed']} missed (the next occurrence opened)")
    if d["skipped_newer_state"]:
        out.print(f"[yellow]{d['skipped_newer_state']} account(s) left alone: their state was "
                  f"set after {d['at']} (imported or moved later); sweep a later moment to "
                  "move them[/yellow]", highlight=False)
    if d["routed_to_queue_fallback"]:
        out.print(f"[yellow]{d['routed_to_queue_fallback']} task(s) went to a department queue "
                  "because their Responsible could not be resolved, e.g.:[/yellow]")
        for note in d["routing_notes"][:5]:
            out.print(f"  {note}", highlight=False)


@app.command()
@user_errors
def replay(
    start: str = typer.Option(..., "--from", help="First date (ISO)."),
    end: str = typer.Option(..., "--to", help="Last date (ISO), included."),
    every: str = typer.Option("1d", help="Step between sweeps: Nd (days) or Nw (weeks)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Run the sweep on each date in turn, as the scheduler would have."""
    from datetime import timedelta

    from kamflow.sweep import replay as run_replay
    from kamflow.sweep import replay_length

    first, last = clock_at(start).now(), clock_at(end).now()
    if len(every) < 2 or every[-1] not in "dw" or not every[:-1].isdigit() or every[:-1] == "0":
        raise ValueError(f"--every: '{every}' is not like 1d or 2w")
    step = timedelta(days=int(every[:-1]) * (7 if every[-1] == "w" else 1))
    db = open_db()
    with progress(0 if as_json else replay_length(first, last, step), "replaying") as tick:
        totals = run_replay(db, first, last, step, tick)
    if as_json:
        print_json(totals)
        return
    out.print(f"replayed {totals['sweeps']} sweeps from {totals['from']} to {totals['to']}: "
              f"{sum(totals['transitions'].values())} transitions, {totals['tasks_created']} "
              f"tasks created, {totals['tasks_cancelled']} cancelled, "
              f"{totals['tasks_escalated']} escalated")


