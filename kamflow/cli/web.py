"""`kamflow serve`, `kamflow token create|list|revoke` and `kamflow people password`.

Wired into the main CLI by `register(app, people_app)`, called from
kamflow.cli._add_subcommands(). As in kamflow.cli.audit, everything heavy (and
everything from kamflow.cli) is imported inside the commands, so `kamflow --help` stays
light and there is no import cycle.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import typer

from kamflow.cli._common import open_db, out, user_errors
from kamflow.cli.root import app


@app.command("serve")
@user_errors
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

    from kamflow.clock import SystemClock
    from kamflow.people import queue_sizes, set_demo_passwords
    from kamflow.settings import Settings
    from kamflow.web.app import create_app

    db = open_db()  # refuses an uninitialised database
    if demo:
        today = SystemClock().now().date()
        for email, role, password in set_demo_passwords(db):
            n = queue_sizes(db, email, today)
            mine = (f"  my queue: {n['overdue']} overdue, {n['due_today']} due today, "
                    f"{n['upcoming']} upcoming") if n["overdue"] + n["due_today"] + n["upcoming"] \
                else ""
            if role == "department_lead":
                mine = f"  board: {n['board']} open tasks"
            out.print(f"login {email:40} {role:16} password {password}{mine}", highlight=False)
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
    """A lifespan running the embedded scheduler (kamflow.jobs.scheduler) in a thread of the
    server's process while it serves; on shutdown it stops, releasing its database lock."""
    import threading

    from kamflow.jobs.scheduler import Scheduler

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

