"""Filters check their values: a typo is an error naming what exists, never an empty list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import DB, write_portfolio


@pytest.fixture
def loaded(db: DB, tmp_path: Path) -> DB:
    for kind, path in write_portfolio(tmp_path).items():
        assert db.cli("import", kind, str(path), "--at", "2026-01-01").code == 0
    return db


@pytest.mark.parametrize(("args", "message"), [
    (["accounts", "--state", "declned"],
     "--state: unknown state 'declned' (did you mean declining?); known: declining,"),
    (["accounts", "--class", "a"], "--class: unknown class 'a' (did you mean A?)"),
    (["accounts", "--owner", "an@x.test"],
     "--owner: unknown person 'an@x.test' (did you mean ann@x.test?)"),
    (["tasks", "--assignee", "nobody@x"], "--assignee: unknown person 'nobody@x'"),
    (["tasks", "--department", "salse"],
     "--department: unknown department 'salse' (did you mean sales?)"),
    (["tasks", "--step", "loyal.quarterly_review"],
     "--step: unknown step 'loyal.quarterly_review' (did you mean loyal.quarterly_plan_review?)"),
    (["people", "list", "--role", "manger"], "--role: unknown role 'manger' (did you mean manager?)"),
    (["people", "list", "--department", "financ"], "(did you mean finance?)"),
])
def test_an_unknown_filter_value_is_an_error_naming_what_exists(
        loaded: DB, args: list[str], message: str) -> None:
    r = loaded.cli(*args)
    assert r.code == 2, r.stdout
    assert message in r.stderr


def test_known_values_still_filter(loaded: DB) -> None:
    r = loaded.cli("accounts", "--state", "loyal", "--json")
    assert r.code == 0 and {a["id"] for a in json.loads(r.stdout)} == {"STEADY", "DRIFT", "GONE"}
    assert loaded.cli("tasks", "--assignee", "ann@x.test").code == 0
    assert loaded.cli("tasks", "--step", "loyal.quarterly_plan_review").code == 0


def test_people_list(loaded: DB) -> None:
    r = loaded.cli("people", "list", "--json")
    assert r.code == 0, r.stderr
    rows = {p["email"]: p for p in json.loads(r.stdout)}
    assert rows["ann@x.test"]["accounts_owned"] == 7 and rows["ann@x.test"]["role"] == \
        "account_manager"
    assert rows["sam@x.test"]["accounts_sponsored"] == 7
    managers = json.loads(loaded.cli("people", "list", "--role", "manager", "--json").stdout)
    assert [p["email"] for p in managers] == ["sam@x.test"]
    sales = loaded.cli("people", "list", "--department", "sales")
    assert sales.code == 0 and "ann@x.test" in sales.stdout and "sam@x.test" not in sales.stdout
