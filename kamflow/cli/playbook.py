"""`kamflow playbook`: validate, load, show and draw playbooks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from kamflow.cli._common import AT_HELP, JSON_HELP, clock_at, open_db, out, print_json, user_errors
from kamflow.cli.root import app

playbook_app = typer.Typer(help="Validate, load and inspect playbooks.", no_args_is_help=True)
app.add_typer(playbook_app, name="playbook")

@playbook_app.command("validate")
@user_errors
def playbook_validate(
    directory: Path | None = typer.Argument(None, help="Folder of YAML playbooks (default: bundled)."),
) -> None:
    """Check a playbook folder; print every problem with file and line."""
    from kamflow.playbooks.loader import bundled_dir, load_dir

    book = load_dir(directory or bundled_dir())
    steps = sum(len(p.steps) for p in book.states.values())
    out.print(f"{directory or bundled_dir()}: valid (version {book.version}: "
              f"{len(book.lifecycle.states)} states, {len(book.lifecycle.transitions)} transitions,"
              f" {steps} steps)")


@playbook_app.command("load")
@user_errors
def playbook_load(
    directory: Path = typer.Argument(..., help="Folder of YAML playbooks."),
    at: str | None = typer.Option(None, help=AT_HELP),
) -> None:
    """Validate a playbook folder and make it the active version."""
    from kamflow.activation import load

    act = load(open_db(), directory, clock_at(at).now())
    out.print(f"playbook version {act.version} "
              + ("is now active" if act.changed else "was already active"))


def _active_book() -> Any:
    from kamflow.activation import active_book

    return active_book(open_db())


@playbook_app.command("show")
@user_errors
def playbook_show(
    state: str = typer.Argument(..., help="Lifecycle state whose playbook to show."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The steps of one state's playbook with cadence, deadline and RACI."""
    book = _active_book()
    if state not in book.states:
        raise ValueError(f"unknown state '{state}'; states: {', '.join(book.states)}")
    pb = book.states[state]
    if as_json:
        print_json({"version": book.version, **pb.model_dump(mode="json")})
        return
    out.print(f"[bold]{state}[/bold] — {pb.purpose}", soft_wrap=True)
    table = Table("step", "cadence", "due", "classes", "R", "A", "C", "I")
    for s in pb.steps:
        cad = s.cadence.model_dump(exclude={"kind"})
        cadence = s.cadence.kind + (" " + ", ".join(f"{k}={v}" for k, v in cad.items()) if cad else "")
        table.add_row(f"{s.key}\n[dim]{s.title}[/dim]", cadence, f"{s.deadline_days}d",
                      "".join(s.classes), *(", ".join(s.parties(x)) for x in "RACI"))
    out.print(table)


@playbook_app.command("diagram")
@user_errors
def playbook_diagram(
    directory: Path | None = typer.Argument(None, help="Folder (default: the active version)."),
) -> None:
    """Print the lifecycle as a Mermaid state diagram."""
    from kamflow.engine.lifecycle import LifecycleEngine
    from kamflow.playbooks.loader import load_dir

    book = load_dir(directory) if directory else _active_book()
    sys.stdout.write(LifecycleEngine(book).diagram() + "\n")


