"""Migration tests: a store taken to a revision, up or down."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from kamflow.store.db import MIGRATIONS


def to(db: Engine, revision: str, down: bool = False) -> None:
    with db.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
