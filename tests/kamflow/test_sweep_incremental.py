"""The daily sweep reads what changed and what came due, and ends where a full sweep ends.

Two copies of one portfolio live through the same random history (contacts, revenue,
feedback, events, finished tasks, some dated ahead); one is swept the daily way, the other
with every account read. After every sweep both stores must hold the same transitions,
tasks and classifications. And an account with nothing new and nothing due is not read:
counted in the statements the sweep sends, not timed.
"""

from __future__ import annotations

import contextlib
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select, update

from kamflow import accounts, importer, plans, queue
from kamflow.engine.clock import FixedClock
from kamflow.errors import Refused
from kamflow.playbooks.loader import bundled_dir
from kamflow.store import changes, facts
from kamflow.store.tables import ACCOUNT, REVENUE, TASK, TRANSITION
from kamflow.store.versions import active_book, active_version
from kamflow.sweep import finish, prepare, run_chunk, run_sweep
from kamflow.tasks.status import TaskRefused
from support import DB, PORTFOLIO, examples, write_portfolio
from support.stores import Seed, Stores

START = datetime(2026, 6, 15, 6)
ACCOUNTS = sorted(PORTFOLIO)


def _load(db: DB, folder: Path) -> None:
    """The seven accounts of tests/support, whose revenue then goes on at its recent level for
    a year (so that what moves them in the histories below is mostly contacts and time)."""
    folder.mkdir(exist_ok=True)
    files = write_portfolio(folder)
    later = [f"{aid},{2026 + (5 + k) // 12}-{(5 + k) % 12 + 1:02d},{recent}"
             for aid, (_, _, _, recent, silent, _, _) in PORTFOLIO.items()
             if recent and not silent for k in range(13)]
    with files["revenue"].open("a") as f:
        f.write("\n".join(later) + "\n")
    for kind, path in files.items():
        r = db.cli("import", kind, str(path), "--at", "2026-01-01")
        assert r.code == 0, r.stderr


SEVEN = Seed("incremental-7-ongoing", _load)


def _load_quick(db: DB, folder: Path) -> None:
    """The same, under playbooks whose day thresholds are days, not months: a random history
    of a few weeks then crosses them mid-month, where only a correct wake-up notices."""
    _load(db, folder)
    book = folder / "playbooks"
    shutil.copytree(bundled_dir(), book)
    life = book / "lifecycle.yaml"
    text = life.read_text()
    for slow, quick in (("days_since_contact > 120", "days_since_contact > 12"),
                        ("days_since_contact <= 60", "days_since_contact <= 10"),
                        ("days_since_revenue <= 45", "days_since_revenue <= 40")):
        assert slow in text, slow
        text = text.replace(slow, quick)
    life.write_text(text)
    r = db.cli("playbook", "load", str(book))
    assert r.code == 0, r.stderr


QUICK = Seed("incremental-7-quick-10", _load_quick)


def snapshot(db: DB) -> dict[str, list[tuple[Any, ...]]]:
    """What a sweep decides, without row ids."""
    with db.engine.connect() as conn:
        moves = conn.execute(select(
            TRANSITION.c.account_id, TRANSITION.c.from_state, TRANSITION.c.to_state,
            TRANSITION.c.rule, TRANSITION.c.at, TRANSITION.c.metrics)).all()
        tasks = conn.execute(select(
            TASK.c.account_id, TASK.c.step, TASK.c.period, TASK.c.status, TASK.c.start,
            TASK.c.due, TASK.c.assignee, TASK.c.escalation_level, TASK.c.reason)).all()
        accounts = conn.execute(select(
            ACCOUNT.c.id, ACCOUNT.c.state, ACCOUNT.c.state_since, ACCOUNT.c.klass,
            ACCOUNT.c.key_account, ACCOUNT.c.segment, ACCOUNT.c.portrait_fit,
            ACCOUNT.c.baseline_revenue)).all()
    return {"transitions": sorted(map(_plain, moves)), "tasks": sorted(map(_plain, tasks)),
            "accounts": sorted(map(_plain, accounts))}


def _plain(row: Any) -> tuple[Any, ...]:
    return tuple(repr(v) if isinstance(v, dict) else v for v in row)


# -- a random history -------------------------------------------------------------------

Action = tuple[str, str, int, int]  # (kind, account, days relative to the sweep, value)

# Contacts most often, since they move accounts back and forth under QUICK's thresholds.
actions = st.tuples(
    st.sampled_from(["contact"] * 4 + ["revenue", "feedback", "complaint", "done",
                                       "future_contact"]),
    st.sampled_from(ACCOUNTS), st.integers(0, 8), st.integers(0, 10))
