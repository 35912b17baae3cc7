"""The queue: `kamflow tasks`, `kamflow task ...`, `kamflow contact log`, `kamflow event`."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from kamflow.cli._common import AT_HELP, JSON_HELP, clock_at, open_db, out, print_json, user_errors
from kamflow.cli.root import app

task_app = typer.Typer(help="Act on one task: done, snooze, skip, reassign, claim.",
                       no_args_is_help=True)
contact_app = typer.Typer(help="Log contacts with an account.", no_args_is_help=True)
app.add_typer(task_app, name="task")
app.add_typer(contact_app, name="contact")

@app.command("tasks")
@user_errors
def tasks_(
    assignee: str | None = typer.Option(None, help="The queue of this person (email)."),
    department: str | None = typer.Option(None, help="The board of this department."),
    raci: str | None = typer.Option(None, help="Only where the person/department is R, A, C or I."),
    status: str = typer.Option("open", help="open | overdue | due-today | upcoming | done | snoozed | "
                               "skipped | cancelled | all"),
    account: str | None = typer.Option(None, help="Only this account's tasks."),
    step: str | None = typer.Option(None, help="Only this playbook step (state.key, e.g. "
                                    "loyal.quarterly_plan_review)."),
    at: str | None = typer.Option(None, help=AT_HELP + " Decides overdue / due today."),
    limit: int | None = typer.Option(None, help="At most this many rows."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The account manager's queue and the department lead's board."""
    from kamflow.queue import list_tasks

    today = clock_at(at).now().date()
    with open_db().connect() as conn:
        rows = list_tasks(conn, today, assignee, department, raci, status, account, limit,
                          step=step)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "due", "status", "account", "who (R)", "role")
    table.add_column("task", no_wrap=True, overflow="ellipsis", max_width=60)
    for r in rows:
        late = (today - r["due"]).days
        flag = f"[red]{late}d late[/red]" if r["status"] == "open" and late > 0 else r["status"]
        if r["escalation_level"]:
            flag += f" ⬆{r['escalation_level']}"
        who = r["assignee"] or f"queue:{r['queue']}"
        table.add_row(str(r["id"]), r["due"].isoformat(), flag, r["account_id"], who,
                      r["roles"], r["title"])
    out.print(table)
    out.print(f"{len(rows)} task(s)")


def _task_done(result: Any) -> None:
    out.print(f"task {result.task_id}: {result.action} → {result.status}")


@task_app.command("done")
@user_errors
def task_done(
    task_id: int = typer.Argument(..., metavar="ID"),
    outcome: str | None = typer.Option(None, help="What came of it (required by most steps)."),
    note: str | None = typer.Option(None, help="A longer note."),
    field: list[str] = typer.Option([], help="KEY=VALUE a step requires, e.g. loss_cause=price."),
    by: str | None = typer.Option(None, help="Who did it (email)."),
    at: str | None = typer.Option(None, help=AT_HELP),
) -> None:
    """Complete a task with its outcome."""
    from kamflow.queue import act

    fields = {}
    for item in field:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--field: '{item}' is not KEY=VALUE")
        fields[key.strip()] = value.strip()
    _task_done(act(open_db(), task_id, "done", clock_at(at), by, outcome=outcome, note=note,
                   fields=fields))


@task_app.command("snooze")
@user_errors
def task_snooze(
    task_id: int = typer.Argument(..., metavar="ID"),
    until: str = typer.Option(..., help="Date it wakes up (ISO): after today, and at most the "
                              "step's max_snooze_days past the due date (past today when the "
                              "task is overdue)."),
    reason: str = typer.Option(..., help="Why it waits."),
    by: str | None = typer.Option(None, help="Who snoozes it (email)."),
    at: str | None = typer.Option(None, help=AT_HELP),
) -> None:
    """Put a task aside until a date, within the step's snooze limit."""
    from datetime import date

    from kamflow.queue import act

    try:
        day = date.fromisoformat(until)
    except ValueError:
        raise ValueError(f"--until: '{until}' is not a date (YYYY-MM-DD)") from None
    _task_done(act(open_db(), task_id, "snooze", clock_at(at), by, until=day, reason=reason))


