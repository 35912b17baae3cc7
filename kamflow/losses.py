"""The losses report: per year, the customers lost, their revenue and potential, why they
were lost (the loss cause recorded on the task) and how many were won back.

Set-based like the other reports: only the small sets of lost transitions and of the tasks
that recorded a loss cause are fetched row by row and combined in Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

from kamflow.engine.metrics import windows
from kamflow.store.tables import ACCOUNT, REVENUE, TASK, TRANSITION

NO_CLASS = "-"
CLASSES_NOTE = "class and key-account flag as stored by the last sweep"
UNRECORDED = "unrecorded"
LOSS_CAUSE = "loss_cause"  # the task field that records why an account was lost
NOT_WON_BACK = ("lost", "recovery", "declining")  # moving into these is not a win-back
CHUNK = 900  # ids per IN list (SQLite's bound-parameter limit)



@dataclass
class _Loss:
    account_id: str
    name: str
    klass: str
    at: datetime
    rule: str
    revenue: float | None
    potential: float
    cause: str = UNRECORDED
    won_back_at: datetime | None = None
    won_back_to: str | None = None


def _number(metrics: Mapping[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _revenue_at(conn: Connection, wanted: Sequence[tuple[str, datetime]]
                ) -> dict[tuple[str, datetime], float]:
    """max(trailing 12 months, the 12 before) as of each (account, moment): for moves whose
    metrics did not record them (the sweep records only what its guard read)."""
    if not wanted:
        return {}
    spans = {key: windows(key[1]) for key in wanted}
    first = min(w.prev_start for w in spans.values())
    end = max(w.end for w in spans.values())
    ids = sorted({a for a, _ in wanted})
    months: dict[str, list[tuple[date, float]]] = defaultdict(list)
    for i in range(0, len(ids), CHUNK):
        q = select(REVENUE.c.account_id, REVENUE.c.month, REVENUE.c.amount).where(
            REVENUE.c.account_id.in_(ids[i : i + CHUNK]),
            REVENUE.c.month >= first,
            REVENUE.c.month < end,
        )
        for account_id, month, amount in conn.execute(q):
            months[account_id].append((month, float(amount)))
    out = {}
    for key, w in spans.items():
        rows = months.get(key[0], [])
        t12 = sum(a for m, a in rows if w.t12_start <= m < w.end)
        prev = sum(a for m, a in rows if w.prev_start <= m < w.t12_start)
        out[key] = max(t12, prev)
    return out


def losses(conn: Connection, at: datetime) -> dict[str, Any]:
    """For the year of `at` and the two before: the accounts lost (moved into `lost`, once
    per account and year, up to `at`), their revenue and potential, the loss rate against the
    customers at the start of the year, the recorded causes, and how many were won back."""
    years = [at.year - 2, at.year - 1, at.year]
    start = datetime(years[0], 1, 1)
    lost_q = (
        select(
            TRANSITION.c.account_id,
            TRANSITION.c.at,
            TRANSITION.c.rule,
            TRANSITION.c.metrics,
            ACCOUNT.c.name,
            ACCOUNT.c.klass,
            ACCOUNT.c.potential,
        )
        .select_from(TRANSITION.join(ACCOUNT, ACCOUNT.c.id == TRANSITION.c.account_id))
        .where(TRANSITION.c.to_state == "lost", TRANSITION.c.at >= start, TRANSITION.c.at <= at)
        .order_by(TRANSITION.c.account_id, TRANSITION.c.at, TRANSITION.c.id)
    )
    per_year: dict[int, dict[str, _Loss]] = {y: {} for y in years}
    for r in conn.execute(lost_q):
        of_year = per_year[r.at.year]
        if r.account_id in of_year:
            continue  # the first loss of the year counts
        metrics = r.metrics or {}
        recorded = [v for v in (_number(metrics, "revenue_t12"), _number(metrics, "revenue_prev12"))
                    if v is not None]
        potential = _number(metrics, "potential")
        of_year[r.account_id] = _Loss(r.account_id, r.name, r.klass or NO_CLASS, r.at, r.rule,
                                   max(recorded) if recorded else None,
                                   float(r.potential) if potential is None else potential)
    every = [loss for of_year in per_year.values() for loss in of_year.values()]
    missing = _revenue_at(conn, [(x.account_id, x.at) for x in every if x.revenue is None])
    for x in every:
        if x.revenue is None:
            x.revenue = missing[(x.account_id, x.at)]

    lost_ids = (select(TRANSITION.c.account_id)
                .where(TRANSITION.c.to_state == "lost", TRANSITION.c.at >= start, TRANSITION.c.at <= at)
                .scalar_subquery())
    cause = TASK.c.fields[LOSS_CAUSE].as_string()
    causes: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for account_id, done_at, value in conn.execute(
        select(TASK.c.account_id, TASK.c.done_at, cause)
        .where(TASK.c.status == "done", TASK.c.done_at.is_not(None), TASK.c.done_at >= start,
               TASK.c.done_at <= at, cause.is_not(None), TASK.c.account_id.in_(lost_ids))
        .order_by(TASK.c.account_id, TASK.c.done_at, TASK.c.id)
    ):
        if str(value).strip():
            causes[account_id].append((done_at, str(value).strip()))
    moves: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for account_id, moved_at, to_state in conn.execute(
        select(TRANSITION.c.account_id, TRANSITION.c.at, TRANSITION.c.to_state)
        .where(TRANSITION.c.account_id.in_(lost_ids), TRANSITION.c.at > start, TRANSITION.c.at <= at,
               TRANSITION.c.to_state.not_in(NOT_WON_BACK))
        .order_by(TRANSITION.c.account_id, TRANSITION.c.at, TRANSITION.c.id)
    ):
        moves[account_id].append((moved_at, to_state))
    for x in every:
        x.cause = next((c for done, c in causes[x.account_id] if done >= x.at), UNRECORDED)
        back = next(((m, s) for m, s in moves[x.account_id] if m > x.at), None)
        if back is not None:
            x.won_back_at, x.won_back_to = back

    customers = _customers_at_start(conn, years)
    rows = []
    for year in years:
        lost = sorted(per_year[year].values(), key=lambda x: (x.at, x.account_id))
        counts: dict[str, int] = defaultdict(int)
        for x in lost:
            counts[x.cause] += 1
        rows.append({
            "year": year,
            "from": date(year, 1, 1).isoformat(),
            "to": (at if year == at.year else datetime(year, 12, 31)).date().isoformat(),
            "customers_at_start": customers[year],
            "lost": len(lost),
            "loss_rate": len(lost) / customers[year] if customers[year] else None,
            "lost_revenue": sum((x.revenue or 0.0 for x in lost), 0.0),
            "lost_potential": sum((x.potential for x in lost), 0.0),
            "causes": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
            "won_back": sum(1 for x in lost if x.won_back_at is not None),
            "accounts": [{"id": x.account_id, "name": x.name, "class": x.klass,
                          "lost_at": x.at.isoformat(), "rule": x.rule, "revenue": x.revenue,
                          "potential": x.potential, "cause": x.cause,
                          "won_back_at": x.won_back_at.isoformat() if x.won_back_at else None,
                          "won_back_to": x.won_back_to} for x in lost],
        })
    return {"report": "losses", "as_of": at.isoformat(), "note": CLASSES_NOTE, "years": rows}


def _customers_at_start(conn: Connection, years: Sequence[int]) -> dict[int, int]:
    """Per year: the accounts with revenue > 0 in the 12 calendar months before 1 January."""
    sums = [func.sum(case((and_(REVENUE.c.month >= date(y - 1, 1, 1), REVENUE.c.month < date(y, 1, 1)),
                           REVENUE.c.amount), else_=0.0)).label(f"y{i}") for i, y in enumerate(years)]
    per_account = (select(REVENUE.c.account_id, *sums)
                   .where(REVENUE.c.month >= date(min(years) - 1, 1, 1),
                          REVENUE.c.month < date(max(years), 1, 1))
                   .group_by(REVENUE.c.account_id).subquery())
    counts = conn.execute(select(*[
        func.coalesce(func.sum(case((per_account.c[f"y{i}"] > 0, 1), else_=0)), 0)
        for i in range(len(years))])).one()
    return {y: int(n) for y, n in zip(years, counts, strict=True)}


