"""Portfolio analytics: the `portfolio`, `losses`, `investment` and `sponsors` reports behind
`kamflow report`, `GET /api/reports/{name}` and the portfolio page.

Every figure is as of a moment `at`. Revenue is the trailing 12 months of the sweep
(the 12 complete calendar months before `at`'s month, `engine.metrics.windows`). Class and
key-account flag are those the last sweep stored on the account (`account.klass`,
`account.key_account`); accounts never classified count under class "-".

Set-based: one aggregate query (GROUP BY) per figure, whatever the portfolio's size. Only
the small sets of lost transitions and of the tasks that recorded a loss cause are fetched
row by row and combined in Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.sql.elements import ColumnElement

from kamflow.engine.metrics import add_months, windows
from kamflow.losses import CLASSES_NOTE, NO_CLASS, losses
from kamflow.sponsors import sponsors
from kamflow.store.facts import trailing_12_months
from kamflow.store.tables import ACCOUNT, REVENUE, TASK
from kamflow.store.versions import active_book, book_of

REPORTS = ("portfolio", "losses", "investment", "sponsors")
TOP = 10  # accounts in the top-gap list
THRESHOLD = 0.10  # revenue share above which one account is a concentration risk
CONCENTRATION = (1, 5, 10)
BALANCED = 0.05  # |effort share - gap share| up to this reads "in line"


def _revenue(at: datetime) -> Any:
    """Per account with revenue rows: the trailing-12-month revenue as of `at`."""
    return (select(REVENUE.c.account_id, func.sum(REVENUE.c.amount).label("t12"))
            .where(trailing_12_months(at)).group_by(REVENUE.c.account_id).subquery())


def _gap(potential: Any, revenue: Any) -> ColumnElement[Any]:
    """max(potential - revenue, 0), the same on SQLite and PostgreSQL."""
    return case((potential - revenue > 0, potential - revenue), else_=0.0)


def _months(at: datetime) -> dict[str, str]:
    w = windows(at)
    return {"from": f"{w.t12_start:%Y-%m}", "to": f"{add_months(w.end, -1):%Y-%m}"}


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


@dataclass(frozen=True, slots=True)
class Cell:
    """The accounts of one class, state and key flag, with their revenue, potential, gap."""

    klass: str
    state: str
    key_account: bool
    accounts: int
    revenue: float
    potential: float
    gap: float


def cells(conn: Connection, at: datetime) -> list[Cell]:
    """One aggregate query: accounts, revenue, potential and wallet gap per class x state x
    key flag."""
    rev = _revenue(at)
    t12 = func.coalesce(rev.c.t12, 0.0)
    klass = func.coalesce(ACCOUNT.c.klass, NO_CLASS)
    q = (
        select(klass.label("klass"), ACCOUNT.c.state, ACCOUNT.c.key_account, func.count().label("n"),
               func.coalesce(func.sum(t12), 0).label("revenue"),
               func.coalesce(func.sum(ACCOUNT.c.potential), 0).label("potential"),
               func.coalesce(func.sum(_gap(ACCOUNT.c.potential, t12)), 0).label("gap"))
        .select_from(ACCOUNT.outerjoin(rev, rev.c.account_id == ACCOUNT.c.id))
        .group_by(klass, ACCOUNT.c.state, ACCOUNT.c.key_account)
    )
    return [Cell(str(r.klass), str(r.state), bool(r.key_account), int(r.n), float(r.revenue),
                 float(r.potential), float(r.gap)) for r in conn.execute(q)]


def summary(conn: Connection, at: datetime) -> dict[str, Any]:
    """Accounts per class and state, key accounts and wallet gap (`kamflow portfolio`,
    GET /api/portfolio). Class and key flag are those of the last sweep; revenue as of `at`."""
    states = list(active_book(conn).lifecycle.states)
    classes: dict[str, dict[str, Any]] = {}
    total = key_accounts = 0
    revenue = key_revenue = gap = 0.0
    for c in cells(conn, at):
        k = classes.setdefault(c.klass, {"accounts": 0, "revenue_t12": 0.0, "potential": 0.0,
                                         "states": {}})
        k["accounts"] += c.accounts
        k["revenue_t12"] += c.revenue
        k["potential"] += c.potential
        k["states"][c.state] = k["states"].get(c.state, 0) + c.accounts
        total += c.accounts
        revenue += c.revenue
        gap += c.gap
        if c.key_account:
            key_accounts += c.accounts
            key_revenue += c.revenue
    return {
        "as_of": at.isoformat(),
        "states": states,
        "accounts": total,
        "revenue_t12": revenue,
        "key_accounts": key_accounts,
        "key_revenue_share": key_revenue / revenue if revenue else 0.0,
        "wallet_gap": gap,
        "classes": dict(sorted(classes.items())),
    }


def _figures() -> dict[str, Any]:
    return {"accounts": 0, "revenue_t12": 0.0, "potential": 0.0, "wallet_gap": 0.0}


def _add(into: dict[str, Any], c: Cell) -> None:
    into["accounts"] += c.accounts
    into["revenue_t12"] += c.revenue
    into["potential"] += c.potential
    into["wallet_gap"] += c.gap


# -- portfolio --------------------------------------------------------------------------------


def portfolio(conn: Connection, at: datetime, top: int = TOP, threshold: float = THRESHOLD
              ) -> dict[str, Any]:
    """Accounts and revenue per class and per state; the wallet gap in total and its top
    `top` accounts; the revenue share of the largest 1, 5 and 10 accounts and the accounts
    above `threshold` of all revenue; the key accounts with their revenue and share."""
    if top < 1:
        raise ValueError(f"--top: {top} is not a positive number")
    if not 0 < threshold <= 1:
        raise ValueError(f"--threshold: {threshold:g} is not a share between 0 and 1 (0.10)")
    lifecycle = list(active_book(conn).lifecycle.states)
    total = _figures()
    classes: dict[str, dict[str, Any]] = {}
    states: dict[str, dict[str, Any]] = {s: _figures() for s in lifecycle}
    for c in cells(conn, at):
        _add(total, c)
        k = classes.setdefault(c.klass, {**_figures(), "states": {}})
        _add(k, c)
        k["states"][c.state] = k["states"].get(c.state, 0) + c.accounts
        _add(states.setdefault(c.state, _figures()), c)
    revenue = total["revenue_t12"]
    for figures in (*classes.values(), *states.values()):
        figures["revenue_share"] = _share(figures["revenue_t12"], revenue)
        figures["wallet_share"] = _share(figures["revenue_t12"], figures["potential"])

    rev = _revenue(at)
    t12 = func.coalesce(rev.c.t12, 0.0)
    gap = _gap(ACCOUNT.c.potential, t12)
    joined = ACCOUNT.outerjoin(rev, rev.c.account_id == ACCOUNT.c.id)
    columns = (ACCOUNT.c.id, ACCOUNT.c.name, ACCOUNT.c.klass, ACCOUNT.c.state, ACCOUNT.c.key_account,
               t12.label("t12"), ACCOUNT.c.potential, gap.label("gap"))

    def listed(rows: Iterable[Any]) -> list[dict[str, Any]]:
        return [{"id": r.id, "name": r.name, "class": r.klass or NO_CLASS, "state": r.state,
                 "key_account": bool(r.key_account), "revenue_t12": float(r.t12),
                 "revenue_share": _share(float(r.t12), revenue),
                 "potential": float(r.potential), "gap": float(r.gap)} for r in rows]

    top_gaps = listed(conn.execute(select(*columns).select_from(joined).where(gap > 0)
                                   .order_by(gap.desc(), ACCOUNT.c.id).limit(top)))
    largest = [float(v) for v in conn.execute(
        select(rev.c.t12).order_by(rev.c.t12.desc()).limit(max(CONCENTRATION))).scalars()]
    concentration = {f"top_{n}": _share(sum(largest[:n]), revenue) for n in CONCENTRATION}
    above = (listed(conn.execute(select(*columns).select_from(joined)
                                 .where(t12 > threshold * revenue)
                                 .order_by(t12.desc(), ACCOUNT.c.id)))
             if revenue > 0 else [])
    keys = listed(
        conn.execute(
            select(*columns)
            .select_from(joined)
            .where(ACCOUNT.c.key_account.is_(True))
            .order_by(t12.desc(), ACCOUNT.c.id)
        )
    )
    key_revenue = sum(k["revenue_t12"] for k in keys)
    return {
        "report": "portfolio",
        "as_of": at.isoformat(),
        "revenue_months": _months(at),
        "note": CLASSES_NOTE,
        **total,
        "wallet_share": _share(revenue, total["potential"]),
        "classes": dict(sorted(classes.items())),
        "states": states,
        "top": top,
        "top_gaps": top_gaps,
        "concentration": concentration,
        "threshold": threshold,
        "above_threshold": above,
        "key_accounts": {"accounts": len(keys), "revenue_t12": key_revenue,
                         "revenue_share": _share(key_revenue, revenue), "list": keys},
    }


# -- investment -------------------------------------------------------------------------------


def _count(cond: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def verdict(balance: float | None) -> str:
    """Effort share minus gap share, in words: more than 5 points either way is a mismatch."""
    if balance is None:
        return "n/a"
    if balance > BALANCED:
        return "effort above gap"
    if balance < -BALANCED:
        return "effort below gap"
    return "in line"


def investment(conn: Connection, at: datetime) -> dict[str, Any]:
    """Effort against potential per class: accounts, revenue, potential and wallet gap; the
    tasks due and done in the 365 days before `at`, per Responsible department; and each
    class's share of the effort, of the revenue and of the gap. Effort is hours: each done
    task weighs its step's `effort_hours` in the playbook version that made it (one hour
    when the step declares none, so without hours the shares are those of task counts)."""
    since = at - timedelta(days=365)
    classes: dict[str, dict[str, Any]] = {}

    def figures(klass: str) -> dict[str, Any]:
        return classes.setdefault(klass, {**_figures(), "tasks_due": 0, "tasks_done": 0,
                                          "done_on_time": 0, "hours_due": 0.0,
                                          "hours_done": 0.0, "departments": {}})

    for c in cells(conn, at):
        _add(figures(c.klass), c)
    due = and_(TASK.c.due > since.date(), TASK.c.due <= at.date(), TASK.c.status != "cancelled")
    done = and_(TASK.c.status == "done", TASK.c.done_at > since, TASK.c.done_at <= at)
    klass = func.coalesce(ACCOUNT.c.klass, NO_CLASS)
    q = (select(klass.label("klass"), TASK.c.responsible_dept, TASK.c.step, TASK.c.playbook_version,
                _count(due).label("due"), _count(done).label("done"),
                _count(and_(done, func.date(TASK.c.done_at) <= TASK.c.due)).label("on_time"))
         .select_from(TASK.join(ACCOUNT, ACCOUNT.c.id == TASK.c.account_id))
         .where(or_(due, done))
         .group_by(klass, TASK.c.responsible_dept, TASK.c.step, TASK.c.playbook_version))
    hours = StepHours(conn)
    for r in conn.execute(q):
        f = figures(str(r.klass))
        f["tasks_due"] += int(r.due)
        f["tasks_done"] += int(r.done)
        f["done_on_time"] += int(r.on_time)
        per_task = hours.of(r.playbook_version, r.step)
        f["hours_due"] += per_task * int(r.due)
        f["hours_done"] += per_task * int(r.done)
        dept = f["departments"].setdefault(r.responsible_dept, {"due": 0, "done": 0})
        dept["due"] += int(r.due)
        dept["done"] += int(r.done)
    total = {**_figures(), "tasks_due": 0, "tasks_done": 0, "done_on_time": 0, "hours_due": 0.0,
             "hours_done": 0.0}
    departments: dict[str, dict[str, int]] = {}
    for f in classes.values():
        for key in total:
            total[key] += f[key]
        for name, n in f["departments"].items():
            d = departments.setdefault(name, {"due": 0, "done": 0})
            d["due"] += n["due"]
            d["done"] += n["done"]
    for f in (*classes.values(), total):
        f["on_time_share"] = _share(f["done_on_time"], f["tasks_done"])
    total["departments"] = dict(sorted(departments.items()))
    for f in classes.values():
        f["departments"] = dict(sorted(f["departments"].items()))
        f["effort_share"] = _share(f["hours_done"], total["hours_done"])
        f["revenue_share"] = _share(f["revenue_t12"], total["revenue_t12"])
        f["gap_share"] = _share(f["wallet_gap"], total["wallet_gap"])
        balance = (None if f["effort_share"] is None or f["gap_share"] is None
                   else f["effort_share"] - f["gap_share"])
        f["effort_minus_gap_share"] = balance
        f["verdict"] = verdict(balance)
    return {
        "report": "investment",
        "as_of": at.isoformat(),
        "window": {"from": since.isoformat(), "to": at.isoformat()},
        "revenue_months": _months(at),
        "note": CLASSES_NOTE,
        "classes": dict(sorted(classes.items())),
        "total": total,
    }


class StepHours:
    """Hours per task of each step, read once per playbook version the tasks name."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.books: dict[str, dict[str, float]] = {}

    def of(self, version: str, step: str) -> float:
        if version not in self.books:
            try:
                book = book_of(self.conn, version)
            except NoResultFound:  # a version no longer stored: its steps count one hour
                self.books[version] = {}
            else:
                self.books[version] = {f"{state}.{s.key}": s.effort_hours
                                       for state, pb in book.states.items() for s in pb.steps
                                       if s.effort_hours is not None}
        return self.books[version].get(step, 1.0)


# -- one entry point ------------------------------------------------------------------------


MONEY = frozenset({"revenue_t12", "potential", "wallet_gap", "gap", "revenue", "lost_revenue",
                   "lost_potential", "hours_due", "hours_done"})


def report(conn: Connection, name: str, at: datetime, top: int = TOP,
           threshold: float = THRESHOLD) -> dict[str, Any]:
    """One report by name, its amounts rounded to cents (shares are not rounded)."""
    if name == "portfolio":
        data = portfolio(conn, at, top, threshold)
    elif name == "losses":
        data = losses(conn, at)
    elif name == "investment":
        data = investment(conn, at)
    elif name == "sponsors":
        data = sponsors(conn, at)
    else:
        raise ValueError(f"name: unknown report '{name}'; reports: {', '.join(REPORTS)}")
    tidied: dict[str, Any] = tidy(data)
    return tidied


def tidy(value: Any, key: str | None = None) -> Any:
    """Amounts (MONEY keys) rounded to 2 decimals: sums of floats carry noise."""
    if isinstance(value, dict):
        return {k: tidy(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [tidy(v, key) for v in value]
    if isinstance(value, float) and key in MONEY:
        return round(value, 2)
    return value
