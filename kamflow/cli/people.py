"""`kamflow people` and `kamflow token`: deactivate, passwords, preferences, API tokens."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from kamflow.cli._common import AT_HELP, JSON_HELP, clock_at, open_db, out, print_json, user_errors
from kamflow.cli.root import app

people_app = typer.Typer(help="People: deactivate and hand over, passwords, preferences.",
                         no_args_is_help=True)
app.add_typer(people_app, name="people")


@people_app.command("list")
@user_errors
def people_list(
    role: str | None = typer.Option(None, help="Only this role: account_manager, "
                                    "department_lead, manager or admin."),
    department: str | None = typer.Option(None, help="Only this department (key)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Who is who: role, department, accounts owned and sponsored, open tasks."""
    from kamflow.people import directory

    rows = directory(open_db(), role, department)
    if as_json:
        print_json(rows)
        return
    table = Table("email", "name", "department", "role", "owns", "sponsors", "open tasks",
                  "active", "login")
    for r in rows:
        table.add_row(r["email"], r["name"], r["department"], r["role"], str(r["accounts_owned"]),
                      str(r["accounts_sponsored"]), str(r["open_tasks"]),
                      "yes" if r["active"] else "no", "yes" if r["can_log_in"] else "no")
    out.print(table)
    out.print(f"{len(rows)} person(s)")

@people_app.command("deactivate")
@user_errors
def people_deactivate(
    email: str = typer.Argument(...),
    to: str | None = typer.Option(None, help="Hand accounts and open tasks to this person."),
    to_department: str | None = typer.Option(None, help="Hand open tasks to this department's "
                                             "queue and accounts to its lead."),
    by: str | None = typer.Option(None, help="Who does it (email)."),
    at: str | None = typer.Option(None, help=AT_HELP),
) -> None:
    """Deactivate a person, moving their accounts and open tasks in one transaction."""
    from kamflow.queue import deactivate

    n = deactivate(open_db(), email.lower(), to, to_department, by, clock_at(at))
    out.print(f"{email} deactivated: {n['accounts']} account(s), {n['sponsored']} sponsorship(s), "
              f"{n['tasks']} open task(s) and {n['accountable']} accountability(ies) handed over")


token_app = typer.Typer(help="API tokens for scripts: create, list, revoke.",
                        no_args_is_help=True)
app.add_typer(token_app, name="token")


@people_app.command("password")
@user_errors
def people_password(
    email: str = typer.Argument(..., help="Whose password (email)."),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="Read the password from the first line of stdin."),
) -> None:
    """Set a person's password for the web app (asked twice, hidden, unless --password-stdin)."""
    from kamflow.clock import SystemClock
    from kamflow.people import set_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    set_password(open_db(), email.strip().lower(), password, SystemClock(), actor="operator")
    out.print(f"password set for {email.strip().lower()}")


@token_app.command("create")
@user_errors
def token_create(
    email: str = typer.Argument(..., help="Whose token (email of an active person)."),
    name: str = typer.Option(..., "--name", help="What it is for, e.g. 'erp sync'."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Create an API token (Authorization: Bearer ...). The token is printed once only."""
    from kamflow.clock import SystemClock
    from kamflow.people import create_token

    if len(name) > 100:
        raise ValueError("--name: at most 100 characters")
    token_id, secret = create_token(open_db(), email.strip().lower(), name, SystemClock(),
                                    actor="operator")
    if as_json:
        print_json({"id": token_id, "email": email.strip().lower(), "name": name.strip(),
                     "token": secret})
        return
    out.print(f"token {token_id} for {email.strip().lower()} ({name.strip()}); it is shown only "
              "now:", highlight=False)
    sys.stdout.write(secret + "\n")


@token_app.command("list")
@user_errors
def token_list(
    email: str | None = typer.Argument(None, help="Only this person's tokens."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """API tokens (never their secrets), revoked ones included."""
    from kamflow.people import list_tokens

    with open_db().connect() as conn:
        rows = list_tokens(conn, email.strip().lower() if email else None)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "email", "name", "created", "revoked")
    for r in rows:
        table.add_row(str(r["id"]), r["email"], r["name"], r["created_at"].isoformat(sep=" "),
                      r["revoked_at"].isoformat(sep=" ") if r["revoked_at"] else "")
    out.print(table)


@token_app.command("revoke")
@user_errors
def token_revoke(token_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Revoke an API token: requests with it get 401 from now on."""
    from kamflow.clock import SystemClock
    from kamflow.people import revoke_token

    row = revoke_token(open_db(), token_id, SystemClock(), actor="operator")
    out.print(f"token {row.id} of {row.email} revoked at {row.revoked_at.isoformat(sep=' ')}")


@people_app.command("prefs")
@user_errors
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
    from kamflow.prefs import set_prefs

    data = set_prefs(open_db(), email.lower(), clock_at(at), channel=channel,
                     webhook_url=webhook_url, digest_hour=digest_hour, timezone=timezone,
                     opt_out=opt_out, opt_in=opt_in, actor=by)
    if as_json:
        print_json(data)
        return
    out.print(f"{data['email']}: via {data['channel']}"
              + (f" ({data['webhook_url']})" if data["webhook_url"] else "")
              + f", digest after {data['digest_hour']:02d}:00 {data['timezone']}, opted out of: "
              + (", ".join(data["opted_out"]) or "nothing")
              + ("" if data["changed"] else " (unchanged)"), highlight=False)