# Mostly a day or two between sweeps, so that a day threshold crossed mid-month is often
# swept on its day or soon after (QUICK's thresholds are a few days).
gaps = st.sampled_from([1, 1, 1, 2, 3, 7, 16, 31])
histories = st.tuples(st.integers(0, 130),
                      st.lists(st.tuples(gaps, st.lists(actions, max_size=2)),
                               min_size=3, max_size=10))


def apply(db: DB, folder: Path, action: Action, at: datetime) -> None:
    """One change, through the use case a person or an import would use."""
    kind, account, days, value = action
    clock = FixedClock(at)
    day = (at - timedelta(days=days)).date()
    if kind == "contact":  # half of them meet the plant manager (a touchpoint of STEADY's)
        queue.log_contact(db.engine, account, "visit", "ann@x.test", "", day, clock,
                          customer_role="plant manager" if value % 2 else "")
    elif kind == "future_contact":  # recorded ahead of its date: read once its day has come
        _csv(db, folder, "contacts", "account_id,date,channel,person_email",
             f"{account},{(at + timedelta(days=days + 1)).date()},call,ann@x.test", clock)
    elif kind == "revenue":
        month = date(day.year, day.month, 1)
        _csv(db, folder, "revenue", "account_id,month,amount",
             f"{account},{month:%Y-%m},{value * 9_000}", clock)
    elif kind == "feedback":
        _csv(db, folder, "feedback", "account_id,date,score", f"{account},{day},{value}", clock)
    elif kind == "complaint":
        queue.post_event(db.engine, account, "complaint", f"c{days}", None, clock)
    elif kind == "done":
        with db.engine.connect() as conn:
            task = conn.execute(select(TASK.c.id).where(
                TASK.c.account_id == account, TASK.c.status == "open")
                .order_by(TASK.c.step, TASK.c.period).limit(1)).scalar()
        if task is not None:
            # A step that wants more (a plan) is refused alike in both stores.
            with contextlib.suppress(Refused, TaskRefused):
                queue.act(db.engine, task, "done", clock, None, outcome="done", note="done",
                          fields={"asked": "buyer"})


def _csv(db: DB, folder: Path, kind: str, header: str, line: str, clock: FixedClock) -> None:
    path = folder / f"{kind}-{db.engine.url.database}.csv".replace("/", "_")
    path.write_text(f"{header}\n{line}\n")
    importer.import_csv(db.engine, kind, path, clock)


@pytest.fixture
def seven_pair(db: DB, twin: DB, stores: Stores) -> tuple[DB, DB, Stores]:
    return db, twin, stores


@settings(max_examples=examples(40), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=histories)
def test_daily_sweeps_end_where_full_sweeps_end(seven_pair: tuple[DB, DB, Stores],
                                                 tmp_path: Path,
                                                 history: tuple[int, list[tuple[int, list[Action]]]]
                                                 ) -> None:
    daily, full, stores = seven_pair
    stores.restore(daily, QUICK)
    stores.restore(full, QUICK)
    offset, sweeps = history
    at = START + timedelta(days=offset)
    for db in (daily, full):  # touchpoint plans too (TOUCHPOINTS, below)
        _plan_touchpoints(db, at)
    read_daily = read_full = 0
    for gap, actions in sweeps:
        for action in actions:
            apply(daily, tmp_path, action, at)
            apply(full, tmp_path, action, at)
        a = run_sweep(daily.engine, FixedClock(at))
        b = run_sweep(full.engine, FixedClock(at), full=True)
        assert b.full and b.accounts == len(ACCOUNTS)
        read_daily, read_full = read_daily + a.accounts, read_full + b.accounts
        assert snapshot(daily) == snapshot(full), f"after the sweep at {at}"
        at += timedelta(days=gap)
    assert read_daily <= read_full


# -- what the daily sweep reads -----------------------------------------------------------


class Statements:
    """The SQL a database is sent, with the ids inlined as literals."""

    def __init__(self, db: DB) -> None:
        self.sent: list[str] = []
        self.engine = db.engine

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        self.sent.append(statement)

    def naming(self, account: str) -> int:
        return sum(f"'{account}'" in s for s in self.sent)


