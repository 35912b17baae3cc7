"""Account plans: one YAML document per account and fiscal year, with its history.

A person writes the plan (`kamflow plan edit`); the playbook's plan steps are tasks, and
completing one (taskops.act) records on the plan what the step is for, in the same
transaction: a draft step needs the plan written, an evaluation records its assessment,
the attainment at that moment and what changed since the previous evaluation, and a
tracking step records the month's attainment. Entries are unique per task, so nothing is
recorded twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime
from importlib.resources import files
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import IntegrityError

from kamflow.engine.clock import Clock
from kamflow.engine.metrics import (
    add_months,
    attainment,
    fiscal_year_start,
    line_attainment,
    months_between,
)
from kamflow.errors import NotFound, Refused
from kamflow.playbooks.loader import Path_, dump_plan, load_plan
from kamflow.playbooks.plan import PlanDocument, fiscal_months, monthly_targets
from kamflow.playbooks.schema import Step
from kamflow.playbooks.touchpoints import problems as touchpoint_problems
from kamflow.store import audit
from kamflow.store.changes import mark as mark_for_sweep
from kamflow.store.product_lines import revenue_by_line
from kamflow.store.tables import ACCOUNT, ACCOUNT_PLAN, PERSON, PLAN_ENTRY, REVENUE, TASK
from kamflow.store.versions import active_book


def template() -> str:
    """An empty plan, commented, to copy and fill in."""
    return files("kamflow.playbooks").joinpath("templates", "plan.yaml").read_text(encoding="utf-8")


def fiscal_year_of(day: date, fiscal_start_month: int) -> int:
    return fiscal_year_start(day.replace(day=1), fiscal_start_month).year


def task_fiscal_year(period: str, start: date, fiscal_start_month: int) -> int:
    """The fiscal year a plan step's task belongs to: from its period key when that names
    one (FY2026, FY2026-Q3, M2026-05), else from the day it started."""
    if period.startswith("FY") and period[2:6].isdigit():
        return int(period[2:6])
    if period.startswith("M") and len(period) == 8:
        return fiscal_year_of(date.fromisoformat(f"{period[1:]}-01"), fiscal_start_month)
    return fiscal_year_of(start, fiscal_start_month)


def _account(conn: Connection, account_id: str) -> None:
    if conn.execute(select(ACCOUNT.c.id).where(ACCOUNT.c.id == account_id)).first() is None:
        raise NotFound(f"unknown account '{account_id}'")


# -- writing a plan ---------------------------------------------------------------------


def save(db: Engine, account_id: str, text: str, source: str, actor: str | None,
         clock: Clock, base: int | None = None) -> dict[str, Any]:
    """Validate and store a plan document; a new revision only when something changed.
    `base`: the revision the edit started from (0: none yet); a plan saved since then is
    refused, so an edit never overwrites one it did not see."""
    at = clock.now()
    with db.begin() as conn:
        _account(conn, account_id)
        org = active_book(conn).organization
        fsm = org.fiscal_year_start_month
        if actor is not None and conn.execute(select(PERSON.c.email).where(PERSON.c.email == actor)
                                              ).first() is None:
            raise NotFound(f"--by: unknown person '{actor}'")
        people = set(conn.execute(select(PERSON.c.email)).scalars())
        current = fiscal_year_of(at.date(), fsm)
        doc = load_plan(text, source, lambda d: chain(
            _cross_check(d, account_id, current, fsm, people),
            touchpoint_problems(d.touchpoints, org.departments)))
        year = doc.fiscal_year or current
        data = doc.model_dump(mode="json", exclude={"account", "fiscal_year"})
        row = conn.execute(
            select(ACCOUNT_PLAN)
            .where(ACCOUNT_PLAN.c.account_id == account_id, ACCOUNT_PLAN.c.fiscal_year == year)
            .with_for_update()
        ).first()
        now_at = row.revision if row is not None else 0
        if base is not None and base != now_at:
            by = f" by {row.updated_by} at {row.updated_at.isoformat()}" if row is not None else ""
            raise Refused(f"revision: the FY{year} plan of '{account_id}' was saved as revision "
                          f"{now_at}{by} after you opened revision {base}; reload it and "
                          "make your change again")
        if row is not None and row.document == data:
            return _saved(account_id, year, row.revision, [], unchanged=True)
        changes = diff(row.document if row is not None else {}, data)
        derived = {
            "document": data, "updated_at": at, "updated_by": actor or "operator",
            "target_revenue": doc.target.revenue if doc.target else None,
            "monthly_targets": monthly_targets(doc.target, year, fsm) if doc.target else None,
            "closeness": doc.closeness(),
        }
        if row is None:
            revision = 1
            try:
                plan_id = conn.execute(ACCOUNT_PLAN.insert().values(
                    account_id=account_id, fiscal_year=year, revision=1, created_at=at,
                    **derived).returning(ACCOUNT_PLAN.c.id)).scalar_one()
            except IntegrityError as e:  # someone saved the first revision meanwhile
                raise Refused(f"the FY{year} plan of '{account_id}' was just created by "
                              "someone else; show it and save again") from e
        else:
            revision, plan_id = row.revision + 1, row.id
            conn.execute(
                ACCOUNT_PLAN.update()
                .where(ACCOUNT_PLAN.c.id == row.id, ACCOUNT_PLAN.c.revision == row.revision)
                .values(revision=revision, **derived)
            )
        mark_for_sweep(conn, [account_id])  # targets and closeness feed its metrics
        conn.execute(PLAN_ENTRY.insert().values(
            plan_id=plan_id, kind="edit", period=f"FY{year}", at=at, actor=actor or "operator",
            revision=revision, fields={}, changes=changes, document=data))
        audit.append(conn, [{
            "at": at, "actor": actor or "operator", "entity": "plan",
            "entity_id": f"{account_id}/FY{year}", "action": "created" if row is None else "edited",
            "before": None if row is None else {"revision": row.revision},
            "after": {"revision": revision, "changed": [c["field"] for c in changes]}}])
    return _saved(account_id, year, revision, changes)


def _saved(account_id: str, year: int, revision: int, changes: list[dict[str, Any]],
           unchanged: bool = False) -> dict[str, Any]:
    return {"account": account_id, "fiscal_year": year, "revision": revision,
            "unchanged": unchanged, "changes": changes}


def _cross_check(doc: PlanDocument, account_id: str, current: int, fsm: int,
                 people: set[str]) -> Iterator[tuple[Path_, str]]:
    """What the document alone cannot know: the account, the fiscal year's months, our people."""
    if doc.account is not None and doc.account != account_id:
        yield ("account",), f"says '{doc.account}' but the plan is being saved for '{account_id}'"
    year = doc.fiscal_year or current
    months = fiscal_months(year, fsm)
    if doc.target is not None:
        for month in doc.target.by_month or {}:
            if month not in months:
                yield (("target", "by_month", month),
                       f"{month} is not in fiscal year FY{year} ({months[0]} to {months[-1]})")
    for i, person in enumerate(doc.relationships):
        if person.owner not in people:
            yield ("relationships", i, "owner"), f"unknown person '{person.owner}' on our side"


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Field-by-field changes; list items with a key or a name are matched by it."""
    old, new = dict(_flat(before)), dict(_flat(after))
    out = []
    for path in sorted(set(old) | set(new)):
        if old.get(path) != new.get(path):
            out.append({"field": path, "before": old.get(path), "after": new.get(path)})
    return out


def _flat(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _flat(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list) and value and all(
            isinstance(v, Mapping) and ("key" in v or "name" in v) for v in value):
        for v in value:
            yield from _flat({k: x for k, x in v.items() if k not in ("key", "name")},
                             f"{path}[{v.get('key') or v.get('name')}]")
    elif value not in (None, [], "", {}):
        yield path, value


# -- the plan's steps -------------------------------------------------------------------


def on_step_done(conn: Connection, task: Any, step: Step, outcome: str | None,
                 note: str | None, fields: Mapping[str, Any], at: datetime, actor: str) -> None:
    """Record a plan step's completion on its plan (same transaction as the task's)."""
    fsm = active_book(conn).organization.fiscal_year_start_month
    year = task_fiscal_year(task.period, task.start, fsm)
    plan = conn.execute(select(ACCOUNT_PLAN).where(ACCOUNT_PLAN.c.account_id == task.account_id,
                                         ACCOUNT_PLAN.c.fiscal_year == year)).first()
    if plan is None:
        what = {"draft": "is done once the plan is written",
                "evaluation": "evaluates the plan", "tracking": "tracks the plan's target"}
        raise Refused(f"task {task.id} {what[step.plan or 'draft']}, but account "
                      f"'{task.account_id}' has no plan for FY{year}: write one with "
                      f"`kamflow plan edit {task.account_id} --from FILE.yaml` "
                      f"(`kamflow plan template` prints an empty one)")
    revenue, target, ratio = attainment_of(conn, plan, fsm, at)
    changes: list[dict[str, Any]] = []
    if step.plan == "evaluation":
        # What changed since the previous evaluation, or since the plan was first written.
        since = [PLAN_ENTRY.c.plan_id == plan.id, PLAN_ENTRY.c.document.is_not(None)]
        previous = conn.execute(
            select(PLAN_ENTRY.c.document)
            .where(*since, PLAN_ENTRY.c.kind == "evaluation")
            .order_by(PLAN_ENTRY.c.id.desc())
            .limit(1)
        ).scalar()
        if previous is None:
            previous = conn.execute(
                select(PLAN_ENTRY.c.document)
                .where(*since, PLAN_ENTRY.c.kind == "edit")
                .order_by(PLAN_ENTRY.c.id)
                .limit(1)
            ).scalar()
        changes = diff(previous or {}, plan.document)
    conn.execute(PLAN_ENTRY.insert().values(
        plan_id=plan.id, kind=step.plan, period=task.period, task_id=task.id, at=at, actor=actor,
        revision=plan.revision, outcome=outcome, note=note, fields=dict(fields),
        revenue_fy=revenue, target_fy=target, attainment=ratio, changes=changes,
        document=plan.document if step.plan == "evaluation" else None))


def attainment_of(conn: Connection, plan: Any, fsm: int, at: datetime
                  ) -> tuple[float, float | None, float | None]:
    """(revenue, target, attainment) of the plan's fiscal year over the months complete at
    `at` (all twelve once the year is over)."""
    start = date(plan.fiscal_year, fsm, 1)
    end = min(date(at.year, at.month, 1), add_months(start, 12))
    months = max(0, months_between(start, end))
    revenue = float(
        conn.execute(
            select(func.coalesce(func.sum(REVENUE.c.amount), 0.0)).where(
                REVENUE.c.account_id == plan.account_id, REVENUE.c.month >= start, REVENUE.c.month < end
            )
        ).scalar_one()
    )
    target, ratio = attainment(revenue, plan.monthly_targets, months)
    return revenue, target, ratio


def product_lines(conn: Connection, plan: Any, fsm: int, at: datetime,
                  target_to_date: float | None) -> list[dict[str, Any]]:
    """Each product line's revenue over the same months as attainment_of, against its share of
    the target to date (engine.metrics.line_attainment)."""
    start = date(plan.fiscal_year, fsm, 1)
    end = min(date(at.year, at.month, 1), add_months(start, 12))
    lines = ((plan.document.get("target") or {}).get("by_product_line")) or {}
    revenue = revenue_by_line(conn, plan.account_id, start, end) if end > start else {}
    if not lines and set(revenue) <= {""}:
        return []  # no split planned, none imported
    return line_attainment(revenue, lines, target_to_date, plan.target_revenue)


# -- reading ----------------------------------------------------------------------------


def show(conn: Connection, account_id: str, year: int | None, at: datetime) -> dict[str, Any]:
    _account(conn, account_id)
    fsm = active_book(conn).organization.fiscal_year_start_month
    year = year or fiscal_year_of(at.date(), fsm)
    plan = conn.execute(select(ACCOUNT_PLAN).where(ACCOUNT_PLAN.c.account_id == account_id,
                                         ACCOUNT_PLAN.c.fiscal_year == year)).first()
    if plan is None:
        years = (
            conn.execute(
                select(ACCOUNT_PLAN.c.fiscal_year)
                .where(ACCOUNT_PLAN.c.account_id == account_id)
                .order_by(ACCOUNT_PLAN.c.fiscal_year)
            )
            .scalars()
            .all()
        )
        have = f"; it has plans for {', '.join(f'FY{y}' for y in years)}" if years else ""
        raise NotFound(f"account '{account_id}' has no plan for FY{year}{have}")
    revenue, target, ratio = attainment_of(conn, plan, fsm, at)
    entries = conn.execute(
        select(PLAN_ENTRY)
        .where(PLAN_ENTRY.c.plan_id == plan.id, PLAN_ENTRY.c.at <= at)
        .order_by(PLAN_ENTRY.c.at, PLAN_ENTRY.c.id)
    ).all()
    history = [{"at": e.at.isoformat(), "kind": e.kind, "period": e.period, "task": e.task_id,
                "actor": e.actor, "revision": e.revision, "outcome": e.outcome, "note": e.note,
                "fields": e.fields, "revenue_fy": e.revenue_fy, "target_fy": e.target_fy,
                "attainment": e.attainment, "changes": e.changes} for e in entries]
    return {
        "account": account_id, "fiscal_year": year, "revision": plan.revision,
        "updated_at": plan.updated_at.isoformat(), "updated_by": plan.updated_by,
        "as_of": at.isoformat(),
        "attainment": {"revenue_fy": revenue, "target_fy": target, "attainment": ratio,
                       "target_revenue": plan.target_revenue,
                       "product_lines": product_lines(conn, plan, fsm, at, target)},
        "closeness": plan.closeness,
        "document": {"account": account_id, "fiscal_year": year, **plan.document},
        "evaluations": [h for h in history if h["kind"] == "evaluation"],
        "history": history,
    }


def stored(conn: Connection, account_id: str, year: int) -> tuple[int, dict[str, Any]] | None:
    """(revision, document) of an account's plan for a fiscal year; None without one."""
    row = conn.execute(select(ACCOUNT_PLAN.c.revision, ACCOUNT_PLAN.c.document).where(
        ACCOUNT_PLAN.c.account_id == account_id, ACCOUNT_PLAN.c.fiscal_year == year)).first()
    return None if row is None else (int(row.revision), dict(row.document))


