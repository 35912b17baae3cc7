"""The documented vocabulary of metric names that guard conditions may use.

The catalogue lives beside the playbook loader (not in the engine) because an
unknown metric name must be a load-time error of the playbook that uses it. Each
metric's human label and unit (LABELS) sit here too, so the vocabulary has one home.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MetricType(StrEnum):
    NUMBER = "number"
    TEXT = "text"
    BOOL = "bool"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: MetricType
    description: str


_SPECS = (
    MetricSpec("revenue_t12", MetricType.NUMBER,
               "revenue of the 12 complete calendar months before the sweep date"),
    MetricSpec("revenue_prev12", MetricType.NUMBER,
               "revenue of the 12 months before those (months 13-24 back)"),
    MetricSpec("revenue_trend", MetricType.NUMBER,
               "(revenue_t12 - revenue_prev12) / revenue_prev12; none when revenue_prev12 is 0"),
    MetricSpec("potential", MetricType.NUMBER,
               "estimated total annual spend of the customer in our categories"),
    MetricSpec("wallet_share", MetricType.NUMBER,
               "revenue_t12 / potential; none when potential is 0"),
    MetricSpec("days_since_contact", MetricType.NUMBER,
               "days since the last logged contact (since the account was created if never)"),
    MetricSpec("days_since_revenue", MetricType.NUMBER,
               "days since the end of the last month with revenue; none if never"),
    MetricSpec("feedback_score", MetricType.NUMBER,
               "latest feedback score 0-10 up to the sweep date; none if never asked"),
    MetricSpec("portrait_fit", MetricType.NUMBER,
               "weighted fit to the ideal-customer portrait, 0-100"),
    MetricSpec("baseline_ratio", MetricType.NUMBER,
               "revenue_t12 / the revenue level recorded when the account began to decline"),
    MetricSpec("months_with_revenue", MetricType.NUMBER,
               "how many of the trailing 12 months had revenue"),
    MetricSpec("feedback_trend", MetricType.NUMBER,
               "latest feedback score minus the one before it; none with fewer than two"),
    MetricSpec("months_with_contact", MetricType.NUMBER,
               "how many of the last 12 months (this month and the 11 before) had a logged contact"),
    MetricSpec("revenue_fy", MetricType.NUMBER,
               "revenue of the fiscal year's complete months before the sweep date"),
    MetricSpec("target_fy", MetricType.NUMBER,
               "the account plan's revenue target for those same months; none without a plan"),
    MetricSpec("target_attainment", MetricType.NUMBER,
               "revenue_fy / target_fy; none without a plan target or before a month is complete"),
    MetricSpec("relationship_closeness", MetricType.NUMBER,
               "influence-weighted closeness (1-5) of the latest plan's relationship map"),
    MetricSpec("retention_score", MetricType.NUMBER,
               "weighted stability factors from classification.yaml, 0-100; none if none declared"),
    MetricSpec("days_in_state", MetricType.NUMBER,
               "days since the account entered its current lifecycle state"),
    MetricSpec("quote_success_rate", MetricType.NUMBER,
               "quotes won / quotes decided (won or lost) this month and the 11 before, up to "
               "the sweep moment; none if none was decided"),
    MetricSpec("quotes_decided", MetricType.NUMBER,
               "quotes decided (won or lost) this month and the 11 before, up to the sweep "
               "moment"),
    MetricSpec("complaint_rate", MetricType.NUMBER,
               "complaint events reported this month and the 11 before, up to the sweep "
               "moment (per 12 months, not per order)"),
    MetricSpec("margin_t12", MetricType.NUMBER,
               "margin (margin.csv) of the same 12 months as revenue_t12; none without margin"),
    MetricSpec("margin_share", MetricType.NUMBER,
               "margin_t12 / revenue_t12; none without margin or revenue"),
    MetricSpec("revenue_share", MetricType.NUMBER,
               "revenue_t12 / the revenue_t12 of the whole portfolio; none while that is 0"),
    MetricSpec("top_concentration", MetricType.NUMBER,
               "revenue share of the N largest accounts (classification.yaml "
               "key_account.concentration_top); the same for every account"),
    MetricSpec("has_revenue", MetricType.BOOL,
               "any revenue recorded up to the sweep date"),
    MetricSpec("key_account", MetricType.BOOL,
               "the key-account flag from classification"),
    MetricSpec("class", MetricType.TEXT,
               "resource-investment class A, B, C or D"),
    MetricSpec("segment", MetricType.TEXT,
               "three-way view: loyal, high_potential or small"),
)

METRICS: dict[str, MetricSpec] = {spec.name: spec for spec in _SPECS}

# What a playbook step's `when` may read: the classification the last sweep stored on
# the account, so a task made between sweeps (after a contact or event) sees the same.
STEP_METRICS: dict[str, MetricSpec] = {
    name: METRICS[name] for name in ("class", "segment", "key_account", "portrait_fit", "potential",
                                     "revenue_share", "top_concentration")
}
# Read by steps only (from the people directory, not from metrics): none between sweeps.
STEP_METRICS["no_senior_sponsor"] = MetricSpec(
    "no_senior_sponsor", MetricType.BOOL,
    "the sponsor is missing, inactive, the owner, or not of a senior department "
    "(organization.yaml senior_departments)")


# -- how a page shows a metric --------------------------------------------------------------


class Unit(StrEnum):
    """How a metric's value reads to a person (the page formats it; the name stays for
    playbook authors)."""

    MONEY = "money"  # currency units
    SHARE = "share"  # a ratio, shown as a percentage
    DAYS = "days"
    COUNT = "count"
    OUT_OF_5 = "out of 5"
    OUT_OF_10 = "out of 10"
    OUT_OF_100 = "out of 100"
    YES_NO = "yes/no"
    TEXT = "text"


@dataclass(frozen=True)
class MetricLabel:
    label: str  # what a person reads instead of the metric's name
    unit: Unit
    group: str  # the heading it is shown under


_REVENUE, _CONTACT, _PLAN, _BUSINESS, _PROFILE = (
    "Revenue", "Contact and feedback", "Plan", "Quotes, complaints and margin", "Profile")

# Every metric and step metric has one (a test checks), in the order the page shows them.
LABELS: dict[str, MetricLabel] = {
    "revenue_t12": MetricLabel("Revenue, last 12 months", Unit.MONEY, _REVENUE),
    "revenue_prev12": MetricLabel("Revenue, the 12 months before", Unit.MONEY, _REVENUE),
    "revenue_trend": MetricLabel("Revenue trend against the year before", Unit.SHARE, _REVENUE),
    "potential": MetricLabel("Potential per year", Unit.MONEY, _REVENUE),
    "wallet_share": MetricLabel("Share of wallet", Unit.SHARE, _REVENUE),
    "baseline_ratio": MetricLabel("Revenue against the level when decline began", Unit.SHARE,
                             _REVENUE),
    "months_with_revenue": MetricLabel("Months with revenue, of the last 12", Unit.COUNT, _REVENUE),
    "days_since_revenue": MetricLabel("Days since the last month with revenue", Unit.DAYS,
                                 _REVENUE),
    "has_revenue": MetricLabel("Has revenue", Unit.YES_NO, _REVENUE),
    "revenue_share": MetricLabel("Share of the portfolio's revenue", Unit.SHARE, _REVENUE),
    "top_concentration": MetricLabel("Revenue share of the largest accounts", Unit.SHARE, _REVENUE),
    "days_since_contact": MetricLabel("Days since the last contact", Unit.DAYS, _CONTACT),
    "months_with_contact": MetricLabel("Months with a contact, of the last 12", Unit.COUNT, _CONTACT),
    "feedback_score": MetricLabel("Latest feedback score", Unit.OUT_OF_10, _CONTACT),
    "feedback_trend": MetricLabel("Feedback score change since the one before", Unit.COUNT,
                             _CONTACT),
    "relationship_closeness": MetricLabel("Relationship closeness", Unit.OUT_OF_5, _CONTACT),
    "revenue_fy": MetricLabel("Revenue this fiscal year, complete months", Unit.MONEY, _PLAN),
    "target_fy": MetricLabel("Target for the same months", Unit.MONEY, _PLAN),
    "target_attainment": MetricLabel("Target attainment", Unit.SHARE, _PLAN),
    "quote_success_rate": MetricLabel("Quotes won, of those decided (12 months)", Unit.SHARE,
                                 _BUSINESS),
    "quotes_decided": MetricLabel("Quotes decided (12 months)", Unit.COUNT, _BUSINESS),
    "complaint_rate": MetricLabel("Complaints (12 months)", Unit.COUNT, _BUSINESS),
    "margin_t12": MetricLabel("Margin, last 12 months", Unit.MONEY, _BUSINESS),
    "margin_share": MetricLabel("Margin as a share of revenue", Unit.SHARE, _BUSINESS),
    "class": MetricLabel("Class", Unit.TEXT, _PROFILE),
    "segment": MetricLabel("Segment", Unit.TEXT, _PROFILE),
    "key_account": MetricLabel("Key account", Unit.YES_NO, _PROFILE),
    "portrait_fit": MetricLabel("Portrait fit", Unit.OUT_OF_100, _PROFILE),
    "retention_score": MetricLabel("Retention score", Unit.OUT_OF_100, _PROFILE),
    "days_in_state": MetricLabel("Days in the current state", Unit.DAYS, _PROFILE),
    "no_senior_sponsor": MetricLabel("No senior sponsor", Unit.YES_NO, _PROFILE),
}
