"""Test helpers importable from any test module (tests/ is on pythonpath)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from typer.testing import CliRunner

from kamflow.cli import app


@dataclass
class DB:
    url: str
    engine: Engine

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
