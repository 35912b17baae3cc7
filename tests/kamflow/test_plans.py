"""Account plans: written as YAML, evaluated every quarter through the task engine, with
the target attainment recorded at each evaluation; and the retention score."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kamflow.plans import diff, task_fiscal_year
from kamflow.playbooks.loader import bundled_dir
from kamflow.store import golive
from kamflow.store.tables import AUDIT_EVENT, PLAN_ENTRY, TASK
from support import DB

# BIG buys 60k a month in 2025, then these in 2026; its plan targets 75k a month in the
# first half and 85k in the second (960k).
REVENUE_2026 = [60, 90, 75, 75, 90, 90, 90, 90, 90, 90, 90, 90]
PLAN = """\
account: BIG
fiscal_year: 2026
analysis: {industry: Food packaging, customer: Family-owned with three plants}
swot:
  strengths: [Ten years without a late delivery]
  threats: [A new competitor offers lower prices]
priorities: {short_term: [Less downtime on line 2], long_term: [A second site]}
relationships:
  - {name: Jane Doe, title: Head of purchasing, role: decision_maker, influence: 5, closeness: 4,
     owner: ann@x.test}
  - {name: Bob Roe, role: user, influence: 1, closeness: 2, owner: sam@x.test}
opportunities:
  - {key: retrofit, title: Line 3 retrofit, status: expected, expected_value: 120000}
target:
  revenue: 960000
  by_month: {2026-01: 75000, 2026-02: 75000, 2026-03: 75000, 2026-04: 75000, 2026-05: 75000,
             2026-06: 75000, 2026-07: 85000, 2026-08: 85000, 2026-09: 85000, 2026-10: 85000,
             2026-11: 85000, 2026-12: 85000}
  by_product_line: {machines: 600000, service: 360000}
