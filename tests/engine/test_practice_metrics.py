"""The data the practice needs, as metrics: quote success, complaints, margin as the
contribution, product-line attainment and touchpoints. Every figure is worked by hand."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from kamflow.engine.classify import PortfolioStats, classify
from kamflow.engine.metrics import (
    BadEventField,
    base_metrics,
    line_attainment,
    quote_fields,
)
from kamflow.playbooks.loader import bundled_dir, load_dir
from kamflow.playbooks.schema import Classification, ContributionLevels, Levels
from kamflow.playbooks.touchpoints import Touchpoint, due, meets, problems
from support import account_facts

AT = datetime(2026, 6, 15)


def test_quote_success_rate_and_complaint_rate() -> None:
    # 3 quotes won and 1 lost in the twelve months: 3 / 4; two complaints in those months.
    v = base_metrics(account_facts(quotes_won=3, quotes_decided=4, complaints=2), AT)
    assert (v["quote_success_rate"], v["quotes_decided"], v["complaint_rate"]) == (0.75, 4, 2)
    # Nothing decided: no rate (not 0, which would read as "all lost").
    v = base_metrics(account_facts(), AT)
    assert (v["quote_success_rate"], v["quotes_decided"], v["complaint_rate"]) == (None, 0, 0)


def test_margin_metrics() -> None:
    v = base_metrics(account_facts(revenue_t12=400_000, margin_t12=20_000), AT)
    assert (v["margin_t12"], v["margin_share"]) == (20_000, 0.05)
    v = base_metrics(account_facts(revenue_t12=400_000), AT)
    assert (v["margin_t12"], v["margin_share"]) == (None, None)
    v = base_metrics(account_facts(revenue_t12=0, margin_t12=-500), AT)  # cost, no revenue
    assert (v["margin_t12"], v["margin_share"]) == (-500, None)


def test_quote_fields_are_checked_naming_the_field() -> None:
    assert quote_fields("quote_created", None, None) == (None, None)  # new: open; known: kept
    assert quote_fields("quote_created", " WON ", 12_000.0) == ("won", 12_000.0)
    assert quote_fields("complaint", "", None) == (None, None)
    cases = [
        (("quote_created", "wonn", None), "outcome", "'wonn' is not one of won, lost, open"),
        (("quote_created", "won", -5.0), "amount", "-5 is not a finite amount of 0 or more"),
        (("quote_created", "won", float("nan")), "amount", "nan is not a finite amount"),
        (("complaint", "won", None), "outcome", "only a quote event (quote_...) carries an "
                                                "outcome; 'complaint' is not one"),
        (("order_placed", None, 10.0), "amount", "only a quote event"),
    ]
    for args, field, problem in cases:
        with pytest.raises(BadEventField) as e:
            quote_fields(*args)
        assert e.value.field == field and problem in e.value.problem
        assert str(e.value).startswith(f"{field}: ")


def _rules(basis: str) -> Classification:
    # The bundled thresholds for potential; contribution in margin: high 60k, medium 15k.
    levels = (ContributionLevels(high=60_000, medium=15_000, basis="margin") if basis == "margin"
              else Levels(high=250_000, medium=50_000))
    return Classification(potential=Levels(high=500_000, medium=150_000), contribution=levels)


def _klass(rules: Classification, potential: float, revenue: float, margin: float | None) -> str:
    values = base_metrics(account_facts(potential=potential, revenue_t12=revenue,
                                        margin_t12=margin), AT)
    return classify(values, {}, rules, PortfolioStats.empty()).klass


def test_margin_changes_the_class_where_the_articles_say_it_should() -> None:
    revenue, margin = _rules("revenue"), _rules("margin")
    # High revenue (400k of a 600k potential: 67% >= 40%), thin margin (20k, 5%):
    # A on revenue; on margin 20k is a medium contribution, potential high: C.
    assert _klass(revenue, 600_000, 400_000, 20_000) == "A"
    assert _klass(margin, 600_000, 400_000, 20_000) == "C"
    # 300k from a 100k-potential customer (low potential): B on revenue; margin 9k < 15k: D.
    assert _klass(revenue, 100_000, 300_000, 9_000) == "B"
    assert _klass(margin, 100_000, 300_000, 9_000) == "D"
    # A fat margin keeps it: 120k >= 60k and 400k / 600k >= 40%: A on either basis.
    assert _klass(margin, 600_000, 400_000, 120_000) == "A"
    # The relative check stays on revenue / potential: 300k of a 1M potential (30%) with a
    # 100k margin is high in margin but leaves room to grow: medium, C.
    assert _klass(margin, 1_000_000, 300_000, 100_000) == "C"
    # Without margin rows the account counts on its revenue (documented fallback).
    assert _klass(margin, 600_000, 400_000, None) == "A"
    # The revenue basis ignores margin altogether.
    assert _klass(revenue, 600_000, 400_000, -50_000) == "A"


def test_contribution_basis_is_declared_in_classification_yaml() -> None:
    book = load_dir(bundled_dir())
    assert book.classification.contribution.basis == "revenue"  # the default stays revenue
    with pytest.raises(ValueError, match="basis"):
        ContributionLevels(high=2, medium=1, basis="profit")  # type: ignore[arg-type]


def test_product_line_attainment() -> None:
    # Year target 960k split machines 600k / service 360k; 400k due to date (by_month), so
    # machines owe 400k * 600/960 = 250k and service 150k. Revenue: 275k, 120k, and 5k given
    # as month totals ('').
    rows = line_attainment({"machines": 275_000, "service": 120_000, "": 5_000},
                           {"machines": 600_000, "service": 360_000}, 400_000, 960_000)
    assert rows == [
        {"product_line": "machines", "target_year": 600_000, "target_to_date": 250_000,
         "revenue": 275_000, "attainment": 1.1},
        {"product_line": "service", "target_year": 360_000, "target_to_date": 150_000,
         "revenue": 120_000, "attainment": 0.8},
        {"product_line": "", "target_year": None, "target_to_date": None, "revenue": 5_000,
         "attainment": None},
    ]
    # Before a month is complete the target to date is 0: no attainment yet.
    assert line_attainment({}, {"machines": 600_000}, 0.0, 600_000)[0]["attainment"] is None


def test_touchpoints_match_our_side_and_fall_due() -> None:
    sponsor = Touchpoint(ours="sponsor", theirs="  Purchasing   Director", every_days=90)
    service = Touchpoint(ours="service", theirs="maintenance lead", every_days=30)
    assert sponsor.theirs == "purchasing director"
    assert meets(sponsor, "sam@x", "management", "ann@x", "sam@x")
    assert not meets(sponsor, "ann@x", "sales", "ann@x", "sam@x")
    assert not meets(sponsor, "sam@x", "management", "ann@x", None)
    assert meets(service, "sid@x", "service", "ann@x", None)
    assert not meets(service, "ann@x", "sales", "ann@x", None)
    assert due(sponsor, date(2026, 3, 1), date(2026, 1, 10)) == date(2026, 5, 30)
    assert due(sponsor, None, date(2026, 1, 10)) == date(2026, 4, 10)
    bad = Touchpoint(ours="legal", theirs="ceo", every_days=30)
    assert list(problems((sponsor, bad), ("sales", "service"))) == [
        (("touchpoints", 1, "ours"), "'legal' is not owner, sponsor or a department "
                                     "(sales, service)")]
