"""One account, all round: its figures with their names in words, revenue per month against
the plan's target and the year before, why it is in its state, its tasks, contacts and
feedback, the retention score's factors; moving it along a declared transition; and its
account plan as a form, with the plan's history and what changed between two revisions.

| route | what |
|---|---|
| GET /accounts/{id} | the page, for whoever the policy lets see the account (404 otherwise) |
| POST /accounts/{id}/move | a declared destination and a reason (owner, sponsor, admin) |
| POST /accounts/{id}/plan/form | save the plan form; its problems beside their fields |
| GET /accounts/{id}/plan/diff?from=&to= | what changed between two revisions of the plan |
| GET /accounts/{id}/plan.yaml | the plan as the YAML of `kamflow plan show --yaml` (export) |

The YAML editor of the page posts to /accounts/{id}/plan (kamflow.web.pages_work).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from kamflow import access, accounts, plans, queue, views
from kamflow.activation import current as active_book
from kamflow.engine.metrics import add_months
from kamflow.errors import NotFound
from kamflow.people import Principal
from kamflow.playbooks.errors import PlaybookError
from kamflow.playbooks.metrics import LABELS, METRICS, STEP_METRICS, MetricLabel, Unit
from kamflow.playbooks.plan import Target, fiscal_months, monthly_targets
from kamflow.web import charts, plan_form
from kamflow.web.deps import context
from kamflow.web.errors import ApiError
from kamflow.web.pagekit import TEMPLATES, Viewer, action, back, is_htmx, page, render
from kamflow.web.schemas.accounts import MoveIn

if TYPE_CHECKING:
    from sqlalchemy import Connection

router = APIRouter()
AccountId = Annotated[str, Path(min_length=1, max_length=64)]
Revision = Annotated[str | None, Query(max_length=9)]
TASKS_SHOWN = 200
MAX_PLAN = 200_000  # characters of YAML, as the API's PlanIn


# -- metrics in words -----------------------------------------------------------------------


def metric_text(value: object, unit: Unit) -> str:
    """A metric's value as a person reads it: 1.2M, 42%, 12 days, 3.5 / 5."""
    if value is None:
        return "—"
    if isinstance(value, bool) or unit is Unit.YES_NO:
        return "yes" if value else "no"
    if not isinstance(value, int | float):
        return str(value)
    v = float(value)
    if unit is Unit.MONEY:
        return charts.money(v)
    if unit is Unit.SHARE:
        return charts.percent(v)
    if unit is Unit.DAYS:
        return f"{v:.0f} day{'' if round(v) == 1 else 's'}"
    if unit is Unit.OUT_OF_5:
        return f"{v:.1f} / 5"
    if unit is Unit.OUT_OF_10:
        return f"{v:g} / 10"
    if unit is Unit.OUT_OF_100:
        return f"{v:.0f} / 100"
    return f"{v:g}" if v == round(v, 2) else f"{v:.2f}"


def label_of(name: str) -> MetricLabel:
    return LABELS.get(name) or MetricLabel(name.replace("_", " ").capitalize(), Unit.COUNT,
                                           "Other")


def described(name: str, value: object) -> dict[str, str]:
    """A metric for the page: its label, value in words and name (with what it means) for
    the tooltip."""
    label = label_of(name)
    spec = METRICS.get(name) or STEP_METRICS.get(name)
    return {"name": name, "label": label.label, "value": metric_text(value, label.unit),
            "tip": f"{name}: {spec.description}" if spec else name}


def metric_groups(values: dict[str, Any]) -> list[tuple[str, list[dict[str, str]]]]:
    """The account's metrics under their headings, in the order of the label table."""
    order = {name: i for i, name in enumerate(LABELS)}
    groups: dict[str, list[dict[str, str]]] = {}
    for name in sorted(values, key=lambda n: (order.get(n, len(order)), n)):
        groups.setdefault(label_of(name).group, []).append(described(name, values[name]))
    return list(groups.items())