def test_an_account_with_nothing_new_and_nothing_due_is_not_read(db: DB, stores: Stores,
                                                                 tmp_path: Path) -> None:
    stores.restore(db, SEVEN)
    first = run_sweep(db.engine, FixedClock(START))
    assert first.full and first.accounts == len(ACCOUNTS)
    # The moved accounts wake at once; sweep again so that every account has settled.
    run_sweep(db.engine, FixedClock(START + timedelta(hours=1)))
    with db.engine.connect() as conn:
        wake = dict(conn.execute(select(ACCOUNT.c.id, ACCOUNT.c.wake_at)).tuples().all())
        changed = conn.execute(select(ACCOUNT.c.id).where(ACCOUNT.c.changed.is_(True))).all()
    assert changed == []
    later = START + timedelta(hours=2)
    asleep = sorted(a for a, w in wake.items() if w is not None and w > later)
    assert "STEADY" in asleep, wake  # a loyal account in contact, no task coming due today
    queue.log_contact(db.engine, "DRIFT", "call", "ann@x.test", "", later.date(),
                      FixedClock(later))
    with Statements(db) as seen:
        summary = run_sweep(db.engine, FixedClock(later))
    assert not summary.full
    read = {a for a in ACCOUNTS if seen.naming(a)}
    assert "DRIFT" in read  # the contact marked it
    assert not read & set(asleep) - {"DRIFT"}, read  # the others were not even named
    assert summary.accounts == len(read)
    # A full sweep at the same moment reads all seven and changes nothing more.
    before = snapshot(db)
    again = run_sweep(db.engine, FixedClock(later), full=True)
    assert again.accounts == len(ACCOUNTS) and snapshot(db) == before


def test_the_portfolio_figures_read_the_sums_settled_accounts_keep(db: DB, stores: Stores
                                                                  ) -> None:
    """A settled account's trailing-12-month revenue comes from its row, only a marked
    account's from its revenue rows: revenue changed behind kamflow's back (no mark) leaves
    the figures as they were; the mark brings it in; a new month's window reads all again."""
    stores.restore(db, SEVEN)
    run_sweep(db.engine, FixedClock(START))
    with db.engine.connect() as conn:
        rule = active_book(conn).classification.key_account
        before = facts.stats(conn, START, rule)
        kept = conn.execute(select(ACCOUNT.c.revenue_t12).where(ACCOUNT.c.id == "STEADY")
                            ).scalar_one()
    assert kept > 0
    with db.engine.begin() as conn:
        conn.execute(update(REVENUE).where(REVENUE.c.account_id == "STEADY")
                     .values(amount=REVENUE.c.amount * 2))
    with db.engine.connect() as conn:
        assert facts.stats(conn, START, rule) == before
        next_month = facts.stats(conn, datetime(2026, 7, 1, 6), rule)
    assert next_month.total_revenue > before.total_revenue  # STEADY's rows read again
    with db.engine.begin() as conn:
        changes.mark(conn, ["STEADY"])
    with db.engine.connect() as conn:
        marked = facts.stats(conn, START, rule)
    assert marked.total_revenue == pytest.approx(before.total_revenue + kept)


def _settled(db: DB) -> datetime:
    """Swept twice: the first sweep knew no account's last pair, the second read them all."""
    first = run_sweep(db.engine, FixedClock(START))
    assert first.pairs_moved == len(ACCOUNTS)  # nothing read before: not kept next
    second = run_sweep(db.engine, FixedClock(START + timedelta(hours=1)))
    assert not second.figures_kept and second.pairs_moved == 0
    return START + timedelta(hours=2)


def _fresh(db: DB, at: datetime) -> tuple[Any, Any]:
    """(the figures the last sweep kept, those worked out from every account now)."""
    with db.engine.connect() as conn:
        rule = active_book(conn).classification.key_account
        return (changes.kept_figures(conn, at, active_version(conn) or ""),
                facts.stats(conn, at, rule))


def test_a_daily_sweep_keeps_the_figures_while_no_pair_they_count_moved(db: DB,
                                                                       stores: Stores) -> None:
    """Working the portfolio figures out reads a row per account (a million at a million
    accounts); a daily sweep after contacts alone keeps the last ones, read in the marked
    accounts only. A changed potential (or revenue) of a marked account works them out."""
    stores.restore(db, SEVEN)
    later = _settled(db)
    queue.log_contact(db.engine, "DRIFT", "call", "ann@x.test", "", later.date(),
                      FixedClock(later))
    whole = str(facts.t12_statement(later).compile(dialect=db.engine.dialect))
    with Statements(db) as seen:
        kept = run_sweep(db.engine, FixedClock(later))
    assert kept.figures_kept and kept.accounts >= 1 and whole not in seen.sent
    before, fresh = _fresh(db, later)
    assert before == fresh
    with db.engine.begin() as conn:  # an import that raises DRIFT's potential marks it
        conn.execute(update(ACCOUNT).where(ACCOUNT.c.id == "DRIFT")
                     .values(potential=ACCOUNT.c.potential * 3 + 1_000_000))
        changes.mark(conn, ["DRIFT"])
    later += timedelta(hours=1)
    with Statements(db) as seen:
        worked = run_sweep(db.engine, FixedClock(later))
    assert not worked.figures_kept and whole in seen.sent and worked.pairs_moved == 1
    got, fresh = _fresh(db, later)
    assert got == fresh != before  # the top 10 % by potential starts higher


