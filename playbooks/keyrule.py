"""Which accounts are key accounts: classification.yaml `key_account`.

Named tests (a figure of the account against an absolute or a portfolio-wide threshold)
combined by a rule in the guard language, so an organization can declare "high potential
or high contribution", "top revenue and good fit" or anything in between; the sweep
stores which tests an account passed as the reason it is a key account.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from kamflow.playbooks.expr import Condition, ExpressionError
from kamflow.playbooks.metrics import MetricSpec, MetricType
from kamflow.playbooks.model import KEY, Model

RANKED = ("revenue_t12", "potential", "wallet_gap")  # figures a key test can rank accounts by


class KeyTest(Model):
    """One way to qualify as a key account: a figure of the account against a threshold,
    absolute or taken from the whole portfolio. Give exactly one threshold."""

    metric: Literal["revenue_t12", "potential", "wallet_gap", "portrait_fit"]
    at_least: float | None = Field(None, ge=0)  # absolute
    top_percent: float | None = Field(None, gt=0, le=100)  # among the top N % of accounts
    top_share: float | None = Field(None, gt=0, le=1)  # among the top making this share of the total
    times_average: float | None = Field(None, gt=0)  # at least this multiple of the average

    @model_validator(mode="after")
    def _one_threshold(self) -> KeyTest:
        given = [k for k in ("at_least", "top_percent", "top_share", "times_average")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of at_least, top_percent, top_share, times_average")
        if self.metric not in RANKED and given[0] != "at_least":
            raise ValueError(f"{self.metric} can only be compared with at_least")
        return self


def _default_tests() -> dict[str, KeyTest]:
    return {"top_revenue": KeyTest(metric="revenue_t12", top_share=0.8),
            "above_average": KeyTest(metric="revenue_t12", times_average=2.0),
            "top_potential": KeyTest(metric="potential", top_percent=10)}


class KeyAccountRule(Model):
    """Which accounts are key accounts: named tests, combined by `rule` (and, or, not)."""

    tests: dict[Annotated[str, Field(pattern=KEY)], KeyTest] = Field(default_factory=_default_tests)
    rule: str = "top_revenue or above_average or top_potential"
    # top_concentration: the revenue share of this many of the largest accounts.
    concentration_top: int = Field(5, ge=1)
    _condition: Condition = PrivateAttr()

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """The two revenue shorthands of earlier versions (top_revenue_share,
        above_average_factor) still read as the tests they were, and only those."""
        if not isinstance(data, dict) or not ({"top_revenue_share", "above_average_factor"}
                                              & set(data)):
            return data
        data = dict(data)
        share = data.pop("top_revenue_share", 0.8)
        factor = data.pop("above_average_factor", 2.0)
        data.setdefault("tests", {"top_revenue": {"metric": "revenue_t12", "top_share": share},
                                  "above_average": {"metric": "revenue_t12",
                                                    "times_average": factor}})
        data.setdefault("rule", "top_revenue or above_average")
        return data

    @model_validator(mode="after")
    def _parse_rule(self) -> KeyAccountRule:
        names = {k: MetricSpec(k, MetricType.BOOL, "key-account test") for k in self.tests}
        try:
            self._condition = Condition.parse(self.rule, names)
        except ExpressionError as e:
            raise ValueError(f"rule: {e} (the rule combines the names of `tests`)") from None
        return self

    @property
    def condition(self) -> Condition:
        return self._condition
