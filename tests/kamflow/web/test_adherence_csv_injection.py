"""The adherence page's CSV export neutralises a group a spreadsheet would run (a
department whose key starts with "="), and keeps the figures numeric."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from kamflow import people
from kamflow.store.tables import DEPARTMENT, TASK
from support.web import World

PASSWORD = "correct horse battery"
EVIL = "=HYPERLINK(\"http://x\")"


def test_a_formula_group_is_quoted_and_numbers_stay_numbers(world: World) -> None:
    with world.db.engine.begin() as conn:
        conn.execute(insert(DEPARTMENT).values(key=EVIL, name="evil"))
        conn.execute(update(TASK).where(TASK.c.account_id == "STEADY")
                     .values(queue=EVIL, assignee=None))
    manager = "mia@x.test"
    people.set_password(world.db.engine, manager, PASSWORD, world.app.state.kamflow.clock)
    client = TestClient(world.app)
    assert client.post("/api/login", json={"email": manager, "password": PASSWORD}
                       ).status_code == 200
    r = client.get("/adherence.csv", params={"by": "department", "from": "2026-01-01",
                                             "to": "2026-12-31"})
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.text)))
    groups = [row[0] for row in rows[1:]]
    assert "'" + EVIL in groups and EVIL not in groups
    assert all(not cell.startswith(("=", "+", "@", "\t", "\r")) for row in rows for cell in row)
    due = rows[0].index("due")
    assert all(row[due].isdigit() for row in rows[1:])
