"""Portfolio summary (`kamflow portfolio`, GET /api/portfolio): accounts per class and
state, key accounts, wallet gap. The queries live in kamflow.reports, which also makes the
fuller `portfolio` report (concentration, top gaps, key accounts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from kamflow import reports


def summary(conn: Connection, at: datetime) -> dict[str, Any]:
    """Class and key flag are those of the last sweep; revenue is as of `at`."""
    return reports.summary(conn, at)
