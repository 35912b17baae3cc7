"""Shared fixtures: a real database of each kind, migrated, with the bundled playbooks; and
the Hypothesis profiles.

Store tests take `db` and run once on SQLite (a file in tmp_path) and once on PostgreSQL (a
schema of its own in the database named by KAMFLOW_TEST_POSTGRES_URL). Without that
variable the PostgreSQL half skips with a visible reason; under CI=true it fails instead, so
CI can never pass without PostgreSQL. Each kind is migrated once per session and copied for
every test (support/stores.py).

Hypothesis: HYPOTHESIS_PROFILE picks `dev` (the default), `ci` (the default under CI=true)
or `deep`. A heavy property asks for `support.examples(n)`: n examples under `deep`, a
tenth of them under `dev`, a fifth under `ci`.
"""

# ruff: noqa: E402  (the environment is set before kamflow.cli is imported, below)
from __future__ import annotations

import os

# pytest-xdist's workers (make test runs two) start with COLUMNS=80 and LINES=24 set. Rich
# fixes a console's width from COLUMNS when the console is made, and kamflow.cli makes its
# consoles on import: the CLI tests' own COLUMNS (support.DB.cli) would then never apply.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("COLUMNS", "LINES"):
        os.environ.pop(_name, None)

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.testing
from hypothesis import settings

from kamflow.engine.clock import FixedClock
from support import DB
from support.stores import START, Stores

settings.register_profile("dev", max_examples=100)
settings.register_profile("ci", max_examples=200)
settings.register_profile("deep", max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI")
                                                               else "dev"))

# Typer's CliRunner.invoke builds the click command tree of the whole `kamflow` app, from
# every command function's annotations, on each call (~10 ms), and most store tests
# go through DB.cli. Build it once per app: each invocation still parses and runs as before.
typer.testing._get_command = functools.cache(typer.testing._get_command)


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    made = Stores(tmp_path_factory.mktemp("stores"))
    yield made
    made.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db(db_kind: str, stores: Stores, tmp_path: Path) -> Iterator[DB]:
    """A migrated database with the bundled playbooks active."""
    with stores.database(db_kind, tmp_path) as made:
        yield made


@pytest.fixture
def db_url(db: DB) -> str:
    return db.url


@pytest.fixture
def pg_db(stores: Stores, tmp_path: Path) -> Iterator[DB]:
    """`db` on PostgreSQL only, for what SQLite cannot show (it skips, visibly, without
    KAMFLOW_TEST_POSTGRES_URL, and fails in CI)."""
    with stores.database("postgres", tmp_path) as made:
        yield made


@pytest.fixture
def twin(db_kind: str, stores: Stores, tmp_path: Path) -> Iterator[DB]:
    """A second database of the same kind as `db`, to compare two ways of doing the same."""
    with stores.database(db_kind, tmp_path, "twin") as made:
        yield made


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)
