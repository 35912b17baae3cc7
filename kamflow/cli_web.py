"""`kamflow serve`, `kamflow token create|list|revoke` and `kamflow people password`.

Wired into the main CLI by `register(app, people_app)`, called from
kamflow.cli._add_subcommands(). As in kamflow.cli_audit, everything heavy (and
everything from kamflow.cli) is imported inside the commands, so `kamflow --help` stays
light and there is no import cycle.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import typer

from kamflow.cli_errors import user_errors as _user_errors

token_app = typer.Typer(help="API tokens for scripts: create, list, revoke.",
                        no_args_is_help=True)
JSON_HELP = "Print machine-readable JSON."


@_user_errors
def people_password(
    email: str = typer.Argument(..., help="Whose password (email)."),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="Read the password from the first line of stdin."),
) -> None:
    """Set a person's password for the web app (asked twice, hidden, unless --password-stdin)."""
    from kamflow.cli import _engine, out
    from kamflow.clock import SystemClock
    from kamflow.web.auth import set_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    set_password(_engine(), email.strip().lower(), password, SystemClock(), actor="operator")
    out.print(f"password set for {email.strip().lower()}")


@token_app.command("create")
@_user_errors
def token_create(
    email: str = typer.Argument(..., help="Whose token (email of an active person)."),
    name: str = typer.Option(..., "--name", help="What it is for, e.g. 'erp sync'."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Create an API token (Authorization: Bearer ...). The token is printed once only."""
    from kamflow.cli import _engine, _print_json, out
    from kamflow.clock import SystemClock
    from kamflow.web.auth import create_token

    if len(name) > 100:
        raise ValueError("--name: at most 100 characters")
    token_id, secret = create_token(_engine(), email.strip().lower(), name, SystemClock(),
                                    actor="operator")
    if as_json:
        _print_json({"id": token_id, "email": email.strip().lower(), "name": name.strip(),
                     "token": secret})
        return
    out.print(f"token {token_id} for {email.strip().lower()} ({name.strip()}); it is shown only "
              "now:", highlight=False)
    sys.stdout.write(secret + "\n")


@token_app.command("list")
@_user_errors
def token_list(
    email: str | None = typer.Argument(None, help="Only this person's tokens."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """API tokens (never their secrets), revoked ones included."""
    from rich.table import Table

    from kamflow.cli import _engine, _print_json, out
    from kamflow.web.auth import list_tokens

    with _engine().connect() as conn:
        rows = list_tokens(conn, email.strip().lower() if email else None)
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "email", "name", "created", "revoked")
    for r in rows:
        table.add_row(str(r["id"]), r["email"], r["name"], r["created_at"].isoformat(sep=" "),
                      r["revoked_at"].isoformat(sep=" ") if r["revoked_at"] else "")
    out.print(table)


@token_app.command("revoke")
@_user_errors
def token_revoke(token_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Revoke an API token: requests with it get 401 from now on."""
    from kamflow.cli import _engine, out
    from kamflow.clock import SystemClock
    from kamflow.web.auth import revoke_token

    row = revoke_token(_engine(), token_id, SystemClock(), actor="operator")
    out.print(f"token {row.id} of {row.email} revoked at {row.revoked_at.isoformat(sep=' ')}")


@_user_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    demo: bool = typer.Option(False, "--demo", help="Give one person of each role the password "
                              "'kamflow-demo' and print those logins."),
    scheduler: bool = typer.Option(True, "--scheduler/--no-scheduler",
                                   help="Also run the embedded scheduler in this process (only "
                                        "one process per database is active; others wait)."),
) -> None:
    """Run the web app and REST API (docs at /api/docs) with uvicorn."""
    import logging

    import uvicorn

    from kamflow.cli import _engine, out
    from kamflow.settings import Settings
    from kamflow.web.app import create_app
    from kamflow.web.auth import set_demo_passwords

    engine = _engine()  # refuses an uninitialised database
    if demo:
        for email, role, password in set_demo_passwords(engine):
            out.print(f"login {email:40} {role:16} password {password}", highlight=False)
    settings = Settings()
    lifespan = None
    if scheduler:
        logging.basicConfig(level=logging.WARNING,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("kamflow").setLevel(logging.INFO)
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
        lifespan = _with_scheduler(settings)
    out.print(f"kamflow on http://{host}:{port}/ (API docs: /api/docs)", highlight=False)
    uvicorn.run(create_app(settings.database_url, settings=settings, lifespan=lifespan),
                host=host, port=port, log_level="info", proxy_headers=True)


def _with_scheduler(settings: Any) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A lifespan running the embedded scheduler (kamflow.scheduler) in a thread of the
    server's process while it serves; on shutdown it stops, releasing its database lock."""
    import threading

    from kamflow.scheduler import Scheduler

    embedded = Scheduler(settings.database_url, settings)  # a bad schedule fails here

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        from starlette.concurrency import run_in_threadpool

        stop = threading.Event()
        worker = threading.Thread(target=embedded.run, args=(stop,), name="kamflow-scheduler",
                                  daemon=True)
        worker.start()
        try:
            yield
        finally:
            stop.set()
            await run_in_threadpool(worker.join, 60)

    return lifespan


def register(app: typer.Typer, people_app: typer.Typer) -> None:
    """`kamflow serve`, `kamflow token ...` and `kamflow people password`."""
    app.command("serve")(serve)
    app.add_typer(token_app, name="token")
    people_app.command("password")(people_password)
