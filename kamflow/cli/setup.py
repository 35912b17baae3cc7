"""Setting up: `kamflow init`, `kamflow import`, `kamflow demo`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from kamflow.cli._common import (
    AT_HELP,
    JSON_HELP,
    clock_at,
    open_db,
    out,
    print_json,
    progress,
    user_errors,
)
from kamflow.cli.root import app


@app.command()
@user_errors
def init(
    playbooks: Path | None = typer.Option(
        None, help="Playbook folder to load (default: KAMFLOW_PLAYBOOK_DIR or the bundled ones)."),
    at: str | None = typer.Option(None, help=AT_HELP),
    go_live: str | None = typer.Option(
        None, "--go-live", help="Day kamflow starts enforcing the process (ISO date); no task "
        "is made for a period that began earlier. Default: the day of the first sweep."),
) -> None:
    """Create or migrate the database to the newest schema and load the playbooks."""
    from datetime import date

    from kamflow.database import init as initialise
    from kamflow.settings import Settings

    day = None
    if go_live is not None:
        try:
            day = date.fromisoformat(go_live)
        except ValueError:
            raise ValueError(f"--go-live: '{go_live}' is not a date (YYYY-MM-DD)") from None
    settings = Settings()
    done = initialise(settings.database_url, playbooks or settings.playbook_dir,
                      clock_at(at).now(), day)
    out.print(f"database {'created' if done.created else 'migrated'}: {done.url}")
    out.print(f"playbook version {done.activation.version} "
              + ("loaded and active" if done.activation.changed else "already active"))
    out.print(f"go-live: {done.go_live}" if done.go_live else
              "go-live: not set yet (the first sweep sets it; or `kamflow init --go-live DATE`)")


@app.command("import")
@user_errors
def import_(
    kind: str = typer.Argument(
        ..., help="people | accounts | revenue | contacts | feedback | margin | events. "
        "revenue: account_id, month (YYYY-MM), amount, optional product_line (without it the "
        "month's total). margin: account_id, month, margin (revenue less the cost to serve; "
        "classified on with `contribution: {basis: margin}` in classification.yaml). events: "
        "account_id, event, at, optional ref, outcome (quote events: won | lost | open), amount, "
        "decided_at. contacts may add customer_role (whom we met)."),
    file: Path = typer.Argument(..., help="CSV file with a header row."),
    at: str | None = typer.Option(
        None, help="The moment this data was known (ISO date or datetime, UTC; default: now). "
        "An account's state without a state_since column is known since then, not entered "
        "then; created_at defaults to it."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Import a CSV file: all rows are checked first; any bad row means nothing is written."""
    from kamflow.importer import import_csv

    db = open_db()
    lines = file.read_bytes().count(b"\n") if file.is_file() else 0
    with progress(lines, f"importing {file.name}") as tick:
        seen = [0]

        def advance(done: int, _total: int) -> None:
            if done:
                tick(done - seen[0])
                seen[0] = done

        result = import_csv(db, kind, file, clock_at(at), advance)
    if as_json:
        print_json(result.as_dict())
        return
    out.print(f"{file}: {result.rows} {kind} rows: {result.new} new, "
              f"{result.existing} already known (updated where different)")
    for warning in result.warnings:
        out.print(f"warning: {warning}", highlight=False, soft_wrap=True)




@app.command()
@user_errors
def demo(
    accounts: int = typer.Option(2000, "--accounts", min=10, help="How many accounts."),
    seed: int = typer.Option(7, help="Random seed: the same seed gives the same portfolio."),
    at: str | None = typer.Option(None, help="Date the data runs up to. Default: today."),
    out_dir: Path | None = typer.Option(None, "--out", help="Also keep the CSV files here."),
    add: bool = typer.Option(False, "--add", help="Load it even if the database already holds "
                             "accounts (merging a second portfolio into them)."),
    weeks: int = typer.Option(0, "--weeks", min=0, max=52,
                              help="Weeks of use before --at: go live that much earlier, sweep "
                                   "weekly and do most of what falls due (some late, a few not)."),
) -> None:
    """Load a realistic synthetic portfolio through the CSV importer (into an empty database)."""
    import tempfile

    from kamflow.demo import check_empty, write_demo
    from kamflow.importer import import_csv
    from kamflow.plans import save

    db = open_db()
    check_empty(db, add)
    clock = clock_at(at)
    with tempfile.TemporaryDirectory() as tmp:
        folder = out_dir or Path(tmp)
        files = write_demo(folder, accounts, seed, clock.now().date())
        for kind, path in files.items():
            lines = path.read_bytes().count(b"\n")
            with progress(lines, f"importing {path.name}") as tick:
                seen = [0]

                def advance(done: int, _total: int, tick: Callable[[int], None] = tick,
                            seen: list[int] = seen) -> None:
                    if done:
                        tick(done - seen[0])
                        seen[0] = done

                result = import_csv(db, kind, path, clock, advance)
            out.print(f"{kind}: {result.rows} rows ({result.new} new)")
        written = sorted((folder / "plans").glob("*.yaml"))
        with progress(len(written), "saving account plans") as tick:
            for plan in written:  # as their owners would: validated, one revision each
                save(db, plan.stem, plan.read_text(encoding="utf-8"), plan.name,
                     None, clock)
                tick(1)
        out.print(f"account plans: {len(written)}")
    if weeks:
        from kamflow.demo_work import simulate

        with progress(weeks, f"{weeks} weeks of work before {clock.now():%Y-%m-%d}") as tick:
            done = simulate(db, clock.now(), weeks, seed, tick)
        out.print(f"{done['sweeps']} weekly sweeps from go-live; tasks done on time "
                  f"{done['done_on_time']}, late {done['done_late']}, left open "
                  f"{done['left_open']}")

