"""`kamflow audit ...`: verify the audit chain, list events, report playbook adherence.

Wired into the main CLI with `app.add_typer(audit_app, name="audit")`. Everything
from kamflow.cli is imported inside the commands, so kamflow.cli may import this
module at its top without an import cycle; heavy libraries load only when a
command runs, as in kamflow.cli.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import typer

from kamflow.cli._common import (
    JSON_HELP,
    clock_at,
    open_db,
    out,
    print_json,
    stages,
    user_errors,
)
from kamflow.cli.root import app

audit_app = typer.Typer(help="Verify the audit trail, list its events, report adherence.",
                        no_args_is_help=True)
app.add_typer(audit_app, name="audit")

BY_HELP = ("Group by step | account | owner (the account's manager) | person (who holds the "
           "task) | department (each one the RACI names) | letter (R, A, C, I) | class | state.")
DEPARTMENT_HELP = "Only the tasks whose RACI names this department (the groups too)."
LETTER_HELP = "With --department or --by department: only where it is named as R, A, C or I."


def _date(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise ValueError(f"{option}: '{value}' is not an ISO date (2026-03-31)") from e


@audit_app.command("verify")
@user_errors
def verify(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Recompute the hash chain over every event and check its head against the newest
    signed checkpoint (KAMFLOW_AUDIT_KEY), every task row against its creation event, and
    the boards' counts against the tasks; exit 1 at the first problem."""
    from kamflow.adherence import NOT_ANCHORED
    from kamflow.adherence import verify as check

    with stages(as_json) as stage:
        found = check(open_db(), stage)
    if as_json:
        print_json(found.as_dict())
    else:
        if found.broken is None:
            out.print(f"audit chain intact: {found.events} events", highlight=False)
        else:
            out.print(f"audit chain broken at event {found.broken.id}: {found.broken.reason}",
                      highlight=False, soft_wrap=True)
        head, rows, counts = found.head, found.rows, found.counts
        if not head.anchored:
            out.print(NOT_ANCHORED, highlight=False)
        elif head.ok:
            out.print(f"head anchored: matches the checkpoint of event {head.checkpoint_event}",
                      highlight=False)
        for problem in head.problems:
            out.print(f"audit head: {problem}", highlight=False, soft_wrap=True)
        if not rows.problems:
            out.print(f"task rows intact: {rows.checked} match their creation events",
                      highlight=False)
        for problem in rows.problems:
            out.print(f"task rows: {problem}", highlight=False, soft_wrap=True)
        if rows.more:
            out.print(f"task rows: {rows.more} more problems", highlight=False)
        if not counts.problems:
            out.print(f"board counts match the tasks: {counts.checked} cells", highlight=False)
        else:
            for problem in counts.problems:
                out.print(f"board counts: {problem}", highlight=False, soft_wrap=True)
            if counts.more:
                out.print(f"board counts: {counts.more} more cells off", highlight=False)
            out.print("board counts: `kamflow audit recount` sets them to a recount of the tasks",
                      highlight=False)
    if not found.intact:
        raise typer.Exit(1)


@audit_app.command("recount")
@user_errors
def recount() -> None:
    """Set the department boards' counts to a recount of the tasks (after task rows were
    edited in SQL, behind kamflow; `audit verify` says when they are off)."""
    from kamflow.adherence import recount as mend

    off = mend(open_db())
    out.print(f"board counts recounted from the tasks: {off} cell(s) had been off, now set",
              highlight=False)


@audit_app.command("events")
@user_errors
def events(
    entity: str | None = typer.Option(None, "--entity", help="Only task, account or person events."),
    entity_id: str | None = typer.Option(None, "--id", help="Only events of this entity id."),
    limit: int = typer.Option(100, "--limit", help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The most recent audit events, newest first."""
    from rich.table import Table

    from kamflow.adherence import events as list_events

    rows = list_events(open_db(), entity, entity_id, limit)
    if as_json:
        print_json([{**r, "at": r["at"].isoformat()} for r in rows])
        return
    table = Table("id", "at", "actor", "entity", "action", "change")
    for r in rows:
        table.add_row(str(r["id"]), r["at"].isoformat(sep=" "), r["actor"],
                      f"{r['entity']} {r['entity_id']}", r["action"], _change(r["before"], r["after"]))
    out.print(table)
    out.print(f"{len(rows)} event(s)")


def _change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """`key: old → new` for every key whose value differs."""
    b, a = before or {}, after or {}
    return "\n".join(f"{k}: {b.get(k, '∅')} → {a.get(k, '∅')}"
                     for k in sorted(b.keys() | a.keys()) if b.get(k) != a.get(k))


@audit_app.command("adherence")
@user_errors
def adherence(
    start: str = typer.Option(..., "--from", help="First due date (ISO)."),
    end: str = typer.Option(..., "--to", help="Last due date (ISO), inclusive."),
    by: str = typer.Option("step", "--by", help=BY_HELP),
    department: str | None = typer.Option(None, "--department", help=DEPARTMENT_HELP),
    letter: str | None = typer.Option(None, "--letter", help=LETTER_HELP),
    at: str | None = typer.Option(None, "--at",
                                  help="Date open tasks count as overdue from (due before it). "
                                       "Default: today."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Were the playbook steps due in a period done on time? Per group and in total."""
    from rich.table import Table

    from kamflow.adherence import BY, LETTERS, Limit, report

    first, last = _date("--from", start), _date("--to", end)
    if by not in BY:
        raise ValueError(f"--by: '{by}' is not one of {', '.join(BY)}")
    if letter is not None and letter.upper() not in LETTERS:
        raise ValueError(f"--letter: '{letter}' is not one of {', '.join(LETTERS)}")
    limit = Limit(department, letter.upper() if letter else None)
    as_of = clock_at(at).now().date()
    rows = report(open_db(), first, last, by, as_of, limit)
    if as_json:
        print_json({"from": first.isoformat(), "to": last.isoformat(), "as_of": as_of.isoformat(),
                     "by": by, "department": limit.department, "letter": limit.letter,
                     "rows": rows})
        return
    within = "".join(f" {k} {v}" for k, v in (("department", limit.department),
                                              ("as", limit.letter)) if v)
    table = Table(by, "due", "on time", "late", "skipped", "missed", "overdue", "not yet due",
                  "cancelled", "on-time rate", "median late (d)", "skip reasons",
                  title=f"adherence: tasks due {first} to {last}{within}, as of {as_of}")
    for r in rows:
        rate = "-" if r["on_time_rate"] is None else f"{r['on_time_rate']:.0%}"
        late = "-" if r["median_lateness_days"] is None else f"{r['median_lateness_days']:g}"
        reasons = ", ".join(f"{k}: {n}" for k, n in r["skip_reasons"].items())
        if r is rows[-1]:
            table.add_section()
        table.add_row(r["group"], *(str(r[k]) for k in ("due", "done_on_time", "done_late",
                                                         "skipped", "missed", "open_overdue",
                                                         "open_not_yet_due", "cancelled")),
                      rate, late, reasons)
    out.print(table)
