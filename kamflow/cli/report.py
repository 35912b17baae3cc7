"""`kamflow report portfolio|losses|investment|sponsors`: the analytics of kamflow.reports,
as tables, `--json` (one object, as GET /api/reports/{name}) or `--csv` (one table).

Wired into the main CLI with `app.add_typer(report_app, name="report")`. As in
kamflow.cli.audit, everything from kamflow.cli and every heavy library is imported inside
the commands, so `kamflow --help` stays fast and there is no import cycle.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from kamflow.cli._common import (
    AT_HELP,
    JSON_HELP,
    clock_at,
    fail,
    open_db,
    out,
    print_json,
    user_errors,
)
from kamflow.cli.root import app

report_app = typer.Typer(help="Portfolio analytics: portfolio, losses, investment, sponsors.",
                         no_args_is_help=True)
app.add_typer(report_app, name="report")

CSV_HELP = "Print the report as one CSV table (see README: Reports)."
SHOWN = 25  # rows of a long list a table shows; --json and --csv have them all


def _run(name: str, at: str | None, as_json: bool, as_csv: bool, **options: Any
         ) -> dict[str, Any] | None:
    """The report's data for a table, or None once it was printed as JSON or CSV."""
    import csv
    import sys

    from kamflow import reports
    from kamflow.cli.report_csv import csv_table  # kamflow.security (argon2): not for --help

    if as_json and as_csv:
        fail("--json, --csv: give one of them, not both")
    moment = clock_at(at).now()
    with open_db().connect() as conn:
        data = reports.report(conn, name, moment, **options)
    if as_json:
        print_json(data)
        return None
    if as_csv:
        head, rows = csv_table(data)
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(head)
        writer.writerows(rows)
        return None
    return data


