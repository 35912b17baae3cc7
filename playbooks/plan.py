"""The validated model of an account plan: one YAML document per account and fiscal year.

A plan is written and reviewed by people, so every model forbids unknown keys (a
typo is an error naming its field) and keeps lists of plain sentences. What the
store derives from a plan (monthly targets, relationship closeness) is computed
here, once, when the plan is saved.

Optional sections beyond the analysis, SWOT, priorities, relationship map, opportunities
and target: the campaigns planned with the account, training of the people at the account
or at its sales partners, a five-year view (the annual plan inside a business plan), the
reporting lines between the key people, and how far each key person approves our
solutions and accepts our prices, with a goal to reach. Names in the last three must be
people of the relationship map, so the map stays the one list of who is who.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from kamflow.playbooks.schema import KEY, Model
from kamflow.playbooks.touchpoints import Touchpoints

BUYING_ROLES = ("decision_maker", "buyer", "user", "influencer", "gatekeeper", "initiator",
                "approver")
FIVE_YEARS = 5
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
Sentences = tuple[str, ...]


class Analysis(Model):
    industry: str = ""  # the customer's industry: market, trends, competitors
    customer: str = ""  # the customer's own business: strategy, structure, buying process


class Swot(Model):
    strengths: Sentences = ()
    weaknesses: Sentences = ()
    opportunities: Sentences = ()
    threats: Sentences = ()


class Priorities(Model):
    """The customer's priorities, as the customer sees them."""

    short_term: Sentences = ()
    mid_term: Sentences = ()
    long_term: Sentences = ()


class KeyPerson(Model):
    """Someone at the customer in the relationship map."""

    name: str = Field(min_length=1)
    title: str = ""
    role: Literal["decision_maker", "buyer", "user", "influencer", "gatekeeper", "initiator",
                  "approver"]
    influence: int = Field(ge=1, le=5)  # weight in the buying decision
    closeness: int = Field(ge=1, le=5)  # 1 hostile or unknown ... 5 a supporter of ours
    owner: str = Field(min_length=3)  # the email of the person on our side who keeps the contact


class Opportunity(Model):
    key: Annotated[str, Field(pattern=KEY)]
    title: str = ""
    status: Literal["expected", "captured", "lost"] = "expected"
    expected_value: float = Field(0.0, ge=0)  # what it should bring in this fiscal year
    contract_value: float = Field(0.0, ge=0)  # signed, once captured
    payments_received: float = Field(0.0, ge=0)
    expected_close: date | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Opportunity:
        if self.status != "captured" and self.contract_value:
            raise ValueError("contract_value is for captured opportunities; set status: captured")
        if self.payments_received > self.contract_value:
            raise ValueError(f"payments_received ({self.payments_received:g}) exceed "
                             f"contract_value ({self.contract_value:g})")
        return self


