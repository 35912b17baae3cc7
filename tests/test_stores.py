"""The databases the tests get (support/stores.py) keep them apart, on both kinds: what one
test writes or drops the next does not see; a restored seed holds exactly what building it
afresh gives, down to the next id a sequence hands out."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, inspect, select, text

from kamflow.store.tables import API_TOKEN, JOB_RUN, PERSON, PLAYBOOK_VERSION
from support import DB
from support.stores import Seed, Stores

T0 = datetime(2026, 1, 1)


def tokens(db: DB, folder: Path) -> str:
    """A person with two tokens, the second deleted again: the sequence is past the rows."""
    with db.engine.begin() as conn:
        conn.execute(insert(PERSON).values(email="ann@x.test", name="Ann", department="sales",
                                           role="account_manager"))
        for n in (1, 2):
            conn.execute(insert(API_TOKEN).values(email="ann@x.test", name=f"t{n}",
                                                  token_hash=f"{n:064d}", created_at=T0))
        conn.execute(delete(API_TOKEN).where(API_TOKEN.c.name == "t2"))
    return "built"


TOKENS = Seed("test-stores-tokens", tokens)


def contents(db: DB) -> dict[str, Any]:
    with db.engine.connect() as conn:
        return {"people": conn.execute(select(PERSON.c.email)).scalars().all(),
                "tokens": conn.execute(select(API_TOKEN.c.id, API_TOKEN.c.name)
                                       .order_by(API_TOKEN.c.id)).all(),
                "versions": conn.execute(select(func.count()).select_from(PLAYBOOK_VERSION))
                .scalar(),
                "tables": set(inspect(conn).get_table_names())}


def next_token_id(db: DB) -> int:
    with db.engine.begin() as conn:
        return int(conn.execute(insert(API_TOKEN).values(
            email="ann@x.test", name="t3", token_hash="3" * 64, created_at=T0,
        ).returning(API_TOKEN.c.id)).scalar_one())


def test_a_test_writes_and_drops_and_the_next_database_is_as_new(db_kind: str, stores: Stores,
                                                                 tmp_path: Path) -> None:
    with stores.database(db_kind, tmp_path / "a") as first:
        new = contents(first)
        assert new["people"] == [] and new["tokens"] == [] and new["versions"] == 1
        tokens(first, tmp_path)
        with first.engine.begin() as conn:
            conn.execute(text("DROP TABLE job_run"))
        assert "job_run" not in contents(first)["tables"]
        url = first.url
    with stores.database(db_kind, tmp_path / "b") as second:
        assert second.url != url  # nothing keyed by the URL carries over either
        assert contents(second) == new
        with second.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(JOB_RUN)).scalar() == 0


def test_a_restored_seed_is_what_building_it_gives(db_kind: str, stores: Stores,
                                                   tmp_path: Path) -> None:
    with stores.database(db_kind, tmp_path / "built") as built:
        tokens(built, tmp_path)
        expected = contents(built), next_token_id(built)
    for name in ("first", "second"):  # the second restore: a copy of the template, again
        with stores.database(db_kind, tmp_path / name) as copy:
            assert stores.restore(copy, TOKENS) == "built"
            assert (contents(copy), next_token_id(copy)) == expected
