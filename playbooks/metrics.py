"""The documented vocabulary of metric names that guard conditions may use.

The catalogue lives beside the playbook loader (not in the engine) because an
unknown metric name must be a load-time error of the playbook that uses it.
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