def compare(conn: Connection, account_id: str, year: int | None, first: int, second: int,
            at: datetime) -> dict[str, Any]:
    """What changed in the plan between two of its revisions (field by field, as `diff`)."""
    _account(conn, account_id)
    year = year or fiscal_year_of(at.date(), active_book(conn).organization.fiscal_year_start_month)
    plan_id = conn.execute(select(ACCOUNT_PLAN.c.id).where(
        ACCOUNT_PLAN.c.account_id == account_id, ACCOUNT_PLAN.c.fiscal_year == year)).scalar()
    if plan_id is None:
        raise NotFound(f"account '{account_id}' has no plan for FY{year}")
    documents = dict(conn.execute(
        select(PLAN_ENTRY.c.revision, PLAN_ENTRY.c.document)
        .where(PLAN_ENTRY.c.plan_id == plan_id, PLAN_ENTRY.c.kind == "edit",
               PLAN_ENTRY.c.document.is_not(None))).tuples().all())
    for name, revision in (("from", first), ("to", second)):
        if revision not in documents:
            raise ValueError(f"{name}: the FY{year} plan has no revision {revision}; it has "
                             f"{', '.join(map(str, sorted(documents)))}")
    return {"account": account_id, "fiscal_year": year, "from": first, "to": second,
            "changes": diff(documents[first], documents[second])}


