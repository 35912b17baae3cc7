"""Revenue per product line (revenue.csv's product_line; '' is a month given as a total)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, func, select

from kamflow.store.tables import REVENUE


def revenue_by_line(conn: Connection, account_id: str, start: date, end: date
                    ) -> dict[str, float]:
    """{product line: revenue} of the months start <= month < end."""
    q = (select(REVENUE.c.product_line, func.sum(REVENUE.c.amount))
         .where(REVENUE.c.account_id == account_id, REVENUE.c.month >= start,
                REVENUE.c.month < end)
         .group_by(REVENUE.c.product_line))
    return {line: float(total or 0) for line, total in conn.execute(q).tuples()}
