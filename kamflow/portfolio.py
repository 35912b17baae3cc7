"""Portfolio figures with aggregate queries: per class and state, key accounts, wallet gap."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from kamflow.facts import _t12
from kamflow.models import Account, Revenue
from kamflow.versions import active_book

A = Account.__table__  # type: ignore[attr-defined]
R = Revenue.__table__  # type: ignore[attr-defined]


def summary(conn: Connection, at: datetime) -> dict[str, Any]:
    """Class and key flag are those of the last sweep; revenue is as of `at`."""
    book = active_book(conn)
    states = list(book.lifecycle.states)
    rev = (select(R.c.account_id, func.sum(R.c.amount).label("t12"))
           .where(_t12(at)).group_by(R.c.account_id).subquery())
    klass = func.coalesce(A.c.klass, "-")
    q = (
        select(klass.label("klass"), A.c.state, A.c.key_account, func.count().label("n"),
               func.coalesce(func.sum(rev.c.t12), 0).label("revenue"),
               func.sum(A.c.potential).label("potential"),
               func.sum(func.max(A.c.potential - func.coalesce(rev.c.t12, 0), 0)
                        if conn.dialect.name == "sqlite"
                        else func.greatest(A.c.potential - func.coalesce(rev.c.t12, 0), 0))
               .label("gap"))
        .select_from(A.outerjoin(rev, rev.c.account_id == A.c.id))
        .group_by(klass, A.c.state, A.c.key_account)
    )
    classes: dict[str, dict[str, Any]] = {}
    total = key_accounts = 0
    revenue = key_revenue = gap = 0.0
    for r in conn.execute(q):
        c = classes.setdefault(r.klass, {"accounts": 0, "revenue_t12": 0.0, "potential": 0.0,
                                         "states": {}})
        c["accounts"] += r.n
        c["revenue_t12"] += float(r.revenue)
        c["potential"] += float(r.potential or 0)
        c["states"][r.state] = c["states"].get(r.state, 0) + r.n
        total += r.n
        revenue += float(r.revenue)
        gap += float(r.gap or 0)
        if r.key_account:
            key_accounts += r.n
            key_revenue += float(r.revenue)
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
