"""The portfolio, losses and investment reports on a hand-made store (SQLite and PostgreSQL):
every figure checked against a count done by hand, through the use case, the CLI (tables,
--json, --csv, bad input) and GET /api/reports/{name}."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from kamflow import people, reports
from kamflow.engine.clock import FixedClock
from kamflow.store.tables import ACCOUNT, PERSON, REVENUE, TASK, TRANSITION
from kamflow.web.app import create_app
from support import DB

AT = datetime(2026, 6, 15)  # trailing 12 months: 2025-06 to 2026-05
T0 = datetime(2023, 1, 1)

# id -> (stored class, state, key account, potential)
ACCOUNTS: dict[str, tuple[str | None, str, bool, float]] = {
    "A1": ("A", "loyal", True, 80.0),
    "A2": ("B", "loyal", True, 30.0),
    "A3": ("C", "high_potential", False, 100.0),
    "A4": ("D", "optimization", False, 5.0),
    "L1": ("C", "lost", False, 45.0),
    "L2": ("D", "loyal", False, 25.0),
    "L3": (None, "lost", False, 9.0),
}
REVENUE_ROWS = [
    ("A1", "2023-05", 10), ("A1", "2024-06", 10),
    *[("A1", f"2025-{m:02d}", 10) for m in range(6, 11)],  # 50 in the trailing 12 months
    ("A2", "2025-12", 30),
    ("A3", "2026-05", 15), ("A3", "2026-06", 99),  # June 2026 is the current month: left out
    ("A4", "2025-05", 1000), ("A4", "2025-06", 5),  # May 2025 is before the window
    ("L1", "2024-02", 20),
    ("L2", "2024-01", 7), ("L2", "2024-03", 3),
    ("L3", "2025-01", 8),
]
# (account, from, to, at, metrics)
TRANSITIONS = [
    ("L1", "loyal", "lost", datetime(2025, 3, 1),
     {"revenue_t12": 12, "revenue_prev12": 20, "potential": 40}),
    ("L1", "lost", "recovery", datetime(2025, 3, 15), {}),  # not a win-back
    ("L1", "recovery", "lost", datetime(2025, 4, 1),  # lost twice in 2025: counted once
     {"revenue_t12": 0, "revenue_prev12": 20, "potential": 40}),
    # as the sweep records it: only what the guard read, so the revenue comes from the store:
    # max(t12 = 0, prev12 = 7 + 3) as of 2025-06-01; the potential is the account's
    ("L2", "declining", "lost", datetime(2025, 6, 1), {"days_since_revenue": 400}),
    ("L2", "lost", "recovery", datetime(2025, 9, 1), {}),
    ("L2", "recovery", "loyal", datetime(2026, 2, 1), {}),  # won back
    ("L3", "loyal", "lost", datetime(2026, 2, 1),
     {"revenue_t12": 8, "revenue_prev12": 6, "potential": 9}),
    ("A4", "optimization", "lost", datetime(2026, 7, 1), {}),  # after AT: not yet
]
# (account, step, due, status, done_at, responsible department, fields)
TASKS: list[tuple[str, str, date, str, datetime | None, str, dict[str, Any]]] = [
    ("L1", "lost.record_loss", date(2025, 3, 15), "done", datetime(2025, 3, 5), "sales",
     {"loss_cause": "price"}),
    ("L1", "lost.re_approach", date(2025, 7, 1), "skipped", None, "sales",
     {"loss_cause": "ignored: skipped"}),
    ("L2", "declining.recovery_plan", date(2025, 5, 10), "done", datetime(2025, 5, 1), "sales",
     {"loss_cause": "quality"}),  # before the loss: not its cause
    ("L2", "recovery.loss_cause_analysis", date(2025, 10, 10), "done", datetime(2025, 10, 1),
     "sales", {"loss_cause": "service"}),
    ("L3", "lost.record_loss", date(2026, 2, 15), "done", datetime(2026, 6, 20), "sales",
     {"loss_cause": "price"}),  # done after AT: unrecorded as of AT
    ("A1", "loyal.t1", date(2026, 1, 10), "done", datetime(2026, 1, 9, 16), "sales", {}),
    ("A1", "loyal.t2", date(2026, 2, 1), "done", datetime(2026, 2, 5), "sales", {}),
    ("A1", "loyal.t3", date(2026, 3, 1), "open", None, "service", {}),
    ("A1", "loyal.t4", date(2026, 4, 1), "cancelled", None, "sales", {}),
    ("A1", "loyal.t5", date(2025, 6, 15), "done", datetime(2025, 6, 20), "sales", {}),
    ("A2", "loyal.t6", date(2026, 6, 10), "done", datetime(2026, 6, 16), "sales", {}),
    ("A3", "high_potential.t7", date(2026, 5, 1), "done", datetime(2026, 4, 30), "marketing",
     {}),
    ("A3", "high_potential.t8", date(2026, 7, 1), "open", None, "marketing", {}),
]


def _month(text: str) -> date:
    year, month = text.split("-")
    return date(int(year), int(month), 1)


def _task(n: int, account: str, step: str, due: date, status: str, done_at: datetime | None,
          dept: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"account_id": account, "step": step, "period": f"p{n}", "state": step.split(".")[0],
            "playbook_version": "test", "title": step, "start": due - timedelta(days=14),
            "due": due, "status": status, "assignee": "ann@x.test", "queue": None,
            "responsible_dept": dept, "accountable": None, "accountable_dept": "management",
            "co_responsible": ",", "consulted": ",", "informed": ",", "escalation_level": 0,
            "fields": fields, "reason": None, "done_at": done_at,
            "done_by": "ann@x.test" if done_at else None, "created_at": T0, "updated_at": T0,
            "why": {}}


@pytest.fixture
def store(db: DB) -> DB:
    with db.engine.begin() as conn:
        conn.execute(insert(PERSON), [{"email": "ann@x.test", "name": "Ann", "department": "sales",
                                  "role": "account_manager", "active": True},
                                 {"email": "mia@x.test", "name": "Mia", "department": "management",
                                  "role": "manager", "active": True}])
        conn.execute(insert(ACCOUNT), [{"id": aid, "name": f"{aid} GmbH", "industry": "machinery",
                                  "owner_email": "ann@x.test", "sponsor_email": None,
                                  "potential": pot, "criteria": {}, "state": state,
                                  "state_since": T0, "created_at": T0, "klass": klass,
                                  "key_account": key}
                                 for aid, (klass, state, key, pot) in ACCOUNTS.items()])
        conn.execute(insert(REVENUE), [{"account_id": a, "month": _month(m), "amount": float(v)}
                                 for a, m, v in REVENUE_ROWS])
        conn.execute(insert(TRANSITION), [{"account_id": a, "from_state": f, "to_state": t, "at": at,
                                   "rule": f"{f}_to_{t}", "metrics": m, "actor": "system",
                                   "reason": "", "playbook_version": "test"}
                                  for a, f, t, at, m in TRANSITIONS])
        conn.execute(insert(TASK), [_task(n, *row) for n, row in enumerate(TASKS)])
    return db


def run(db: DB, name: str, **options: Any) -> dict[str, Any]:
    with db.engine.connect() as conn:
        return reports.report(conn, name, AT, **options)


# -- portfolio --------------------------------------------------------------------------------


def test_portfolio_figures(store: DB) -> None:
    p = run(store, "portfolio", top=3)
    assert (p["accounts"], p["revenue_t12"], p["potential"], p["wallet_gap"]) == (7, 100, 294, 194)
    assert p["revenue_months"] == {"from": "2025-06", "to": "2026-05"}
    assert "last sweep" in p["note"]
    figures = {k: (c["accounts"], c["revenue_t12"], c["potential"], c["wallet_gap"])
               for k, c in p["classes"].items()}
    assert figures == {"-": (1, 0, 9, 9), "A": (1, 50, 80, 30), "B": (1, 30, 30, 0),
                       "C": (2, 15, 145, 130), "D": (2, 5, 30, 25)}
    assert p["classes"]["C"]["states"] == {"high_potential": 1, "lost": 1}
    assert p["classes"]["A"]["revenue_share"] == 0.5
    states = {k: (s["accounts"], s["revenue_t12"], s["wallet_gap"]) for k, s in p["states"].items()}
    assert states == {"prospect": (0, 0, 0), "high_potential": (1, 15, 85), "loyal": (3, 80, 55),
                      "declining": (0, 0, 0), "recovery": (0, 0, 0), "lost": (2, 0, 54),
                      "optimization": (1, 5, 0)}
    assert [(a["id"], a["gap"]) for a in p["top_gaps"]] == [("A3", 85), ("L1", 45), ("A1", 30)]
    assert p["top_gaps"][0] == {"id": "A3", "name": "A3 GmbH", "class": "C",
                                "state": "high_potential", "key_account": False,
                                "revenue_t12": 15, "revenue_share": 0.15, "potential": 100,
                                "gap": 85}
    assert p["concentration"] == {"top_1": 0.5, "top_5": 1.0, "top_10": 1.0}
    assert [(a["id"], a["revenue_share"]) for a in p["above_threshold"]] == [
        ("A1", 0.5), ("A2", 0.3), ("A3", 0.15)]
    keys = p["key_accounts"]
    assert (keys["accounts"], keys["revenue_t12"], keys["revenue_share"]) == (2, 80, 0.8)
    assert [a["id"] for a in keys["list"]] == ["A1", "A2"]
    higher = run(store, "portfolio", threshold=0.2)
    assert [a["id"] for a in higher["above_threshold"]] == ["A1", "A2"]
    assert len(higher["top_gaps"]) == 5  # the default top 10: every account with a gap


def test_portfolio_summary_is_the_same_aggregate(store: DB) -> None:
    with store.engine.connect() as conn:
        s = reports.summary(conn, AT)
    assert (s["accounts"], s["revenue_t12"], s["wallet_gap"], s["key_accounts"]) == (7, 100, 194, 2)
    assert s["key_revenue_share"] == 0.8
    assert s["classes"]["D"] == {"accounts": 2, "revenue_t12": 5, "potential": 30,
                                 "states": {"optimization": 1, "loyal": 1}}


def test_portfolio_refuses_bad_options(store: DB) -> None:
    with pytest.raises(ValueError, match="--threshold"):
        run(store, "portfolio", threshold=1.5)
    with pytest.raises(ValueError, match="--top"):
        run(store, "portfolio", top=0)
    with pytest.raises(ValueError, match="unknown report 'churn'"):
        run(store, "churn")


# -- losses -----------------------------------------------------------------------------------


def test_losses_per_year(store: DB) -> None:
    data = run(store, "losses")
    years = {y["year"]: y for y in data["years"]}
    assert list(years) == [2024, 2025, 2026]
    y24, y25, y26 = years[2024], years[2025], years[2026]
    assert (y24["customers_at_start"], y24["lost"], y24["loss_rate"]) == (1, 0, 0.0)
    assert (y25["customers_at_start"], y25["lost"]) == (3, 2)
    assert y25["loss_rate"] == pytest.approx(2 / 3)
    assert (y25["lost_revenue"], y25["lost_potential"]) == (30, 65)  # L1: 20, 40; L2: 10, 25
    assert y25["causes"] == {"price": 1, "service": 1}
    assert y25["won_back"] == 1
    lost = {a["id"]: a for a in y25["accounts"]}
    assert lost["L1"]["lost_at"] == "2025-03-01T00:00:00" and lost["L1"]["won_back_at"] is None
    assert lost["L2"]["revenue"] == 10 and lost["L2"]["cause"] == "service"
    assert (lost["L2"]["won_back_at"], lost["L2"]["won_back_to"]) == ("2026-02-01T00:00:00",
                                                                      "loyal")
    assert (y26["customers_at_start"], y26["lost"], y26["loss_rate"]) == (4, 1, 0.25)
    assert (y26["lost_revenue"], y26["lost_potential"]) == (8, 9)
    assert y26["causes"] == {"unrecorded": 1} and y26["won_back"] == 0
    assert (y26["from"], y26["to"]) == ("2026-01-01", "2026-06-15")


def test_losses_as_of_a_later_moment_see_later_causes_and_moves(store: DB) -> None:
    with store.engine.connect() as conn:
        later = reports.losses(conn, datetime(2026, 7, 2))
    y26 = later["years"][-1]
    assert y26["lost"] == 2  # A4 too
    assert y26["causes"] == {"price": 1, "unrecorded": 1}  # L3's cause was done on 20 June


# -- investment -------------------------------------------------------------------------------


def test_investment_per_class(store: DB) -> None:
    data = run(store, "investment")
    assert data["window"] == {"from": "2025-06-15T00:00:00", "to": "2026-06-15T00:00:00"}
    c = data["classes"]
    counts = {k: (f["tasks_due"], f["tasks_done"], f["done_on_time"]) for k, f in c.items()}
    # L3's record_loss fell due in the window and was done after it: due, not done
    assert counts == {"-": (1, 0, 0), "A": (3, 3, 1), "B": (1, 0, 0), "C": (2, 1, 1),
                      "D": (1, 1, 1)}
    assert c["A"]["departments"] == {"sales": {"due": 2, "done": 3},
                                     "service": {"due": 1, "done": 0}}
    assert c["C"]["departments"] == {"marketing": {"due": 1, "done": 1},
                                     "sales": {"due": 1, "done": 0}}
    assert c["A"]["on_time_share"] == pytest.approx(1 / 3)
    assert c["B"]["on_time_share"] is None
    assert (c["A"]["effort_share"], c["C"]["effort_share"], c["B"]["effort_share"]) == (
        0.6, 0.2, 0.0)
    assert c["C"]["gap_share"] == pytest.approx(130 / 194)
    assert c["A"]["effort_minus_gap_share"] == pytest.approx(0.6 - 30 / 194)
    assert (c["A"]["verdict"], c["C"]["verdict"], c["B"]["verdict"]) == (
        "effort above gap", "effort below gap", "in line")
    assert (c["A"]["revenue_share"], c["C"]["wallet_gap"]) == (0.5, 130)
    total = data["total"]
    assert (total["tasks_due"], total["tasks_done"], total["done_on_time"]) == (8, 5, 3)
    assert total["departments"]["sales"] == {"due": 6, "done": 4}


# -- the CLI ----------------------------------------------------------------------------------


def test_cli_json_is_the_report(store: DB) -> None:
    for name in reports.REPORTS:
        r = store.cli("report", name, "--at", "2026-06-15", "--json")
        assert r.code == 0, r.stderr
        assert json.loads(r.stdout) == run(store, name), name
    r = store.cli("report", "portfolio", "--at", "2026-06-15", "--top", "1", "--threshold",
                  "0.4", "--json")
    data = json.loads(r.stdout)
    assert [a["id"] for a in data["top_gaps"]] == ["A3"]
    assert [a["id"] for a in data["above_threshold"]] == ["A1"]


def table(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_cli_csv_is_one_table_per_report(store: DB) -> None:
    r = store.cli("report", "portfolio", "--at", "2026-06-15", "--csv", "--top", "2")
    assert r.code == 0, r.stderr
    rows = table(r.stdout)
    # the top 2 gaps first, then the others named in a list, by revenue
    assert [row["id"] for row in rows] == ["A3", "L1", "A1", "A2"]
    assert rows[0]["gap_rank"] == "1" and rows[2]["gap_rank"] == ""
    assert (rows[2]["revenue_share"], rows[2]["above_threshold"], rows[2]["key_account"]) == (
        "0.5", "True", "True")
    losses = table(store.cli("report", "losses", "--at", "2026-06-15", "--csv").stdout)
    assert [row["year"] for row in losses] == ["2024", "2025", "2026"]
    assert (losses[1]["lost"], losses[1]["cause:price"], losses[1]["cause:service"],
            losses[1]["won_back"], losses[0]["loss_rate"]) == ("2", "1", "1", "1", "0.0")
    assert losses[2]["cause:unrecorded"] == "1"
    effort = table(store.cli("report", "investment", "--at", "2026-06-15", "--csv").stdout)
    assert [row["class"] for row in effort] == ["-", "A", "B", "C", "D", "total"]
    assert (effort[1]["tasks_done"], effort[1]["due:sales"], effort[1]["done:sales"],
            effort[1]["done:service"], effort[1]["verdict"]) == ("3", "2", "3", "0",
                                                                 "effort above gap")
    assert effort[-1]["tasks_due"] == "8" and effort[-1]["effort_share"] == ""


def test_cli_tables(store: DB) -> None:
    r = store.cli("report", "portfolio", "--at", "2026-06-15")
    assert r.code == 0, r.stderr
    assert "the largest 1: 50%, 5: 100%, 10: 100%" in r.stdout
    assert "key accounts: 2, 80 (80% of revenue)" in r.stdout and "A3 GmbH" in r.stdout
    r = store.cli("report", "losses", "--at", "2026-06-15")
    assert r.code == 0, r.stderr
    assert "price: 1, service: 1" in r.stdout and "2026-02-01 → loyal" in r.stdout
    r = store.cli("report", "investment", "--at", "2026-06-15")
    assert r.code == 0, r.stderr
    assert "effort above gap" in r.stdout and "+45 pt" in r.stdout


def test_cli_bad_input(store: DB) -> None:
    r = store.cli("report", "losses", "--at", "2026-06-15", "--json", "--csv")
    assert r.code == 2 and "--json" in r.stderr and "--csv" in r.stderr and r.stdout == ""
    r = store.cli("report", "investment", "--at", "last week")
    assert r.code == 2 and "--at: 'last week' is not an ISO date" in r.stderr
    r = store.cli("report", "portfolio", "--threshold", "0")
    assert r.code == 2 and "--threshold" in r.stderr
    assert store.cli("report", "churn").code == 2


# -- the API ----------------------------------------------------------------------------------


def test_api_answers_the_same_json(store: DB) -> None:
    clock = FixedClock(AT)
    headers = {}
    for email in ("mia@x.test", "ann@x.test"):
        _, secret = people.create_token(store.engine, email, "tests", clock)
        headers[email] = {"Authorization": f"Bearer {secret}"}
    with TestClient(create_app(store.url, clock)) as client:
        for name in reports.REPORTS:
            r = client.get(f"/api/reports/{name}?at=2026-06-15", headers=headers["mia@x.test"])
            assert r.status_code == 200, r.text
            assert r.json() == json.loads(store.cli("report", name, "--at", "2026-06-15",
                                                    "--json").stdout)
        default = client.get("/api/reports/losses", headers=headers["mia@x.test"]).json()
        assert default["as_of"] == "2026-06-15T00:00:00"  # the app's clock
        r = client.get("/api/reports/portfolio?threshold=0.2&top=1", headers=headers["mia@x.test"])
        assert [a["id"] for a in r.json()["above_threshold"]] == ["A1", "A2"]
        assert len(r.json()["top_gaps"]) == 1
        r = client.get("/api/reports/churn", headers=headers["mia@x.test"])
        assert r.status_code == 404 and r.json()["field"] == "name"
        assert "unknown report 'churn'" in r.json()["error"]
        r = client.get("/api/reports/portfolio?threshold=2", headers=headers["mia@x.test"])
        assert r.status_code == 422 and r.json()["field"] == "threshold"
        r = client.get("/api/reports/portfolio?at=soon", headers=headers["mia@x.test"])
        assert r.status_code == 422 and r.json()["field"] == "at"
        r = client.get("/api/reports/portfolio", headers=headers["ann@x.test"])
        assert r.status_code == 403  # account managers do not see the portfolio
