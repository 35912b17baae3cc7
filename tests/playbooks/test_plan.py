"""The account plan's optional sections (campaigns, training, five-year view, reporting
lines, approval of solutions, acceptance of prices): the template with every example filled
in is valid, and each mistake is named by file, line and field, as in the other sections."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from kamflow.playbooks.errors import PlaybookError
from kamflow.playbooks.loader import load_plan
from kamflow.playbooks.plan import PlanDocument

PLAN = """\
fiscal_year: 2026
relationships:
  - {name: Jane Doe, role: decision_maker, influence: 5, closeness: 3, owner: ann@x.test}
  - {name: John Roe, role: buyer, influence: 1, closeness: 4, owner: ann@x.test}
  - {name: Max Poe, role: user, influence: 2, closeness: 2, owner: ann@x.test}
target: {revenue: 600000}
campaigns:
  - {key: spring_fair, title: Spring fair, start: 2026-03-10, end: 2026-03-14, budget: 15000}
  - {key: webinar, start: 2026-06-01, end: 2026-06-01}
training:
  - {topic: Valve series, audience: account, participants: 12, status: planned}
  - {topic: Selling pumps, audience: sales_partners, status: done, on: 2026-02-03}
five_year_view:
  - {year: 2026, revenue: 600000, potential: 1500000}
  - {year: 2030, revenue: 900000}
reporting_lines:
  - {person: John Roe, reports_to: Jane Doe}
  - {person: Max Poe, reports_to: John Roe}
solution_approval:
  - {name: Jane Doe, score: 3, goal: 4}
  - {name: John Roe, score: 5}
price_acceptance:
  - {name: John Roe, score: 2, goal: 3, note: compares with the cheapest offer}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(PlaybookError) as info:
        load_plan(text, "plan.yaml")
    return [str(p) for p in info.value.problems]


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if fragment in line)


def test_the_sections_load_and_approval_and_acceptance_are_weighted_by_influence() -> None:
    doc = load_plan(PLAN, "plan.yaml")
    assert [c.key for c in doc.campaigns] == ["spring_fair", "webinar"]
    assert [t.audience for t in doc.training] == ["account", "sales_partners"]
    assert [y.year for y in doc.five_year_view] == [2026, 2030]
    assert doc.reporting_lines[1].reports_to == "John Roe"
    assert doc.approval() == pytest.approx((5 * 3 + 1 * 5) / 6, abs=0.01)  # Jane 5, John 1
    assert doc.acceptance() == 2.0
    assert PlanDocument().approval() is None and PlanDocument().acceptance() is None
    assert PlanDocument().campaigns == () and PlanDocument().five_year_view == ()


def test_the_template_with_its_examples_uncommented_is_a_valid_plan() -> None:
    template = files("kamflow.playbooks").joinpath("templates", "plan.yaml").read_text()
    assert load_plan(template, "plan.yaml").campaigns == ()
    sections = ("campaigns", "training", "five_year_view", "reporting_lines",
                "solution_approval", "price_acceptance", "relationships")
    filled = template
    for name in sections:  # "name: []" followed by commented "#  - {...}" examples
        filled = re.sub(rf"^{name}: \[\]\n((?:#  - .*\n)+)",
                        lambda m: m.group(0).split("\n", 1)[0][:-3] + "\n"
                        + m.group(1).replace("#  - ", "  - "), filled, flags=re.M)
    doc = load_plan(filled, "plan.yaml")
    assert len(doc.campaigns) == len(doc.training) == len(doc.reporting_lines) == 1
    assert len(doc.five_year_view) == 2 and doc.approval() == 3.0 and doc.acceptance() == 2.0


@pytest.mark.parametrize(("old", "new", "where", "message"), [
    ("end: 2026-03-14", "end: 2026-03-01", "campaigns[0]",
     "end 2026-03-01 is before start 2026-03-10"),
    ("key: webinar", "key: spring_fair", "campaigns", "campaign keys used twice: spring_fair"),
    ("key: webinar", "key: Web inar", "campaigns[1].key", "String should match pattern"),
    ("status: done, on: 2026-02-03", "status: done", "training[1]",
     "a done training needs the date it was held on"),
    ("audience: account", "audience: customer", "training[0].audience",
     "Input should be 'account' or 'sales_partners'"),
    ("participants: 12", "participants: -1", "training[0].participants",
     "greater than or equal to 0"),
    ("year: 2030", "year: 2031", "five_year_view",
     "covers 2026 to 2031: a five-year view spans at most 5 years"),
    ("year: 2030", "year: 2026", "five_year_view", "years given twice: 2026"),
    ("year: 2030", "year: 2025", "five_year_view", "list the years in order"),
    ("fiscal_year: 2026", "fiscal_year: 2027", "five_year_view",
     "years 2026 to 2030 are not within FY2027 to FY2031"),
    ("year: 2026, revenue: 600000", "year: 2026, revenue: 500000", "five_year_view",
     "2026: revenue 500000 is not the revenue target 600000 of the plan"),
    ("potential: 1500000", "potential: 100000", "five_year_view[0]",
     "revenue 600000 exceeds the potential 100000"),
    ("reports_to: Jane Doe", "reports_to: Jane Dough", "reporting_lines",
     "not in relationships: Jane Dough; known: Jane Doe, John Roe, Max Poe"),
    ("reports_to: Jane Doe", "reports_to: John Roe", "reporting_lines",
     "John Roe reports to themselves"),
    ("reports_to: Jane Doe", "reports_to: Max Poe", "reporting_lines",
     "reporting lines go round in a circle: John Roe -> Max Poe -> John Roe"),
    ("  - {person: Max Poe, reports_to: John Roe}",
     "  - {person: John Roe, reports_to: Max Poe}", "reporting_lines",
     "John Roe reports to both Jane Doe and Max Poe: give one line each"),
    ("score: 3, goal: 4", "score: 3, goal: 2", "solution_approval[0]",
     "goal 2 is below the score 3: a goal is the level to reach"),
    ("{name: John Roe, score: 5}", "{name: Jane Doe, score: 5}", "solution_approval",
     "rated twice: Jane Doe"),
    ("{name: John Roe, score: 2", "{name: Nobody, score: 2", "price_acceptance",
     "not in relationships: Nobody"),
    ("{name: John Roe, score: 2", "{name: John Roe, score: 6", "price_acceptance[0].score",
     "less than or equal to 5"),
    ("training:", "trainings:", "trainings", "unknown key (a typo?)"),
])
def test_each_mistake_is_named_by_line_and_field(old: str, new: str, where: str,
                                                 message: str) -> None:
    assert old in PLAN, old
    text = PLAN.replace(old, new, 1)
    found = problems(text)
    assert len(found) == 1, found
    head = where.split("[")[0].split(".")[0]
    line = line_of(text, new if where.count("[") else f"{head}:")
    assert found[0].startswith(f"plan.yaml:{line}: {where}: "), (found, line)
    assert message in found[0], found


def test_a_broken_relationship_map_is_reported_once_not_again_by_the_sections() -> None:
    text = PLAN.replace("influence: 2,", "influence: 9,")
    assert [p.split(": ", 2)[1] for p in problems(text)] == ["relationships[2].influence"]
