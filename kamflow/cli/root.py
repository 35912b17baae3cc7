"""The root `kamflow` app; each command module registers its commands on it."""

from __future__ import annotations

import typer

app = typer.Typer(help="kamflow: a process engine for key account management.",
                  no_args_is_help=True, add_completion=False)
