"""A realistic synthetic portfolio, written as the CSV files a user would import.

Accounts follow archetypes (stable loyal customers, high-potential ones
growing, drifting and lost ones, small ones, prospects) so that every class
and state shows up after a sweep. The same seed always gives the same files.

Every account is owned by an account manager in sales and sponsored by a manager in
management; every department has a lead and members, who appear in the RACI. The 36
months of history hold what a real portfolio holds: accounts that declined months ago
(each with the day it entered its state, `state_since`), losses in every year, win-backs
that have been in recovery for months, and account plans for the strategic accounts.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select

from kamflow.engine.metrics import add_months
from kamflow.errors import Refused
from kamflow.playbooks.loader import dump_plan
from kamflow.store.tables import ACCOUNT

DEPARTMENTS = ("sales", "management", "quotes", "production", "delivery", "service", "finance",
               "marketing")
INDUSTRIES = ("machinery", "automotive", "food", "chemicals", "construction", "medical",
              "energy", "retail", "logistics", "electronics")
FIRST = ("Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hugo", "Ines", "Jonas",
         "Katrin", "Lukas", "Mia", "Noah", "Olga", "Paul", "Rita", "Sven", "Tara", "Uwe")
LAST = ("Berger", "Schmid", "Keller", "Weber", "Fischer", "Wagner", "Becker", "Hoffmann",
        "Koch", "Richter", "Klein", "Wolf", "Neumann", "Braun", "Zimmer", "Kraus")
NAME_A = ("Nord", "Alpen", "Rhein", "Delta", "Vector", "Atlas", "Summit", "Orion", "Helix",
          "Polar", "Terra", "Nova", "Apex", "Crest", "Lumen", "Quantum")
NAME_B = ("Werke", "Systems", "Industries", "Group", "Logistik", "Technik", "Foods", "Bau",
          "Medical", "Energy", "Components", "Solutions")


@dataclass(frozen=True)
class Archetype:
    name: str
    weight: float
    state: str
    potential: tuple[float, float]
    share: tuple[float, float]  # wallet share in the older months
    trend: float  # multiplier of revenue over the last 12 months vs before
    silent_months: int = 0  # no revenue for this many recent months
    contact_every: int = 30  # days between contacts (0: none)
    feedback: tuple[int, int] = (7, 10)
    since: tuple[int, int] = (400, 1500)  # entered its state this many days before today


ARCHETYPES = (
    Archetype("loyal_strategic", 0.14, "loyal", (600_000, 2_000_000), (0.55, 0.8), 1.05),
    Archetype("loyal_mature", 0.10, "loyal", (280_000, 480_000), (0.8, 0.95), 1.0),
    Archetype("loyal_mid", 0.08, "loyal", (160_000, 400_000), (0.4, 0.6), 1.0),
    Archetype("high_potential", 0.14, "high_potential", (600_000, 3_000_000), (0.08, 0.3),
              1.2, contact_every=21),
    Archetype("becoming_first_supplier", 0.04, "high_potential", (400_000, 900_000),
              (0.45, 0.55), 1.25, contact_every=14),
    Archetype("drifting", 0.08, "loyal", (300_000, 1_500_000), (0.5, 0.7), 0.7,
              contact_every=60),
    Archetype("silent_loyal", 0.03, "loyal", (200_000, 800_000), (0.5, 0.7), 1.0,
              contact_every=0),
    Archetype("unhappy", 0.03, "loyal", (200_000, 900_000), (0.5, 0.7), 1.0,
              feedback=(3, 6)),
    Archetype("collapsing", 0.04, "declining", (300_000, 1_200_000), (0.4, 0.6), 0.45,
              contact_every=45, feedback=(4, 7), since=(45, 200)),
    Archetype("stabilising", 0.03, "declining", (300_000, 900_000), (0.4, 0.6), 1.05,
              contact_every=20, since=(90, 240)),
    Archetype("going_quiet", 0.04, "loyal", (150_000, 600_000), (0.4, 0.6), 1.0,
              silent_months=13, contact_every=90),
    # Lost 0 to 35 months ago (a year after their last order): losses in every year.
    Archetype("lost_long_ago", 0.03, "lost", (100_000, 500_000), (0.3, 0.5), 1.0,
              silent_months=30, contact_every=180),
    # Buying again for a few months after a long pause: in recovery since they came back.
    Archetype("winning_back", 0.02, "recovery", (200_000, 700_000), (0.3, 0.5), 1.0,
              silent_months=0, contact_every=30),
    Archetype("small", 0.14, "optimization", (10_000, 120_000), (0.2, 0.6), 1.0,
              contact_every=120),
    Archetype("prospect_target", 0.04, "prospect", (400_000, 2_500_000), (0.0, 0.0), 1.0,
              contact_every=40),
    Archetype("prospect_first_order", 0.02, "prospect", (300_000, 1_500_000), (0.0, 0.0),
              1.0, contact_every=20),
)


def check_empty(db: Engine, add: bool) -> None:
    """A second synthetic portfolio merged into real (or demo) data is a mistake unless asked."""
    with db.connect() as conn:
        n = int(conn.execute(select(func.count()).select_from(ACCOUNT)).scalar_one())
    if n and not add:
        raise Refused(f"the database already holds {n} accounts; use --add to load the demo "
                      "portfolio on top of them, or another KAMFLOW_DATABASE_URL")


def _pick(rng: random.Random) -> Archetype:
    return rng.choices(ARCHETYPES, weights=[a.weight for a in ARCHETYPES])[0]


def write_demo(folder: Path, accounts: int, seed: int, today: date) -> dict[str, Path]:
    """Write people, accounts, revenue, contacts and feedback CSVs; return them in import order."""
    rng = random.Random(seed)
    # The retention columns draw from their own generator, so adding them left every other
    # figure of a seed's portfolio as it was.
    ties = random.Random(seed + 1)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {k: folder / f"{k}.csv" for k in ("people", "accounts", "revenue", "contacts",
                                              "feedback")}
    managers = max(3, accounts // 60)
    people: list[list[str]] = []
    used: set[str] = set()

    def person(dept: str, role: str) -> str:
        while True:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}{rng.randint(1, 99)}@kamflow.example".lower()
            if email not in used:
                used.add(email)
                people.append([email, f"{first} {last}", dept, role])
                return email

    for dept in DEPARTMENTS:
        person(dept, "department_lead")
        for _ in range(2):
            person(dept, "manager" if dept == "management" else "account_manager")
    sellers = [person("sales", "account_manager") for _ in range(managers)]
    sponsors = [person("management", "manager") for _ in range(max(2, managers // 4))]
    person("management", "admin")
    _write(paths["people"], ["email", "name", "department", "role"], people)

    first_month = add_months(date(today.year, today.month, 1), -36)
    acc_rows, rev_rows, con_rows, fb_rows = [], [], [], []
    criteria = ("size", "market_fit", "structure", "profitability", "effort_to_serve", "growth")
    names: set[str] = set()
    for i in range(1, accounts + 1):
        kind = _pick(rng)
        account_id = f"ACC-{i:06d}"
        name = f"{rng.choice(NAME_A)} {rng.choice(NAME_B)}"
        while name in names and len(names) < 10_000:
            name = f"{rng.choice(NAME_A)} {rng.choice(NAME_B)} {rng.randint(2, 999)}"
        names.add(name)
        # A long tail, as in real portfolios: a few accounts carry most of the revenue.
        spread = min(4.0, rng.lognormvariate(0, 0.7)) if kind.potential[0] >= 150_000 else 1.0
        potential = round(rng.uniform(*kind.potential) * spread, -3)
        good = kind.name.startswith(("loyal", "high", "becoming", "prospect"))
        scores = [str(rng.randint(5, 10) if good else rng.randint(0, 7)) for _ in criteria]
        created = first_month - timedelta(days=rng.randint(0, 2000))
        silent = kind.silent_months
        back = 0  # winning_back: months of revenue since the pause
        if kind.name == "lost_long_ago":
            silent = ties.randint(13, 47)  # the last order up to a year before the history
        elif kind.name == "winning_back":
            back = ties.randint(2, 6)
        since = _state_since(kind, ties, today, created, silent, back)
        acc_rows.append([account_id, name, rng.choice(INDUSTRIES), rng.choice(sellers),
                         rng.choice(sponsors), f"{potential:.0f}", kind.state,
                         since.isoformat(), created.isoformat(), *scores,
                         str(ties.randint(2, 9) if good else ties.randint(0, 4)),
                         "10" if good and ties.random() < 0.6 else "0"])
        yearly = potential * rng.uniform(*kind.share)
        if kind.name == "loyal_strategic" and ties.random() < 0.7:  # some plans are late
            plan = folder / "plans" / f"{account_id}.yaml"
            plan.parent.mkdir(exist_ok=True)
            plan.write_text(_plan(ties, yearly * kind.trend, acc_rows[-1][3], sellers),
                            encoding="utf-8")
        for m in range(36):
            month = add_months(first_month, m)
            if kind.name == "prospect_target":
                break
            if kind.name == "prospect_first_order" and m < 34:
                continue
            factor = kind.trend if m >= 24 else 1.0
            if kind.name == "winning_back":
                factor = 0.0 if 8 <= m < 36 - back else 1.0
            if m >= 36 - silent:
                factor = 0.0
            amount = yearly / 12 * factor * rng.uniform(0.7, 1.3)
            if kind.name == "prospect_first_order":
                amount = potential * 0.04
            if amount > 0:
                rev_rows.append([account_id, f"{month:%Y-%m}", f"{amount:.2f}"])
        if kind.contact_every:
            day = first_month + timedelta(days=rng.randint(0, kind.contact_every))
            seen: set[tuple[date, str, str]] = set()
            stop = today - timedelta(days=130) if kind.name == "drifting" else today
            while day < stop:
                who = rng.choice(sellers)
                channel = rng.choice(("visit", "call", "call", "video", "email"))
                if (day, channel, who) not in seen:
                    seen.add((day, channel, who))
                    con_rows.append([account_id, day.isoformat(), channel, who, "",
                                     "regular contact"])
                day += timedelta(days=max(1, int(kind.contact_every * rng.uniform(0.6, 1.2))))
        if kind.state != "prospect" and rng.random() < 0.8:
            for q in range(0, 36, 4):
                day = add_months(first_month, q) + timedelta(days=rng.randint(0, 27))
                if day < today:
                    fb_rows.append([account_id, day.isoformat(), str(rng.randint(*kind.feedback)),
                                    ""])
    crit = list(criteria)
    _write(paths["accounts"], ["account_id", "name", "industry", "owner_email", "sponsor_email",
                               "potential", "state", "state_since", "created_at", *crit,
                               "products",
                               "supply_agreement"], acc_rows)
    _write(paths["revenue"], ["account_id", "month", "amount"], rev_rows)
    _write(paths["contacts"], ["account_id", "date", "channel", "person_email", "note", "nature"],
           con_rows)
    _write(paths["feedback"], ["account_id", "date", "score", "comment"], fb_rows)
    return paths


def _state_since(kind: Archetype, rng: random.Random, today: date, created: date,
                 silent: int, back: int) -> date:
    """The day the account entered its state, as its history says."""
    if kind.name == "lost_long_ago":  # a year after the last month with revenue
        last = add_months(date(today.year, today.month, 1), -silent)
        return min(today - timedelta(days=1), add_months(last, 13))
    if kind.name == "winning_back":  # when the revenue came back
        return add_months(date(today.year, today.month, 1), -back)
    if kind.state == "prospect":
        return created
    return max(created, today - timedelta(days=rng.randint(*kind.since)))


ROLES = ("decision_maker", "buyer", "user", "influencer", "approver")
STRENGTHS = ("delivery record", "technical support on site", "broad product range",
             "long relationship with the plant managers")
THREATS = ("a low-cost competitor", "a new purchasing director", "budget cuts",
           "in-sourcing of maintenance")
PRIORITIES = ("less downtime", "lower energy use", "a second plant", "fewer suppliers",
              "shorter lead times", "digital ordering")


def _plan(rng: random.Random, yearly: float, owner: str, sellers: list[str]) -> str:
    """An account plan as its owner would write it (kamflow plan template), for the demo."""
    target = round(yearly * rng.uniform(1.0, 1.15), -3)
    machines = round(target * 0.6, -3)
    people = [{"name": f"{rng.choice(FIRST)} {rng.choice(LAST)}", "role": role,
               "influence": rng.randint(2, 5), "closeness": rng.randint(1, 5),
               "owner": owner if role in ("decision_maker", "buyer") else rng.choice(sellers)}
              for role in rng.sample(ROLES, rng.randint(2, 4))]
    return dump_plan({
        "analysis": {"industry": "Capacity investments are back after two flat years.",
                     "customer": "Family-owned, three plants, central purchasing."},
        "swot": {"strengths": [rng.choice(STRENGTHS)], "weaknesses": ["slow quotes"],
                 "opportunities": ["retrofit of the oldest line"],
                 "threats": [rng.choice(THREATS)]},
        "priorities": {"short_term": [rng.choice(PRIORITIES)],
                       "mid_term": [rng.choice(PRIORITIES)], "long_term": ["a second site"]},
        "relationships": people,
        "opportunities": [{"key": "retrofit", "title": "Retrofit of the oldest line",
                           "status": "expected", "expected_value": round(target * 0.1, -3)}],
        "target": {"revenue": target,
                   "by_product_line": {"machines": machines, "service": target - machines}},
    })


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
