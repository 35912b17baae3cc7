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
    MetricSpec("days_in_state", MetricType.NUMBER,
               "days since the account entered its current lifecycle state"),
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
