"""The sweep: recompute metrics, classify, fire at most one transition per account.

One transaction per chunk of accounts, so a crash loses at most the chunk in
flight, and the rerun at the same moment skips what already moved (an account
whose state changed at or after the sweep's moment is left alone). Two sweeps
racing on PostgreSQL are kept apart by the (account, at) key on transitions:
only the sweep whose transition row went in moves the account.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from time import perf_counter
from typing import Any

from sqlalchemy import Connection, Engine, select

from kamflow.engine.assess import Assessment, assess, full_metrics
from kamflow.engine.classify import PortfolioStats
from kamflow.engine.clock import Clock, FixedClock
from kamflow.engine.metrics import windows
from kamflow.errors import Refused
from kamflow.playbooks.loader import PlaybookSet
from kamflow.store import (
    audit,
    changes,
    escalation,
    facts,
    golive,
    locking,
    outbox,
    supersede,
    tally,
    task_writes,
    touchpoint_tasks,
)
from kamflow.store.bulk import insert_new, update_by_key
from kamflow.store.directory import Directory
from kamflow.store.scope import Scope
from kamflow.store.stats import after_writes
from kamflow.store.tables import ACCOUNT, TRANSITION
from kamflow.store.task_writes import TaskCounts
from kamflow.store.versions import active_book, active_version, book_of, lifecycle_of
from kamflow.tasks.policy import Holder, number, sponsor_problem
from kamflow.tasks.wake import WakeRules, midnight, wake_at

CHUNK = 10_000


@dataclass
class SweepSummary:
    at: datetime
    playbook_version: str
    accounts: int = 0
    reclassified: int = 0
    transitions: Counter[str] = field(default_factory=Counter)
    tasks: TaskCounts = field(default_factory=TaskCounts)
    seconds: float = 0.0
    newer: int = 0  # accounts left alone: their state was set after `at`
    go_live: date | None = None
    full: bool = False  # every account read (else the marked and the woken only)
    figures_kept: bool = False  # classified with the last sweep's portfolio figures
    pairs_moved: int = 0  # accounts read whose figures pair differed from the last read

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "playbook_version": self.playbook_version,
            "accounts": self.accounts,
            "reclassified": self.reclassified,
            "transitions": dict(sorted(self.transitions.items())),
            "transitions_total": sum(self.transitions.values()),
            "tasks_created": self.tasks.created,
            "tasks_cancelled": self.tasks.cancelled,
            "contact_checks_completed": self.tasks.checks_completed,
            "tasks_woken": self.tasks.woke,
            "tasks_escalated": self.tasks.escalated,
            "routed_to_queue_fallback": self.tasks.fallback_routed,
            "routing_notes": self.tasks.fallback_notes,
            "tasks_missed": self.tasks.missed,
            "skipped_newer_state": self.newer,
            "go_live": self.go_live.isoformat() if self.go_live else None,
            "full": self.full,
            "figures_kept": self.figures_kept,
            "pairs_moved": self.pairs_moved,
            "seconds": round(self.seconds, 3),
        }

    def absorb(self, part: Mapping[str, Any]) -> None:
        """Add the counters of another summary's `as_dict()` (a shard's part of this sweep)."""
        self.accounts += part["accounts"]
        self.reclassified += part["reclassified"]
        self.newer += part.get("skipped_newer_state", 0)
        self.full = self.full or bool(part.get("full"))
        self.figures_kept = self.figures_kept or bool(part.get("figures_kept"))
        self.pairs_moved += part.get("pairs_moved", 0)
        if part.get("go_live"):
            self.go_live = date.fromisoformat(part["go_live"])
        self.transitions.update(part["transitions"])
        self.tasks.add(TaskCounts(
            created=part["tasks_created"], cancelled=part["tasks_cancelled"],
            checks_completed=part["contact_checks_completed"], woke=part["tasks_woken"],
            escalated=part["tasks_escalated"], fallback_routed=part["routed_to_queue_fallback"],
            fallback_notes=list(part["routing_notes"]), missed=part.get("tasks_missed", 0)))


@dataclass(frozen=True)
class Plan:
    """What every part of one sweep shares: the moment, the rules and the portfolio figures.

    A sweep is `prepare` -> `run_chunk` for each chunk -> `finish`; run_sweep does them in
    order, and the Prefect flow spreads the chunks over workers (shards). A chunk is an id
    range and, for the daily sweep, the ids within it that are due (None: all of them).
    """

    at: datetime
    version: str
    book: PlaybookSet
    stats: PortfolioStats
    directory: Directory
    bounds: tuple[Chunk, ...]
    go_live: date | None = None
    full: bool = True
    wake: WakeRules | None = None
    reads: int = 0  # how many accounts the chunks hold


Chunk = tuple[str, str, tuple[str, ...] | None]


def prepare(db: Engine, clock: Clock, chunk: int = CHUNK, full: bool = False,
            figures: PortfolioStats | None = None) -> tuple[Plan, SweepSummary]:
    """`full`: read every account; otherwise the marked and the woken, unless the portfolio
    figures moved since the last sweep (every class may then change) or time ran backwards.
    `figures`: those the sweep's first prepare settled on (a shard's plan, rebuilt)."""
    at = clock.now()
    with db.connect() as conn:
        book = active_book(conn)
        version = active_version(conn) or ""
        kept = figures or (None if full else _kept_figures(conn, at, version))
        stats = kept or facts.stats(conn, at, book.classification.key_account)
        latest = golive.last_sweep(conn)
        full = full or changes.stats_moved(conn, stats) or (latest is not None and at < latest)
        if full:
            bounds: tuple[Chunk, ...] = tuple(
                (lo, hi, None) for lo, hi in facts.chunk_bounds(conn, chunk))
            reads = changes.count_accounts(conn)
        else:
            due = changes.due(conn, at)
            bounds, reads = tuple(changes.chunks(due, chunk)), len(due)
    summary = SweepSummary(at, version, full=full, figures_kept=kept is not None)
    with db.begin() as conn:
        summary.go_live = golive.go_live_for_sweep(conn, book, at)
        summary.tasks.cancelled += supersede.retire_changed_steps(
            conn, book, version, at, lambda v: book_of(conn, v))
        directory = Directory.load(conn)
    return Plan(at, version, book, stats, directory, bounds, summary.go_live, full,
                WakeRules.of(book), reads), summary


def _kept_figures(conn: Connection, at: datetime, version: str) -> PortfolioStats | None:
    """The last sweep's portfolio figures, when none of what they count can have moved since:
    as many accounts, and every marked one still holding the pair that sweep read. Reads the
    marked accounts, where working the figures out reads every account."""
    kept = changes.reusable_figures(conn, at, version)
    if kept is None or kept.accounts != changes.count_accounts(conn) \
            or not facts.pairs_kept(conn, at):
        return None
    return kept


def run_chunk(db: Engine, plan: Plan, lo: str, hi: str, summary: SweepSummary,
              ids: tuple[str, ...] | None = None) -> int:
    """One transaction: assess the accounts lo..hi (only `ids` among them, when given), move
    them, make their tasks, settle them with their wake-ups. Returns how many were read.

    Python's cycle collector is off meanwhile. A chunk's rows (facts, assessments, task
    dicts) live until its commit, so each full collection scanned them all again and freed
    nothing: 10-20 % of a sweep's CPU at 20,000 accounts (bench/sweep_bench.py). Reference
    counting frees them when the chunk ends, and the collector resumes."""
    was = gc.isenabled()
    gc.disable()
    try:
        return _run_chunk(db, plan, lo, hi, summary, ids)
    finally:
        if was:
            gc.enable()


def _run_chunk(db: Engine, plan: Plan, lo: str, hi: str, summary: SweepSummary,
               ids: tuple[str, ...] | None) -> int:
    at, version, book = plan.at, plan.version, plan.book
    lifecycle = lifecycle_of(book)
    scope = Scope(lo, hi, ids)
    with db.begin() as conn:
        # PostgreSQL: a racing sweep waits here and then reads what the first one wrote
        # (SQLite's BEGIN IMMEDIATE already serialises whole transactions).
        conn.execute(select(ACCOUNT.c.id).where(scope.where(ACCOUNT.c.id)).with_for_update())
        rows = facts.load(conn, at, lo, hi, book.organization.fiscal_year_start_month, ids=ids)
        done = [(assess(f, at, lifecycle, plan.stats), stored) for f, stored in rows]
        reclassified = [_classification(a, at) for a, s in done if _changed(a, s)]
        update_by_key(conn, ACCOUNT, reclassified, "id")
        moved = [a for a, _ in done if a.decision is not None]
        went_in = insert_new(conn, TRANSITION, [_transition(a, at, version) for a in moved],
                             ["account_id", "at"], returning="account_id")
        moved = [a for a in moved if a.facts.account_id in went_in]
        update_by_key(conn, ACCOUNT, [_move(a, at) for a in moved], "id", guard=["state"])
        holders = [_holder(a, s, a.facts.account_id in went_in, at, plan) for a, s in done]
        next_tasks: dict[str, date] = {}
        # Worked out before the audit lock, which every chunk of a sweep takes in turn: the
        # shards of a sweep in other processes plan their tasks at the same time.
        planned = task_writes.plan(conn, book, version, holders, at, plan.directory, lo, hi,
                                   plan.go_live, ids=ids, wakes=next_tasks)
        locking.audit_first(conn)  # before the first task row, moves or none
        tally.reclassified(conn, {a.facts.account_id: (s.klass, s.key_account) for a, s in done
                                  if (a.classified.klass, a.classified.key_account)
                                  != (s.klass, s.key_account)})  # the boards' counts
        audit.append(conn, [_moved_event(a, at, version) for a in moved])
        outbox.on_sweep_moves(conn, done, went_in, at, version)  # key accounts' owner, sponsor
        counts = TaskCounts()
        counts.cancelled = task_writes.cancel_for_moves(
            conn, [(a.facts.account_id, a.facts.state, _dest(a)) for a in moved], at)
        counts.add(task_writes.write(conn, book, version, planned, at, plan.directory))
        touchpoints_due = touchpoint_tasks.sweep(conn, book, version, holders, at,
                                                 plan.directory, scope, plan.go_live, counts)
        counts.missed += supersede.close_superseded(conn, book, at, lo, hi, ids)
        task_writes.link_feedback(conn, lo, hi, ids)
        pairs = {a.facts.account_id: (a.facts.revenue_t12, a.facts.potential) for a, _ in done}
        changes.settle(conn, _wakes(plan, lifecycle, done, went_in, next_tasks,
                                    supersede.next_change(conn, book, at, scope),
                                    facts.later_data(conn, at, scope), touchpoints_due),
                       pairs, windows(at).end)
    summary.accounts += len(done)
    summary.newer += sum(1 for a, _ in done if a.facts.state_since > at)
    summary.reclassified += len(reclassified)
    # New data since the figures were worked out, or under this sweep: the next one works
    # them out again rather than keep them (finish)
    summary.pairs_moved += sum(1 for a, s in done
                               if pairs[a.facts.account_id] != s.figures_pair)
    summary.tasks.add(counts)
    for a in moved:
        summary.transitions[f"{a.facts.state}->{_dest(a)}"] += 1
    return len(done)


def finish(db: Engine, plan: Plan, summary: SweepSummary, exact: bool | None = None) -> None:
    """After every chunk: wake snoozed tasks and escalate overdue ones; remember the figures
    this sweep classified with (a daily sweep compares its own with them; the account page
    shows an account with them). `exact`: no account read held another figures pair than
    its last read (default: none in `summary`), so the next daily sweep may keep them."""
    with db.begin() as conn:
        _wake_and_escalate(conn, plan.book, plan.at, plan.directory, summary.tasks)
        golive.record_sweep(conn, plan.at)
        tally.tidy(conn)  # cells that count nothing any more
        after_writes(conn, summary.tasks.created + summary.reclassified)  # many: ANALYZE
        changes.record_stats(conn, plan.stats, plan.at, plan.version,
                             summary.pairs_moved == 0 if exact is None else exact)


def _wakes(plan: Plan, lifecycle: Any, done: list[tuple[Assessment, facts.Stored]],
           went_in: set[str], *later: Mapping[str, date | datetime]) -> dict[str, datetime]:
    """Each account's wake-up after this chunk: the earliest moment time alone can change its
    outcome. An account this sweep moved is judged in its new state, as the next sweep would
    read it: at once if a rule out of that state already holds, else when one can. At once
    after a move some other writer made first."""
    at = plan.at
    assert plan.wake is not None
    out: dict[str, datetime] = {}
    for a, _ in done:
        f = a.facts
        if f.state_since > at:
            continue  # a later sweep's doing: left as that sweep left it
        values = a.values
        if a.decision is not None and f.account_id in went_in:
            f = replace(f, state=_dest(a), state_since=at, baseline_revenue=a.baseline)
            values, _ = full_metrics(f, at, plan.book, plan.stats, detail=False)
            if lifecycle.decide(f.state, values) is not None:
                out[f.account_id] = at  # it moves on at the next sweep
                continue
        elif a.decision is not None or f.account_id in went_in or f.state_since == at:
            out[f.account_id] = at
            continue
        moments = [_moment(m.get(f.account_id)) for m in later]
        out[f.account_id] = wake_at(plan.wake, lifecycle, f, values, at, plan.stats, *moments)
    return out


def _moment(value: date | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return midnight(value)


def check_moment(db: Engine, at: datetime) -> None:
    """Refuse a sweep before the latest one: time does not run backwards (replay says it does)."""
    with db.connect() as conn:
        latest = golive.last_sweep(conn)
    if latest is not None and at < latest:
        raise Refused(f"--at {at.isoformat()} is before the latest sweep ({latest.isoformat()}); "
                      "use --replay (or `kamflow replay`) to sweep an earlier moment on purpose")


def escalate(db: Engine, clock: Clock) -> TaskCounts:
    """Only the end of a sweep, in one transaction: wake snoozed tasks, escalate overdue ones.

    The hourly escalation job (kamflow.jobs.registry.escalation), so lateness is seen within the hour
    instead of at the next daily sweep.
    """
    counts = TaskCounts()
    at = clock.now()
    with db.begin() as conn:
        _wake_and_escalate(conn, active_book(conn), at, Directory.load(conn), counts)
    return counts


def _wake_and_escalate(conn: Connection, book: PlaybookSet, at: datetime, directory: Directory,
                       counts: TaskCounts) -> None:
    counts.woke += escalation.wake(conn, at)
    counts.escalated += escalation.escalate(conn, book, at, directory)


def run_sweep(db: Engine, clock: Clock, progress: Callable[[int], None] | None = None,
              chunk: int = CHUNK, replay: bool = False, full: bool = False,
              planned: Callable[[int], None] | None = None) -> SweepSummary:
    """`replay`: an earlier moment than the latest sweep is meant (else it is refused).
    `full`: read every account, not only the marked and the woken (the same result).
    `planned` is told how many accounts the sweep will read, once it knows."""
    started = perf_counter()
    if not replay:
        check_moment(db, clock.now())
    plan, summary = prepare(db, clock, chunk, full)
    if planned is not None:
        planned(plan.reads)
    for lo, hi, ids in plan.bounds:
        n = run_chunk(db, plan, lo, hi, summary, ids)
        if progress:
            progress(n)
    finish(db, plan, summary)
    summary.seconds = perf_counter() - started
    return summary


def _dest(a: Assessment) -> str:
    assert a.decision is not None
    return a.decision.dest


def _holder(a: Assessment, stored: facts.Stored, moved: bool, at: datetime, plan: Plan
            ) -> Holder:
    f, c, v = a.facts, a.classified, a.values
    return Holder(f.account_id, _dest(a) if moved else f.state, at if moved else f.state_since,
                  c.klass, stored.owner, stored.sponsor, c.key_account, c.portrait_fit,
                  f.potential, c.segment, imported=stored.state_imported and not moved,
                  revenue_share=number(v["revenue_share"]),
                  top_concentration=number(v["top_concentration"]),
                  no_senior_sponsor=sponsor_problem(
                      stored.owner, stored.sponsor, plan.directory.people,
                      plan.book.organization.senior_departments) is not None)


def _moved_event(a: Assessment, at: datetime, version: str) -> dict[str, Any]:
    d = a.decision
    assert d is not None
    return {"at": at, "actor": "system", "entity": "account", "entity_id": a.facts.account_id,
            "action": "transitioned", "before": {"state": d.source},
            "after": {"state": d.dest, "rule": d.rule, "playbook_version": version,
                      "metrics": jsonable(d.seen)}}


def _changed(a: Assessment, stored: facts.Stored) -> bool:
    c = a.classified
    return (c.klass, c.key_account, c.segment, c.portrait_fit, c.key_reason or None,
            _score(a)) != (stored.klass, stored.key_account, stored.segment,
                           stored.portrait_fit, stored.key_reason, stored.retention_score)


def _score(a: Assessment) -> float | None:
    """The retention score as stored (rounded: a change in the 4th decimal is no change)."""
    score = number(a.values.get("retention_score"))
    return None if score is None else round(score, 2)


def _classification(a: Assessment, at: datetime) -> dict[str, Any]:
    c = a.classified
    return {"id": a.facts.account_id, "klass": c.klass, "key_account": c.key_account,
            "segment": c.segment, "portrait_fit": c.portrait_fit, "classified_at": at,
            "key_reason": c.key_reason or None, "retention_score": _score(a)}


def _transition(a: Assessment, at: datetime, version: str) -> dict[str, Any]:
    d = a.decision
    assert d is not None
    return {"account_id": a.facts.account_id, "from_state": d.source, "to_state": d.dest,
            "at": at, "rule": d.rule, "metrics": jsonable(d.seen), "actor": "system",
            "reason": "", "playbook_version": version}


def _move(a: Assessment, at: datetime) -> dict[str, Any]:
    d = a.decision
    assert d is not None
    return {"id": a.facts.account_id, "state": d.dest, "state_since": at,
            "state_imported": False, "baseline_revenue": a.baseline, "_state": d.source}


def jsonable(values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        out[k] = round(v, 4) if isinstance(v, float) else v
    return out


def replay(db: Engine, first: datetime, last: datetime, step: timedelta,
           progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Sweep each moment from `first` to `last` in turn, as the scheduler would have, and add
    up what the sweeps did. Each sweep is its own set of transactions, as on a real day."""
    if last < first:
        raise ValueError("--to: must not be before --from")
    if step <= timedelta(0):
        raise ValueError("--every: must be a positive step")
    totals: dict[str, Any] = {"sweeps": 0, "transitions": {}, "tasks_created": 0,
                              "tasks_cancelled": 0, "tasks_escalated": 0,
                              "contact_checks_completed": 0, "tasks_missed": 0}
    at = first
    while at <= last:
        d = run_sweep(db, FixedClock(at), replay=True).as_dict()
        totals["sweeps"] += 1
        for move, n in d["transitions"].items():
            totals["transitions"][move] = totals["transitions"].get(move, 0) + n
        for k in ("tasks_created", "tasks_cancelled", "tasks_escalated",
                  "contact_checks_completed", "tasks_missed"):
            totals[k] += d[k]
        if progress is not None:
            progress(1)
        at += step
    totals["from"], totals["to"] = first.isoformat(), last.isoformat()
    return totals


def replay_length(first: datetime, last: datetime, step: timedelta) -> int:
    """How many sweeps a replay makes (for a progress bar)."""
    return 0 if last < first or step <= timedelta(0) else (last - first) // step + 1