"""


def _portfolio(tmp_path: Path, db: DB, extra_account: str = "") -> None:
    people = tmp_path / "people.csv"
    people.write_text("email,name,department,role\nann@x.test,Ann Am,sales,account_manager\n"
                      "sam@x.test,Sam Sponsor,management,manager\n")
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("account_id,name,industry,owner_email,sponsor_email,potential,state,"
                        "created_at,supply_agreement,products\n"
                        "BIG,Big Foods,food,ann@x.test,sam@x.test,1000000,loyal,2024-01-01,10,4\n"
                        + extra_account)
    rev = ["account_id,month,amount"]
    rev += [f"BIG,2025-{m:02d},60000" for m in range(1, 13)]
    rev += [f"BIG,2026-{m:02d},{k * 1000}" for m, k in enumerate(REVENUE_2026, start=1)]
    revenue = tmp_path / "revenue.csv"
    revenue.write_text("\n".join(rev) + "\n")
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("account_id,date,channel,person_email,note\n" + "".join(
        f"BIG,{y}-{m:02d}-03,visit,ann@x.test,monthly visit\n"
        for y in (2025, 2026) for m in range(1, 13)))
    # The process is enforced from the import on (the first sweep comes a day or more later).
    with db.engine.begin() as conn:  # as `kamflow init --go-live 2026-01-01` would
        golive.set_go_live(conn, date(2026, 1, 1), datetime(2026, 1, 1))
    for kind, path in (("people", people), ("accounts", accounts), ("revenue", revenue),
                       ("contacts", contacts)):
        r = db.cli("import", kind, str(path), "--at", "2026-01-01")
        assert r.code == 0, r.stderr


def _task(db: DB, step: str, period: str) -> int:
    with db.engine.connect() as conn:
        found = conn.execute(select(TASK.c.id).where(TASK.c.account_id == "BIG", TASK.c.step == step,
                                                  TASK.c.period == period)).scalar()
    assert found is not None, f"no {step} task for {period}"
    return int(found)


def _replay(db: DB, start: str, end: str) -> None:
    r = db.cli("replay", "--from", start, "--to", end, "--every", "1w")
    assert r.code == 0, r.stderr


@pytest.mark.slow
def test_a_year_of_quarterly_evaluations_records_the_attainment_at_each(
        db: DB, tmp_path: Path) -> None:
    _portfolio(tmp_path, db)
    _replay(db, "2026-01-02", "2026-01-02")
    draft = _task(db, "loyal.annual_account_plan", "FY2026")

    # The draft step is done only once the plan exists: refused, and nothing changes.
    r = db.cli("task", "done", str(draft), "--outcome", "drafted", "--note", "n", "--at",
               "2026-01-04")
    assert r.code == 2 and "no plan for FY2026" in r.stderr and "plan edit BIG" in r.stderr
    with db.engine.connect() as conn:
        assert conn.execute(select(TASK.c.status).where(TASK.c.id == draft)).scalar() == "open"

    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(PLAN)
    r = db.cli("plan", "edit", "BIG", "--from", str(plan_file), "--by", "ann@x.test",
               "--at", "2026-01-05", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["revision"] == 1
    r = db.cli("task", "done", str(draft), "--outcome", "drafted", "--note", "agreed with Jane",
               "--by", "ann@x.test", "--at", "2026-01-06")
    assert r.code == 0, r.stderr

    # A year of weekly sweeps; each quarter's evaluation is done when it falls due, and
    # before the second one the plan is revised (Bob has become a supporter).
    evaluated = {"FY2026-Q1": "2026-02-17", "FY2026-Q2": "2026-05-18",
                 "FY2026-Q3": "2026-08-17", "FY2026-Q4": "2026-11-16"}
    last = "2026-01-02"
    for period, day in evaluated.items():
        _replay(db, last, day)
        if period == "FY2026-Q2":
            plan_file.write_text(PLAN.replace("closeness: 2", "closeness: 5"))
            assert db.cli("plan", "edit", "BIG", "--from", str(plan_file), "--at",
                          "2026-04-20").code == 0
            tracking = _task(db, "loyal.monthly_target_tracking", "M2026-05")
            assert db.cli("task", "done", str(tracking), "--outcome", "on target", "--at",
                          day).code == 0
        task = _task(db, "loyal.quarterly_plan_review", period)
        r = db.cli("task", "done", str(task), "--outcome", f"on track {period}",
                   "--note", "reviewed with the customer", "--by", "ann@x.test", "--at", day)
        assert r.code == 0, r.stderr
        last = day
    _replay(db, last, "2026-12-31")

    r = db.cli("plan", "show", "BIG", "--year", "2026", "--at", "2027-01-01", "--json")
    assert r.code == 0, r.stderr
    shown = json.loads(r.stdout)
    evaluations = shown["evaluations"]
    assert [e["period"] for e in evaluations] == list(evaluated)
    assert [e["at"][:10] for e in evaluations] == list(evaluated.values())
    # Complete months at each evaluation: Jan; Jan-Apr; Jan-Jul; Jan-Oct.
    revenue = [60_000, 300_000, 570_000, 840_000]
    target = [75_000, 300_000, 535_000, 790_000]
    assert [e["revenue_fy"] for e in evaluations] == revenue
    assert [e["target_fy"] for e in evaluations] == target
    assert [e["attainment"] for e in evaluations] == pytest.approx(
        [r / t for r, t in zip(revenue, target, strict=True)])
    assert [e["outcome"] for e in evaluations] == [f"on track {p}" for p in evaluated]
    # What changed at each evaluation: nothing at the first, Bob's closeness at the second.
    assert evaluations[0]["changes"] == []
    assert evaluations[1]["changes"] == [
        {"field": "relationships[Bob Roe].closeness", "before": 2, "after": 5}]
    assert evaluations[2]["changes"] == [] and evaluations[3]["changes"] == []
    assert shown["revision"] == 2
    assert [(h["kind"], h["at"][:10]) for h in shown["history"]] == [
        ("edit", "2026-01-05"), ("draft", "2026-01-06"), ("evaluation", "2026-02-17"),
        ("edit", "2026-04-20"), ("tracking", "2026-05-18"), ("evaluation", "2026-05-18"),
        ("evaluation", "2026-08-17"), ("evaluation", "2026-11-16")]
    assert shown["history"][4]["attainment"] == pytest.approx(1.0)  # Jan-Apr: 300k of 300k
    # After the year, attainment covers all twelve months.
    assert shown["attainment"]["revenue_fy"] == sum(REVENUE_2026) * 1000
    assert shown["attainment"]["attainment"] == pytest.approx(sum(REVENUE_2026) * 1000 / 960_000)
    # Closeness weighted by influence: (5*4 + 1*5) / 6.
    assert shown["closeness"] == pytest.approx(4.17)

    with db.engine.connect() as conn:
        edits = conn.execute(select(func.count()).where(
            AUDIT_EVENT.c.entity == "plan", AUDIT_EVENT.c.entity_id == "BIG/FY2026")).scalar()
    assert edits == 2

    # The metric the guards and reports read, as of the third evaluation.
    r = db.cli("account", "show", "BIG", "--at", "2026-08-17", "--json")
    metrics = json.loads(r.stdout)["metrics"]
    assert metrics["revenue_fy"] == 570_000 and metrics["target_fy"] == 535_000
    assert metrics["target_attainment"] == pytest.approx(570 / 535, abs=1e-4)
    assert db.cli("audit", "verify").code == 0


def test_plan_errors_name_the_field_and_line_and_change_nothing(db: DB, tmp_path: Path) -> None:
    _portfolio(tmp_path, db)
    bad = tmp_path / "bad.yaml"
    bad.write_text(PLAN.replace("influence: 1", "influence: 9")
                   .replace("owner: sam@x.test", "owner: sam@x.test, colour: red")
                   .replace("account: BIG", "account: OTHER"))
    r = db.cli("plan", "edit", "BIG", "--from", str(bad), "--at", "2026-01-05")
    assert r.code == 2
    assert f"{bad}:11: relationships[1].influence: Input should be less than or equal to 5" \
        in r.stderr
    assert f"{bad}:11: relationships[1].colour: unknown key (a typo?)" in r.stderr
    # Cross-checks run once the document itself is valid.
    bad.write_text(PLAN.replace("account: BIG", "account: OTHER")
                   .replace("2026-12: 85000", "2027-01: 85000")
                   .replace("owner: sam@x.test", "owner: nobody@x.test"))
    r = db.cli("plan", "edit", "BIG", "--from", str(bad), "--at", "2026-01-05")
    assert r.code == 2
    assert f"{bad}:1: account: says 'OTHER' but the plan is being saved for 'BIG'" in r.stderr
    assert "target.by_month.2027-01: 2027-01 is not in fiscal year FY2026" in r.stderr
    assert f"{bad}:11: relationships[1].owner: unknown person 'nobody@x.test'" in r.stderr
    bad.write_text(PLAN.replace("revenue: 960000", "revenue: 900000"))
    r = db.cli("plan", "edit", "BIG", "--from", str(bad), "--at", "2026-01-05")
    assert "target: by_month adds up to 960000, not the revenue target 900000" in r.stderr
    assert db.cli("plan", "edit", "NOPE", "--from", str(bad)).stderr.startswith(
        "error: unknown account 'NOPE'")
    r = db.cli("plan", "show", "BIG", "--at", "2026-01-05")
    assert r.code == 2 and "has no plan for FY2026" in r.stderr
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(PLAN_ENTRY)).scalar() == 0


def test_the_template_is_a_valid_empty_plan_and_show_yaml_round_trips(
        db: DB, tmp_path: Path) -> None:
    _portfolio(tmp_path, db)
    template = db.cli("plan", "template")
    assert template.code == 0 and "relationships:" in template.stdout
    empty = tmp_path / "empty.yaml"
    empty.write_text(template.stdout)
    r = db.cli("plan", "edit", "BIG", "--from", str(empty), "--at", "2025-06-01", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["fiscal_year"] == 2025  # the fiscal year --at falls in
    shown = json.loads(db.cli("plan", "show", "BIG", "--year", "2025", "--json").stdout)
    assert shown["attainment"]["attainment"] is None and shown["closeness"] is None

    (tmp_path / "plan.yaml").write_text(PLAN)
    assert db.cli("plan", "edit", "BIG", "--from", str(tmp_path / "plan.yaml")).code == 0
    exported = db.cli("plan", "show", "BIG", "--year", "2026", "--yaml")
    (tmp_path / "again.yaml").write_text(exported.stdout)
    r = db.cli("plan", "edit", "BIG", "--from", str(tmp_path / "again.yaml"), "--json")
    assert r.code == 0, r.stderr
    again = json.loads(r.stdout)
    assert again["unchanged"] and again["revision"] == 1


def test_retention_score_shows_each_factor_and_drives_a_guard(db: DB, tmp_path: Path) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    for f in bundled_dir().glob("*.yaml"):
        (folder / f.name).write_text(f.read_text())
    life = (folder / "lifecycle.yaml").read_text()
    (folder / "lifecycle.yaml").write_text(life.replace("transitions:\n", """transitions:
  - rule: fragile_relationship
    from: loyal
    to: declining
    priority: 5
    when: retention_score < 40
