"""The `kamflow` command line.

Heavy imports (SQLAlchemy, the engine, Prefect later) happen inside the
commands, so `kamflow --help` stays fast. Every error a user can cause is one
clear line on stderr and a non-zero exit code; it never changes anything.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from engine.clock import Clock

app = typer.Typer(help="kamflow: a process engine for key account management.",
                  no_args_is_help=True, add_completion=False)
playbook_app = typer.Typer(help="Validate, load and inspect playbooks.", no_args_is_help=True)
account_app = typer.Typer(help="Show or move one account.", no_args_is_help=True)
task_app = typer.Typer(help="Act on one task: done, snooze, skip, reassign, claim.",
                       no_args_is_help=True)
contact_app = typer.Typer(help="Log contacts with an account.", no_args_is_help=True)
people_app = typer.Typer(help="People: deactivate and hand over.", no_args_is_help=True)
app.add_typer(playbook_app, name="playbook")
app.add_typer(account_app, name="account")
app.add_typer(task_app, name="task")
app.add_typer(contact_app, name="contact")
app.add_typer(people_app, name="people")

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

AT_HELP = "Moment to act at: ISO date or datetime (UTC). Default: now."
JSON_HELP = "Print machine-readable JSON."


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def user_errors(fn: F) -> F:
    """Turn the errors a user can cause into one line and exit code 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from engine.errors import EngineError
        from kamflow.accounts import NotFound, Refused
        from kamflow.importer import ImportRejected
        from kamflow.versions import NoPlaybooks
        from playbooks.errors import PlaybookError

        try:
            return fn(*args, **kwargs)
        except (PlaybookError, ImportRejected) as e:
            for line in str(e).splitlines():
                err.print(line, highlight=False, soft_wrap=True, markup=False)
            n = len(str(e).splitlines())
            _fail(f"{n} problem{'s' if n != 1 else ''}; nothing was changed")
        except NoPlaybooks as e:
            _fail(str(e), 1)
        except (NotFound, Refused, EngineError, ValueError) as e:
            _fail(f"{e}; nothing was changed")

    return wrapper  # type: ignore[return-value]


def _engine() -> Engine:
    from kamflow.db import engine_for, schema_is_current
    from kamflow.settings import Settings

    engine = engine_for(Settings().database_url)
    if not schema_is_current(engine):
        _fail(f"the database at {engine.url!r} is not initialised or not migrated: "
              "run `kamflow init`", 1)
    return engine


def _clock(at: str | None) -> Clock:
    from kamflow.clock import parse_at

    return parse_at(at)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on a terminal; silent when output is piped or --json."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    if not err.is_terminal or total == 0:
        yield lambda n: None
        return
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


# -- setup ----------------------------------------------------------------------


@app.command()
@user_errors
def init(
    playbooks: Path | None = typer.Option(
        None, help="Playbook folder to load (default: KAMFLOW_PLAYBOOK_DIR or the bundled ones)."),
    at: str | None = typer.Option(None, help=AT_HELP),
) -> None:
    """Create or migrate the database to the newest schema and load the playbooks."""
    from kamflow.db import engine_for, migrate
    from kamflow.settings import Settings
    from kamflow.versions import activate

    settings = Settings()
    engine = engine_for(settings.database_url)
    before = migrate(engine)
    with engine.begin() as conn:
        act = activate(conn, playbooks or settings.playbook_dir, _clock(at).now())
    state = "created" if before is None else "migrated"
    out.print(f"database {state}: {engine.url!r}")
    out.print(f"playbook version {act.version} "
              + ("loaded and active" if act.changed else "already active"))