def coverage(conn: Connection, year: int | None, at: datetime) -> dict[str, Any]:
    """Every plan of a fiscal year, and every account a draft step asked to plan that year
    without one: for the manager auditing whether the plans exist and are evaluated."""
    book = active_book(conn)
    fsm = book.organization.fiscal_year_start_month
    year = year or fiscal_year_of(at.date(), fsm)
    start = date(year, fsm, 1)
    end = min(date(at.year, at.month, 1), add_months(start, 12))
    months = max(0, months_between(start, end))
    drafts = [f"{state}.{s.key}" for state, pb in book.states.items() for s in pb.steps
              if s.plan == "draft"]
    asked = dict(conn.execute(
        select(TASK.c.account_id, func.min(TASK.c.due))
        .where(TASK.c.step.in_(drafts), TASK.c.start >= start, TASK.c.start < add_months(start, 12),
               TASK.c.status != "cancelled", TASK.c.created_at <= at)
        .group_by(TASK.c.account_id)).tuples().all())
    revenue = (
        select(REVENUE.c.account_id, func.sum(REVENUE.c.amount).label("fy"))
        .where(REVENUE.c.month >= start, REVENUE.c.month < end)
        .group_by(REVENUE.c.account_id)
        .subquery()
    )
    evaluated = (
        select(PLAN_ENTRY.c.plan_id, func.count().label("n"), func.max(PLAN_ENTRY.c.at).label("last"))
        .where(PLAN_ENTRY.c.kind == "evaluation", PLAN_ENTRY.c.at <= at)
        .group_by(PLAN_ENTRY.c.plan_id)
        .subquery()
    )
    rows = conn.execute(
        select(
            ACCOUNT_PLAN.c.account_id,
            ACCOUNT.c.name,
            ACCOUNT.c.owner_email,
            ACCOUNT.c.klass,
            ACCOUNT.c.state,
            ACCOUNT_PLAN.c.revision,
            ACCOUNT_PLAN.c.target_revenue,
            ACCOUNT_PLAN.c.monthly_targets,
            ACCOUNT_PLAN.c.closeness,
            ACCOUNT_PLAN.c.updated_at,
            revenue.c.fy,
            evaluated.c.n,
            evaluated.c.last,
        )
        .select_from(
            ACCOUNT_PLAN.join(ACCOUNT, ACCOUNT.c.id == ACCOUNT_PLAN.c.account_id)
            .outerjoin(revenue, revenue.c.account_id == ACCOUNT_PLAN.c.account_id)
            .outerjoin(evaluated, evaluated.c.plan_id == ACCOUNT_PLAN.c.id)
        )
        .where(ACCOUNT_PLAN.c.fiscal_year == year, ACCOUNT_PLAN.c.created_at <= at)
        .order_by(ACCOUNT_PLAN.c.account_id)
    ).all()
    plans = []
    for r in rows:
        target, ratio = attainment(float(r.fy or 0), r.monthly_targets, months)
        plans.append({"account": r.account_id, "name": r.name, "owner": r.owner_email,
                      "class": r.klass, "state": r.state, "revision": r.revision,
                      "target_revenue": r.target_revenue, "revenue_fy": float(r.fy or 0),
                      "target_fy": target, "attainment": ratio, "closeness": r.closeness,
                      "evaluations": int(r.n or 0),
                      "last_evaluation": r.last.isoformat() if r.last else None})
    have = {p["account"] for p in plans}
    missing_ids = sorted(set(asked) - have)
    info = {r.id: r for r in conn.execute(
        select(ACCOUNT.c.id, ACCOUNT.c.name, ACCOUNT.c.owner_email, ACCOUNT.c.klass, ACCOUNT.c.state)
        .where(ACCOUNT.c.id.in_(missing_ids)))} if missing_ids else {}
    missing = [{"account": a, "name": info[a].name, "owner": info[a].owner_email,
                "class": info[a].klass, "state": info[a].state,
                "draft_due": asked[a].isoformat(), "overdue": asked[a] < at.date()}
               for a in missing_ids]
    return {"fiscal_year": year, "as_of": at.isoformat(), "months_complete": months,
            "plans": plans, "missing": missing}


def as_yaml(document: Mapping[str, Any]) -> str:
    return dump_plan(document)