@task_app.command("skip")
@user_errors
def task_skip(
    task_id: int = typer.Argument(..., metavar="ID"),
    reason: str = typer.Option(..., help="Why it will not be done (shown in adherence)."),
    by: str | None = typer.Option(None, help="Who decides (email)."),
    at: str | None = typer.Option(None, help=AT_HELP),
) -> None:
    """Skip a task, with a reason."""
    from kamflow.queue import act

    _task_done(act(open_db(), task_id, "skip", clock_at(at), by, reason=reason))


@task_app.command("reassign")
@user_errors
def task_reassign(
    task_id: int = typer.Argument(..., metavar="ID"),
    to: str = typer.Option(..., help="New assignee (email of an active person)."),
    by: str | None = typer.Option(None, help="Who reassigns (email)."),
    at: str | None = typer.Option(None, help=AT_HELP),
) -> None:
    """Give a task to someone else."""
    from kamflow.queue import act

    _task_done(act(open_db(), task_id, "reassign", clock_at(at), by, person=to))


@task_app.command("claim")
@user_errors
def task_claim(
    task_id: int = typer.Argument(..., metavar="ID"),
    by: str = typer.Option(..., help="The member of the queue's department who takes it."),
    at: str | None = typer.Option(None, help=AT_HELP),
) -> None:
    """Take a task from your department's queue."""
    from kamflow.queue import act

    _task_done(act(open_db(), task_id, "claim", clock_at(at), by, person=by))


@contact_app.command("log")
@user_errors
def contact_log(
    account_id: str = typer.Argument(..., metavar="ACCOUNT"),
    channel: str = typer.Option(..., help="visit | call | video | email | event, or a synonym "
                                "organization.yaml declares (phone, Teams...)"),
    by: str = typer.Option(..., help="Who had the contact (email)."),
    note: str = typer.Option("", help="What it was about."),
    day: str | None = typer.Option(None, "--date", help="Date of the contact (default: today)."),
    at: str | None = typer.Option(None, help=AT_HELP),
    customer_role: str = typer.Option("", help="Whom we met at the customer, e.g. 'purchasing "
                                      "director' (the account plan's touchpoints)."),
) -> None:
    """Log a contact; an open contact-frequency check it satisfies is completed with it."""
    from datetime import date

    from kamflow.queue import log_contact

    try:
        when = date.fromisoformat(day) if day else None
    except ValueError:
        raise ValueError(f"--date: '{day}' is not a date (YYYY-MM-DD)") from None
    counts = log_contact(open_db(), account_id, channel, by.lower(), note, when, clock_at(at),
                         customer_role=customer_role)
    out.print(f"contact logged for {account_id}; {counts.checks_completed} contact check(s) "
              "completed")


@app.command()
@user_errors
def event(
    account_id: str = typer.Argument(..., metavar="ACCOUNT"),
    name: str = typer.Argument(..., metavar="EVENT", help="quote_created | order_placed | ..."),
    ref: str = typer.Option("", help="Reference, e.g. the quote number."),
    by: str | None = typer.Option(None, help="Who reports it (email)."),
    at: str | None = typer.Option(None, help=AT_HELP),
    outcome: str | None = typer.Option(
        None, help="A quote event's outcome: won | lost | open (default open). Reporting a "
        "quote again with the same --ref records its new outcome."),
    amount: float | None = typer.Option(None, help="A quote event's amount."),
) -> None:
    """Report an event; the steps it triggers become tasks at once."""
    from kamflow.queue import post_event

    counts = post_event(open_db(), account_id, name, ref, by, clock_at(at), outcome=outcome,
                        amount=amount)
    out.print(f"{name} recorded for {account_id}; {counts.created} task(s) created")


