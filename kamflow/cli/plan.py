"""`kamflow plan show | edit | template`: the account plan as a YAML document people write.

Wired into the main CLI with `app.add_typer(plan_app, name="plan")`; as in
kamflow.cli.audit, kamflow.cli is imported inside the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from kamflow.cli._common import AT_HELP, clock_at, fmt, open_db, out, print_json, user_errors
from kamflow.cli.root import app

plan_app = typer.Typer(help="Account plans: show, edit from YAML, print an empty template.",
                       no_args_is_help=True)
app.add_typer(plan_app, name="plan")



@plan_app.command("template")
def template() -> None:
    """Print an empty, commented plan to fill in and save with `plan edit`."""
    from kamflow.plans import template as text

    sys.stdout.write(text())


@plan_app.command("edit")
@user_errors
def edit(
    account_id: str = typer.Argument(..., metavar="ACCOUNT"),
    source: Path = typer.Option(..., "--from", help="The plan as YAML (see `plan template`).",
                                dir_okay=False),
    by: str | None = typer.Option(None, help="Email of the person saving it."),
    at: str | None = typer.Option(None, help=AT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Validate the YAML and store it as the account's plan (a new revision if it changed)."""
    from kamflow.plans import save

    try:
        text = source.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"--from: cannot read {source}: {e.strerror}") from e
    saved = save(open_db(), account_id, text, str(source), by, clock_at(at))
    if as_json:
        print_json(saved)
        return
    if saved["unchanged"]:
        out.print(f"{account_id} FY{saved['fiscal_year']}: unchanged (revision "
                  f"{saved['revision']})")
        return
    if saved["revision"] == 1:
        out.print(f"{account_id} FY{saved['fiscal_year']}: plan created (revision 1)")
        return
    out.print(f"{account_id} FY{saved['fiscal_year']}: saved revision {saved['revision']}, "
              f"{len(saved['changes'])} field(s) changed")
    for c in saved["changes"][:20]:
        out.print(f"  {c['field']}: {_short(c['before'])} → {_short(c['after'])}", markup=False)


