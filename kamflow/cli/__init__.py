"""The `kamflow` command line: one module per command group, each registering on the root app.

Heavy imports (SQLAlchemy, the engine, Prefect) happen inside the commands, so
`kamflow --help` stays fast. Every error a user can cause is one clear line on stderr
and a non-zero exit code; it never changes anything.
"""

from __future__ import annotations

from kamflow.cli import (  # noqa: F401  (each module registers its commands on the app)
    accounts,
    audit,
    notify,
    ops,
    people,
    plan,
    playbook,
    prefect,
    report,
    setup,
    sweep,
    tasks,
    web,
)
from kamflow.cli.root import app

__all__ = ["app", "main"]


def main() -> None:
    app()
