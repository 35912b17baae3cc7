"""The data the practice needs, end to end on both stores: quotes with outcomes and complaints
(CLI and events.csv), margin as the contribution, revenue per product line measured against
the plan, effort in hours, and touchpoint plans. Every expected figure is worked by hand."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from kamflow import accounts, plans, reports
from kamflow.playbooks.loader import bundled_dir
from kamflow.store.tables import ACCOUNT, ACCOUNT_EVENT, AUDIT_EVENT, REVENUE, TASK
from kamflow.store.versions import active_version
from support import DB

PEOPLE = ("email,name,department,role\nann@x.test,Ann Am,sales,account_manager\n"
          "sam@x.test,Sam Sponsor,management,manager\nsid@x.test,Sid Service,service,"
          "department_lead\n")


def _import(db: DB, tmp_path: Path, kind: str, text: str, at: str = "2026-01-01") -> Any:
    path = tmp_path / f"{kind}.csv"
    path.write_text(text)
    return db.cli("import", kind, str(path), "--at", at, "--json")


def _setup(db: DB, tmp_path: Path, accounts_csv: str) -> None:
    assert _import(db, tmp_path, "people", PEOPLE).code == 0
    r = _import(db, tmp_path, "accounts",
                "account_id,name,industry,owner_email,sponsor_email,potential,state,created_at\n"
                + accounts_csv)
    assert r.code == 0, r.stderr


def _metrics(db: DB, account: str, at: datetime) -> dict[str, Any]:
    with db.engine.connect() as conn:
        return accounts.show(conn, account, at)


def _playbooks(tmp_path: Path, edits: dict[str, tuple[str, str]]) -> Path:
    """The bundled playbooks with `file: (old, new)` replacements, in a folder to load."""
    folder = tmp_path / "playbooks"
    folder.mkdir()
    for f in bundled_dir().glob("*.yaml"):
        text = f.read_text()
        if f.name in edits:
            old, new = edits[f.name]
            assert old in text, (f.name, old)
            text = text.replace(old, new, 1)
        (folder / f.name).write_text(text)
    return folder


BIG = "BIG,Big Foods,food,ann@x.test,sam@x.test,1000000,loyal,2024-01-01\n"


# -- quotes with outcomes, complaints ---------------------------------------------------------


def test_quote_outcomes_and_complaints_feed_the_metrics(db: DB, tmp_path: Path) -> None:
    _setup(db, tmp_path, BIG)
    ok = [("Q1", "--amount", "10000", "2026-02-01"), ("Q2", "--amount", "5000", "2026-02-05"),
          ("Q1", "--outcome", "won", "2026-03-01"), ("Q2", "--outcome", "lost", "2026-03-02")]
    for ref, option, value, at in ok:
        r = db.cli("event", "BIG", "quote_created", "--ref", ref, option, value, "--at", at)
        assert r.code == 0, r.stderr
    # Recording the outcome updated the quote: two quote rows, not four, with the decision.
    with db.engine.connect() as conn:
        quotes = conn.execute(select(ACCOUNT_EVENT.c.ref, ACCOUNT_EVENT.c.outcome,
                                     ACCOUNT_EVENT.c.amount, ACCOUNT_EVENT.c.decided_at)
                              .order_by(ACCOUNT_EVENT.c.ref)).all()
        audited = conn.execute(select(func.count()).select_from(AUDIT_EVENT)
                               .where(AUDIT_EVENT.c.action == "quote_updated")).scalar()
    assert [tuple(q) for q in quotes] == [("Q1", "won", 10000, datetime(2026, 3, 1)),
                                          ("Q2", "lost", 5000, datetime(2026, 3, 2))]
    assert audited == 2

    # Bad values name their field and change nothing.
    for args, problem in (
            (("quote_created", "--ref", "Q9", "--outcome", "wonn"),
             "--outcome: 'wonn' is not one of won, lost, open"),
            (("complaint", "--amount", "5"), "--amount: only a quote event (quote_...) carries"),
            (("quote_created", "--amount", "-1"), "--amount: -1 is not a finite amount")):
        r = db.cli("event", "BIG", *args, "--at", "2026-03-03")
        assert r.code != 0 and problem in r.stderr, r.stderr
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ACCOUNT_EVENT)).scalar() == 2

    # events.csv: Q3 was decided 2025-06-01, before the span of 2026-06-15 began (June and
    # the 11 months before: from 2025-07-01); Q4 was won inside it. Complaints: 2025-06-10 is
    # outside, 2025-07-01 (its first moment) and 2026-05-01 inside.
    events = ("account_id,event,at,ref,outcome,amount,decided_at\n"
              "BIG,quote_created,2025-05-01,Q3,won,7000,2025-06-01\n"
              "BIG,quote_created,2026-04-01,Q4,won,8000,2026-04-20\n"
              "BIG,complaint,2025-06-10,,,,\n"
              "BIG,complaint,2025-07-01,,,,\n"
              "BIG,complaint,2026-05-01,,,,\n")
    r = _import(db, tmp_path, "events", events, "2026-06-01")
    assert r.code == 0, r.stderr
    assert (json.loads(r.stdout)["new"], json.loads(r.stdout)["existing"]) == (5, 0)
    again = _import(db, tmp_path, "events", events, "2026-06-01")
    assert (json.loads(again.stdout)["new"], json.loads(again.stdout)["existing"]) == (0, 5)

    m = _metrics(db, "BIG", datetime(2026, 6, 15))["metrics"]
    # won Q1, Q4 of decided Q1, Q2, Q4
    assert (m["quote_success_rate"], m["quotes_decided"], m["complaint_rate"]) == (
        round(2 / 3, 4), 3, 2)  # as the account view rounds it
    # Replayed at noon on 1 March 2026 (span from 2025-04-01): Q1 (that midnight) and Q3 are
    # decided, both won; Q2 is lost only the next day; the complaints of 2025-06-10 and
    # 2025-07-01 count, 2026-05-01 is still to come.
    m = _metrics(db, "BIG", datetime(2026, 3, 1, 12))["metrics"]
    assert (m["quote_success_rate"], m["quotes_decided"], m["complaint_rate"]) == (1.0, 2, 2)


def test_events_csv_rows_are_checked_naming_line_and_column(db: DB, tmp_path: Path) -> None:
    _setup(db, tmp_path, BIG)
    r = _import(db, tmp_path, "events",
                "account_id,event,at,ref,outcome,amount,decided_at\n"
                "BIG,quote_created,2026-01-02,Q1,open,100,\n"
                "BIG,quote_created,2026-01-02,Q2,maybe,100,\n"
                "BIG,complaint,2026-01-02,,won,,\n"
                "BIG,quote_created,2026-01-02,Q3,won,x,\n"
                "BIG,quote_created,2026-01-05,Q4,won,1,2026-01-03\n"
                "BIG,quote_created,2026-01-05,Q5,open,1,2026-01-06\n"
                "BIG,quotation,2026-01-05,Q6,,,\n", "2026-02-01")
    assert r.code != 0
    path = tmp_path / "events.csv"
    for line, problem in ((3, "outcome: 'maybe' is not one of won, lost, open"),
                          (4, "outcome: only a quote event"),
                          (5, "amount: 'x' is not a number"),
                          (6, "decided_at: 2026-01-03T00:00:00 is not between"),
                          (7, "decided_at: only a quote won or lost has a decision moment"),
                          (8, "event: unknown event 'quotation'")):
        assert f"{path}:{line}: {problem}" in r.stderr, (line, r.stderr)
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ACCOUNT_EVENT)).scalar() == 0


# -- margin as the contribution -------------------------------------------------------------


def test_margin_changes_the_class_where_the_articles_say_it_should(db: DB, tmp_path: Path
                                                                   ) -> None:
    _setup(db, tmp_path, "".join(
        f"{a},{a.title()},food,ann@x.test,,600000,loyal,2024-01-01\n"
        for a in ("THIN", "FAT", "NOMARGIN")))
    # Each buys 40k a month from 2025-08 to 2026-05: 400k in the twelve months to 2026-06-15,
    # two thirds of a 600k potential. THIN earns 2k a month on it (20k), FAT 12k (120k).
    months = [f"{y}-{m:02d}" for y, m in [(2025, m) for m in range(8, 13)]
              + [(2026, m) for m in range(1, 6)]]
    revenue = "".join(f"{a},{m},40000\n" for a in ("THIN", "FAT", "NOMARGIN") for m in months)
    assert _import(db, tmp_path, "revenue", "account_id,month,amount\n" + revenue).code == 0
    margin = "".join(f"THIN,{m},2000\nFAT,{m},12000\n" for m in months)
    r = _import(db, tmp_path, "margin", "account_id,month,margin\n" + margin)
    assert r.code == 0, r.stderr
    at = datetime(2026, 6, 15)
    assert {a: _metrics(db, a, at)["class"] for a in ("THIN", "FAT", "NOMARGIN")} == {
        "THIN": "A", "FAT": "A", "NOMARGIN": "A"}  # on revenue: 400k >= 250k, 67% >= 40%

    folder = _playbooks(tmp_path, {"classification.yaml": (
        "contribution:\n  high: 250000\n  medium: 50000",
        "contribution:\n  basis: margin\n  high: 60000\n  medium: 15000")})
    assert db.cli("playbook", "load", str(folder)).code == 0
    shown = {a: _metrics(db, a, at) for a in ("THIN", "FAT", "NOMARGIN")}
    # THIN: 20k margin is a medium contribution of a high potential: C (invest, or fix the
    # cost to serve). FAT: 120k >= 60k: A. NOMARGIN has no margin rows: its revenue counts.
    assert {a: s["class"] for a, s in shown.items()} == {"THIN": "C", "FAT": "A",
                                                         "NOMARGIN": "A"}
    assert shown["THIN"]["contribution_level"] == "medium"
    assert (shown["THIN"]["metrics"]["margin_t12"], shown["THIN"]["metrics"]["margin_share"]) == (
        20_000, 0.05)
    assert shown["NOMARGIN"]["metrics"]["margin_t12"] is None
    r = db.cli("sweep", "--at", "2026-06-15")  # the sweep stores the same classes
    assert r.code == 0, r.stderr
    with db.engine.connect() as conn:
        stored = dict(conn.execute(select(ACCOUNT.c.id, ACCOUNT.c.klass)).tuples().all())
    assert stored == {"THIN": "C", "FAT": "A", "NOMARGIN": "A"}

    bad = _import(db, tmp_path, "margin", "account_id,month,margin\nTHIN,2026-13,5\nX,2026-01,1\n"
                  "FAT,2026-01,lots\n")
    path = tmp_path / "margin.csv"
    assert f"{path}:2: month: '2026-13' is not a month (YYYY-MM)" in bad.stderr
    assert f"{path}:3: account_id: unknown account 'X'" in bad.stderr
    assert f"{path}:4: margin: 'lots' is not a number" in bad.stderr


def test_the_portrait_can_score_quote_success_and_complaints(db: DB, tmp_path: Path) -> None:
    folder = _playbooks(tmp_path, {"classification.yaml": ("portrait:\n", (
        "portrait:\n"
        "  - {key: quotes, group: history, weight: 1, metric: quote_success_rate, "
        "scale: [0, 1], title: Quotes won}\n"
        "  - {key: complaints, group: history, weight: 1, metric: complaint_rate, "
        "scale: [12, 0], title: Few complaints}\n"))})
    r = db.cli("playbook", "load", str(folder))
    assert r.code == 0, r.stderr
    _setup(db, tmp_path, BIG)
    for ref, outcome in (("Q1", "won"), ("Q2", "won"), ("Q3", "won"), ("Q4", "lost")):
        assert db.cli("event", "BIG", "quote_created", "--ref", ref, "--outcome", outcome,
                      "--at", "2026-02-01").code == 0
    for day in ("2026-02-02", "2026-02-03", "2026-02-04"):
        assert db.cli("event", "BIG", "complaint", "--at", day).code == 0
    portrait = _metrics(db, "BIG", datetime(2026, 3, 1))["portrait"]
    # 3 of 4 won: 7.5 of 10; 3 complaints on a 12 (score 0) .. 0 (score 10) scale: 7.5
    assert (portrait["quotes"], portrait["complaints"]) == (7.5, 7.5)


# -- revenue per product line against the plan ----------------------------------------------


PLAN = """\
target:
  revenue: 960000
  by_product_line: {machines: 600000, service: 360000}