def test_new_data_under_a_sweep_makes_the_next_one_work_the_figures_out(db: DB,
                                                                       stores: Stores) -> None:
    """Revenue that lands between the moment a sweep settles on its figures and the moment
    it reads the account leaves those figures behind the data: the sweep cannot mark them
    kept, or the next one would classify with them."""
    stores.restore(db, SEVEN)
    at = _settled(db)
    with db.engine.begin() as conn:  # read by the next sweep, its pair as before
        changes.mark(conn, ["STEADY"])
    plan, summary = prepare(db.engine, FixedClock(at))
    assert summary.figures_kept
    with db.engine.begin() as conn:
        conn.execute(update(REVENUE).where(REVENUE.c.account_id == "STEADY")
                     .values(amount=REVENUE.c.amount * 2))
        changes.mark(conn, ["STEADY"])
    for lo, hi, ids in plan.bounds:
        run_chunk(db.engine, plan, lo, hi, summary, ids)
    finish(db.engine, plan, summary)
    assert summary.pairs_moved == 1
    at += timedelta(hours=1)
    after = run_sweep(db.engine, FixedClock(at))
    assert not after.figures_kept
    got, fresh = _fresh(db, at)
    assert got == fresh != plan.stats  # STEADY's doubled revenue counted


def test_revenue_sums_are_to_the_cent_whatever_order_the_rows_are_added_in(db: DB,
                                                                           stores: Stores
                                                                           ) -> None:
    """0.1 + 0.2 + 0.3 and 0.3 + 0.2 + 0.1 differ in the last bit: two copies of one store
    whose plans read the rows in other orders must still judge an account alike."""
    stores.restore(db, SEVEN)
    first, second = ACCOUNTS[:2]
    months = [date(2026, m, 1) for m in (2, 3, 4)]
    with db.engine.begin() as conn:
        conn.execute(REVENUE.delete().where(REVENUE.c.account_id.in_((first, second))))
        conn.execute(REVENUE.insert(), [
            {"account_id": aid, "month": month, "product_line": "", "amount": amount}
            for aid, amounts in ((first, (0.1, 0.2, 0.3)), (second, (0.3, 0.2, 0.1)))
            for month, amount in zip(months, amounts, strict=True)])
    with db.engine.connect() as conn:
        got = {f.account_id: (f.revenue_t12, f.revenue_fy)
               for f, _ in facts.load(conn, START, first, second, 1, ids=[first, second])}
    assert got == {first: (0.6, 0.6), second: (0.6, 0.6)}


def test_the_account_page_shows_an_account_with_the_last_sweeps_figures(db: DB, stores: Stores
                                                                       ) -> None:
    """Between sweeps an account's own figures are live, the portfolio's are those the last
    sweep classified with (no read of every account's revenue per view); in a month the last
    sweep did not sum, or under another playbook version, they are worked out again."""
    stores.restore(db, SEVEN)
    run_sweep(db.engine, FixedClock(START))
    later = START + timedelta(hours=3)
    with db.engine.begin() as conn:
        conn.execute(update(REVENUE).where(REVENUE.c.account_id == "STEADY")
                     .values(amount=REVENUE.c.amount * 2))
        changes.mark(conn, ["STEADY"])
    with db.engine.connect() as conn:
        rule = active_book(conn).classification.key_account
        swept = changes.kept_figures(conn, later, active_version(conn) or "")
        live = facts.stats(conn, later, rule)
        assert swept is not None and changes.kept_figures(conn, later, "another") is None
        assert changes.kept_figures(conn, datetime(2026, 7, 1), active_version(conn) or "") is None
        shown = accounts.show(conn, "STEADY", later)
        next_month = accounts.show(conn, "STEADY", datetime(2026, 7, 1, 6))
    assert live.total_revenue > swept.total_revenue  # the doubled revenue, read live
    own = shown["metrics"]["revenue_t12"]
    assert shown["metrics"]["revenue_share"] == pytest.approx(own / swept.total_revenue,
                                                              abs=1e-4)  # shown to 4 places
    with db.engine.connect() as conn:
        july = facts.stats(conn, datetime(2026, 7, 1, 6), rule)
    assert next_month["metrics"]["revenue_share"] == pytest.approx(
        next_month["metrics"]["revenue_t12"] / july.total_revenue, abs=1e-4)


