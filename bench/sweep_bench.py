"""Sweep benchmark: a synthetic portfolio of N accounts, one timed sweep, one idempotent rerun.

Run from the project root:

    .venv/bin/python bench/sweep_bench.py --accounts 100000 [--db sqlite|postgres]
        [--months 36] [--seed 1] [--json FILE] [--profile]

The data is generated in this module (deterministic for a seed) and bulk-inserted with
SQLAlchemy Core, never through the CSV importer. As a yardstick the same run times
writing N transition-shaped rows straight through the database driver (sqlite3
executemany / psycopg COPY). See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import random
import resource
import shutil
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

from sqlalchemy import Engine, Table, create_engine, func, select, text
from sqlalchemy.engine import make_url

import kamflow
from kamflow.engine.clock import FixedClock
from kamflow.engine.metrics import add_months
from kamflow.store.changes import mark
from kamflow.store.db import db_for, dispose, migrate
from kamflow.store.models import Account, Contact, Department, Feedback, Person, Revenue, Transition
from kamflow.store.versions import activate, active_version
from kamflow.sweep import SweepSummary, run_sweep

ACC: Table = Account.__table__  # type: ignore[attr-defined]
REV: Table = Revenue.__table__  # type: ignore[attr-defined]
CON: Table = Contact.__table__  # type: ignore[attr-defined]
FB: Table = Feedback.__table__  # type: ignore[attr-defined]
PER: Table = Person.__table__  # type: ignore[attr-defined]
DEPT: Table = Department.__table__  # type: ignore[attr-defined]
TRN: Table = Transition.__table__  # type: ignore[attr-defined]

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_AT = "2026-11-23T03:00:00"
BLOCK = 2_000  # accounts generated and inserted per transaction
CRITERIA = ("size", "market_fit", "structure", "profitability", "effort_to_serve", "growth")
CHANNELS = ("visit", "call", "call", "video", "email")
INDUSTRIES = ("machinery", "automotive", "food", "chemicals", "construction", "medical",
              "energy", "retail", "logistics", "electronics")

Row = dict[str, Any]


# -- synthetic portfolio -------------------------------------------------------------------------

@dataclass(frozen=True)
class Profile:
    """One kind of account: its stored state and the revenue/contact/feedback pattern behind it."""

    name: str
    weight: float
    state: str
    potential: tuple[float, float]
    share: tuple[float, float]  # yearly revenue as a share of the potential, older months
    trend: tuple[float, float]  # multiplier over the trailing 12 months
    silent: tuple[int, int] = (0, 0)  # no revenue in this many most recent months
    only_recent: int = 0  # revenue only in this many most recent months (0: all months)
    no_revenue: bool = False
    contact_days: tuple[int, int] = (5, 60)  # days since the last contact
    contacts: tuple[int, int] = (3, 7)
    feedback: tuple[int, int] = (7, 10)
    feedbacks: tuple[int, int] = (0, 4)
    baseline: tuple[float, float] | None = None  # stored baseline as a multiple of yearly revenue
    good: bool = True  # portrait criteria scores high or low


PROFILES = (
    # stays put
    Profile("loyal_stable", 0.26, "loyal", (250_000, 2_000_000), (0.5, 0.9), (0.95, 1.15)),
    Profile("hp_steady", 0.10, "high_potential", (600_000, 3_000_000), (0.1, 0.3), (1.0, 1.2),
            contact_days=(5, 100)),
    Profile("opt_small", 0.15, "optimization", (10_000, 120_000), (0.2, 0.6), (0.8, 1.2),
            contact_days=(20, 300), contacts=(0, 3), good=False),
    Profile("prospect_cold", 0.07, "prospect", (300_000, 2_500_000), (0.0, 0.0), (1.0, 1.0),
            no_revenue=True, contacts=(1, 4), feedbacks=(0, 0)),
    Profile("lost_gone", 0.04, "lost", (100_000, 500_000), (0.3, 0.5), (1.0, 1.0),
            silent=(24, 40), contact_days=(100, 400), contacts=(0, 2), baseline=(0.8, 1.0)),
    # moves
    Profile("loyal_drifting", 0.08, "loyal", (300_000, 1_500_000), (0.5, 0.7), (0.55, 0.8),
            contact_days=(30, 200)),
    Profile("loyal_quiet", 0.04, "loyal", (150_000, 600_000), (0.4, 0.6), (1.0, 1.0),
            silent=(13, 16), contact_days=(60, 200)),
    Profile("loyal_unhappy", 0.03, "loyal", (200_000, 900_000), (0.5, 0.7), (0.95, 1.1),
            feedback=(2, 6), feedbacks=(1, 4)),
    Profile("hp_growing", 0.08, "high_potential", (400_000, 1_500_000), (0.3, 0.45), (1.3, 1.7),
            contact_days=(5, 40)),
    Profile("declining_collapse", 0.04, "declining", (300_000, 1_200_000), (0.4, 0.6),
            (0.3, 0.55), contact_days=(20, 120), feedback=(4, 7), baseline=(0.9, 1.1)),
    Profile("declining_stabilising", 0.03, "declining", (300_000, 900_000), (0.4, 0.6),
            (1.0, 1.15), contact_days=(3, 55), baseline=(1.0, 1.2)),
    Profile("recovery", 0.03, "recovery", (300_000, 1_000_000), (0.4, 0.6), (0.9, 1.2),
            baseline=(0.9, 1.6)),
    Profile("lost_back", 0.02, "lost", (200_000, 700_000), (0.3, 0.5), (1.0, 1.0),
            only_recent=2, baseline=(0.8, 1.0)),
    Profile("opt_reassessed", 0.01, "optimization", (200_000, 1_000_000), (0.05, 0.2), (0.9, 1.1),
            contacts=(1, 3)),
    Profile("prospect_first", 0.03, "prospect", (30_000, 2_500_000), (0.05, 0.4), (1.0, 1.0),
            only_recent=2, feedbacks=(0, 0)),
)


@dataclass
class Portfolio:
    """Rows of one block of accounts, in foreign-key order."""

    accounts: list[Row]
    initial: list[Row]  # the "imported" transition the CSV importer would have written
    revenue: list[Row]
    contacts: list[Row]
    feedback: list[Row]


def make_people(rng: random.Random, departments: list[str], count: int) -> list[Row]:
    """`count` people: a lead per department, most others account managers in sales."""
    people: list[Row] = []

    def add(dept: str, role: str) -> None:
        i = len(people) + 1
        people.append({"email": f"p{i:06d}@bench.example", "name": f"Person {i}",
                       "department": dept, "role": role, "active": True})

    for dept in departments:
        add(dept, "department_lead")
    add("management" if "management" in departments else departments[0], "admin")
    others = [d for d in departments if d not in ("sales", "management")] or departments
    while len(people) < count:
        roll = rng.random()
        if roll < 0.70 and "sales" in departments:
            add("sales", "account_manager")
        elif roll < 0.80 and "management" in departments:
            add("management", "manager")
        else:
            add(rng.choice(others), "account_manager")
    return people


def generate(rng: random.Random, first: int, count: int, months: int, at: datetime,
             sellers: list[str], sponsors: list[str], version: str) -> Portfolio:
    """Accounts first..first+count-1 with `months` months of revenue up to the sweep's month."""
    end = date(at.year, at.month, 1)
    first_month = add_months(end, -months)
    month_list = [add_months(first_month, m) for m in range(months)]
    today = at.date()
    weights = [p.weight for p in PROFILES]
    out = Portfolio([], [], [], [], [])
    for i in range(first, first + count):
        p = rng.choices(PROFILES, weights)[0]
        account_id = f"ACC-{i:07d}"
        created = datetime.combine(first_month - timedelta(days=rng.randint(0, 2000)),
                                   datetime.min.time())
        since = max(created, at - timedelta(days=rng.randint(30, 1500)))
        potential = round(rng.uniform(*p.potential), -3)
        yearly = potential * rng.uniform(*p.share)
        lo, hi = (5, 10) if p.good else (0, 7)
        owner = rng.choice(sellers)
        out.accounts.append({
            "id": account_id, "name": f"Bench Account {i}", "industry": rng.choice(INDUSTRIES),
            "owner_email": owner,
            "sponsor_email": rng.choice(sponsors) if p.good and rng.random() < 0.7 else None,
            "potential": potential, "criteria": {c: rng.randint(lo, hi) for c in CRITERIA},
            "state": p.state, "state_since": since, "created_at": created,
            "key_account": False,
            "baseline_revenue": None if p.baseline is None else round(
                yearly * rng.uniform(*p.baseline), 2),
        })
        out.initial.append({
            "account_id": account_id, "from_state": "", "to_state": p.state, "at": created,
            "rule": "imported", "metrics": {}, "actor": "import",
            "reason": "initial state (bench)", "playbook_version": version,
        })
        if not p.no_revenue:
            trend = rng.uniform(*p.trend)
            silent = rng.randint(*p.silent)
            start = months - p.only_recent if p.only_recent else 0
            skip = 0.0 if p.only_recent else 0.06  # some months without revenue
            monthly = yearly / 12
            for m in range(start, months - silent):
                if skip and rng.random() < skip:
                    continue
                factor = trend if m >= months - 12 else 1.0
                amount = round(monthly * factor * rng.uniform(0.7, 1.3), 2)
                if amount > 0:
                    out.revenue.append({"account_id": account_id, "month": month_list[m],
                                        "amount": amount})
        n = rng.randint(*p.contacts)
        if n:
            ago = rng.randint(*p.contact_days)
            for _ in range(n):  # strictly increasing distance: dates are distinct
                out.contacts.append({
                    "account_id": account_id, "date": today - timedelta(days=ago),
                    "channel": rng.choice(CHANNELS),
                    "person_email": owner if rng.random() < 0.8 else rng.choice(sellers),
                    "nature": "regular contact", "note": "",
                })
                ago += rng.randint(7, 120)
        n = rng.randint(*p.feedbacks)
        ago = rng.randint(10, 120)
        for k in range(n):
            score = rng.randint(*p.feedback) if k == 0 else rng.randint(5, 10)
            out.feedback.append({"account_id": account_id, "date": today - timedelta(days=ago),
                                 "score": score, "comment": ""})
            ago += rng.randint(60, 120)
    return out