@plan_app.command("list")
@user_errors
def list_plans(
    year: int | None = typer.Option(None, help="Fiscal year (default: the one --at falls in)."),
    at: str | None = typer.Option(None, help=AT_HELP),
    missing: bool = typer.Option(False, "--missing",
                                 help="Only the accounts asked for a plan that have none."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """The fiscal year's plans with attainment and evaluations, and the accounts whose plan
    step asked for one that was not written."""
    from rich.table import Table

    from kamflow.plans import coverage

    with open_db().connect() as conn:
        data = coverage(conn, year, clock_at(at).now())
    if missing:
        data["plans"] = []
    if as_json:
        print_json(data)
        return
    if not missing:
        t = Table("account", "owner", "class", "state", "rev.", "target", "attainment",
                  "evaluations", "last evaluated",
                  title=f"account plans FY{data['fiscal_year']} "
                        f"({data['months_complete']} month(s) complete)")
        for p in data["plans"]:
            t.add_row(p["account"], p["owner"], p["class"] or "-", p["state"],
                      str(p["revision"]), fmt(p["target_revenue"]), _pct(p["attainment"]),
                      str(p["evaluations"]), (p["last_evaluation"] or "-")[:10])
        out.print(t)
    m = Table("account", "owner", "class", "state", "draft due", title="asked for, not written")
    for p in data["missing"]:
        due = p["draft_due"] + (" [red](overdue)[/red]" if p["overdue"] else "")
        m.add_row(p["account"], p["owner"], p["class"] or "-", p["state"], due)
    out.print(m)


@plan_app.command("touchpoints")
@user_errors
def touchpoints(
    at: str | None = typer.Option(None, help=AT_HELP),
    owner: str | None = typer.Option(None, help="Only the accounts this person owns (email)."),
    show_all: bool = typer.Option(False, "--all", help="Every planned touchpoint, not only "
                                  "the overdue ones."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Overdue touchpoints of the account plans: who of ours should have met which customer
    role (a contact logged with --customer-role counts)."""
    from rich.table import Table

    from kamflow.touchpoints import check

    with open_db().connect() as conn:
        data = check(conn, clock_at(at).now(), owner.lower() if owner else None, not show_all)
    if as_json:
        print_json(data)
        return
    t = Table("account", "owner", "ours", "theirs", "every", "last met", "due", "overdue",
              title=f"touchpoints as of {data['as_of'][:10]}: {data['overdue']} overdue")
    for r in data["touchpoints"]:
        ours = r["ours"] + (" (no sponsor)" if r["no_sponsor"] else "")
        t.add_row(r["account"], r["owner"], ours, r["theirs"], f"{r['every_days']} d",
                  r["last_met"] or "never", r["due"], f"{r['days_overdue']} d")
    out.print(t)


@plan_app.command("show")
@user_errors
def show(
    account_id: str = typer.Argument(..., metavar="ACCOUNT"),
    year: int | None = typer.Option(None, help="Fiscal year (default: the one --at falls in)."),
    at: str | None = typer.Option(None, help=AT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    as_yaml: bool = typer.Option(False, "--yaml", help="Print the document to edit and save."),
) -> None:
    """The plan, its target attainment, its quarterly evaluations and its history."""
    from rich.table import Table

    from kamflow.plans import as_yaml as dump
    from kamflow.plans import show

    if as_json and as_yaml:
        raise ValueError("--json and --yaml: choose one")
    with open_db().connect() as conn:
        data = show(conn, account_id, year, clock_at(at).now())
    if as_json:
        print_json(data)
        return
    if as_yaml:
        sys.stdout.write(dump(data["document"]))
        return
    doc, got = data["document"], data["attainment"]
    out.print(f"[bold]{account_id}[/bold] account plan FY{data['fiscal_year']}, revision "
              f"{data['revision']} ({data['updated_by']}, {data['updated_at']})")
    out.print(f"target {fmt(got['target_revenue'])}  to date: revenue {fmt(got['revenue_fy'])}"
              f" of {fmt(got['target_fy'])} = attainment {_pct(got['attainment'])}"
              f"  relationship closeness {fmt(data['closeness'])}")
    for line in got.get("product_lines", []):
        out.print(f"  {line['product_line'] or '(month totals)'}: revenue {fmt(line['revenue'])}"
                  f" of {fmt(line['target_to_date'])} = {_pct(line['attainment'])}")
    for title, part in (("analysis", doc["analysis"]), ("SWOT", doc["swot"]),
                        ("priorities", doc["priorities"])):
        lines = [f"{k}: " + ("; ".join(v) if isinstance(v, list) else v)
                 for k, v in part.items() if v]
        if lines:
            out.print(f"[bold]{title}[/bold]\n  " + "\n  ".join(lines), soft_wrap=True)
    if doc["relationships"]:
        t = Table("name", "title", "role", "influence", "closeness", "owner",
                  title="relationship map")
        for p in doc["relationships"]:
            t.add_row(p["name"], p["title"], p["role"], str(p["influence"]),
                      str(p["closeness"]), p["owner"])
        out.print(t)
    if doc["opportunities"]:
        t = Table("key", "title", "status", "expected", "contract", "paid", title="opportunities")
        for o in doc["opportunities"]:
            t.add_row(o["key"], o["title"], o["status"], fmt(o["expected_value"]),
                      fmt(o["contract_value"]), fmt(o["payments_received"]))
        out.print(t)
    t = Table("period", "at", "by", "assessment", "attainment", "changed since the last",
              title="quarterly evaluations")
    for e in data["evaluations"]:
        t.add_row(e["period"], e["at"][:10], e["actor"],
                  " — ".join(x for x in (e["outcome"], e["note"]) if x),
                  _pct(e["attainment"]), ", ".join(c["field"] for c in e["changes"]) or "-")
    out.print(t)
    h = Table("at", "kind", "period", "revision", "attainment", "changed", title="history")
    for e in data["history"]:
        if e["kind"] != "evaluation":
            h.add_row(e["at"][:16], e["kind"], e["period"], str(e["revision"]),
                      _pct(e["attainment"]), str(len(e["changes"])) if e["changes"] else "-")
    out.print(h)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def _short(v: Any) -> str:
    text = "-" if v is None else str(v)
    return text if len(text) <= 60 else text[:57] + "..."