TEMPLATES.env.filters.update(field_id=plan_form.field_id)


# -- the page -------------------------------------------------------------------------------


def _revenue_chart(conn: Connection, account_id: str, year: int, fsm: int, today: date,
                   plan: dict[str, Any] | None) -> dict[str, Any]:
    """The fiscal year's months: revenue, the same month a year before, the plan's target."""
    months = fiscal_months(year, fsm)
    first = date.fromisoformat(f"{months[0]}-01")
    revenue = views.monthly_revenue(conn, account_id, add_months(first, -12),
                                    add_months(first, 12))
    target = plan["document"].get("target") if plan else None
    targets = monthly_targets(Target.model_validate(target), year, fsm) if target else None
    this_month = today.replace(day=1)
    shown = []
    for i, key in enumerate(months):
        month = date.fromisoformat(f"{key}-01")
        got = revenue.get(month)
        shown.append(charts.Month(
            key, month.strftime("%b"),
            None if got is None and month >= this_month else (got or 0.0),
            revenue.get(add_months(month, -12), 0.0),
            targets[i] if targets else None))
    done = [m for m in shown if m.revenue is not None]
    totals = {"revenue": sum(m.revenue or 0.0 for m in done),
              "previous": sum(m.previous or 0.0 for m in done),
              "target": sum(m.target or 0.0 for m in done) if targets else None,
              "months": len(done)}
    svg = charts.month_bars(shown, f"Revenue per month in FY{year}, against the target and "
                                   "the year before")
    return {"svg": svg, "year": year, "totals": totals, "months": shown}


def _plan_part(conn: Connection, user: Principal, row: Any, now: datetime,
               form: plan_form.PlanForm | None = None) -> dict[str, Any]:
    """What the plan section shows: the plan of this fiscal year, its history, the form and
    the YAML (for those who may edit it)."""
    fsm = active_book(conn).organization.fiscal_year_start_month
    year = plans.fiscal_year_of(now.date(), fsm)
    try:
        plan: dict[str, Any] | None = plans.show(conn, row.id, year, now)
    except NotFound:
        plan = None
    try:
        access.may_edit_plan(user, row)
        editable = True
    except access.Forbidden:
        editable = False
    document = {k: v for k, v in plan["document"].items()
                if k not in ("account", "fiscal_year")} if plan else {}
    if editable and form is None:
        form = plan_form.from_document(document, year, plan["revision"] if plan else 0,
                                       fiscal_months(year, fsm))
    edits = [h for h in plan["history"] if h["kind"] == "edit"] if plan else []
    return {"plan": plan, "year": year, "form": form if editable else None,
            "plan_yaml": (plans.as_yaml(plan["document"]) if plan else plans.template())
            if editable else None,
            "edits": list(reversed(edits)), "roles": plan_form.ROLES,
            "statuses": plan_form.STATUSES,
            "people": views.plan_contacts(conn, row.owner_email, row.sponsor_email, (
                str(r.get("owner") or "") for r in document.get("relationships") or []
                if isinstance(r, dict))) if editable else []}


