"""When a playbook step's next occurrences fall, for one account, seen from one sweep date.

Pure date arithmetic: no clock, no I/O. `at` is the sweep's date, `entered` the date the
account entered its current lifecycle state; `due` is always `start + deadline_days`.

Rules:

- Window: an occurrence is returned when `start <= at + horizon_days` and
  `due >= at - backfill_days`, so a sweep that missed a few days still creates what fell
  due meanwhile, but a first run creates no years of backlog. Two exceptions, which only
  ever have one next occurrence that is still owed however late: `no_contact` is returned
  once `start <= at`, and `every` from completion once `start <= at + horizon_days`,
  however long ago that was (its start is then moved up to `at - backfill_days`, so a
  first run does not make it years overdue).
- Nothing before the state was entered: every occurrence has `start >= entered`.
- `once`: start = entered + offset_days; period `once@<entered>`. With `upon: condition`
  (a step whose `when` may start to hold at any time): start = the sweep date, once it is at
  least entered + offset_days; the same period, so one occurrence per state spell.
- `every` from entry: starts entered + k * days for k = 1, 2, ...; period `e<k>@<entered>`.
- `every` from completion: only the next one, start = anchor + days where the anchor is
  the last completion in the current state spell (if on or after entry), else entry;
  period `c@<anchor>`.
- `monthly`: one per calendar month on `day`, moved to `entered` in the month of entry
  if entry is later; period `M<YYYY-MM>`.
- `quarterly`: fiscal quarters of three months from the fiscal-year start month; a fiscal
  year is labelled by the calendar year it starts in (start month 4: FY2026 runs
  2026-04-01..2027-03-31). start = quarter start + offset_days, moved to `entered` if
  entry is later; a quarter whose moved start would fall after its last day is skipped;
  period `FY<YYYY>-Q<n>`.
- `yearly`: the same with fiscal years; period `FY<YYYY>`.
- `event`: one per event (id, date) with date >= entered, start = event date (an id seen
  twice keeps its earliest date); period `ev<id>`.
- `no_contact`: anchor = the later of the last qualifying contact and entry; start =
  anchor + days; period `nc@<anchor>`. A new contact moves the anchor, so the key changes.
- Results are sorted by start (then period), with no duplicate periods. Dates are ISO.

Go-live and imported states (both optional; without them the rules above are all):

- `go_live`: the day the organization started enforcing the process. No occurrence whose
  period began before it is made: a month, quarter or fiscal year that began earlier, a
  `once`/`every`/`event` occurrence that started earlier. The anchors of `every` from
  completion and `no_contact` are conditions that are still owed: their one occurrence
  starts at go-live at the earliest, so its due date can be met.
  A step marked `at_go_live` also gets the occurrence of the period that holds go-live,
  starting at go-live (e.g. "write this year's account plan").
- `imported`: the state was known since `entered` (an import), not entered then: `once`
  ("on entry") steps do not fire, and a period that began before `entered` is not moved
  up to it (it is skipped, as if `entered` were go-live). A completion or contact from
  before the import counts; with none known, `every` from completion and `no_contact`
  are owed since the import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import assert_never

from kamflow.playbooks.schema import (
    Cadence,
    Every,
    Monthly,
    NoContact,
    Once,
    OnEvent,
    Quarterly,
    Yearly,
)

__all__ = ["Occurrence", "StepContext", "fiscal_period", "next_start", "occurrences"]

_DAY = timedelta(days=1)
_Add = Callable[[str, date, str], None]


@dataclass(frozen=True, slots=True)
class Occurrence:
    period: str  # stable key of the occurrence within (account, step); <= 40 chars
    start: date  # when the work is scheduled to begin
    due: date  # start + deadline_days
    why: str  # short human explanation of how start was computed


@dataclass(frozen=True, slots=True)
class StepContext:
    entered: date  # date the account entered its current lifecycle state
    at: date  # the sweep's date
    fiscal_start_month: int  # 1..12
    last_done: date | None = None  # last completion of this step in the current state spell
    last_contact: date | None = None  # last qualifying contact (already filtered by channel)
    events: Sequence[tuple[int, date]] = ()  # (event id, event date) of the step's event kind
    go_live: date | None = None  # no occurrence whose period began before this day
    imported: bool = False  # the state was known since `entered`, not entered then
    at_go_live: bool = False  # the period holding go-live is owed too, from go-live

    @property
    def floor(self) -> date | None:
        """The earliest day a period may begin: go-live, and the import of an imported state."""
        days = [d for d in (self.go_live, self.entered if self.imported else None) if d]
        return max(days) if days else None

    def __post_init__(self) -> None:
        _check_month(self.fiscal_start_month)


def _check_month(fiscal_start_month: int) -> None:
    if not 1 <= fiscal_start_month <= 12:
        raise ValueError(f"fiscal start month must be 1..12, not {fiscal_start_month}")


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def _month_date(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def fiscal_period(d: date, fiscal_start_month: int) -> tuple[int, int]:
    """(fiscal year label, quarter 1-4) of `d`; the label is the calendar year the FY starts in."""
    _check_month(fiscal_start_month)
    shifted = _month_index(d) - (fiscal_start_month - 1)
    return shifted // 12, shifted % 12 // 3 + 1


def occurrences(cadence: Cadence, deadline_days: int, ctx: StepContext,
                horizon_days: int = 14, backfill_days: int = 30) -> list[Occurrence]:
    """The step's occurrences that fall in the generation window (see the module rules)."""
    entered, at, floor = ctx.entered, ctx.at, ctx.floor
    deadline = timedelta(days=deadline_days)
    hi = at + timedelta(days=horizon_days)  # latest start
    lo = max(at - timedelta(days=backfill_days) - deadline, entered)  # earliest start
    if floor is not None:
        lo = max(lo, floor)
    out: list[Occurrence] = []

    def add(period: str, start: date, why: str) -> None:
        out.append(Occurrence(period, start, start + deadline, why))

    match cadence:
        case Once(offset_days=offset, upon="condition"):
            # Asked only while the step's `when` holds: the first sweep that sees it makes the
            # one occurrence of the spell (the key names the entry), imported or not.
            start = max(entered + timedelta(days=offset), floor or entered)
            if start <= at:
                add(f"once@{entered.isoformat()}", at, f"condition first seen on {at} "
                    f"(in the state since {entered})")
        case Once(offset_days=offset):
            start = entered + timedelta(days=offset)
            why = f"{offset} days after entry {entered}"
            if floor is not None and (start < floor or ctx.imported):
                if not ctx.at_go_live:
                    start = hi + _DAY  # "on entry" before go-live, or an imported state: none
                else:
                    start, why = max(start, floor), f"owed at go-live ({floor})" + (
                        ", the state was imported, not entered" if ctx.imported else "")
            if lo <= start <= hi:
                add(f"once@{entered.isoformat()}", start, why)
        case Every(days=n, counted_from="entry"):
            first = max(1, -(-(lo - entered).days // n))  # ceil division
            for k in range(first, (hi - entered).days // n + 1):
                start = entered + timedelta(days=k * n)
                add(f"e{k}@{entered.isoformat()}", start,
                    f"every {n} days from entry {entered} (#{k})")
        case Every(days=n):
            done = ctx.last_done
            if done is not None and (done >= entered or ctx.imported):
                anchor, since, start = done, "last completion", done + timedelta(days=n)
            elif ctx.imported:  # when it was last done is unknown: owed since the import
                anchor, since, start = entered, "import", entered
            else:
                anchor, since, start = entered, "entry", entered + timedelta(days=n)
            owed = start
            if floor is not None and start < floor:
                start = floor  # owed before go-live: due from go-live
            if start <= hi:  # no backfill limit: there is only ever one, and it is still owed
                owed_since = at - timedelta(days=backfill_days)
                late = f" (owed since {owed}, scheduled from {max(start, owed_since)})" \
                    if max(start, owed_since) > owed else ""
                add(f"c@{anchor.isoformat()}", max(start, owed_since),
                    f"{n} days after {since} {anchor}{late}")
        case Monthly(day=day):
            for index in range(_month_index(lo), _month_index(hi) + 1):
                first_day = _month_date(index)
                nominal = first_day.replace(day=day)
                start = max(nominal, entered)
                if floor is not None and first_day < floor:
                    if not (ctx.at_go_live and floor <= _month_date(index + 1) - _DAY):
                        continue  # the month began before go-live
                    start = max(nominal, floor)
                if lo <= start <= hi:
                    label = f"{first_day.year:04d}-{first_day.month:02d}"
                    why = f"monthly on day {day} ({label})" + _moved(start, nominal)
                    add(f"M{label}", start, why)
        case Quarterly(offset_days=offset):
            _fiscal(add, 3, offset, ctx, lo, hi)
        case Yearly(offset_days=offset):
            _fiscal(add, 12, offset, ctx, lo, hi)
        case OnEvent(event=name):
            first_seen: dict[int, date] = {}
            for event_id, when in ctx.events:
                if when >= entered and (event_id not in first_seen or when < first_seen[event_id]):
                    first_seen[event_id] = when
            for event_id, when in sorted(first_seen.items(), key=lambda item: (item[1], item[0])):
                if lo <= when <= hi:
                    add(f"ev{event_id}", when, f"{name} event #{event_id} on {when}")
        case NoContact(days=n):
            contact = ctx.last_contact
            if contact is not None and (contact > entered or ctx.imported):
                anchor, since, start = contact, "last contact", contact + timedelta(days=n)
            elif ctx.imported:  # no contact known at all: owed since the import
                anchor, since, start = entered, "import", entered
            else:
                anchor, since, start = entered, "entry", entered + timedelta(days=n)
            if floor is not None and start < floor:
                start = floor  # owed before go-live: due from go-live
            if start <= at:
                add(f"nc@{anchor.isoformat()}", start,
                    f"no qualifying contact for {n} days since {since} {anchor}")
        case _:
            assert_never(cadence)
    return out


def next_start(cadence: Cadence, deadline_days: int, ctx: StepContext, horizon_days: int = 14,
               backfill_days: int = 30, within_days: int = 45) -> date | None:
    """The first day a sweep would make an occurrence that a sweep on `ctx.at` does not make,
    if it is within `within_days` (later ones wait for the account's monthly wake-up). None
    for events: a new event marks its account when it is recorded."""
    if isinstance(cadence, OnEvent):
        return None
    if isinstance(cadence, Once) and cadence.upon == "condition":  # made once its start has come
        start = max(ctx.entered + timedelta(days=cadence.offset_days), ctx.floor or ctx.entered)
        return start if ctx.at < start <= ctx.at + timedelta(days=within_days) else None
    if isinstance(cadence, NoContact):  # made once its start has come
        ahead = replace(ctx, at=ctx.at + timedelta(days=within_days))
        starts = [o.start for o in occurrences(cadence, deadline_days, ahead, horizon_days,
                                               backfill_days) if o.start > ctx.at]
        return min(starts, default=None)
    window_end = ctx.at + timedelta(days=horizon_days)  # made once its start is this near
    starts = [o.start for o in occurrences(cadence, deadline_days, ctx,
                                           horizon_days + within_days, backfill_days)
              if o.start > window_end]
    return min(starts) - timedelta(days=horizon_days) if starts else None


def _moved(start: date, nominal: date) -> str:
    return f", moved to entry {start}" if start != nominal else ""


def _fiscal(add: _Add, months: int, offset: int, ctx: StepContext, lo: date, hi: date) -> None:
    """Quarters (months=3) or fiscal years (months=12) whose start can fall in [lo, hi]."""
    entered, floor = ctx.entered, ctx.floor
    shift = ctx.fiscal_start_month - 1
    delta = timedelta(days=offset)
    # A period's start lies within the period, so only periods overlapping [lo, hi] can count.
    for p in range((_month_index(lo) - shift) // months, (_month_index(hi) - shift) // months + 1):
        first_month = p * months + shift
        begin = _month_date(first_month)
        last = _month_date(first_month + months) - _DAY
        nominal = begin + delta
        start = max(nominal, entered)
        if floor is not None and begin < floor:
            if not (ctx.at_go_live and floor <= last):
                continue  # the period began before go-live (or before an imported state)
            start = max(nominal, floor)
        if start > last or not lo <= start <= hi:
            continue
        if months == 3:  # p counts quarters, p // 4 is the fiscal year label
            period, what = f"FY{p // 4}-Q{p % 4 + 1}", "fiscal quarter"
        else:
            period, what = f"FY{p}", "fiscal year"
        add(period, start, f"{what} {period} (starts {begin}) + {offset} days" + _moved(start, nominal))