""", 1))
    assert db.cli("playbook", "load", str(folder)).code == 0
    _portfolio(tmp_path, db, "WEAK,Weak Ltd,food,ann@x.test,,1000000,loyal,2024-01-01,0,0\n")
    with_weak = tmp_path / "weak.csv"
    with_weak.write_text("account_id,month,amount\n" + "".join(
        f"WEAK,2025-{m:02d},20000\n" for m in range(1, 13)))
    assert db.cli("import", "revenue", str(with_weak), "--at", "2026-01-01").code == 0
    feedback = tmp_path / "feedback.csv"
    feedback.write_text("account_id,date,score,comment\nBIG,2025-06-01,6,\nBIG,2025-12-01,8,\n"
                        "BIG,2026-03-01,3,after the sweep date\n")
    assert db.cli("import", "feedback", str(feedback), "--at", "2026-01-01").code == 0

    shown = json.loads(db.cli("account", "show", "BIG", "--at", "2026-02-01", "--json").stdout)
    factors = {f["factor"]: f for f in shown["retention"]}
    assert factors["supply_agreement"]["value"] == 10 and factors["supply_agreement"]["score"] == 10
    assert factors["closeness"]["value"] is None  # no plan yet: scored as missing (0)
    assert factors["contact_regularity"]["value"] == 11  # 2025-03 .. 2026-01 had a visit
    assert factors["feedback_trend"]["value"] == 2  # 8 after 6; the later 3 is not seen yet
    assert factors["feedback_level"]["value"] == 8
    assert shown["retention_score"] == shown["metrics"]["retention_score"]
    assert sum(f["points"] for f in shown["retention"]) == pytest.approx(
        shown["retention_score"], abs=0.5)

    r = db.cli("sweep", "--at", "2026-02-01", "--json")
    assert r.code == 0, r.stderr
    weak = json.loads(db.cli("account", "show", "WEAK", "--at", "2026-02-01", "--json").stdout)
    big = json.loads(db.cli("account", "show", "BIG", "--at", "2026-02-01", "--json").stdout)
    assert weak["state"] == "declining" and big["state"] == "loyal"
    moved = weak["transitions"][-1]
    assert moved["rule"] == "fragile_relationship"
    assert moved["metrics"]["retention_score"] < 40 <= big["metrics"]["retention_score"]


def test_step_conditions_only_read_the_stored_classification(tmp_path: Path) -> None:
    from kamflow.playbooks.errors import PlaybookError
    from kamflow.playbooks.loader import load_dir

    folder = tmp_path / "playbooks"
    folder.mkdir()
    for f in bundled_dir().glob("*.yaml"):
        (folder / f.name).write_text(f.read_text())
    loyal = (folder / "loyal.yaml").read_text()
    (folder / "loyal.yaml").write_text(loyal.replace(
        'when: key_account or class == "A" or (class == "C" and portrait_fit >= 60)',
        "when: revenue_t12 > 5", 1))
    with pytest.raises(PlaybookError) as e:
        load_dir(folder)
    assert "loyal.yaml:10: steps[0].when: column 1: unknown metric 'revenue_t12'" in str(e.value)


def test_plan_helpers() -> None:
    assert task_fiscal_year("FY2026-Q3", date(2026, 8, 1), 4) == 2026
    assert task_fiscal_year("M2027-02", date(2027, 2, 5), 4) == 2026
    assert task_fiscal_year("once@2026-05-01", date(2026, 5, 1), 4) == 2026
    assert task_fiscal_year("once@2026-03-01", date(2026, 3, 1), 4) == 2025
    before = {"swot": {"strengths": ["a"]}, "relationships": [{"name": "X", "closeness": 2}]}
    after = {"swot": {"strengths": ["a", "b"]}, "relationships": [{"name": "X", "closeness": 2},
                                                                  {"name": "Y", "closeness": 1}]}
    assert diff(before, after) == [
        {"field": "relationships[Y].closeness", "before": None, "after": 1},
        {"field": "swot.strengths", "before": ["a"], "after": ["a", "b"]}]


def test_two_people_saving_the_first_plan_at_once_lose_nothing(db: DB, tmp_path: Path) -> None:
    from kamflow.engine.clock import FixedClock
    from kamflow.errors import Refused
    from kamflow.plans import save
    from support import run_at_once

    _portfolio(tmp_path, db)
    clock = FixedClock(datetime(2026, 1, 5))
    texts = iter([PLAN, PLAN.replace("closeness: 2", "closeness: 3")])
    errors = run_at_once(lambda: save(db.engine, "BIG", next(texts), "plan.yaml", None, clock))
    assert all(isinstance(e, Refused) and "just created by someone else" in str(e)
               for e in errors), errors
    with db.engine.connect() as conn:
        edits = conn.execute(select(func.count()).where(PLAN_ENTRY.c.kind == "edit")).scalar()
    shown = json.loads(db.cli("plan", "show", "BIG", "--at", "2026-01-05", "--json").stdout)
    assert shown["revision"] == edits == 2 - len(errors)


def test_plan_list_shows_coverage_and_the_plans_asked_for_but_not_written(
        db: DB, tmp_path: Path) -> None:
    _portfolio(tmp_path, db, "OTHER,Other AG,food,ann@x.test,sam@x.test,1000000,loyal,"
                             "2024-01-01,0,0\n")
    other = tmp_path / "other.csv"
    other.write_text("account_id,month,amount\n" + "".join(
        f"OTHER,{y}-{m:02d},70000\n" for y in (2025, 2026) for m in range(1, 13)))
    assert db.cli("import", "revenue", str(other), "--at", "2026-01-01").code == 0
    visits = tmp_path / "visits.csv"
    visits.write_text("account_id,date,channel,person_email,note\n"
                      "OTHER,2025-12-01,visit,ann@x.test,\n")
    assert db.cli("import", "contacts", str(visits), "--at", "2026-01-01").code == 0
    _replay(db, "2026-01-02", "2026-01-02")
    (tmp_path / "plan.yaml").write_text(PLAN)
    assert db.cli("plan", "edit", "BIG", "--from", str(tmp_path / "plan.yaml"), "--at",
                  "2026-01-05").code == 0
    r = db.cli("plan", "list", "--at", "2026-03-10", "--json")
    assert r.code == 0, r.stderr
    listed = json.loads(r.stdout)
    assert listed["fiscal_year"] == 2026 and listed["months_complete"] == 2
    [big] = listed["plans"]
    assert (big["account"], big["revision"], big["evaluations"]) == ("BIG", 1, 0)
    assert big["revenue_fy"] == 150_000 and big["target_fy"] == 150_000  # Jan + Feb
    assert big["attainment"] == pytest.approx(1.0)
    [missing] = listed["missing"]
    assert (missing["account"], missing["draft_due"], missing["overdue"]) == (
        "OTHER", "2026-01-31", True)
    early = json.loads(db.cli("plan", "list", "--at", "2026-01-05", "--json").stdout)
    assert early["missing"][0]["overdue"] is False
    text = db.cli("plan", "list", "--missing", "--at", "2026-03-10")
    assert "OTHER" in text.stdout and "BIG" not in text.stdout and "overdue" in text.stdout


def test_fiscal_windows_and_attainment_follow_the_fiscal_start_month() -> None:
    from kamflow.engine.metrics import AccountFacts, base_metrics, windows
    from kamflow.playbooks.plan import Target, fiscal_months, monthly_targets

    assert windows(datetime(2026, 2, 10), 4).fy_start == date(2025, 4, 1)
    assert windows(datetime(2026, 4, 1), 4).fy_start == date(2026, 4, 1)
    assert fiscal_months(2025, 4)[0] == "2025-04" and fiscal_months(2025, 4)[-1] == "2026-03"
    targets = monthly_targets(Target(revenue=1200, by_month={"2025-04": 300, "2026-03": 900}),
                              2025, 4)
    assert targets[0] == 300 and targets[-1] == 900 and sum(targets) == 1200
    facts = AccountFacts("X", "loyal", datetime(2024, 1, 1), datetime(2024, 1, 1), 0.0,
                         revenue_fy=450.0, fy_months=11, plan_targets=tuple(targets))
    values = base_metrics(facts, datetime(2026, 3, 15))
    assert (values["target_fy"], values["target_attainment"]) == (300.0, 1.5)
    assert base_metrics(AccountFacts("X", "loyal", datetime(2024, 1, 1), datetime(2024, 1, 1),
                                     0.0, fy_months=0, plan_targets=tuple(targets)),
                        datetime(2025, 4, 2))["target_attainment"] is None


def test_a_fiscal_year_from_april_in_the_store(db: DB, tmp_path: Path) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    for f in bundled_dir().glob("*.yaml"):
        (folder / f.name).write_text(f.read_text())
    org = (folder / "organization.yaml").read_text()
    (folder / "organization.yaml").write_text(org.replace("fiscal_year_start_month: 1",
                                                          "fiscal_year_start_month: 4"))
    assert db.cli("playbook", "load", str(folder)).code == 0
    _portfolio(tmp_path, db)
    (tmp_path / "p.yaml").write_text("target: {revenue: 960000}\n")
    r = db.cli("plan", "edit", "BIG", "--from", str(tmp_path / "p.yaml"), "--at", "2026-05-10",
               "--json")
    assert json.loads(r.stdout)["fiscal_year"] == 2026  # April 2026 to March 2027
    metrics = json.loads(db.cli("account", "show", "BIG", "--at", "2026-06-10",
                                "--json").stdout)["metrics"]
    assert (metrics["revenue_fy"], metrics["target_fy"]) == (165_000, 160_000)  # April, May
    assert metrics["target_attainment"] == pytest.approx(165 / 160, abs=1e-4)  # shown rounded
    shown = json.loads(db.cli("plan", "show", "BIG", "--at", "2026-06-10", "--json").stdout)
    assert shown["attainment"]["attainment"] == pytest.approx(165 / 160)