touchpoints:
  - {ours: sponsor, theirs: Purchasing Director, every_days: 90}
  - {ours: owner, theirs: plant manager, every_days: 30}
  - {ours: service, theirs: maintenance lead, every_days: 60}
"""


def test_revenue_per_product_line_is_measured_against_the_plan(db: DB, tmp_path: Path) -> None:
    _setup(db, tmp_path, BIG)
    lines = ("account_id,month,amount,product_line\n"
             "BIG,2026-01,50000,machines\nBIG,2026-01,25000,Service\n"
             "BIG,2026-02,60000,machines\nBIG,2026-02,30000,service\n"
             "BIG,2026-03,90000,\n")
    r = _import(db, tmp_path, "revenue", lines)
    assert r.code == 0, r.stderr
    assert json.loads(_import(db, tmp_path, "revenue", lines).stdout)["existing"] == 5
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    assert db.cli("plan", "edit", "BIG", "--from", str(plan), "--at", "2026-01-05").code == 0
    with db.engine.connect() as conn:
        shown = plans.show(conn, "BIG", 2026, datetime(2026, 4, 10))
    got = shown["attainment"]
    # Three months complete: 3 x 80k = 240k to date; machines owe 240k x 600/960 = 150k and
    # got 110k; service owe 90k and got 55k; 90k came as a month total ('').
    assert got["revenue_fy"] == 255_000 and got["target_fy"] == 240_000
    assert [(p["product_line"], p["target_to_date"], p["revenue"]) for p in got["product_lines"]
            ] == [("machines", 150_000, 110_000), ("service", 90_000, 55_000), ("", None, 90_000)]
    assert got["product_lines"][0]["attainment"] == 110 / 150
    assert got["product_lines"][1]["attainment"] == 55 / 90
    shown_cli = db.cli("plan", "show", "BIG", "--at", "2026-04-10")
    assert "machines: revenue 110,000 of 150,000" in shown_cli.stdout, shown_cli.stdout
    assert "(month totals): revenue 90,000 of -" in shown_cli.stdout
    # Totals stay what they were: the metrics sum every line.
    assert _metrics(db, "BIG", datetime(2026, 4, 10))["metrics"]["revenue_fy"] == 255_000

    # A month given both ways would count twice: refused, naming the column; nothing changes.
    r = _import(db, tmp_path, "revenue", "account_id,month,amount\nBIG,2026-01,75000\n")
    assert r.code != 0 and "product_line: BIG 2026-01 is given both as a month total" in r.stderr
    r = _import(db, tmp_path, "revenue", "account_id,month,amount,product_line\n"
                "BIG,2026-04,1,machines\nBIG,2026-04,2,\nBIG,2026-05,1,bad line!\n")
    assert "product_line: BIG 2026-04 is given both" not in r.stderr  # the row check comes first
    assert "revenue.csv:4: product_line: 'bad_line!' is not a product line key" in r.stderr
    r = _import(db, tmp_path, "revenue", "account_id,month,amount,product_line\n"
                "BIG,2026-04,1,machines\nBIG,2026-04,2,\n")
    assert "product_line: BIG 2026-04 is given both" in r.stderr
    with db.engine.connect() as conn:
        assert conn.execute(select(func.sum(REVENUE.c.amount))).scalar() == 255_000


# -- effort in hours ------------------------------------------------------------------------


def test_the_investment_report_weighs_hours(db: DB, tmp_path: Path) -> None:
    folder = _playbooks(tmp_path, {"loyal.yaml": (
        "  - key: quarterly_plan_review\n", "  - key: quarterly_plan_review\n    effort_hours: 6\n")})
    text = (folder / "loyal.yaml").read_text()
    (folder / "loyal.yaml").write_text(text.replace(
        "  - key: feedback_request\n", "  - key: feedback_request\n    effort_hours: 0.5\n", 1))
    assert db.cli("playbook", "load", str(folder)).code == 0
    _setup(db, tmp_path, "A1,A1,food,ann@x.test,,600000,loyal,2024-01-01\n"
                         "C1,C1,food,ann@x.test,,600000,loyal,2024-01-01\n")
    t0 = datetime(2026, 1, 1)
    with db.engine.begin() as conn:
        version = active_version(conn)
        conn.execute(ACCOUNT.update().where(ACCOUNT.c.id == "A1").values(klass="A"))
        conn.execute(ACCOUNT.update().where(ACCOUNT.c.id == "C1").values(klass="C"))
        # A1: two reviews (6 h each); C1: four feedback requests (0.5 h) and one step that
        # declares no hours (1 h).
        work = [("A1", "loyal.quarterly_plan_review")] * 2 + [
            ("C1", "loyal.feedback_request")] * 4 + [("C1", "loyal.new_solutions")]
        conn.execute(TASK.insert(), [
            {"account_id": a, "step": step, "period": f"p{n}", "state": "loyal",
             "playbook_version": version, "title": step, "start": date(2026, 2, 1),
             "due": date(2026, 3, 1), "status": "done", "assignee": "ann@x.test",
             "responsible_dept": "sales", "accountable_dept": "sales",
             "done_at": datetime(2026, 2, 20), "done_by": "ann@x.test", "created_at": t0,
             "updated_at": t0, "fields": {}, "why": {}}
            for n, (a, step) in enumerate(work)])
    with db.engine.connect() as conn:
        data = reports.report(conn, "investment", datetime(2026, 6, 15))
    a, c = data["classes"]["A"], data["classes"]["C"]
    assert (a["tasks_done"], a["hours_done"], c["tasks_done"], c["hours_done"]) == (2, 12, 5, 3)
    assert data["total"]["hours_done"] == 15
    # By task count A would be 2/7 of the effort; by hours it is 12/15.
    assert (a["effort_share"], c["effort_share"]) == (0.8, 0.2)
    table = db.cli("report", "investment", "--at", "2026-06-15").stdout
    assert "hours done" in table and "80%" in table and "20%" in table


# -- touchpoints ----------------------------------------------------------------------------


def test_overdue_touchpoints(db: DB, tmp_path: Path) -> None:
    _setup(db, tmp_path, BIG)
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.replace("ours: service", "ours: legal"))
    r = db.cli("plan", "edit", "BIG", "--from", str(plan), "--at", "2026-01-05")
    assert r.code != 0 and "touchpoints[2].ours: 'legal' is not owner, sponsor or a department" \
        in r.stderr, r.stderr
    plan.write_text(PLAN)
    assert db.cli("plan", "edit", "BIG", "--from", str(plan), "--at", "2026-01-05").code == 0
    r = db.cli("contact", "log", "BIG", "--channel", "visit", "--by", "sam@x.test", "--date",
               "2026-02-01", "--customer-role", "Purchasing  director", "--at", "2026-02-01")
    assert r.code == 0, r.stderr
    # Ann met the plant manager (counts: she owns BIG) and the maintenance lead (does not:
    # that touchpoint is the service department's).
    r = _import(db, tmp_path, "contacts",
                "account_id,date,channel,person_email,customer_role\n"
                "BIG,2026-04-01,visit,ann@x.test,Plant Manager\n"
                "BIG,2026-04-02,visit,ann@x.test,maintenance lead\n", "2026-04-02")
    assert r.code == 0, r.stderr

    def overdue(at: str) -> list[tuple[str, str, str | None, str, int]]:
        r = db.cli("plan", "touchpoints", "--at", at, "--json")
        assert r.code == 0, r.stderr
        return [(t["ours"], t["theirs"], t["last_met"], t["due"], t["days_overdue"])
                for t in json.loads(r.stdout)["touchpoints"]]

    # 2026-05-15: service never met them: due 60 days after the plan (2026-03-06), 70 late;
    # the owner's visit of 1 April fell due 1 May (14 late); the sponsor's of 1 Feb on 2 May.
    assert overdue("2026-05-15") == [
        ("service", "maintenance lead", None, "2026-03-06", 70),
        ("owner", "plant manager", "2026-04-01", "2026-05-01", 14),
        ("sponsor", "purchasing director", "2026-02-01", "2026-05-02", 13)]
    assert overdue("2026-02-04") == []  # the first (owner's) falls due that day: not late yet
    assert overdue("2026-02-05")[0][:2] == ("owner", "plant manager")
    r = db.cli("contact", "log", "BIG", "--channel", "call", "--by", "sid@x.test", "--date",
               "2026-05-10", "--customer-role", "maintenance lead", "--at", "2026-05-10")
    assert r.code == 0, r.stderr
    assert [t[0] for t in overdue("2026-05-15")] == ["owner", "sponsor"]
    everything = json.loads(db.cli("plan", "touchpoints", "--at", "2026-05-15", "--all",
                                   "--json").stdout)
    assert [(t["ours"], t["days_overdue"]) for t in everything["touchpoints"]] == [
        ("owner", 14), ("sponsor", 13), ("service", 0)]
    assert everything["overdue"] == 2
    assert (date(2026, 5, 10) + timedelta(days=60)).isoformat() == \
        everything["touchpoints"][2]["due"]