def populate(db: Engine, accounts: int, months: int, seed: int, at: datetime,
             log: Callable[[str], None]) -> dict[str, Any]:
    """Generate and insert the whole portfolio in blocks; return counts and timings."""
    rng = random.Random(seed)
    gen_s = ins_s = 0.0
    with db.begin() as conn:
        departments = list(conn.execute(select(DEPT.c.key).order_by(DEPT.c.key)).scalars())
        version = active_version(conn) or ""
        t0 = perf_counter()
        people = make_people(rng, departments, max(len(departments) + 5, accounts // 50))
        gen_s += perf_counter() - t0
        t0 = perf_counter()
        conn.execute(PER.insert(), people)
        ins_s += perf_counter() - t0
    sellers = [p["email"] for p in people if p["role"] == "account_manager"
               and p["department"] == "sales"] or [p["email"] for p in people]
    sponsors = [p["email"] for p in people if p["role"] == "manager"] or sellers
    counts = {"people": len(people), "accounts": 0, "revenue": 0, "contacts": 0, "feedback": 0,
              "transitions": 0}
    step = max(BLOCK, accounts // 10)
    next_report = step
    for first in range(1, accounts + 1, BLOCK):
        size = min(BLOCK, accounts - first + 1)
        t0 = perf_counter()
        block = generate(rng, first, size, months, at, sellers, sponsors, version)
        t1 = perf_counter()
        with db.begin() as conn:
            for table, rows, key in ((ACC, block.accounts, "accounts"),
                                     (TRN, block.initial, "transitions"),
                                     (REV, block.revenue, "revenue"),
                                     (CON, block.contacts, "contacts"),
                                     (FB, block.feedback, "feedback")):
                if rows:
                    conn.execute(table.insert(), rows)
                counts[key] += len(rows)
        gen_s += t1 - t0
        ins_s += perf_counter() - t1
        if counts["accounts"] >= next_report:
            log(f"  ... {counts['accounts']:,} accounts ({gen_s + ins_s:.1f} s)")
            next_report += step
    t0 = perf_counter()
    analyze(db)
    analyze_s = perf_counter() - t0
    return {"rows": counts, "generate_seconds": gen_s, "insert_seconds": ins_s,
            "analyze_seconds": analyze_s, "seconds": gen_s + ins_s + analyze_s}


def analyze(db: Engine) -> None:
    """Fresh planner statistics, as a maintained database would have after a bulk load."""
    tables = ("person", "account", "revenue", "contact", "feedback", "transition")
    if db.dialect.name == "sqlite":
        with db.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        return
    with db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for t in tables:
            conn.exec_driver_sql(f'VACUUM ANALYZE "{t}"')


# -- databases ----------------------------------------------------------------------------------

@dataclass
class Target:
    kind: str
    url: str
    workdir: Path
    schema: str | None = None


@contextmanager
def database(kind: str, workdir: Path, name: str = "kamflow") -> Iterator[Target]:
    """A fresh SQLite file in `workdir`, or a fresh PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        url = f"sqlite:///{workdir / (name + '.db')}"
        try:
            yield Target(kind, url, workdir)
        finally:
            dispose(url)
        return
    base = os.environ.get("KAMFLOW_TEST_POSTGRES_URL") or DEFAULT_PG
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    rendered = make_url(base).update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    try:
        yield Target(kind, rendered, workdir, schema)
    finally:
        dispose(rendered)
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def server_version(db: Engine) -> str:
    with db.connect() as conn:
        if db.dialect.name == "sqlite":
            return "SQLite " + str(conn.exec_driver_sql("select sqlite_version()").scalar())
        return f"PostgreSQL {conn.exec_driver_sql('show server_version').scalar()}"


def table_counts(db: Engine) -> dict[str, int]:
    with db.connect() as conn:
        return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in (PER, ACC, REV, CON, FB, TRN)}


# -- raw bulk write reference -------------------------------------------------------------------

def raw_rows(n: int, at: datetime) -> list[tuple[str, str, str, str, str]]:
    """N rows shaped like sweep transitions: (account_id, at, state, rule, metrics JSON),
    written with a unique index on (account_id, rule) as the sweep's rows have theirs."""
    stamp = at.isoformat(sep=" ")
    states = ("loyal", "declining", "recovery", "lost", "high_potential")
    rules = ("drifting_away", "steep_decline", "recovered", "no_revenue_for_a_year", "first_supplier")
    out = []
    for i in range(n):
        metrics = json.dumps({"revenue_trend": round(-0.15 - (i % 50) / 100, 4),
                              "days_since_contact": i % 200, "feedback_score": 5.0 + i % 5})
        out.append((f"ACC-{i + 1:07d}", stamp, states[i % 5], rules[i % 5], metrics))
    return out


def raw_write_sqlite(path: Path, rows: list[tuple[str, str, str, str, str]]) -> float:
    """stdlib sqlite3, WAL, synchronous=NORMAL, one executemany in one transaction."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE raw_bulk (id INTEGER PRIMARY KEY, account_id TEXT NOT NULL, "
                   "at TIMESTAMP NOT NULL, state TEXT NOT NULL, rule TEXT NOT NULL, "
                   "metrics TEXT NOT NULL)")
        db.execute("CREATE UNIQUE INDEX raw_bulk_key ON raw_bulk (account_id, rule)")
        t0 = perf_counter()
        db.execute("BEGIN")
        db.executemany("INSERT INTO raw_bulk (account_id, at, state, rule, metrics) "
                       "VALUES (?, ?, ?, ?, ?)", rows)
        db.execute("COMMIT")
        return perf_counter() - t0
    finally:
        db.close()


def raw_write_postgres(url: str, rows: list[tuple[str, str, str, str, str]]) -> float:
    """psycopg 3 COPY (text format) into a scratch table of the bench schema, one transaction."""
    import psycopg

    u = make_url(url)
    params: dict[str, Any] = {"host": u.host, "port": u.port, "user": u.username,
                              "password": u.password, "dbname": u.database}
    options = u.query.get("options")
    if options:
        params["options"] = options if isinstance(options, str) else options[0]
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as db:
        db.execute("CREATE TABLE raw_bulk (id bigserial PRIMARY KEY, account_id varchar(64) "
                   "NOT NULL, at timestamp NOT NULL, state varchar(64) NOT NULL, rule "
                   "varchar(100) NOT NULL, metrics jsonb NOT NULL)")
        db.execute("CREATE UNIQUE INDEX raw_bulk_key ON raw_bulk (account_id, rule)")
        db.commit()
        t0 = perf_counter()
        with db.cursor() as cur, cur.copy(
                "COPY raw_bulk (account_id, at, state, rule, metrics) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        db.commit()
        seconds = perf_counter() - t0
        db.execute("DROP TABLE raw_bulk")
        db.commit()
        return seconds


# -- memory -------------------------------------------------------------------------------------

def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def status_mib(field_name: str) -> float | None:
    """VmRSS (current) or VmHWM (peak) from /proc/self/status, in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so the sweep's own peak can be read afterwards."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# -- where the sweep's time goes, without a profiler ---------------------------------------------

# (module, attribute, label): the calls the sweep makes, timed by wrapping them for the timed
# sweeps. Times are exclusive: a wrapped call inside another (audit.append inside
# tasking.generate) counts for itself, under "outer > inner", not for the outer one.
PHASES = (
    ("kamflow.store.facts", "stats", "facts.stats"),
    ("kamflow.store.facts", "chunk_bounds", "facts.chunk_bounds"),
    ("kamflow.store.facts", "load", "facts.load"),
    ("kamflow.sweep", "assess", "assess"),
    ("kamflow.sweep", "update_by_key", "update_by_key"),
    ("kamflow.sweep", "insert_new", "insert_new"),
    ("kamflow.store.audit", "append", "audit.append"),
    ("kamflow.store.supersede", "retire_changed_steps", "tasking.retire_changed_steps"),
    ("kamflow.store.supersede", "close_superseded", "tasking.close_superseded"),
    ("kamflow.store.supersede", "next_change", "wake.next_change"),
    ("kamflow.store.facts", "later_data", "wake.later_data"),
    ("kamflow.store.changes", "due", "changes.due"),
    ("kamflow.store.changes", "settle", "changes.settle"),
    ("kamflow.sweep", "wake_at", "wake.wake_at"),
    ("kamflow.store.task_writes", "cancel_for_moves", "tasking.cancel_for_moves"),
    ("kamflow.store.task_writes", "generate", "tasking.generate"),
    ("kamflow.store.task_writes", "link_feedback", "tasking.link_feedback"),
    ("kamflow.store.escalation", "wake", "tasking.wake"),
    ("kamflow.store.escalation", "escalate", "tasking.escalate"),
    ("kamflow.store.task_writes", "insert_returning", "insert_returning"),
    ("kamflow.store.task_writes", "update_by_key", "update_by_key"),
)
# Parts of the sweep before task generation existed; everything under tasking.* is tasks.
LIFECYCLE = ("facts.stats", "facts.chunk_bounds", "facts.load", "assess", "update_by_key",
             "insert_new", "audit.append")


class PhaseTimer:
    """Wraps PHASES while installed; `seconds` maps "outer > inner" labels to exclusive time."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._stack: list[tuple[str, float]] = []  # (label path, time spent in wrapped callees)
        self._saved: list[tuple[Any, str, Any]] = []

    def install(self) -> None:
        import importlib

        for module_name, attr, label in PHASES:
            module = importlib.import_module(module_name)
            original = getattr(module, attr, None)
            if original is None:
                continue
            self._saved.append((module, attr, original))
            setattr(module, attr, self._wrap(original, label))

    def uninstall(self) -> None:
        for module, attr, original in reversed(self._saved):
            setattr(module, attr, original)
        self._saved.clear()

    def _wrap(self, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            path = f"{self._stack[-1][0]} > {label}" if self._stack else label
            self._stack.append((path, 0.0))
            t0 = perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                total = perf_counter() - t0
                _, inner = self._stack.pop()
                self.seconds[path] = self.seconds.get(path, 0.0) + total - inner
                self.calls[path] = self.calls.get(path, 0) + 1
                if self._stack:
                    outer, spent = self._stack[-1]
                    self._stack[-1] = (outer, spent + total)

        return timed

    def reset(self) -> dict[str, Any]:
        out = self.report()
        self.seconds, self.calls = {}, {}
        return out

    def report(self) -> dict[str, Any]:
        lifecycle = sum(v for k, v in self.seconds.items() if k in LIFECYCLE)
        tasks = sum(v for k, v in self.seconds.items() if k.startswith("tasking."))
        return {"lifecycle_and_classification": round(lifecycle, 3),
                "tasks": round(tasks, 3),
                "phases": {k: {"seconds": round(v, 3), "calls": self.calls[k]}
                           for k, v in sorted(self.seconds.items(), key=lambda kv: -kv[1])}}


def split_lines(split: dict[str, Any], total: float) -> list[str]:
    rest = total - split["lifecycle_and_classification"] - split["tasks"]
    lines = [f"    lifecycle + classification {split['lifecycle_and_classification']:7.2f} s "
             f"(facts, assess, account/transition writes and their audit)",
             f"    tasks                      {split['tasks']:7.2f} s (everything under tasking.*)",
             f"    rest                       {rest:7.2f} s (locks, building rows, commits)"]
    for label, v in split["phases"].items():
        lines.append(f"      {label:<48} {v['seconds']:7.3f} s  {v['calls']:>6} calls")
    return lines


# -- profile ---------------------------------------------------------------------------------

def profiled_sweep(db: Engine, at: datetime, top: int,
                   dump: Path | None) -> tuple[SweepSummary, str]:
    prof = cProfile.Profile()
    prof.enable()
    summary = run_sweep(db, FixedClock(at))
    prof.disable()
    if dump is not None:
        prof.dump_stats(dump)
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return summary, out.getvalue()


# -- main ---------------------------------------------------------------------------------------

def prepare(target: Target, args: argparse.Namespace, at: datetime,
            log: Callable[[str], None]) -> dict[str, Any]:
    """Migrate, activate the bundled playbooks and fill the database with the portfolio."""
    db = db_for(target.url)
    t0 = perf_counter()
    migrate(db)
    with db.begin() as conn:
        activate(conn, None, at)
    migrate_s = perf_counter() - t0
    gen = populate(db, args.accounts, args.months, args.seed, at, log)
    gen["migrate_seconds"] = migrate_s
    return gen


def timed_sweep(db: Engine, at: datetime, full: bool = False) -> dict[str, Any]:
    """One sweep with its wall and CPU seconds (the machine is shared: CPU is the steadier)."""
    cpu = process_time()
    s = run_sweep(db, FixedClock(at), full=full)
    return {"accounts_read": s.accounts, "full": s.full, "seconds": round(s.seconds, 3),
            "cpu_seconds": round(process_time() - cpu, 3),
            "transitions": sum(s.transitions.values()), "tasks_created": s.tasks.created}


def daily_sweeps(db: Engine, at: datetime, accounts: int, log: Callable[[str], None]
                 ) -> dict[str, Any]:
    """The days after the first sweep: the day after it, with nothing new (the accounts that
    moved wake to see whether they move on); a settled day with nothing new; then a contact
    for 1 % of the accounts; then the same day read in full, for comparison."""
    out: dict[str, Any] = {}
    day1 = at + timedelta(days=1)
    out["nothing_new"] = timed_sweep(db, day1)
    out["nothing_new_settled"] = timed_sweep(db, day1 + timedelta(days=1))
    day2 = at + timedelta(days=3)
    with db.begin() as conn:
        ids = conn.execute(select(ACC.c.id, ACC.c.owner_email).order_by(ACC.c.id)).all()
        picked = ids[:: 100]  # 1 % of the accounts, spread over the id range
        conn.execute(CON.insert(), [{"account_id": a, "date": day2.date(), "channel": "call",
                                     "person_email": owner, "note": "", "nature": ""}
                                    for a, owner in picked])
        mark(conn, [a for a, _ in picked])
    out["one_percent_changed"] = timed_sweep(db, day2)
    out["one_percent_changed"]["changed"] = len(picked)
    out["full_same_day"] = timed_sweep(db, day2 + timedelta(hours=1), full=True)
    for name, f in out.items():
        log(f"{name:<22} {f['accounts_read']:>9,} accounts read, {f['seconds']:.2f} s wall, "
            f"{f['cpu_seconds']:.2f} s CPU, {f['transitions']:,} transitions, "
            f"{f['tasks_created']:,} tasks created")
    return out


def sweep_figures(s: SweepSummary) -> dict[str, Any]:
    d = s.as_dict()
    d["seconds"] = round(s.seconds, 3)
    d["accounts_per_second"] = round(s.accounts / s.seconds, 1) if s.seconds else None
    return d


def run(args: argparse.Namespace) -> dict[str, Any]:
    def log(msg: str) -> None:
        print(msg, flush=True)

    at = datetime.fromisoformat(args.at)
    result: dict[str, Any] = {
        "date": datetime.now().date().isoformat(), "db": args.db, "accounts": args.accounts,
        "months": args.months, "seed": args.seed, "at": at.isoformat(),
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "kamflow_source": str(Path(kamflow.__file__).resolve().parent.parent),
    }
    with tempfile.TemporaryDirectory(prefix="kamflow-bench-") as tmp, \
            database(args.db, Path(tmp)) as target:
        db = db_for(target.url)
        result["server"] = server_version(db)
        log(f"kamflow sweep bench: {args.accounts:,} accounts, {args.months} months, seed "
            f"{args.seed}, {result['server']}, at {at.isoformat()}")
        log("generating ...")
        gen = prepare(target, args, at, log)
        rows = table_counts(db)
        result["rows"] = rows
        result["generation"] = {k: round(v, 3) for k, v in gen.items() if k.endswith("seconds")}
        log("rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
        log(f"generation: {gen['seconds']:.1f} s (python {gen['generate_seconds']:.1f} s, inserts "
            f"{gen['insert_seconds']:.1f} s, analyze {gen['analyze_seconds']:.1f} s)")

        rss_before = status_mib("VmRSS")
        peak_before = peak_rss_mib()
        hwm_reset = reset_peak()
        log(f"RSS before sweep: {rss_before or 0:.0f} MiB (peak so far {peak_before:.0f} MiB)")

        timer = PhaseTimer()
        if args.split:
            timer.install()
        chunk_rss: list[float] = []
        chunk_cpu: list[float] = []  # CPU seconds of each chunk: growth means work per chunk
        # that grows with the store (a scan), not with the chunk

        def after_chunk(_n: int) -> None:
            chunk_rss.append(status_mib("VmRSS") or 0.0)
            chunk_cpu.append(process_time() - cpu - sum(chunk_cpu))

        cpu = process_time()
        first = run_sweep(db, FixedClock(at), progress=after_chunk)
        first_cpu = process_time() - cpu
        sweep_hwm = status_mib("VmHWM") if hwm_reset else None
        split1 = timer.reset()
        rss_after = status_mib("VmRSS")
        f1 = sweep_figures(first)
        f1["cpu_seconds"] = round(first_cpu, 3)
        log(f"sweep 1: {first.accounts:,} accounts, {f1['transitions_total']:,} transitions, "
            f"{f1['reclassified']:,} reclassified, {first.seconds:.2f} s ({first_cpu:.2f} s CPU), "
            f"{f1['accounts_per_second']:,.0f} accounts/s")
        for name, n in f1["transitions"].items():
            log(f"    {name:<34} {n:>8,}")
        log(f"  tasks: {f1['tasks_created']:,} created, {f1['tasks_escalated']:,} escalated")
        if args.split:
            log("  where the time went:")
            for line in split_lines(split1, first.seconds):
                log(line)
        if chunk_rss:
            log(f"  RSS after each of {len(chunk_rss)} chunks: "
                + ", ".join(f"{v:.0f}" for v in chunk_rss) + " MiB")
            log("  CPU of each chunk: " + ", ".join(f"{v:.1f}" for v in chunk_cpu) + " s")
        second = run_sweep(db, FixedClock(at))
        split2 = timer.reset()
        timer.uninstall()
        f2 = sweep_figures(second)
        log(f"sweep 2 (same moment): {f2['transitions_total']:,} transitions, "
            f"{f2['reclassified']:,} reclassified, {second.seconds:.2f} s, "
            f"{f2['accounts_per_second']:,.0f} accounts/s")
        if args.split:
            for line in split_lines(split2, second.seconds):
                log(line)
        if f2["transitions_total"]:
            log("  WARNING: the rerun at the same moment moved accounts: not idempotent")
        result["daily"] = daily_sweeps(db, at, args.accounts, log)
        if args.split:
            f1["split"], f2["split"] = split1, split2
        result["sweep"] = f1
        result["sweep_again"] = f2
        result["memory_mib"] = {
            "rss_before_sweep": None if rss_before is None else round(rss_before, 1),
            "peak_before_sweep": round(peak_before, 1),
            "sweep_peak": None if sweep_hwm is None else round(sweep_hwm, 1),
            "sweep_growth": None if sweep_hwm is None or rss_before is None
            else round(sweep_hwm - rss_before, 1),
            "rss_after_sweep": None if rss_after is None else round(rss_after, 1),
            "rss_after_each_chunk": [round(v, 1) for v in chunk_rss],
        }
        result["chunk_cpu_seconds"] = [round(v, 3) for v in chunk_cpu]

        writes = f1["tasks_created"] + f1["transitions_total"]  # the rows sweep 1 wrote
        log(f"raw bulk write of {writes:,} rows (sweep 1's tasks and transitions) ...")
        raw = raw_rows(writes, at)
        raw_cpu = process_time()
        if args.db == "sqlite":
            raw_s = raw_write_sqlite(Path(tmp) / "raw.db", raw)
            how = "sqlite3 executemany, one transaction, WAL"
        else:
            raw_s = raw_write_postgres(target.url, raw)
            how = "psycopg 3 COPY (text), one transaction"
        raw_cpu = process_time() - raw_cpu  # the client's share (all of it on SQLite)
        del raw
        result["raw_bulk_write"] = {"rows": writes, "seconds": round(raw_s, 3),
                                    "cpu_seconds": round(raw_cpu, 3),
                                    "method": how}
        result["ratio_sweep_to_raw"] = round(first.seconds / raw_s, 1) if raw_s else None
        result["ratio_sweep_to_raw_cpu"] = round(first_cpu / raw_cpu, 1) if raw_cpu else None
        if args.keep and args.db == "sqlite":  # for bench/web_bench.py --url
            dispose(target.url)
            shutil.copyfile(Path(tmp) / "kamflow.db", args.keep)
            log(f"database kept as {args.keep}")
        # clear_refs also resets ru_maxrss: the process peak is the larger of the two marks
        result["memory_mib"]["peak_process"] = round(max(peak_before, peak_rss_mib()), 1)

        if args.profile:
            # A fresh database with the same data: the timed sweeps changed this one, and
            # the sweep may write to more tables than a restore would know to put back.
            log("profiled sweep: regenerating the same data in a fresh database ...")
            with database(args.db, Path(tmp), "profile") as again:
                prepare(again, args, at, lambda _m: None)
                summary, report = profiled_sweep(db_for(again.url), at, args.top,
                                                 args.profile_out)
            pf = sweep_figures(summary)
            result["profiled_sweep"] = {"seconds": pf["seconds"],
                                        "transitions_total": pf["transitions_total"]}
            log(f"profiled sweep: {pf['transitions_total']:,} transitions, {summary.seconds:.2f} s "
                "(cProfile overhead included)")
            print(report)
        db.dispose()
    return result


def split_summary(name: str, s: dict[str, Any]) -> list[str]:
    if "split" not in s:
        return []
    life, tasks = s["split"]["lifecycle_and_classification"], s["split"]["tasks"]
    return [f"  split ({name})     lifecycle+classification {life:.2f} s, tasks {tasks:.2f} s, "
            f"rest {s['seconds'] - life - tasks:.2f} s"]


def summary_block(r: dict[str, Any]) -> str:
    s, s2, m, raw = r["sweep"], r["sweep_again"], r["memory_mib"], r["raw_bulk_write"]
    growth = "n/a" if m["sweep_growth"] is None else f"{m['sweep_growth']:+.0f} MiB"
    lines = [
        "=" * 72,
        f"SUMMARY  {r['db']} ({r['server']}), {r['accounts']:,} accounts x {r['months']} months, "
        f"seed {r['seed']}",
        f"  rows                {', '.join(f'{k} {v:,}' for k, v in r['rows'].items())}",
        f"  generation          {r['generation']['seconds']:.1f} s",
        f"  sweep               {s['seconds']:.2f} s  {s['accounts_per_second']:,.0f} accounts/s  "
        f"{s['transitions_total']:,} transitions  {s['reclassified']:,} reclassified",
        f"  sweep again         {s2['seconds']:.2f} s  {s2['accounts_per_second']:,.0f} accounts/s  "
        f"{s2['transitions_total']:,} transitions (must be 0)",
        *(split_summary("sweep 1", s) + split_summary("sweep 2", s2)),
        f"  RSS before sweep    {m['rss_before_sweep'] or 0:.0f} MiB; sweep peak "
        f"{m['sweep_peak'] or 0:.0f} MiB ({growth}); process peak {m['peak_process']:.0f} MiB",
        f"  raw bulk write      {raw['seconds']:.2f} s for {raw['rows']:,} rows ({raw['method']})",
        f"  sweep = {r['ratio_sweep_to_raw']} x raw bulk write of {raw['rows']:,} rows "
        f"(wall; {r.get('ratio_sweep_to_raw_cpu')} x in CPU)",
        "=" * 72,
    ]
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--accounts", type=int, default=10_000)
    p.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--months", type=int, default=36)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--at", default=DEFAULT_AT, help="the sweep's moment (naive UTC, ISO)")
    p.add_argument("--json", type=Path, help="write all figures to this file")
    p.add_argument("--profile", action="store_true",
                   help="after the timed sweeps, run a cProfile'd sweep on a fresh copy of the data")
    p.add_argument("--top", type=int, default=25, help="functions listed by --profile")
    p.add_argument("--profile-out", type=Path, help="also dump the raw cProfile stats here")
    p.add_argument("--keep", type=Path, help="SQLite: copy the swept database here at the end")
    p.add_argument("--no-split", dest="split", action="store_false",
                   help="do not time the sweep's phases (see PHASES)")
    args = p.parse_args(argv)
    if args.accounts < 1 or args.months < 1:
        p.error("--accounts and --months must be positive")
    return args


def save_json(path: Path | None, result: dict[str, Any]) -> None:
    """Every figure as JSON, when --json named a file."""
    if path:
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {path}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    result = run(args)
    print(summary_block(result), flush=True)
    save_json(args.json, result)
    return 1 if result["sweep_again"]["transitions_total"] else 0


if __name__ == "__main__":
    sys.exit(main())
