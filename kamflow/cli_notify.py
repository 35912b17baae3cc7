"""`kamflow notify ...` (deliver the outbox, queue digests, list the outbox) and
`kamflow people prefs` (a person's notification preferences).

Wired into the main CLI by `_add_subcommands()` in kamflow.cli. As in kamflow.cli_audit,
everything from kamflow.cli and every heavy library is imported inside the commands.
"""

from __future__ import annotations

import typer

from kamflow.cli_errors import user_errors as _user_errors

notify_app = typer.Typer(help="Notifications: deliver the outbox, queue digests, list the outbox.",
                         no_args_is_help=True)

AT_HELP = "Moment to act at: ISO date or datetime (UTC). Default: now."
JSON_HELP = "Print machine-readable JSON."


@notify_app.command("deliver")
@_user_errors
def deliver(
    at: str | None = typer.Option(None, help=AT_HELP),
    batch: int = typer.Option(100, min=1, help="Rows claimed per round."),
    max_attempts: int = typer.Option(8, min=1, help="Give a message up after this many tries."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Send the pending notifications that are due; failures are retried later with backoff."""
    from kamflow.cli import _clock, _engine, _print_json, out
    from kamflow.notify import deliver as run

    result = run(_engine(), _clock(at), batch=batch, max_attempts=max_attempts)
    if as_json:
        _print_json(result.as_dict())
        return
    out.print(f"{result.sent} sent, {result.retried} to retry later, {result.failed} given up "
              f"(of {result.claimed} claimed)")
    for error in result.errors[:5]:
        out.print(f"  {error}", highlight=False, markup=False)


@notify_app.command("digests")
@_user_errors
def digests(
    at: str | None = typer.Option(None, help=AT_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Queue the digests that are due and the reminders of tasks due within two days."""
    from kamflow.cli import _clock, _engine, _print_json, out
    from kamflow.notify import queue_digests, queue_due_soon

    engine, clock = _engine(), _clock(at)
    done = {"digests": queue_digests(engine, clock), "due_soon": queue_due_soon(engine, clock)}
    if as_json:
        _print_json(done)
        return
    out.print(f"queued {done['digests']} digest(s) and {done['due_soon']} due-soon reminder(s)")


@notify_app.command("outbox")
@_user_errors
def outbox(
    status: str | None = typer.Option(None, help="pending | sending | sent | failed"),
    kind: str | None = typer.Option(None, help="Only this kind of notification."),
    recipient: str | None = typer.Option(None, help="Only those to this person (email)."),
    limit: int = typer.Option(50, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The notifications in the outbox, newest first, with their status and last error."""
    from rich.table import Table

    from kamflow.cli import _engine, _print_json, out
    from kamflow.outbox import list_outbox

    with _engine().connect() as conn:
        rows = list_outbox(conn, status, limit, recipient, kind)
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "kind", "to", "status", "next / sent")
    table.add_column("subject", no_wrap=True, overflow="ellipsis", max_width=60)
    for r in rows:
        when = r["sent_at"] if r["status"] == "sent" else r["next_attempt_at"]
        state = f"{r['status']} ({r['attempts']})" + (
            f"\n[dim]{r['last_error'][:60]}[/dim]" if r["last_error"] else "")
        table.add_row(str(r["id"]), r["kind"], f"{r['recipient']}\n[dim]{r['channel']}[/dim]",
                      state, when.isoformat(sep=" ", timespec="minutes") if when else "-",
                      r["subject"])
    out.print(table)
    out.print(f"{len(rows)} notification(s)")


def people_prefs(
    email: str = typer.Argument(...),
    channel: str | None = typer.Option(None, help="email | webhook | log"),
    webhook_url: str | None = typer.Option(None, help="Where the webhook channel posts "
                                           "(http:// or https://); '' clears it."),
    digest_hour: int | None = typer.Option(None, help="Local hour (0-23) after which the daily "
                                           "digest is queued."),
    timezone: str | None = typer.Option(None, help="IANA time zone, e.g. Europe/Berlin."),
    opt_out: list[str] = typer.Option([], help="A kind not to receive (repeatable): "
                                      "task_assigned, due_soon, escalated, informed, digest, "
                                      "state_changed."),
    opt_in: list[str] = typer.Option([], help="A kind to receive again (repeatable)."),
    by: str | None = typer.Option(None, help="Who changes it (email)."),
    at: str | None = typer.Option(None, help=AT_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show or change how a person is notified; without options, show."""
    from kamflow.cli import _clock, _engine, _print_json, out
    from kamflow.prefs import set_prefs

    data = set_prefs(_engine(), email.lower(), _clock(at), channel=channel,
                     webhook_url=webhook_url, digest_hour=digest_hour, timezone=timezone,
                     opt_out=opt_out, opt_in=opt_in, actor=by)
    if as_json:
        _print_json(data)
        return
    out.print(f"{data['email']}: via {data['channel']}"
              + (f" ({data['webhook_url']})" if data["webhook_url"] else "")
              + f", digest after {data['digest_hour']:02d}:00 {data['timezone']}, opted out of: "
              + (", ".join(data["opted_out"]) or "nothing")
              + ("" if data["changed"] else " (unchanged)"), highlight=False)


def register(app: typer.Typer, people_app: typer.Typer) -> None:
    """`kamflow notify ...` and `kamflow people prefs`."""
    app.add_typer(notify_app, name="notify")
    people_app.command("prefs")(_user_errors(people_prefs))
