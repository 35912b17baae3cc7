"""Test helpers importable from any test module (tests/ is on pythonpath): `support` here,
`support.web` (the web tests' world), `support.mail` (SMTP and webhook servers) and
`support.stores` (the per-session database templates)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from hypothesis import settings
from sqlalchemy import Engine
from typer.testing import CliRunner

from kamflow.cli import app
from kamflow.engine.metrics import AccountFacts, add_months


@dataclass
class DB:
    url: str
    engine: Engine
    tampered: bool = False  # task rows edited behind kamflow's back (support.stores.tally_holds)

    def cli(self, *args: str) -> CliResult:
        result = CliRunner().invoke(app, list(args), env={"KAMFLOW_DATABASE_URL": self.url,
                                                         "COLUMNS": "200"})
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            import traceback

            stderr += "".join(traceback.format_exception(result.exception))
        return CliResult(result.exit_code, result.stdout, stderr)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


# account -> (initial state, potential, monthly revenue for 24 months before 2026-06,
#             recent monthly revenue for the last 12, months with no revenue at the end,
#             last contact, latest feedback)
PORTFOLIO: dict[str, tuple[str, int, int, int, int, str, int | None]] = {
    "STEADY": ("loyal", 900_000, 40_000, 40_000, 0, "2026-06-01", 9),
    "DRIFT": ("loyal", 900_000, 40_000, 28_000, 0, "2026-06-01", 8),
    "GONE": ("loyal", 600_000, 30_000, 30_000, 15, "2026-06-01", 8),
    "NEWBIG": ("prospect", 1_500_000, 0, 0, 0, "2026-06-01", None),
    "NEWSMALL": ("prospect", 40_000, 0, 0, 0, "2026-05-01", None),
    "UNHAPPY": ("high_potential", 2_000_000, 10_000, 11_000, 0, "2026-06-10", 4),
    "COLLAPSE": ("declining", 900_000, 40_000, 15_000, 0, "2026-06-01", 7),
}


def write_portfolio(folder: Path) -> dict[str, Path]:
    files = {k: folder / f"{k}.csv" for k in ("people", "accounts", "revenue", "contacts",
                                              "feedback")}
    files["people"].write_text(
        "email,name,department,role\n"
        "ann@x.test,Ann Am,sales,account_manager\n"
        "sam@x.test,Sam Sponsor,management,manager\n")
    acc = ["account_id,name,industry,owner_email,sponsor_email,potential,state,created_at"]
    rev = ["account_id,month,amount"]
    con = ["account_id,date,channel,person_email,note"]
    fb = ["account_id,date,score,comment"]
    end = date(2026, 6, 1)
    for aid, (state, pot, old, new, silent, contact, score) in PORTFOLIO.items():
        acc.append(f"{aid},{aid.title()} GmbH,machinery,ann@x.test,sam@x.test,{pot},{state},"
                   "2020-01-01")
        for back in range(24, 0, -1):
            month = add_months(end, -back)
            amount = old if back > 12 else new
            if back <= silent:
                amount = 0
            if aid == "NEWBIG" and back <= 2:
                amount = 30_000
            if aid == "NEWSMALL" and back <= 2:
                amount = 1_000
            if amount:
                rev.append(f"{aid},{month:%Y-%m},{amount}")
        con.append(f'{aid},{contact},visit,ann@x.test,"visit, with notes"')
        if score is not None:
            fb.append(f"{aid},2026-04-01,{score},")
    for key, lines in (("accounts", acc), ("revenue", rev), ("contacts", con), ("feedback", fb)):
        files[key].write_text("\n".join(lines) + "\n")
    return files


def run_at_once(fn: Callable[[], object], times: int = 2) -> list[BaseException]:
    """Run `fn` in `times` threads at once; return what they raised."""
    errors: list[BaseException] = []

    def go() -> None:
        try:
            fn()
        except BaseException as e:  # reported to the caller
            errors.append(e)

    threads = [threading.Thread(target=go) for _ in range(times)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def account_facts(**kw: Any) -> AccountFacts:
    """One steady loyal account's facts (engine tests), with `kw` changed."""
    base: dict[str, Any] = {
        "account_id": "X", "state": "loyal", "state_since": datetime(2024, 1, 1),
        "created_at": datetime(2020, 1, 1), "potential": 600_000, "revenue_t12": 400_000,
        "revenue_prev12": 400_000, "months_with_revenue": 12,
        "last_revenue_month": date(2026, 5, 1), "last_contact": date(2026, 6, 1),
        "feedback_score": 9.0,
    }
    base.update(kw)
    return AccountFacts(**base)


def examples(deep: int) -> int:
    """Examples for a heavy property test: `deep` under the `deep` Hypothesis profile (1000
    examples for an ordinary test), the same share of the loaded profile's figure otherwise."""
    return max(1, deep * settings.default.max_examples // 1000)


@dataclass
class MovingClock:
    """A clock a test moves by hand (`clock.at += timedelta(...)`)."""

    at: datetime

    def now(self) -> datetime:
        return self.at
