"""CSV exports a spreadsheet opens never run a cell: text starting with = + - @, a tab or a
carriage return gets a leading quote (OWASP); numbers, negative ones included, stay numbers.
Through `kamflow report portfolio --csv` and the adherence page's CSV on a real store."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import pytest
from sqlalchemy import insert

from kamflow.security import csv_cell
from kamflow.store.tables import ACCOUNT, PERSON, REVENUE
from support import DB

T0 = datetime(2025, 1, 1)
EVIL = "=cmd|' /C calc'!A0"


@pytest.mark.parametrize(("value", "cell"), [
    (EVIL, "'" + EVIL), ("+1+cmd|x", "'+1+cmd|x"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("plain", "plain"), ("a=b", "a=b"), ("", ""),
    (-12.5, -12.5), (-3, -3), (0, 0), ("-12.5", "-12.5"), ("+3", "+3"), ("-1e6", "-1e6"),
    ("-", "-"), ("--", "'--"),
    (True, True), (None, None),
])
def test_csv_cell(value: object, cell: object) -> None:
    assert csv_cell(value) == cell


def test_report_portfolio_csv_neutralises_an_account_name(db: DB) -> None:
    with db.engine.begin() as conn:
        conn.execute(insert(PERSON), [{"email": "ann@x.test", "name": "Ann", "department": "sales",
                                       "role": "account_manager", "active": True}])
        conn.execute(insert(ACCOUNT), [{
            "id": aid, "name": name, "industry": "machinery", "owner_email": "ann@x.test",
            "sponsor_email": None, "potential": 2_000_000.0, "criteria": {}, "state": "loyal",
            "state_since": T0, "created_at": T0, "klass": "A", "key_account": True}
            for aid, name in (("EVIL", EVIL), ("PLUS", "+49 Trading"), ("OK", "Fine GmbH"))])
        conn.execute(insert(REVENUE), [{"account_id": aid, "month": date(2026, m, 1),
                                        "amount": 50_000.0}
                                       for aid in ("EVIL", "PLUS", "OK") for m in range(1, 6)])
    r = db.cli("report", "portfolio", "--at", "2026-06-15", "--csv")
    assert r.code == 0, r.stderr
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(r.stdout))}
    assert rows["EVIL"]["name"] == "'" + EVIL
    assert rows["PLUS"]["name"] == "'+49 Trading"
    assert rows["OK"]["name"] == "Fine GmbH"
    assert float(rows["EVIL"]["revenue_t12"]) == 250_000.0  # numbers stay numbers
    for line in r.stdout.splitlines():
        for cell in next(csv.reader([line])):
            assert not cell.startswith(("=", "@", "\t", "\r")), line