@app.command("import")
@user_errors
def import_(
    kind: str = typer.Argument(..., help="people | accounts | revenue | contacts | feedback"),
    file: Path = typer.Argument(..., help="CSV file with a header row."),
    at: str | None = typer.Option(None, help=AT_HELP + " Used as created_at when not given."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Import a CSV file: all rows are checked first; any bad row means nothing is written."""
    from kamflow.importer import import_csv

    engine = _engine()
    lines = file.read_bytes().count(b"\n") if file.is_file() else 0
    with _progress(lines, f"importing {file.name}") as tick:
        seen = [0]

        def advance(done: int, _total: int) -> None:
            if done:
                tick(done - seen[0])
                seen[0] = done

        result = import_csv(engine, kind, file, _clock(at), advance)
    if as_json:
        _print_json(result.as_dict())
        return
    out.print(f"{file}: {result.rows} {kind} rows: {result.new} new, "
              f"{result.existing} already known (updated where different)")


# -- playbooks ------------------------------------------------------------------


@playbook_app.command("validate")
@user_errors
def playbook_validate(
    directory: Path | None = typer.Argument(None, help="Folder of YAML playbooks (default: bundled)."),
) -> None:
    """Check a playbook folder; print every problem with file and line."""
    from playbooks.loader import bundled_dir, load_dir

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
    from kamflow.versions import activate

    engine = _engine()
    with engine.begin() as conn:
        act = activate(conn, directory, _clock(at).now())
    out.print(f"playbook version {act.version} "
              + ("is now active" if act.changed else "was already active"))


def _active_book() -> Any:
    from kamflow.versions import active_book

    with _engine().connect() as conn:
        return active_book(conn)


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
        _print_json({"version": book.version, **pb.model_dump(mode="json")})
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
    from engine.lifecycle import LifecycleEngine
    from playbooks.loader import load_dir

    book = load_dir(directory) if directory else _active_book()
    sys.stdout.write(LifecycleEngine(book).diagram() + "\n")


# -- accounts -------------------------------------------------------------------


@app.command()
@user_errors
def accounts(
    klass: str | None = typer.Option(None, "--class", help="Only class A, B, C or D."),
    state: str | None = typer.Option(None, help="Only accounts in this lifecycle state."),
    owner: str | None = typer.Option(None, help="Only accounts of this owner (email)."),
    key: bool = typer.Option(False, "--key", help="Only key accounts."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List accounts with their class and lifecycle state (as of the last sweep)."""
    from kamflow.accounts import list_accounts

    if klass is not None and klass not in ("A", "B", "C", "D"):
        raise ValueError(f"--class: '{klass}' is not one of A, B, C, D")
    with _engine().connect() as conn:
        rows = list_accounts(conn, klass, state, owner, key)
    if as_json:
        _print_json(rows)
        return
    table = Table("account", "name", "class", "state", "since", "key", "fit", "owner")
    for r in rows:
        table.add_row(r["id"], r["name"], r["klass"] or "-", r["state"],
                      r["state_since"].date().isoformat(), "★" if r["key_account"] else "",
                      f"{r['portrait_fit']:.0f}" if r["portrait_fit"] is not None else "-",
                      r["owner_email"])
    out.print(table)
    out.print(f"{len(rows)} account(s)")


@account_app.command("show")
@user_errors
def account_show(
    account_id: str = typer.Argument(..., metavar="ID"),
    at: str | None = typer.Option(None, help=AT_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Metrics, class, state and every transition with the rule and values that fired it."""
    from kamflow.accounts import show

    with _engine().connect() as conn:
        data = show(conn, account_id, _clock(at).now())
    if as_json:
        _print_json(data)
        return
    out.print(f"[bold]{data['id']}[/bold] {data['name']} ({data['industry']})", soft_wrap=True)
    out.print(f"owner {data['owner']}  sponsor {data['sponsor'] or '-'}")
    out.print(f"state [bold]{data['state']}[/bold] since {data['state_since']}  "
              f"class [bold]{data['class']}[/bold] (potential {data['potential_level']}, "
              f"contribution {data['contribution_level']})  segment {data['segment']}  "
              f"{'key account  ' if data['key_account'] else ''}portrait fit {data['portrait_fit']}")
    m = Table("metric", "value", title=f"metrics as of {data['as_of']}")
    for k, v in data["metrics"].items():
        m.add_row(k, _fmt(v))
    out.print(m)
    if data["retention"]:
        r = Table("factor", "value", "score 0-10", "weight", "points",
                  title=f"retention score {_fmt(data['retention_score'])} of 100")
        for f in data["retention"]:
            r.add_row(f["title"], _fmt(f["value"]), _fmt(f["score"]), _fmt(f["weight"]),
                      _fmt(f["points"]))
        out.print(r)
    t = Table("at", "from → to", "rule", "why", title="transitions")
    for tr in data["transitions"]:
        why = tr["condition"] or tr["description"] or ""
        if tr["actor"] not in ("system", "import"):
            why = f"{tr['actor']}: {tr['reason']}"
        seen = ", ".join(f"{k}={_fmt(v)}" for k, v in tr["metrics"].items()
                         ) if tr["actor"] == "system" else ""
        t.add_row(tr["at"], f"{tr['from'] or '∅'} → {tr['to']}", tr["rule"],
                  why + (f"\n[dim]saw {seen}[/dim]" if seen else ""))
    out.print(t)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 10 else f"{v:,.0f}"
    return "-" if v is None else str(v)


@account_app.command("move")
@user_errors
def account_move(
    account_id: str = typer.Argument(..., metavar="ID"),
    state: str = typer.Argument(..., help="Destination state (along a declared transition)."),
    reason: str = typer.Option(..., help="Why: recorded with the transition."),
    by: str | None = typer.Option(None, help="Email of the person making the move."),
    at: str | None = typer.Option(None, help=AT_HELP),
) -> None:
    """Move an account by hand, along a transition the lifecycle declares."""
    from kamflow.accounts import move

    moved = move(_engine(), account_id, state, reason, by, _clock(at))
    out.print(f"{moved.account_id}: {moved.source} → {moved.dest} (rule {moved.rule}) "
              f"at {moved.at.isoformat()}")


# -- the engine -------------------------------------------------------------------


@app.command()
@user_errors
def sweep(
    at: str | None = typer.Option(None, help=AT_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Recompute metrics, classify, fire transitions, generate and escalate tasks."""
    from kamflow.sweep import count_accounts, run_sweep

    engine = _engine()
    with _progress(0 if as_json else count_accounts(engine), "sweeping") as tick:
        summary = run_sweep(engine, _clock(at), tick)
    if as_json:
        _print_json(summary.as_dict())
        return
    _sweep_lines(summary.as_dict())


def _sweep_lines(d: dict[str, Any]) -> None:
    out.print(f"sweep at {d['at']} (playbook {d['playbook_version']}): {d['accounts']} accounts, "
              f"{d['reclassified']} reclassified, {d['transitions_total']} transitions in "
              f"{d['seconds']:.2f}s")
    for move, n in d["transitions"].items():
        out.print(f"  {move}: {n}")
    out.print(f"tasks: {d['tasks_created']} created, {d['tasks_cancelled']} cancelled, "
              f"{d['contact_checks_completed']} contact checks completed by a contact, "
              f"{d['tasks_woken']} woke from snooze, {d['tasks_escalated']} escalated")
    if d["routed_to_queue_fallback"]:
        out.print(f"[yellow]{d['routed_to_queue_fallback']} task(s) went to a department queue "
                  "because their Responsible could not be resolved, e.g.:[/yellow]")
        for note in d["routing_notes"][:5]:
            out.print(f"  {note}", highlight=False)


@app.command()
@user_errors
def replay(
    start: str = typer.Option(..., "--from", help="First date (ISO)."),
    end: str = typer.Option(..., "--to", help="Last date (ISO), included."),
    every: str = typer.Option("1d", help="Step between sweeps: Nd (days) or Nw (weeks)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Run the sweep on each date in turn, as the scheduler would have."""
    from datetime import timedelta

    from engine.clock import FixedClock
    from kamflow.sweep import run_sweep

    first, last = _clock(start).now(), _clock(end).now()
    if last < first:
        raise ValueError("--to: must not be before --from")
    if len(every) < 2 or every[-1] not in "dw" or not every[:-1].isdigit() or every[:-1] == "0":
        raise ValueError(f"--every: '{every}' is not like 1d or 2w")
    step = timedelta(days=int(every[:-1]) * (7 if every[-1] == "w" else 1))
    dates = []
    day = first
    while day <= last:
        dates.append(day)
        day += step
    engine = _engine()
    totals: dict[str, Any] = {"sweeps": 0, "transitions": {}, "tasks_created": 0,
                              "tasks_cancelled": 0, "tasks_escalated": 0,
                              "contact_checks_completed": 0}
    with _progress(0 if as_json else len(dates), "replaying") as tick:
        for at in dates:
            d = run_sweep(engine, FixedClock(at)).as_dict()
            totals["sweeps"] += 1
            for move, n in d["transitions"].items():
                totals["transitions"][move] = totals["transitions"].get(move, 0) + n
            for k in ("tasks_created", "tasks_cancelled", "tasks_escalated",
                      "contact_checks_completed"):
                totals[k] += d[k]
            tick(1)
    totals["from"], totals["to"] = first.isoformat(), last.isoformat()
    if as_json:
        _print_json(totals)
        return
    out.print(f"replayed {totals['sweeps']} sweeps from {totals['from']} to {totals['to']}: "
              f"{sum(totals['transitions'].values())} transitions, {totals['tasks_created']} "
              f"tasks created, {totals['tasks_cancelled']} cancelled, "
              f"{totals['tasks_escalated']} escalated")


@app.command("tasks")
@user_errors
def tasks_(
    assignee: str | None = typer.Option(None, help="The queue of this person (email)."),
    department: str | None = typer.Option(None, help="The board of this department."),
    raci: str | None = typer.Option(None, help="Only where the person/department is R, A, C or I."),
    status: str = typer.Option("open", help="open | overdue | due-today | upcoming | done | snoozed | "
                               "skipped | cancelled | all"),
    account: str | None = typer.Option(None, help="Only this account's tasks."),
    at: str | None = typer.Option(None, help=AT_HELP + " Decides overdue / due today."),
    limit: int | None = typer.Option(None, help="At most this many rows."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The account manager's queue and the department lead's board."""
    from kamflow.taskops import list_tasks

    today = _clock(at).now().date()
    with _engine().connect() as conn:
        rows = list_tasks(conn, today, assignee, department, raci, status, account, limit)
    if as_json:
        _print_json(rows)
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
    from kamflow.taskops import act

    fields = {}
    for item in field:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--field: '{item}' is not KEY=VALUE")
        fields[key.strip()] = value.strip()
    _task_done(act(_engine(), task_id, "done", _clock(at), by, outcome=outcome, note=note,
                   fields=fields))


@task_app.command("snooze")
@user_errors
def task_snooze(
    task_id: int = typer.Argument(..., metavar="ID"),
    until: str = typer.Option(..., help="Date it wakes up (ISO)."),
    reason: str = typer.Option(..., help="Why it waits."),
    by: str | None = typer.Option(None, help="Who snoozes it (email)."),
    at: str | None = typer.Option(None, help=AT_HELP),
) -> None:
    """Put a task aside until a date, within the step's snooze limit."""
    from datetime import date

    from kamflow.taskops import act

    try:
        day = date.fromisoformat(until)
    except ValueError:
        raise ValueError(f"--until: '{until}' is not a date (YYYY-MM-DD)") from None
    _task_done(act(_engine(), task_id, "snooze", _clock(at), by, until=day, reason=reason))


@task_app.command("skip")
@user_errors
def task_skip(
    task_id: int = typer.Argument(..., metavar="ID"),
    reason: str = typer.Option(..., help="Why it will not be done (shown in adherence)."),
    by: str | None = typer.Option(None, help="Who decides (email)."),
    at: str | None = typer.Option(None, help=AT_HELP),
) -> None:
    """Skip a task, with a reason."""
    from kamflow.taskops import act

    _task_done(act(_engine(), task_id, "skip", _clock(at), by, reason=reason))


@task_app.command("reassign")
@user_errors
def task_reassign(
    task_id: int = typer.Argument(..., metavar="ID"),
    to: str = typer.Option(..., help="New assignee (email of an active person)."),
    by: str | None = typer.Option(None, help="Who reassigns (email)."),
    at: str | None = typer.Option(None, help=AT_HELP),
) -> None:
    """Give a task to someone else."""
    from kamflow.taskops import act

    _task_done(act(_engine(), task_id, "reassign", _clock(at), by, person=to))


@task_app.command("claim")
@user_errors
def task_claim(
    task_id: int = typer.Argument(..., metavar="ID"),
    by: str = typer.Option(..., help="The member of the queue's department who takes it."),
    at: str | None = typer.Option(None, help=AT_HELP),
) -> None:
    """Take a task from your department's queue."""
    from kamflow.taskops import act

    _task_done(act(_engine(), task_id, "claim", _clock(at), by, person=by))


@contact_app.command("log")
@user_errors
def contact_log(
    account_id: str = typer.Argument(..., metavar="ACCOUNT"),
    channel: str = typer.Option(..., help="visit | call | video | email | event"),
    by: str = typer.Option(..., help="Who had the contact (email)."),
    note: str = typer.Option("", help="What it was about."),
    day: str | None = typer.Option(None, "--date", help="Date of the contact (default: today)."),
    at: str | None = typer.Option(None, help=AT_HELP),
) -> None:
    """Log a contact; an open contact-frequency check it satisfies is completed with it."""
    from datetime import date

    from kamflow.taskops import log_contact

    try:
        when = date.fromisoformat(day) if day else None
    except ValueError:
        raise ValueError(f"--date: '{day}' is not a date (YYYY-MM-DD)") from None
    counts = log_contact(_engine(), account_id, channel, by.lower(), note, when, _clock(at))
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
) -> None:
    """Report an event; the steps it triggers become tasks at once."""
    from kamflow.taskops import post_event

    counts = post_event(_engine(), account_id, name, ref, by, _clock(at))
    out.print(f"{name} recorded for {account_id}; {counts.created} task(s) created")


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
    from kamflow.taskops import deactivate

    n = deactivate(_engine(), email.lower(), to, to_department, by, _clock(at))
    out.print(f"{email} deactivated: {n['accounts']} account(s), {n['sponsored']} sponsorship(s), "
              f"{n['tasks']} open task(s) and {n['accountable']} accountability(ies) handed over")


@app.command()
@user_errors
def portfolio(
    at: str | None = typer.Option(None, help=AT_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Portfolio summary: accounts and revenue per class and state, key accounts, wallet gap."""
    from kamflow.portfolio import summary

    with _engine().connect() as conn:
        data = summary(conn, _clock(at).now())
    if as_json:
        _print_json(data)
        return
    classes = data["classes"]
    table = Table("state", *classes, "total", title=f"accounts by state and class, {data['as_of']}")
    for state in data["states"]:
        counts = [classes[c]["states"].get(state, 0) for c in classes]
        table.add_row(state, *map(str, counts), str(sum(counts)))
    out.print(table)
    money = Table("class", "accounts", "revenue t12", "potential", "wallet share")
    for klass, row in classes.items():
        share = row["revenue_t12"] / row["potential"] if row["potential"] else 0
        money.add_row(klass, str(row["accounts"]), f"{row['revenue_t12']:,.0f}",
                      f"{row['potential']:,.0f}", f"{share:.0%}")
    out.print(money)
    out.print(f"{data['accounts']} accounts; {data['key_accounts']} key accounts make "
              f"{data['key_revenue_share']:.0%} of revenue; sleeping revenue (potential not won): "
              f"{data['wallet_gap']:,.0f}")


@app.command()
@user_errors
def demo(
    accounts: int = typer.Option(2000, "--accounts", min=10, help="How many accounts."),
    seed: int = typer.Option(7, help="Random seed: the same seed gives the same portfolio."),
    at: str | None = typer.Option(None, help="Date the data runs up to. Default: today."),
    out_dir: Path | None = typer.Option(None, "--out", help="Also keep the CSV files here."),
) -> None:
    """Load a realistic synthetic portfolio through the CSV importer."""
    import tempfile

    from kamflow.demo import write_demo
    from kamflow.importer import import_csv
    from kamflow.plans import save

    engine = _engine()
    clock = _clock(at)
    with tempfile.TemporaryDirectory() as tmp:
        folder = out_dir or Path(tmp)
        files = write_demo(folder, accounts, seed, clock.now().date())
        for kind, path in files.items():
            lines = path.read_bytes().count(b"\n")
            with _progress(lines, f"importing {path.name}") as tick:
                seen = [0]

                def advance(done: int, _total: int, tick: Callable[[int], None] = tick,
                            seen: list[int] = seen) -> None:
                    if done:
                        tick(done - seen[0])
                        seen[0] = done

                result = import_csv(engine, kind, path, clock, advance)
            out.print(f"{kind}: {result.rows} rows ({result.new} new)")
        written = sorted((folder / "plans").glob("*.yaml"))
        with _progress(len(written), "saving account plans") as tick:
            for plan in written:  # as their owners would: validated, one revision each
                save(engine, plan.stem, plan.read_text(encoding="utf-8"), plan.name,
                     None, clock)
                tick(1)
        out.print(f"account plans: {len(written)}")


def _add_subcommands() -> None:
    from kamflow.cli_audit import audit_app

    app.add_typer(audit_app, name="audit")
    app.add_typer(__import__("kamflow.cli_plan").cli_plan.plan_app, name="plan")
    __import__("kamflow.cli_notify").cli_notify.register(app, people_app)  # notify, people prefs
    __import__("kamflow.cli_ops").cli_ops.register(app)  # run, scheduler, status
    app.add_typer(__import__("kamflow.cli_prefect").cli_prefect.prefect_app, name="prefect")
    __import__("kamflow.cli_web").cli_web.register(app, people_app)  # serve, token, people password
    app.add_typer(__import__("kamflow.cli_report").cli_report.report_app, name="report")


_add_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