class Target(Model):
    revenue: float = Field(ge=0)  # for the whole fiscal year
    # Optional split by calendar month "YYYY-MM" (months of the fiscal year; missing ones
    # count as 0); without it the target is spread evenly over the twelve months.
    by_month: dict[str, float] | None = None
    # Optional split by product line (revenue.csv's product_line): each line's attainment is
    # its revenue against its target spread evenly over the fiscal year's months.
    by_product_line: dict[Annotated[str, Field(pattern=KEY)], float] | None = None

    @field_validator("by_month")
    @classmethod
    def _months(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        for month, amount in (v or {}).items():
            if not MONTH.match(month):
                raise ValueError(f"'{month}' is not a month written YYYY-MM")
            if amount < 0:
                raise ValueError(f"{month}: a target cannot be negative")
        return v

    @model_validator(mode="after")
    def _splits_add_up(self) -> Target:
        for name, split in (("by_month", self.by_month), ("by_product_line", self.by_product_line)):
            if split and abs(sum(split.values()) - self.revenue) > 0.5:
                raise ValueError(f"{name} adds up to {sum(split.values()):g}, "
                                 f"not the revenue target {self.revenue:g}")
        return self


class Campaign(Model):
    """A campaign planned with or at the account (marketing and sales planning)."""

    key: Annotated[str, Field(pattern=KEY)]
    title: str = ""
    start: date
    end: date
    goal: str = ""  # what it should achieve, in a sentence
    budget: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _in_order(self) -> Campaign:
        if self.end < self.start:
            raise ValueError(f"end {self.end.isoformat()} is before start "
                             f"{self.start.isoformat()}")
        return self


class Training(Model):
    """Training of the employees at the account, or at its sales partners."""

    topic: str = Field(min_length=1)
    audience: Literal["account", "sales_partners"] = "account"
    participants: int = Field(0, ge=0)
    status: Literal["planned", "done", "cancelled"] = "planned"
    on: date | None = None  # planned for, or held on

    @model_validator(mode="after")
    def _held_on(self) -> Training:
        if self.status == "done" and self.on is None:
            raise ValueError("a done training needs the date it was held on (on: YYYY-MM-DD)")
        return self


class YearView(Model):
    """One year of the five-year view: where the business with the account should be."""

    year: int = Field(ge=1900, le=9999)
    revenue: float = Field(ge=0)  # expected revenue with the account that year
    potential: float | None = Field(None, ge=0)  # the account's spend in our categories
    note: str = ""

    @model_validator(mode="after")
    def _within_potential(self) -> YearView:
        if self.potential is not None and self.revenue > self.potential:
            raise ValueError(f"revenue {self.revenue:g} exceeds the potential "
                             f"{self.potential:g}")
        return self


class ReportingLine(Model):
    """Who reports to whom among the key people of the relationship map."""

    person: str = Field(min_length=1)
    reports_to: str = Field(min_length=1)


class Rating(Model):
    """Where one key person stands (1 rejects ... 5 fully behind it) and the level to reach."""

    name: str = Field(min_length=1)  # a name in the relationship map
    score: int = Field(ge=1, le=5)
    goal: int | None = Field(None, ge=1, le=5)
    note: str = ""

    @model_validator(mode="after")
    def _an_improvement(self) -> Rating:
        if self.goal is not None and self.goal < self.score:
            raise ValueError(f"goal {self.goal} is below the score {self.score}: "
                             "a goal is the level to reach")
        return self


def _people(info: ValidationInfo) -> set[str] | None:
    """The names of the relationship map; None when it was invalid (checked there)."""
    found = info.data.get("relationships")
    return None if found is None else {p.name for p in found}


def _unknown(names: list[str], info: ValidationInfo) -> None:
    known = _people(info)
    if known is None:
        return
    missing = sorted({n for n in names if n not in known})
    if missing:
        raise ValueError(f"not in relationships: {', '.join(missing)}"
                         f"; known: {', '.join(sorted(known)) or 'none'}")


class PlanDocument(Model):
    # Both optional in the file: the command names the account, and the fiscal year
    # defaults to the one --at falls in. When given they must agree with the command.
    account: str | None = None
    fiscal_year: int | None = Field(None, ge=1900, le=9999)
    analysis: Analysis = Analysis()
    swot: Swot = Swot()
    priorities: Priorities = Priorities()
    relationships: tuple[KeyPerson, ...] = ()
    opportunities: tuple[Opportunity, ...] = ()
    target: Target | None = None
    touchpoints: Touchpoints = ()  # who of ours meets whom there, how often
    campaigns: tuple[Campaign, ...] = ()
    training: tuple[Training, ...] = ()
    five_year_view: tuple[YearView, ...] = ()
    reporting_lines: tuple[ReportingLine, ...] = ()
    solution_approval: tuple[Rating, ...] = ()
    price_acceptance: tuple[Rating, ...] = ()

    @field_validator("campaigns")
    @classmethod
    def _campaign_keys(cls, v: tuple[Campaign, ...]) -> tuple[Campaign, ...]:
        twice = _twice([c.key for c in v])
        if twice:
            raise ValueError(f"campaign keys used twice: {', '.join(twice)}")
        return v

    @field_validator("five_year_view")
    @classmethod
    def _five_years(cls, v: tuple[YearView, ...], info: ValidationInfo) -> tuple[YearView, ...]:
        years = [y.year for y in v]
        if not years:
            return v
        if _twice(years):
            raise ValueError(f"years given twice: {', '.join(map(str, _twice(years)))}")
        if years != sorted(years):
            raise ValueError("list the years in order")
        if years[-1] - years[0] >= FIVE_YEARS:
            raise ValueError(f"covers {years[0]} to {years[-1]}: a five-year view spans at "
                             f"most {FIVE_YEARS} years")
        fy, target = info.data.get("fiscal_year"), info.data.get("target")
        if fy is not None and not fy <= years[0] <= years[-1] < fy + FIVE_YEARS:
            raise ValueError(f"years {years[0]} to {years[-1]} are not within FY{fy} to "
                             f"FY{fy + FIVE_YEARS - 1}")
        this = next((y for y in v if y.year == fy), None)
        if this is not None and target is not None and abs(this.revenue - target.revenue) > 0.5:
            raise ValueError(f"{fy}: revenue {this.revenue:g} is not the revenue target "
                             f"{target.revenue:g} of the plan")
        return v

    @field_validator("reporting_lines")
    @classmethod
    def _one_tree(cls, v: tuple[ReportingLine, ...], info: ValidationInfo
                  ) -> tuple[ReportingLine, ...]:
        _unknown([n for line in v for n in (line.person, line.reports_to)], info)
        boss: dict[str, str] = {}
        for line in v:
            if line.person == line.reports_to:
                raise ValueError(f"{line.person} reports to themselves")
            if boss.setdefault(line.person, line.reports_to) != line.reports_to:
                raise ValueError(f"{line.person} reports to both {boss[line.person]} and "
                                 f"{line.reports_to}: give one line each")
        for start in boss:
            seen = [start]
            while seen[-1] in boss:
                seen.append(boss[seen[-1]])
                if seen[-1] == start:
                    raise ValueError("reporting lines go round in a circle: "
                                     + " -> ".join(seen))
        return v

    @field_validator("solution_approval", "price_acceptance")
    @classmethod
    def _rated_once(cls, v: tuple[Rating, ...], info: ValidationInfo) -> tuple[Rating, ...]:
        _unknown([r.name for r in v], info)
        twice = _twice([r.name for r in v])
        if twice:
            raise ValueError(f"rated twice: {', '.join(twice)}")
        return v

    @field_validator("opportunities")
    @classmethod
    def _unique(cls, v: tuple[Opportunity, ...]) -> tuple[Opportunity, ...]:
        keys = [o.key for o in v]
        twins = sorted({k for k in keys if keys.count(k) > 1})
        if twins:
            raise ValueError(f"opportunity keys used twice: {', '.join(twins)}")
        return v

    def approval(self) -> float | None:
        """Influence-weighted mean approval of our solutions (1-5); None if not rated."""
        return self._weighted(self.solution_approval)

    def acceptance(self) -> float | None:
        """Influence-weighted mean acceptance of our prices (1-5); None if not rated."""
        return self._weighted(self.price_acceptance)

    def _weighted(self, ratings: tuple[Rating, ...]) -> float | None:
        influence = {p.name: p.influence for p in self.relationships}
        weight = sum(influence.get(r.name, 0) for r in ratings)
        if not weight:
            return None
        return round(sum(influence.get(r.name, 0) * r.score for r in ratings) / weight, 2)

    def closeness(self) -> float | None:
        """Influence-weighted mean closeness of the relationship map (1-5); None if empty."""
        weight = sum(p.influence for p in self.relationships)
        if not weight:
            return None
        return round(sum(p.influence * p.closeness for p in self.relationships) / weight, 2)


def _twice(items: list[Any]) -> list[str]:
    return sorted({str(x) for x in items if items.count(x) > 1})


def fiscal_months(fiscal_year: int, start_month: int) -> list[str]:
    """The twelve months of a fiscal year as YYYY-MM (labelled by the year it starts in)."""
    out = []
    for i in range(12):
        index = fiscal_year * 12 + start_month - 1 + i
        out.append(f"{index // 12:04d}-{index % 12 + 1:02d}")
    return out


def monthly_targets(target: Target, fiscal_year: int, start_month: int) -> list[float]:
    """Twelve monthly targets in fiscal order."""
    months = fiscal_months(fiscal_year, start_month)
    if target.by_month:
        return [float(target.by_month.get(m, 0.0)) for m in months]
    return [target.revenue / 12] * 12
