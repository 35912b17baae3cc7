"""Pages to look at: adherence (with its CSV export), the portfolio and the playbooks with
the lifecycle diagram. Charts are SVG made by kamflow.web.charts; one account's page is
kamflow.web.pages_account."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import date, timedelta
from typing import Annotated, NamedTuple

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from kamflow import access, plans, reports, views
from kamflow import adherence as trail
from kamflow.activation import current as active_book
from kamflow.activation import lifecycle_of
from kamflow.people import Principal
from kamflow.playbooks.schema import Step
from kamflow.security import csv_row
from kamflow.web import charts, diagram
from kamflow.web.deps import context
from kamflow.web.errors import ApiError
from kamflow.web.pagekit import Viewer, page, render

router = APIRouter()
SCATTER_POINTS = 2000
TOP_GAPS = 10
KEY_ACCOUNTS_SHOWN = 20
DEFAULT_DAYS = 91  # the adherence period when none is given: the last 13 weeks


# -- adherence ------------------------------------------------------------------------------


def _period(today: date, start: str | None, end: str | None, by: str
            ) -> tuple[date, date, str]:
    try:
        last = date.fromisoformat(end) if end else today
    except ValueError:
        raise ApiError(422, f"to: '{end}' is not a date (2026-06-30)", "to") from None
    try:
        first = date.fromisoformat(start) if start else last - timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        raise ApiError(422, f"from: '{start}' is not a date (2026-01-01)", "from") from None
    if first > last:
        raise ApiError(422, f"to: {last.isoformat()} is before from {first.isoformat()}", "to")
    if (last - first).days > 3 * 366:
        raise ApiError(422, "from: at most three years at a time", "from")
    if by not in trail.BY:
        raise ApiError(422, f"by: '{by}' is not one of {', '.join(trail.BY)}", "by")
    return first, last, by


class Asked(NamedTuple):
    """What the adherence page and its CSV export were asked, checked against the policy."""

    today: date
    first: date
    last: date
    by: str
    limit: trail.Limit

    @property
    def query(self) -> dict[str, str]:
        """The query string that asks it again (links, the CSV export)."""
        extra = {"department": self.limit.department, "letter": self.limit.letter}
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "by": self.by,
                **{k: v for k, v in extra.items() if v}}


def asked(request: Request, user: Principal, start: str | None, end: str | None, by: str,
          department: str | None, letter: str | None) -> Asked:
    """The opening both adherence routes share: who may see which department, the period,
    the grouping, the letter."""
    dept = access.adherence_department(user, department or None)
    if letter and letter not in trail.LETTERS:
        raise ApiError(422, f"letter: '{letter}' is not one of {', '.join(trail.LETTERS)}",
                       "letter")
    today = context(request).clock.now().date()
    first, last, group = _period(today, start, end, by)
    return Asked(today, first, last, group, trail.Limit(dept, letter or None))


Text = Annotated[str | None, Query(max_length=40)]
Dept = Annotated[str | None, Query(max_length=64)]
Letter = Annotated[str | None, Query(max_length=1)]


@router.get("/adherence", response_class=HTMLResponse)
def adherence(request: Request, viewer: Viewer, start: Annotated[Text, Query(alias="from")] = None,
              end: Annotated[Text, Query(alias="to")] = None,
              by: Annotated[str, Query(max_length=20)] = "step", department: Dept = None,
              letter: Letter = None) -> Response:
    """On-time rate by step, account, owner, person, department, RACI letter, class or state;
    the weekly trend; escalations; skips with their reasons. A department lead sees the
    tasks their department is named on."""

    def build(user: Principal) -> Response:
        a = asked(request, user, start, end, by, department, letter)
        db = context(request).db
        seen = trail.overview(db, a.first, a.last, a.by, a.today, a.limit)
        weeks = seen.weeks
        trend = charts.line_chart(
            [(w.start.strftime("%d %b"), w.rate) for w in weeks],
            "On-time rate per week of due dates",
            hover=[f"week of {w.start.isoformat()}: "
                   + (f"{w.on_time} of {w.due} on time" if w.due else "nothing due")
                   for w in weeks])
        choices = {k: v for k, v in trail.departments(db).items()
                   if access.sees_everything(user) or k == a.limit.department}
        return render(request, "adherence.html", user, rows=seen.rows[:-1], total=seen.rows[-1],
                      first=a.first, last=a.last, by=a.by, groupings=trail.BY, trend=trend,
                      weeks=weeks, escalated=seen.escalated, n_escalated=seen.n_escalated,
                      query=a.query, department=a.limit.department, letter=a.limit.letter,
                      departments=choices, letters=trail.LETTERS,
                      any_department=access.sees_everything(user))

    return page(request, viewer, build)


CSV_COLUMNS = ("group", "due", "done_on_time", "done_late", "skipped", "missed", "open_overdue",
               "open_not_yet_due", "cancelled", "on_time_rate", "median_lateness_days",
               "skip_reasons")


@router.get("/adherence.csv")
def adherence_csv(request: Request, viewer: Viewer,
                  start: Annotated[Text, Query(alias="from")] = None,
                  end: Annotated[Text, Query(alias="to")] = None,
                  by: Annotated[str, Query(max_length=20)] = "step", department: Dept = None,
                  letter: Letter = None) -> Response:
    """The adherence table as CSV (one row per group, then the total)."""

    def build(user: Principal) -> Response:
        a = asked(request, user, start, end, by, department, letter)
        rows = trail.report(context(request).db, a.first, a.last, a.by, a.today, a.limit)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([a.by if c == "group" else c for c in CSV_COLUMNS])
        for r in rows:  # a group (a person, a step...) named "=..." is shown, not run
            writer.writerow(csv_row([
                ("" if r[c] is None else f"{r[c]:.4f}") if c == "on_time_rate"
                else json.dumps(r[c], sort_keys=True) if c == "skip_reasons"
                else ("" if r[c] is None else r[c]) for c in CSV_COLUMNS]))
        within = "".join(f"-{re.sub('[^A-Za-z0-9_]', '_', v)}"
                         for v in (a.limit.department, a.limit.letter) if v)
        name = f"adherence-{a.by}{within}-{a.first.isoformat()}-{a.last.isoformat()}.csv"
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    return page(request, viewer, build)


# -- portfolio --------------------------------------------------------------------------------


@router.get("/portfolio", response_class=HTMLResponse)
def portfolio_page(request: Request, viewer: Viewer) -> Response:
    """The potential x contribution matrix, sleeping revenue, concentration, key accounts,
    states; losses per year and effort against potential per class (kamflow.reports)."""

    def build(user: Principal) -> Response:
        access.may_see_portfolio(user)
        ctx = context(request)
        now = ctx.clock.now()
        with ctx.db.connect() as conn:
            report = reports.report(conn, "portfolio", now, TOP_GAPS)
            lost = reports.report(conn, "losses", now)
            effort = reports.report(conn, "investment", now)
            coverage = plans.coverage(conn, None, now)
            thresholds = active_book(conn).classification
            rows = views.revenue_by_account(conn, now)
        shown = views.sample(rows, SCATTER_POINTS)
        pot, con = thresholds.potential, thresholds.contribution
        share = thresholds.min_share_for_high_contribution
        scatter = charts.scatter(
            [charts.Point(r.potential, r.revenue, r.klass,
                          f"{r.id} {r.name}: class {r.klass or '-'}, potential "
                          f"{charts.money(r.potential)}, revenue {charts.money(r.revenue)}")
             for r in shown],
            "Potential x contribution", x_title="potential per year (log scale)",
            y_title="revenue, trailing 12 months (log scale)",
            x_lines=[(pot.medium, f"medium potential {charts.money(pot.medium)}"),
                     (pot.high, f"high potential {charts.money(pot.high)}")],
            y_lines=[(con.medium, f"medium contribution {charts.money(con.medium)}"),
                     (con.high, f"high contribution {charts.money(con.high)}")],
            ratio_line=(share, f"revenue = {share:.0%} of potential"),
            regions=[("A", (pot.high, math.inf), (con.high, math.inf)),
                     ("B", (0, pot.high), (con.high, math.inf)),
                     ("C", (pot.medium, math.inf), (0, con.high)),
                     ("D", (0, pot.medium), (0, con.high))])
        per_state = {state: f["accounts"] for state, f in report["states"].items()}
        states_svg = charts.hbars(list(per_state.items()), "Accounts per state",
                                  fmt=lambda v: f"{v:.0f}")
        concentration = [(int(k.removeprefix("top_")), v or 0.0)
                         for k, v in report["concentration"].items()]
        conc_svg = charts.hbars([(f"top {n}", s) for n, s in concentration],
                                "Share of revenue in the largest accounts", fmt=charts.percent,
                                top_value=1.0, colour="#d95f02")
        return render(request, "portfolio.html", user, report=report, scatter=scatter,
                      shown=len(shown), total=len(rows), states_svg=states_svg,
                      per_state=per_state, conc_svg=conc_svg, concentration=concentration,
                      gaps=report["top_gaps"], thresholds=thresholds, lost=lost, effort=effort,
                      key_shown=KEY_ACCOUNTS_SHOWN, coverage=coverage)

    return page(request, viewer, build)


# -- playbooks -----------------------------------------------------------------------------


def cadence_text(step: Step) -> str:
    c = step.cadence
    if c.kind == "once" and c.upon == "condition":
        return f"once a state spell, when its condition first holds ({step.when})"
    if c.kind == "once":
        return f"once, {c.offset_days} days after entering the state"
    if c.kind == "every":
        return f"every {c.days} days, counted from {c.counted_from}"
    if c.kind == "monthly":
        return f"monthly, on day {c.day}"
    if c.kind == "quarterly":
        return f"each fiscal quarter, {c.offset_days} days in"
    if c.kind == "yearly":
        return f"each fiscal year, {c.offset_days} days in"
    if c.kind == "event":
        return f"on each {c.event} event"
    channels = f" ({', '.join(c.channels)})" if c.channels else ""
    return f"when there was no contact{channels} for {c.days} days"


def requires_text(step: Step) -> str:
    r = step.requires
    parts = [p for p, on in (("outcome", r.outcome), ("note", r.note)) if on]
    parts += [f"field {f}" for f in r.fields]
    return ", ".join(parts) or "nothing"


@router.get("/playbooks", response_class=HTMLResponse)
def playbooks_page(request: Request, viewer: Viewer) -> Response:
    """The lifecycle as an SVG diagram and as Mermaid; each state's steps and RACI."""

    def build(user: Principal) -> Response:
        ctx = context(request)
        with ctx.db.connect() as conn:
            book = active_book(conn)
        life = book.lifecycle
        edges = [diagram.Edge(s, t.dest, t.rule, t.when is None)
                 for t in life.transitions for s in t.source]
        drawing = diagram.state_diagram([(k, s.title) for k, s in life.states.items()],
                                       life.initial, edges, "The lifecycle")
        depts = book.organization.departments
        names: dict[str, str] = {}
        states = []
        for key, state in life.states.items():
            pb = book.states.get(key)
            steps = list(pb.steps) if pb else []
            parties: list[str] = []
            for s in steps:
                parties += [p for p in s.raci if p not in parties]
            for p in parties:
                lead_of = p.removesuffix(".lead")
                names[p] = (f"{depts[lead_of].name} lead" if lead_of != p and lead_of in depts
                            else depts[p].name if p in depts else p)
            states.append({"key": key, "title": state.title, "description": state.description,
                           "purpose": pb.purpose if pb else "", "parties": parties,
                           "steps": [{"step": s, "cadence": cadence_text(s),
                                      "requires": requires_text(s)} for s in steps]})
        return render(request, "playbooks.html", user, diagram=drawing, party_names=names,
                      mermaid=lifecycle_of(book).diagram(), states=states,
                      transitions=life.transitions, version=book.version,
                      departments=book.organization.departments)

    return page(request, viewer, build)
