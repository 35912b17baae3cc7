"""`kamflow accounts` and `kamflow account`: list, show and move accounts."""

from __future__ import annotations

import typer
from rich.table import Table

from kamflow.cli._common import AT_HELP, JSON_HELP, clock_at, fmt, open_db, out, print_json, user_errors
from kamflow.cli.root import app

account_app = typer.Typer(help="Show or move one account.", no_args_is_help=True)
app.add_typer(account_app, name="account")

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

    with open_db().connect() as conn:
        rows = list_accounts(conn, klass, state, owner, key)
    if as_json:
        print_json(rows)
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

    with open_db().connect() as conn:
        data = show(conn, account_id, clock_at(at).now())
    if as_json:
        print_json(data)
        return
    out.print(f"[bold]{data['id']}[/bold] {data['name']} ({data['industry']})", soft_wrap=True)
    out.print(f"owner {data['owner']}  sponsor {data['sponsor'] or '-'}")
    out.print(f"state [bold]{data['state']}[/bold] since {data['state_since']}  "
              f"class [bold]{data['class']}[/bold] (potential {data['potential_level']}, "
              f"contribution {data['contribution_level']})  segment {data['segment']}  "
              f"{'key account  ' if data['key_account'] else ''}portrait fit {data['portrait_fit']}")
    if data.get("key_reason"):
        out.print(data["key_reason"], soft_wrap=True, highlight=False)
    m = Table("metric", "value", title=f"metrics as of {data['as_of']}")
    for k, v in data["metrics"].items():
        m.add_row(k, fmt(v))
    out.print(m)
    if data["retention"]:
        r = Table("factor", "value", "score 0-10", "weight", "points",
                  title=f"retention score {fmt(data['retention_score'])} of 100")
        for f in data["retention"]:
            r.add_row(f["title"], fmt(f["value"]), fmt(f["score"]), fmt(f["weight"]),
                      fmt(f["points"]))
        out.print(r)
    t = Table("at", "from → to", "rule", "why", title="transitions")
    for tr in data["transitions"]:
        why = tr["condition"] or tr["description"] or ""
        if tr["actor"] not in ("system", "import"):
            why = f"{tr['actor']}: {tr['reason']}"
        seen = ", ".join(f"{k}={fmt(v)}" for k, v in tr["metrics"].items()
                         ) if tr["actor"] == "system" else ""
        t.add_row(tr["at"], f"{tr['from'] or '∅'} → {tr['to']}", tr["rule"],
                  why + (f"\n[dim]saw {seen}[/dim]" if seen else ""))
    out.print(t)


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

    moved = move(open_db(), account_id, state, reason, by, clock_at(at))
    out.print(f"{moved.account_id}: {moved.source} → {moved.dest} (rule {moved.rule}) "
              f"at {moved.at.isoformat()}")


