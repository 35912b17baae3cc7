"""Helpers for the web tests: the small portfolio behind the app, one person of each role
with a token each (the seeds PORTFOLIO and WORLD), and snapshot/restore of the store.

People: ann and bob (account managers, sales), lea (sales lead), mark (marketing lead),
sam (manager, sponsor of every account), mia (manager, sponsors nothing), quinn (quotes),
ada (admin). Every account is ann's except GONE, which is bob's. After the sweep at AT,
STEADY's new-solutions task is put in the marketing queue, so mark has a task to work.
STEADY has an account plan for FY2026, so its plan steps can be done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, inspect, select, update
from sqlmodel import SQLModel

from kamflow import people
from kamflow.engine.clock import FixedClock
from kamflow.store import parties
from kamflow.store.tables import TASK
from support import DB, write_portfolio
from support.stores import Seed

AT = "2026-06-15"
NOW = datetime(2026, 6, 15, 9, 0)
PEOPLE = {
    "ann@x.test": ("Ann Am", "sales", "account_manager"),
    "bob@x.test": ("Bob Am", "sales", "account_manager"),
    "lea@x.test": ("Lea Lead", "sales", "department_lead"),
    "mark@x.test": ("Mark Lead", "marketing", "department_lead"),
    "sam@x.test": ("Sam Sponsor", "management", "manager"),
    "mia@x.test": ("Mia Manager", "management", "manager"),
    "quinn@x.test": ("Quinn Quotes", "quotes", "account_manager"),
    "ada@x.test": ("Ada Admin", "management", "admin"),
}


@dataclass
class World:
    db: DB
    app: FastAPI
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)  # email -> bearer secret
    token_ids: dict[str, int] = field(default_factory=dict)

    def as_(self, email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[email]}"}

    def task(self, account: str, step: str) -> int:
        with self.db.engine.connect() as conn:
            return int(conn.execute(select(TASK.c.id).where(TASK.c.account_id == account,
                                                         TASK.c.step == step)).scalar_one())

    def row(self, task_id: int) -> dict[str, Any]:
        with self.db.engine.connect() as conn:
            return dict(conn.execute(select(TASK).where(TASK.c.id == task_id)).one()._mapping)


def build(db: DB, folder: Path) -> None:
    files = write_portfolio(folder)
    files["people"].write_text("email,name,department,role\n" + "".join(
        f"{email},{name},{dept},{role}\n" for email, (name, dept, role) in PEOPLE.items()))
    accounts = files["accounts"].read_text().replace(
        "GONE,Gone GmbH,machinery,ann@x.test", "GONE,Gone GmbH,machinery,bob@x.test")
    files["accounts"].write_text(accounts)
    assert db.cli("init", "--go-live", "2026-01-01").code == 0  # enforced since the import
    for kind, path in files.items():
        r = db.cli("import", kind, str(path), "--at", "2026-01-01")
        assert r.code == 0, r.stderr
    plan = folder / "steady-plan.yaml"  # its plan steps (reviews, tracking) can then be done
    plan.write_text("fiscal_year: 2026\ntarget: {revenue: 480000}\n")
    r = db.cli("plan", "edit", "STEADY", "--from", str(plan), "--at", "2026-01-02")
    assert r.code == 0, r.stderr
    r = db.cli("sweep", "--at", AT, "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["tasks_created"] > 10
    with db.engine.begin() as conn:
        moved = conn.execute(update(TASK).where(TASK.c.account_id == "STEADY",
                                             TASK.c.step == "loyal.new_solutions")
                             .values(assignee=None, queue="marketing").returning(TASK.c.id))
        parties.sync(conn, moved.scalars().all())  # its task_party rows follow, as in the store


def tokens(db: DB, folder: Path) -> tuple[dict[str, int], dict[str, str]]:
    """A bearer token for each person: ({email: token id}, {email: secret})."""
    ids, secrets = {}, {}
    for email in PEOPLE:
        ids[email], secrets[email] = people.create_token(db.engine, email, "tests",
                                                         FixedClock(NOW))
    return ids, secrets


PORTFOLIO = Seed("web-portfolio", build)
WORLD = Seed("web-world", tokens, parent=PORTFOLIO)


# -- putting the store back after a test request changed it --------------------------------


_TABLES: dict[str, set[str]] = {}  # a database's tables (inspecting PostgreSQL's is slow)


def snapshot(db: DB) -> dict[str, list[dict[str, Any]]]:
    with db.engine.connect() as conn:
        if db.url not in _TABLES:
            _TABLES[db.url] = set(inspect(conn).get_table_names())
        have = _TABLES[db.url]
        return {t.name: [dict(r._mapping)
                         for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                for t in SQLModel.metadata.sorted_tables if t.name in have}


def restore(db: DB, snap: dict[str, list[dict[str, Any]]]) -> None:
    tables = [t for t in SQLModel.metadata.sorted_tables if t.name in snap]
    with db.engine.begin() as conn:
        for t in reversed(tables):
            conn.execute(delete(t))
        for t in tables:
            if snap[t.name]:
                conn.execute(t.insert(), snap[t.name])
