"""An account's wake-up: the earliest moment time alone can change what a sweep does to it.

The daily sweep reads the accounts that new data marked and those whose wake-up has come,
nothing else; a full sweep reads all and must do exactly the same. So the wake-up may be
early (the sweep then finds nothing to do) but never late. Without new data, three things
change with time:

- the revenue and contact windows, which move on the first of each month: every account
  wakes then at the latest (`month_after`);
- the day metrics (`DAY_METRICS`), one a day. A guard compares them with literals only
  (the expression language has no arithmetic), so a comparison can flip only when a day
  metric reaches `ceil(k)` or `floor(k) + 1` for a literal `k` it is compared with: the
  guards are evaluated at exactly those moments (`guard_wake`). A day metric read any
  other way (compared with another metric, listed in `in [...]`, a portrait or retention
  criterion) makes its states wake daily: still correct, only less lazy;
- the next occurrence of a step entering the generation window (kamflow.tasks.cadence:
  `next_start`), found by the store when it generates tasks.

Pure: the sweep's moment is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from kamflow.engine.assess import full_metrics
from kamflow.engine.classify import PortfolioStats
from kamflow.engine.lifecycle import LifecycleEngine
from kamflow.engine.metrics import AccountFacts, add_months
from kamflow.playbooks.expr import And, Compare, Const, Expr, IsNone, Membership, Metric, Not, Or
from kamflow.playbooks.loader import PlaybookSet

DAY_METRICS = frozenset({"days_since_contact", "days_since_revenue", "days_in_state"})
DAILY = None  # a state's thresholds when its guards read a day metric other than by literal


def month_after(at: datetime) -> datetime:
    """Midnight of the first day of the month after `at`'s: the windows move then."""
    return datetime.combine(add_months(date(at.year, at.month, 1), 1), time())


def midnight(day: date) -> datetime:
    return datetime.combine(day, time())


@dataclass(frozen=True, slots=True)
class WakeRules:
    """Per state, the literals each day metric is compared with in its outgoing guards
    (empty: time changes nothing; None: the state wakes daily)."""

    by_state: Mapping[str, Mapping[str, tuple[float, ...]] | None]

    @classmethod
    def of(cls, book: PlaybookSet) -> WakeRules:
        criteria = (*book.classification.portrait, *book.classification.retention)
        everywhere_daily = any(c.metric in DAY_METRICS for c in criteria)
        out: dict[str, dict[str, tuple[float, ...]] | None] = {}
        for state in book.lifecycle.states:
            found: dict[str, set[float]] = {}
            daily = everywhere_daily
            for t in book.lifecycle.transitions:
                if t.when is None or state not in t.source or daily:
                    continue
                for metric, literal in _day_literals(book.conditions[t.rule].expr):
                    if literal is None:
                        daily = True
                        break
                    found.setdefault(metric, set()).add(literal)
            out[state] = DAILY if daily else {m: tuple(sorted(ks)) for m, ks in found.items()}
        return cls(out)


def _day_literals(expr: Expr) -> Iterator[tuple[str, float | None]]:
    """(day metric, literal it is compared with); the literal is None when the metric is read
    in a way the literals cannot bound."""
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Compare):
            sides = (node.left, node.right)
            names = [s.name for s in sides if isinstance(s, Metric) and s.name in DAY_METRICS]
            consts = [s.value for s in sides if isinstance(s, Const)]
            if names and len(consts) == 1 and isinstance(consts[0], int | float) \
                    and not isinstance(consts[0], bool):
                yield names[0], float(consts[0])
            elif names:
                yield names[0], None
            else:
                stack += sides
        elif isinstance(node, Membership) and node.metric.name in DAY_METRICS:
            yield node.metric.name, None
        elif isinstance(node, Metric) and node.name in DAY_METRICS:
            yield node.name, None
        elif isinstance(node, IsNone):
            continue  # a day metric that is none (no revenue yet) stays none without new data
        elif isinstance(node, Not):
            stack.append(node.operand)
        elif isinstance(node, And | Or):
            stack.extend(node.operands)


def guard_wake(rules: WakeRules, lifecycle: LifecycleEngine, facts: AccountFacts,
               values: Mapping[str, object], at: datetime, stats: PortfolioStats,
               until: datetime) -> datetime | None:
    """The first moment in (at, until) at which a guard out of the account's state holds,
    or None. `values` are the account's metrics at `at`, in the state it stays in."""
    found = rules.by_state.get(facts.state, {})
    if found is DAILY:
        return midnight(at.date() + timedelta(days=1))
    moments: set[datetime] = set()
    for metric, literals in found.items():
        value = values.get(metric)
        if not isinstance(value, int | float):
            continue
        for k in literals:
            for target in {math.ceil(k), math.floor(k) + 1}:
                days = target - int(value)
                if days <= 0:
                    continue
                moment = (facts.state_since + timedelta(days=target) if metric == "days_in_state"
                          else midnight(at.date() + timedelta(days=days)))
                if at < moment < until:
                    moments.add(moment)
    book = lifecycle.book
    for moment in sorted(moments):
        later, _ = full_metrics(facts, moment, book, stats, detail=False)
        if lifecycle.decide(facts.state, later) is not None:
            return moment
    return None


def wake_at(rules: WakeRules, lifecycle: LifecycleEngine, facts: AccountFacts,
            values: Mapping[str, object], at: datetime, stats: PortfolioStats,
            *others: datetime | None) -> datetime:
    """The account's wake-up after a sweep at `at` that left it in its state: the earliest of
    the next month, its guards' next flip and `others` (its next task, data dated later)."""
    until = min([month_after(at), *(o for o in others if o is not None)])
    guard = guard_wake(rules, lifecycle, facts, values, at, stats, until)
    return until if guard is None else guard