def test_a_day_threshold_crossed_mid_month_wakes_the_account_on_its_day(
        db: DB, stores: Stores, tmp_path: Path) -> None:
    """STEADY's last contact was on 1 June: `days_since_contact > 120` holds from 30 September
    (a day before the month's wake-up), and the daily sweep that day must move it."""
    stores.restore(db, SEVEN)
    run_sweep(db.engine, FixedClock(START))
    run_sweep(db.engine, FixedClock(datetime(2026, 9, 29, 6)))
    with db.engine.connect() as conn:
        wake = conn.execute(select(ACCOUNT.c.wake_at).where(ACCOUNT.c.id == "STEADY")).scalar()
    assert wake == datetime(2026, 9, 30)
    with Statements(db) as seen:
        summary = run_sweep(db.engine, FixedClock(datetime(2026, 9, 30, 6)))
    assert summary.transitions["loyal->declining"] == 1 and seen.naming("STEADY")
    assert not summary.full and summary.accounts < len(ACCOUNTS)


def test_a_new_playbook_version_marks_every_account(db: DB, stores: Stores,
                                                    tmp_path: Path) -> None:
    stores.restore(db, SEVEN)
    run_sweep(db.engine, FixedClock(START))
    settled = run_sweep(db.engine, FixedClock(START + timedelta(hours=1)))
    assert settled.accounts < len(ACCOUNTS)
    folder = tmp_path / "playbooks"
    shutil.copytree(bundled_dir(), folder)
    loyal = folder / "loyal.yaml"
    loyal.write_text(loyal.read_text().replace("days: 60,", "days: 45,"))  # another rule
    r = db.cli("playbook", "load", str(folder))
    assert r.code == 0, r.stderr
    summary = run_sweep(db.engine, FixedClock(START + timedelta(hours=2)))
    assert summary.accounts == len(ACCOUNTS)


# -- touchpoint plans -----------------------------------------------------------------------


TOUCHPOINTS = {  # plans first saved on 15 June: due 25 June, 2 July and 8 July
    "STEADY": "{ours: owner, theirs: plant manager, every_days: 10}",
    "DRIFT": "{ours: sponsor, theirs: cfo, every_days: 17}",
    "GONE": "{ours: sales, theirs: buyer, every_days: 23}",
}


def _plan_touchpoints(db: DB, at: datetime) -> None:
    for account, touchpoint in TOUCHPOINTS.items():
        plans.save(db.engine, account, f"touchpoints:\n  - {touchpoint}\n", "plan.yaml", None,
                   FixedClock(at))


def test_a_touchpoint_task_appears_on_its_due_day_in_a_daily_sweep(
        seven_pair: tuple[DB, DB, Stores], tmp_path: Path) -> None:
    """Nothing but its touchpoint wakes STEADY on 25 June: the daily sweep must make the task
    that day, as the full sweep does; the owner's visit of 28 June completes it and anchors
    the next one (8 July)."""
    daily, full, stores = seven_pair
    for db in (daily, full):
        stores.restore(db, SEVEN)
        run_sweep(db.engine, FixedClock(START), full=db is full)
        _plan_touchpoints(db, START + timedelta(hours=1))
    first_seen: dict[tuple[str, str], date] = {}
    for day in range(1, 30):
        at = START + timedelta(days=day)
        if at.date() == date(2026, 6, 29):
            for db in (daily, full):
                queue.log_contact(db.engine, "STEADY", "visit", "ann@x.test", "",
                                  date(2026, 6, 28), FixedClock(at),
                                  customer_role="Plant Manager")
        run_sweep(daily.engine, FixedClock(at))
        run_sweep(full.engine, FixedClock(at), full=True)
        assert snapshot(daily) == snapshot(full), f"after the sweep at {at}"
        with daily.engine.connect() as conn:
            for account, period, start, status in conn.execute(select(
                    TASK.c.account_id, TASK.c.period, TASK.c.start, TASK.c.status)
                    .where(TASK.c.step.like("%.touchpoint"), TASK.c.status != "cancelled")):
                first_seen.setdefault((account, period), at.date())
                assert start == first_seen[(account, period)], (account, period, status)
    assert sorted(first_seen.items()) == [
        (("DRIFT", "tp:sponsor:cfo@2026-06-15"), date(2026, 7, 2)),
        (("GONE", "tp:sales:buyer@2026-06-15"), date(2026, 7, 8)),
        (("STEADY", "tp:owner:plant-manager@2026-06-15"), date(2026, 6, 25)),
        (("STEADY", "tp:owner:plant-manager@2026-06-28"), date(2026, 7, 8))]
