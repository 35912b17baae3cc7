"""Key accounts as classification.yaml declares them, on a ten-account portfolio computed by
hand: the default rule (high contribution OR high potential), other combinations, the reason
an account gives, and the portfolio metrics revenue_share and top_concentration."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from kamflow.engine.assess import full_metrics
from kamflow.engine.classify import portfolio_figures
from kamflow.playbooks.errors import PlaybookError
from kamflow.playbooks.loader import PlaybookSet, bundled_dir, load_dir, load_sources, read_dir
from support import account_facts as facts

AT = datetime(2026, 6, 15)
BOOK: PlaybookSet = load_dir(bundled_dir())

# id -> (trailing-12-month revenue, potential)
PORTFOLIO = {
    "HIPO": (10_000, 50_000_000),  # a first 10 k order, a huge potential
    "LOYB": (300_000, 400_000),
    "RECA": (300_000, 600_000),
    "DECD": (200_000, 140_000),
    "LOYC": (60_000, 600_000),
    "SMALLD": (12_000, 50_000),
    "P1": (0, 100_000), "P2": (0, 80_000), "P3": (0, 60_000), "P4": (0, 40_000),
}
# By hand: revenue 882,000 in all, average 88,200 (twice: 176,400). Largest first, 300 + 300
# = 600 k is below 80 % (705,600), + 200 k reaches it: the top-revenue cutoff is 200,000.
# Top 10 % of 10 accounts by potential = 1 account: 50,000,000.
# The 5 largest make 300 + 300 + 200 + 60 + 12 = 872 k of 882 k.


def with_key_rule(block: str) -> PlaybookSet:
    sources = read_dir(bundled_dir())
    text = sources["classification.yaml"]
    start = text.index("key_account:")
    end = text.index("\n# Portrait")
    sources["classification.yaml"] = text[:start] + block + text[end:]
    return load_sources(sources)


def keyed(book: PlaybookSet) -> dict[str, tuple[bool, str]]:
    stats = portfolio_figures(list(PORTFOLIO.values()), book.classification.key_account)
    out = {}
    for account, (revenue, potential) in PORTFOLIO.items():
        f = facts(account_id=account, revenue_t12=revenue, potential=potential,
                  revenue_prev12=revenue)
        _, c = full_metrics(f, AT, book, stats)
        out[account] = (c.key_account, c.key_reason)
    return out


def test_the_default_rule_is_high_contribution_or_high_potential() -> None:
    stats = portfolio_figures(list(PORTFOLIO.values()), BOOK.classification.key_account)
    assert stats.total_revenue == 882_000 and stats.average_revenue == 88_200
    assert stats.cutoffs == {"top_revenue": 200_000, "above_average": 176_400,
                             "top_potential": 50_000_000}
    assert stats.top_concentration == pytest.approx(872 / 882)
    keys = {a for a, (key, _) in keyed(BOOK).items() if key}
    assert keys == {"HIPO", "LOYB", "RECA", "DECD"}


def test_a_prospect_with_a_huge_potential_and_a_small_first_order_says_why() -> None:
    key, why = keyed(BOOK)["HIPO"]
    assert key is True
    assert why == "key account because potential 50,000,000 is in the top 10 %"
    key, why = keyed(BOOK)["DECD"]
    assert why == ("key account because revenue 200,000 is among the top accounts making 80 % "
                   "of the total (from 200,000); revenue 200,000 is at least 2x the average "
                   "(88,200)")
    assert keyed(BOOK)["LOYC"] == (False, "")


def test_any_combination_the_organization_declares() -> None:
    gap_and_fit = with_key_rule(
        "key_account:\n"
        "  tests:\n"
        "    gap: {metric: wallet_gap, top_percent: 20}\n"
        "    big: {metric: potential, at_least: 500000}\n"
        "    revenue: {metric: revenue_t12, top_share: 0.8}\n"
        "  rule: (gap and big) or (revenue and not big)\n")
    # wallet gaps: HIPO 49,990,000 and LOYC 540,000 are the top 2 of 10 (20 %)
    keys = {a for a, (key, _) in keyed(gap_and_fit).items() if key}
    assert keys == {"HIPO", "LOYC", "LOYB", "DECD"}  # RECA has big potential, no gap in the top
    assert keyed(gap_and_fit)["LOYC"][1] == (
        "key account because wallet gap 540,000 is in the top 20 %; potential 600,000 is at "
        "least 500,000")


def test_the_revenue_shorthand_of_earlier_versions_reads_as_before() -> None:
    old = with_key_rule("key_account:\n  top_revenue_share: 0.8\n  above_average_factor: 2.0\n")
    assert old.classification.key_account.rule == "top_revenue or above_average"
    keys = {a for a, (key, _) in keyed(old).items() if key}
    assert keys == {"LOYB", "RECA", "DECD"}  # potential alone does not make a key account


def test_a_bad_rule_is_a_located_error() -> None:
    with pytest.raises(PlaybookError) as e:
        with_key_rule("key_account:\n  tests:\n    big: {metric: potential, at_least: 1}\n"
                      "  rule: big or huge\n")
    assert re.search(r"classification\.yaml:\d+: key_account: rule: column 8: unknown metric "
                     r"'huge'", str(e.value)), str(e.value)
    with pytest.raises(PlaybookError, match="give exactly one of at_least"):
        with_key_rule("key_account:\n  tests:\n    big: {metric: potential}\n  rule: big\n")
    with pytest.raises(PlaybookError, match="portrait_fit can only be compared with at_least"):
        with_key_rule("key_account:\n  tests:\n    fit: {metric: portrait_fit, top_percent: 5}\n"
                      "  rule: fit\n")


def test_revenue_share_and_top_concentration() -> None:
    stats = portfolio_figures(list(PORTFOLIO.values()), BOOK.classification.key_account)
    values, _ = full_metrics(facts(revenue_t12=300_000, potential=400_000), AT, BOOK, stats)
    assert values["revenue_share"] == pytest.approx(300 / 882)
    assert values["top_concentration"] == pytest.approx(872 / 882)
    nothing = portfolio_figures([(0.0, 10.0)], BOOK.classification.key_account)
    values, c = full_metrics(facts(revenue_t12=0, potential=10), AT, BOOK, nothing)
    assert values["revenue_share"] is None and values["top_concentration"] is None
    assert c.key_account is True  # the only account is the top 10 % by potential
