"""What every command module shares: the consoles, the error handling, the database,
the clock and JSON output.

Only light libraries are imported here (typer, rich); everything heavy is imported
inside the function that needs it, so `kamflow --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from kamflow.engine.clock import Clock

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

AT_HELP = "Moment to act at: ISO date or datetime (UTC). Default: now."
JSON_HELP = "Print machine-readable JSON."


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def user_errors(fn: F) -> F:
    """Turn the errors a user can cause into one line and exit code 2 (1: not set up)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from kamflow.database import NotInitialised
        from kamflow.engine.errors import EngineError
        from kamflow.errors import NoPlaybooks, NotFound, Refused
        from kamflow.importer import ImportRejected
        from kamflow.jobs.registry import JobUnavailable
        from kamflow.playbooks.errors import PlaybookError

        try:
            return fn(*args, **kwargs)
        except (PlaybookError, ImportRejected) as e:
            for line in str(e).splitlines():
                err.print(line, highlight=False, soft_wrap=True, markup=False)
            n = len(str(e).splitlines())
            fail(f"{n} problem{'s' if n != 1 else ''}; nothing was changed")
        except (NoPlaybooks, NotInitialised) as e:
            fail(str(e), 1)
        except JobUnavailable as e:
            fail(f"{e}; nothing was changed", 1)
        except (NotFound, Refused, EngineError, ValueError) as e:
            fail(f"{e}; nothing was changed")

    return wrapper  # type: ignore[return-value]


def open_db() -> Engine:
    """The configured database, migrated, or exit 1 saying how to initialise it."""
    from kamflow.database import NotInitialised
    from kamflow.database import open_db as opened
    from kamflow.settings import Settings

    try:
        return opened(Settings().database_url)
    except NotInitialised as e:
        fail(str(e), 1)


def clock_at(at: str | None) -> Clock:
    from kamflow.clock import parse_at

    return parse_at(at)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 10 else f"{v:,.0f}"
    return "-" if v is None else str(v)


def _bar() -> Any:
    """The bar every long command shows on stderr, gone when it ends (rich loads here)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=True)


@contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on a terminal; silent when output is piped or --json."""
    if not err.is_terminal or total == 0:
        yield lambda n: None
        return
    with _bar() as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def progress_sized_later(label: str, quiet: bool = False
                         ) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """A progress bar whose total is known only once the work is planned: yields (advance,
    set_total); silent when output is piped or quiet."""
    if quiet or not err.is_terminal:
        yield (lambda n: None), (lambda n: None)
        return
    with _bar() as bar:
        task = bar.add_task(label, total=None)
        yield (lambda n: bar.advance(task, n)), (lambda n: bar.update(task, total=n))


@contextmanager
def stages(quiet: bool = False) -> Iterator[Callable[[str, int | None], Callable[[int], None]]]:
    """Progress for a job in parts, one line each: `stage(label, rows)` finishes the part
    before and returns the new part's advance (`rows` None: a part with no count, shown
    running). Silent when output is piped or quiet."""
    if quiet or not err.is_terminal:
        yield lambda _label, _rows: (lambda n: None)
        return
    with _bar() as bar:
        parts: list[tuple[Any, int | None]] = []

        def stage(label: str, rows: int | None) -> Callable[[int], None]:
            if parts and parts[-1][1] is not None:
                bar.update(parts[-1][0], completed=parts[-1][1])  # rows no part ticked
            part = bar.add_task(label, total=rows)
            parts.append((part, rows))
            return lambda n: bar.advance(part, n)

        yield stage
