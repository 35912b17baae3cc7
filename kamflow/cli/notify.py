"""`kamflow notify ...` (deliver the outbox, queue digests, list the outbox) and
`kamflow people prefs` (a person's notification preferences).

Wired into the main CLI by `_add_subcommands()` in kamflow.cli. As in kamflow.cli.audit,
everything from kamflow.cli and every heavy library is imported inside the commands.
"""

from __future__ import annotations

import typer

from kamflow.cli._common import AT_HELP, JSON_HELP, clock_at, open_db, out, print_json, user_errors
from kamflow.cli.root import app

notify_app = typer.Typer(help="Notifications: deliver the outbox, queue digests, list the outbox.",
                         no_args_is_help=True)
app.add_typer(notify_app, name="notify")



@notify_app.command("deliver")
@user_errors
def deliver(
    at: str | None = typer.Option(None, help=AT_HELP),
    batch: int = typer.Option(100, min=1, help="Rows claimed per round."),
    max_attempts: int = typer.Option(8, min=1, help="Give a message up after this many tries."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Send the pending notifications that are due; failures are retried later with backoff."""
    from kamflow.notify import deliver as run

    result = run(open_db(), clock_at(at), batch=batch, max_attempts=max_attempts)
    if as_json:
        print_json(result.as_dict())
        return
    out.print(f"{result.sent} sent, {result.retried} to retry later, {result.failed} given up "
              f"(of {result.claimed} claimed)")
    for error in result.errors[:5]:
        out.print(f"  {error}", highlight=False, markup=False)


@notify_app.command("digests")
@user_errors
def digests(
    at: str | None = typer.Option(None, help=AT_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Queue the digests that are due and the reminders of tasks due within two days."""
    from kamflow.notify import queue_digests, queue_due_soon

    db, clock = open_db(), clock_at(at)
    done = {"digests": queue_digests(db, clock), "due_soon": queue_due_soon(db, clock)}
    if as_json:
        print_json(done)
        return
    out.print(f"queued {done['digests']} digest(s) and {done['due_soon']} due-soon reminder(s)")


@notify_app.command("outbox")
@user_errors
def outbox(
    status: str | None = typer.Option(None, help="pending | sending | sent | failed"),
    kind: str | None = typer.Option(None, help="Only this kind of notification."),
    recipient: str | None = typer.Option(None, help="Only those to this person (email)."),
    limit: int = typer.Option(50, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The notifications in the outbox, newest first, with their status and last error."""
    from rich.table import Table

    from kamflow.notify import list_outbox as listing

    rows = listing(open_db(), status, limit, recipient, kind)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "kind", "to", "status", "next / sent")
    table.add_column("subject", no_wrap=True, overflow="ellipsis", max_width=60)
    for r in rows:
        when = r["sent_at"] if r["status"] == "sent" else r["next_attempt_at"]
        state = f"{r['status']} ({r['attempts']})" + (
            f"\n[dim]{r['last_error'][:60]}[/dim]" if r["last_error"] else "")
        table.add_row(str(r["id"]), r["kind"], f"{r['recipient']}\n[dim]{r['channel']}[/dim]",
                      state, when.isoformat(sep=" ", timespec="minutes") if when else "-",
                      r["subject"] or "[dim](rendered when sent)[/dim]")
    out.print(table)
    out.print(f"{len(rows)} notification(s)")