def _money(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def _signed(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:+.0f} pt"


def _more(total: int, shown: int) -> None:

    if total > shown:
        out.print(f"… and {total - shown} more (--json or --csv list them all)")


@report_app.command("portfolio")
@user_errors
def portfolio(
    at: str | None = typer.Option(None, help=AT_HELP),
    top: int = typer.Option(10, "--top", min=1, help="How many accounts the top-gap list has."),
    threshold: float = typer.Option(0.10, "--threshold",
                                    help="List the accounts above this share of all revenue."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    as_csv: bool = typer.Option(False, "--csv", help=CSV_HELP),
) -> None:
    """Accounts and revenue per class and state, wallet gap, concentration, key accounts."""
    from rich.markup import escape
    from rich.table import Table

    d = _run("portfolio", at, as_json, as_csv, top=top, threshold=threshold)
    if d is None:
        return
    months = d["revenue_months"]
    out.print(f"portfolio as of {d['as_of']}: revenue of {months['from']} to {months['to']}; "
              f"{d['note']}", highlight=False)
    for key, title in (("classes", "class"), ("states", "state")):
        t = Table(title, "accounts", "revenue t12", "share", "potential", "wallet share",
                  "wallet gap", title=f"per {title}")
        for group, f in d[key].items():
            t.add_row(group, str(f["accounts"]), _money(f["revenue_t12"]),
                      _pct(f["revenue_share"]), _money(f["potential"]), _pct(f["wallet_share"]),
                      _money(f["wallet_gap"]))
        t.add_section()
        t.add_row("total", str(d["accounts"]), _money(d["revenue_t12"]), "", _money(d["potential"]),
                  _pct(d["wallet_share"]), _money(d["wallet_gap"]))
        out.print(t)
    gaps = Table("account", "name", "class", "state", "revenue t12", "potential", "gap",
                 title=f"sleeping revenue: {_money(d['wallet_gap'])} in total; the top {d['top']}")
    for a in d["top_gaps"]:
        gaps.add_row(escape(a["id"]), escape(a["name"]), a["class"], a["state"],
                     _money(a["revenue_t12"]), _money(a["potential"]), _money(a["gap"]))
    out.print(gaps)
    c = d["concentration"]
    out.print("concentration: the largest " + ", ".join(
        f"{k.removeprefix('top_')}: {_pct(v)}" for k, v in c.items()) + " of revenue")
    if d["above_threshold"]:
        above = Table("account", "name", "class", "state", "revenue t12", "share",
                      title=f"accounts above {d['threshold']:.0%} of revenue")
        for a in d["above_threshold"]:
            above.add_row(escape(a["id"]), escape(a["name"]), a["class"], a["state"],
                          _money(a["revenue_t12"]), _pct(a["revenue_share"]))
        out.print(above)
    else:
        out.print(f"no account makes more than {d['threshold']:.0%} of revenue")
    k = d["key_accounts"]
    keys = Table("account", "name", "class", "state", "revenue t12", "share",
                 title=f"key accounts: {k['accounts']}, {_money(k['revenue_t12'])} "
                       f"({_pct(k['revenue_share'])} of revenue)")
    for a in k["list"][:SHOWN]:
        keys.add_row(escape(a["id"]), escape(a["name"]), a["class"], a["state"],
                     _money(a["revenue_t12"]), _pct(a["revenue_share"]))
    out.print(keys)
    _more(len(k["list"]), SHOWN)


@report_app.command("losses")
@user_errors
def losses(
    at: str | None = typer.Option(None, help=AT_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    as_csv: bool = typer.Option(False, "--csv", help=CSV_HELP),
) -> None:
    """Accounts lost in the year of --at and the two before: rate, revenue, causes, won back."""
    from rich.markup import escape
    from rich.table import Table

    d = _run("losses", at, as_json, as_csv)
    if d is None:
        return
    years = Table("year", "customers at start", "lost", "loss rate", "lost revenue",
                  "lost potential", "won back", "causes", title=f"losses as of {d['as_of']}")
    for y in d["years"]:
        years.add_row(str(y["year"]), str(y["customers_at_start"]), str(y["lost"]),
                      _pct(y["loss_rate"]), _money(y["lost_revenue"]), _money(y["lost_potential"]),
                      str(y["won_back"]),
                      escape(", ".join(f"{c}: {n}" for c, n in y["causes"].items())))
    out.print(years)
    lost = [(y["year"], a) for y in d["years"] for a in y["accounts"]]
    t = Table("year", "account", "name", "class", "lost at", "revenue", "potential", "cause",
              "won back", title="the accounts lost")
    for year, a in lost[-SHOWN:]:
        back = f"{a['won_back_at'][:10]} → {a['won_back_to']}" if a["won_back_at"] else ""
        t.add_row(str(year), escape(a["id"]), escape(a["name"]), a["class"], a["lost_at"][:10],
                  _money(a["revenue"]), _money(a["potential"]), escape(a["cause"]), back)
    out.print(t)
    if len(lost) > SHOWN:
        out.print(f"the latest {SHOWN} of {len(lost)} (--json or --csv for all)")


@report_app.command("investment")
@user_errors
def investment(
    at: str | None = typer.Option(None, help=AT_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    as_csv: bool = typer.Option(False, "--csv", help=CSV_HELP),
) -> None:
    """Effort (tasks due and done in the last 365 days) against potential, per class."""
    from rich.table import Table

    d = _run("investment", at, as_json, as_csv)
    if d is None:
        return
    w = d["window"]
    out.print(f"investment as of {d['as_of']}: tasks due or done after {w['from']}; "
              f"{d['note']}", highlight=False)
    t = Table("class", "accounts", "revenue t12", "potential", "wallet gap", "due", "done",
              "hours done", "on time", "effort share", "revenue share", "gap share",
              "effort − gap", "verdict",
              title="effort (hours; a step without effort_hours counts 1 per task) against "
                    "potential per class")
    rows = [*d["classes"].items(), ("total", d["total"])]
    for name, f in rows:
        if name == "total":
            t.add_section()
        t.add_row(name, str(f["accounts"]), _money(f["revenue_t12"]), _money(f["potential"]),
                  _money(f["wallet_gap"]), str(f["tasks_due"]), str(f["tasks_done"]),
                  f"{f['hours_done']:g}", _pct(f["on_time_share"]),
                  *(_pct(f[k]) if k in f else "" for k in ("effort_share", "revenue_share",
                                                           "gap_share")),
                  _signed(f["effort_minus_gap_share"]) if name != "total" else "",
                  f.get("verdict", ""))
    out.print(t)
    depts = Table("department", *(f"{name} due/done" for name, _ in rows),
                  title="tasks due / done per Responsible department")
    for dept in d["total"]["departments"]:
        depts.add_row(dept, *(f"{f['departments'].get(dept, {}).get('due', 0)}/"
                              f"{f['departments'].get(dept, {}).get('done', 0)}"
                              for _, f in rows))
    out.print(depts)


@report_app.command("sponsors")
@user_errors
def sponsors(
    at: str | None = typer.Option(None, help=AT_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Key accounts without a senior owner: no sponsor, an inactive one, the owner, or not senior."""
    from rich.markup import escape
    from rich.table import Table

    d = _run("sponsors", at, as_json, False)
    if d is None:
        return
    t = Table("account", "name", "class", "state", "owner", "owner's lead", "sponsor", "problem",
              title=f"key accounts without a senior owner: {d['without_senior_sponsor']} of "
                    f"{d['key_accounts']} (senior: {', '.join(d['senior_departments'])}), "
                    f"{d['as_of']}")
    for a in d["accounts"]:
        t.add_row(escape(a["id"]), escape(a["name"]), a["class"], a["state"], escape(a["owner"]),
                  escape(a["owner_lead"] or "-"), escape(a["sponsor"] or "-"),
                  escape(a["problem"]))
    out.print(t)


@app.command("portfolio")
@user_errors
def portfolio_summary(
    at: str | None = typer.Option(None, help=AT_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Portfolio summary: accounts and revenue per class and state, key accounts, wallet gap."""
    from kamflow.reports import summary

    with open_db().connect() as conn:
        data = summary(conn, clock_at(at).now())
    if as_json:
        print_json(data)
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