def _timeline(conn: Connection, transitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each transition, newest first, with the values its rule read set apart."""
    conditions = active_book(conn).conditions
    out = []
    for t in reversed(transitions):
        condition = conditions.get(t["rule"])
        read = sorted(condition.names) if condition is not None else []
        seen = t["metrics"] or {}
        out.append({**t, "read": [described(n, seen.get(n)) for n in read],
                    "seen": [described(n, v) for n, v in seen.items()]})
    return out


def _values(request: Request, conn: Connection, user: Principal, account_id: str,
            form: plan_form.PlanForm | None = None) -> dict[str, Any]:
    ctx = context(request)
    now = ctx.clock.now()
    row = access.visible_account(conn, user, account_id)
    shown = accounts.show(conn, account_id, now)
    book = active_book(conn)
    part = _plan_part(conn, user, row, now, form)
    try:
        access.may_move_account(user, row)
        moves = accounts.destinations(conn, row.state)
    except access.Forbidden:
        moves = []
    tasks = queue.list_tasks(conn, now.date(), status="all", account=account_id,
                             scope=access.task_scope(user))
    tasks.sort(key=lambda t: (t["status"] not in ("open", "snoozed"), t["due"]))
    return {"a": shown, "metric_groups": metric_groups(shown["metrics"]),
            "state_title": book.lifecycle.states[shown["state"]].title
            if shown["state"] in book.lifecycle.states else shown["state"],
            "chart": _revenue_chart(conn, account_id, part["year"],
                                    book.organization.fiscal_year_start_month, now.date(),
                                    part["plan"]),
            "timeline": _timeline(conn, shown["transitions"]), "moves": moves,
            "tasks": tasks[:TASKS_SHOWN], "n_tasks": len(tasks),
            "contacts": views.contacts(conn, account_id),
            "feedback": views.feedback(conn, account_id),
            "channels": list(book.organization.contact_channels), **part}


@router.get("/accounts/{account_id}", response_class=HTMLResponse)
def account_page(request: Request, viewer: Viewer, account_id: AccountId) -> Response:
    """The account all round, for whoever the policy lets see it (404 otherwise)."""

    def build(user: Principal) -> Response:
        with context(request).db.connect() as conn:
            values = _values(request, conn, user, account_id)
        return render(request, "account.html", user, **values)

    return page(request, viewer, build)


# -- moving it ------------------------------------------------------------------------------


@router.post("/accounts/{account_id}/move", response_class=HTMLResponse)
async def move_account(request: Request, viewer: Viewer, account_id: AccountId) -> Response:
    """Move the account along a transition the lifecycle declares, with a reason; anything
    else is refused and changes nothing. The page reloads to show the new state."""
    form = await request.form()

    def work(user: Principal) -> Response:
        ctx = context(request)
        with ctx.db.connect() as conn:
            access.may_move_account(user, access.visible_account(conn, user, account_id))
        reason = str(form.get("reason") or "").strip()
        if not reason:
            raise ApiError(422, "reason: a manual move needs a reason", "reason")
        body = MoveIn(state=str(form.get("state") or ""), reason=reason)
        accounts.move(ctx.db, account_id, body.state, body.reason, user.email, ctx.clock)
        if not is_htmx(request):
            return back(request, f"/accounts/{account_id}")
        return Response(status_code=200, headers={"HX-Refresh": "true"})

    def failed(status: int, message: str) -> Response:
        return render(request, "_flash.html", viewer, status, error=message)

    return await action(request, viewer, work, failed)


# -- its plan -------------------------------------------------------------------------------


def _posted_year(text: str) -> int:
    try:
        year = int(text)
    except ValueError:
        raise ApiError(422, f"fiscal_year: '{text[:20]}' is not a year", "fiscal_year") from None
    if not 1900 <= year <= 9999:
        raise ApiError(422, f"fiscal_year: {year} is not a year", "fiscal_year")
    return year


@router.post("/accounts/{account_id}/plan/form", response_class=HTMLResponse)
async def save_plan_form(request: Request, viewer: Viewer, account_id: AccountId) -> Response:
    """Save the plan form: validated as the YAML is; a problem is shown beside its field
    (422) with everything as typed, and nothing is saved."""
    form = await request.form()
    posted = {k: v for k, v in form.multi_items() if isinstance(v, str)}

    def work(user: Principal) -> Response:
        ctx = context(request)
        year = _posted_year(posted.get("fiscal_year", ""))
        base = posted.get("base", "0")
        if not base.isdigit() or len(base) > 9:
            raise ApiError(422, "base: not a revision number", "base")
        with ctx.db.connect() as conn:
            row = access.visible_account(conn, user, account_id)
            access.may_edit_plan(user, row)
            fsm = active_book(conn).organization.fiscal_year_start_month
            stored = plans.stored(conn, account_id, year)
        got = plan_form.read(posted, stored[1] if stored else {}, year, int(base),
                             fiscal_months(year, fsm))
        text = plans.as_yaml(got.document)
        if len(text) > MAX_PLAN:
            raise ApiError(422, f"plan: longer than {MAX_PLAN} characters of YAML", "plan")
        try:
            saved = plans.save(ctx.db, account_id, text, "plan form", user.email, ctx.clock,
                               base=int(base))
        except PlaybookError as e:
            shown = plan_form.place(got, e.problems)
            error = (f"Not saved: {shown.problems} problem{'' if shown.problems == 1 else 's'}"
                     ", shown beside the fields.")
            with ctx.db.connect() as conn:
                if not is_htmx(request):  # the whole page, with the form as typed
                    return render(request, "account.html", user, 422, error=error,
                                  **_values(request, conn, user, account_id, shown))
                part = _plan_part(conn, user, access.visible_account(conn, user, account_id),
                                  ctx.clock.now(), shown)
            return render(request, "_plan.html", user, 422, a={"id": account_id}, error=error,
                          **part)
        if not is_htmx(request):
            return back(request, f"/accounts/{account_id}")
        fy, revision = saved["fiscal_year"], saved["revision"]
        message = (f"The FY{fy} plan is unchanged (revision {revision})." if saved["unchanged"]
                   else f"Saved the FY{fy} plan as revision {revision}"
                   + (f": {len(saved['changes'])} field(s) changed." if revision > 1 else "."))
        with ctx.db.connect() as conn:
            part = _plan_part(conn, user, access.visible_account(conn, user, account_id),
                              ctx.clock.now())
        return render(request, "_plan.html", user, a={"id": account_id}, message=message,
                      **part)

    def failed(status: int, message: str) -> Response:
        response = render(request, "_flash.html", viewer, status, error=message)
        response.headers.update({"HX-Retarget": "#plan-form-result", "HX-Reswap": "innerHTML"})
        return response

    return await action(request, viewer, work, failed)


def _revision(name: str, text: str | None) -> int:
    if not text or not text.isdigit():
        raise ApiError(422, f"{name}: a revision number, 1 or more", name)
    return int(text)


@router.get("/accounts/{account_id}/plan/diff", response_class=HTMLResponse)
def plan_diff(request: Request, viewer: Viewer, account_id: AccountId,
              first: Annotated[Revision, Query(alias="from")] = None,
              second: Annotated[Revision, Query(alias="to")] = None,
              year: Annotated[int | None, Query(ge=1900, le=9999)] = None) -> Response:
    """What changed in the plan between two revisions, field by field."""

    def build(user: Principal) -> Response:
        a, b = _revision("from", first), _revision("to", second)
        ctx = context(request)
        with ctx.db.connect() as conn:
            access.visible_account(conn, user, account_id)
            try:
                compared = plans.compare(conn, account_id, year, a, b, ctx.clock.now())
            except ValueError as e:
                raise ApiError(422, str(e)) from e
        template = "_plan_diff.html" if is_htmx(request) else "plan_diff.html"
        return render(request, template, user, diff=compared, account_id=account_id)

    return page(request, viewer, build)


@router.get("/accounts/{account_id}/plan.yaml")
def plan_yaml(request: Request, viewer: Viewer, account_id: AccountId,
              year: Annotated[int | None, Query(ge=1900, le=9999)] = None) -> Response:
    """The plan as the YAML `kamflow plan show --yaml` prints: to keep, edit and import."""

    def build(user: Principal) -> Response:
        ctx = context(request)
        with ctx.db.connect() as conn:
            access.visible_account(conn, user, account_id)
            shown = plans.show(conn, account_id, year, ctx.clock.now())
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{account_id}-FY{shown['fiscal_year']}-plan.yaml")
        return Response(plans.as_yaml(shown["document"]), media_type="application/yaml",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    return page(request, viewer, build)
