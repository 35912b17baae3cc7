"""The validated model of an account plan: one YAML document per account and fiscal year.

A plan is written and reviewed by people, so every model forbids unknown keys (a
typo is an error naming its field) and keeps lists of plain sentences. What the
store derives from a plan (monthly targets, relationship closeness) is computed
here, once, when the plan is saved.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from kamflow.playbooks.schema import KEY, Model

BUYING_ROLES = ("decision_maker", "buyer", "user", "influencer", "gatekeeper", "initiator",
                "approver")
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
    # Optional split by product line; kept as the plan's intent (revenue is not imported
    # per product line, so attainment is measured on the total).
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

    @field_validator("opportunities")
    @classmethod
    def _unique(cls, v: tuple[Opportunity, ...]) -> tuple[Opportunity, ...]:
        keys = [o.key for o in v]
        twins = sorted({k for k in keys if keys.count(k) > 1})
        if twins:
            raise ValueError(f"opportunity keys used twice: {', '.join(twins)}")
        return v

    def closeness(self) -> float | None:
        """Influence-weighted mean closeness of the relationship map (1-5); None if empty."""
        weight = sum(p.influence for p in self.relationships)
        if not weight:
            return None
        return round(sum(p.influence * p.closeness for p in self.relationships) / weight, 2)


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
